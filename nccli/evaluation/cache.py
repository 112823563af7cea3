"""A per-result cache for `nccli eval`, so that a re-run computes only what changed.

A result is keyed by the sha256 of the input file, the codec's name and bitstream version,
the requested parameters, what else the codec says decides its output (a neural codec's
weights digest) and the version of the metric definitions. Entries are small JSON
files under ``$NCCLI_HOME/cache/eval`` (default ``~/.cache/nccli``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

#: Bump when a metric's definition changes: every cached result becomes stale.
METRICS_VERSION = 1


def default_root() -> Path:
    home = os.environ.get("NCCLI_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "nccli"
    return base / "cache" / "eval"


class ResultCache:
    """Stores and finds measured results; a damaged entry counts as a miss."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def key(
        self,
        digest: str,
        codec: str,
        version: int,
        request: dict[str, Any],
        identity: str = "",
        optional: tuple[str, ...] = (),
    ) -> str:
        """Cache key; identity is the codec's own (e.g. its weights' digest), optional the
        optional metrics computed."""
        parts = {
            "file": digest,
            "codec": codec,
            "version": version,
            "request": request,
            "identity": identity,
            "metrics": METRICS_VERSION,
        }
        if optional:
            parts["optional"] = sorted(optional)
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            values = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(values, dict):
            return None
        for name in ("psnr", "psnr_y"):
            if values.get(name) == "inf":
                values[name] = math.inf
        return values

    def put(self, key: str, values: dict[str, Any]) -> None:
        """Write atomically; a cache that cannot be written is silently skipped."""
        encoded = {k: "inf" if v == math.inf else v for k, v in values.items()}
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(encoded, handle)
            os.replace(temp, path)
        except OSError:
            Path(temp).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"
