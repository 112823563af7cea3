"""Fetching weights once into the cache: hash-verified, atomic, never when offline."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from nccli.errors import InvalidInputError, UsageError

CHUNK = 1 << 20


def offline() -> bool:
    return os.environ.get("NCCLI_OFFLINE", "") not in ("", "0")


def fetch(
    url: str,
    target: Path,
    sha256_prefix: str,
    progress: Callable[[int, int | None], None] = lambda done, total: None,
    timeout: float = 60.0,
) -> Path:
    """Download url to target unless it is there already; verify the sha256 prefix.

    Raises UsageError when offline or the server fails, InvalidInputError on a hash
    mismatch or a truncated body. Nothing is left at target unless it verified.
    """
    if target.exists():
        return target
    if offline():
        raise UsageError(f"NCCLI_OFFLINE is set: not downloading {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = _download(url, fd, progress, timeout)
        if not digest.startswith(sha256_prefix.lower()):
            raise InvalidInputError(
                f"{url}: sha256 {digest[:16]}... does not start with the expected "
                f"{sha256_prefix}; the file was not kept"
            )
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def _download(
    url: str, fd: int, progress: Callable[[int, int | None], None], timeout: float
) -> str:
    digest = hashlib.sha256()
    done, total = 0, None
    with os.fdopen(fd, "wb") as out:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress(done, total)
        except urllib.error.HTTPError as exc:
            raise UsageError(f"{url}: server answered {exc.code} {exc.reason}") from None
        except http.client.IncompleteRead as exc:
            raise InvalidInputError(f"{url}: download ended early ({exc})") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"{url}: download failed: {reason}") from None
    if total is not None and done != total:
        raise InvalidInputError(f"{url}: download ended early ({done} of {total} bytes)")
    return digest.hexdigest()
