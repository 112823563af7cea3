"""Measuring one input: a codec run (encode, decode, measure) or a reference/decoded pair."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nccli import api
from nccli.codecs.base import get_codec
from nccli.errors import NccliError, UsageError
from nccli.evaluation.cache import ResultCache
from nccli.media.image import Image, read_image
from nccli.metrics import ms_ssim, psnr, psnr_y

METRICS = ("psnr", "psnr_y", "ms_ssim", "bpp")
#: Metrics where a larger value is better (bpp is the one where smaller is).
HIGHER_IS_BETTER = frozenset({"psnr", "psnr_y", "ms_ssim"})


@dataclass(frozen=True)
class Task:
    """One unit of work: run ``codec`` on ``input``, or compare ``input`` with ``decoded``."""

    input: str
    codec: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    bpp: float | None = None
    decoded: str | None = None
    #: Where to keep the produced .ncc file (for --verify); None keeps nothing.
    keep: str | None = None


@dataclass
class Row:
    """One measured (input, setting) pair; ``error`` is set instead of metrics on failure."""

    input: str
    codec: str | None
    #: What was asked for (codec parameters and any bpp target); rows are grouped by it.
    request: dict[str, Any] = field(default_factory=dict)
    #: The parameters the file was actually coded with (differ from request under --bpp).
    params: dict[str, Any] = field(default_factory=dict)
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    error: str | None = None
    exit_code: int = 0
    cached: bool = False
    #: None: not checked; True/False: a fresh-process decode gave identical pixels.
    verified: bool | None = None

    @property
    def setting(self) -> str:
        """The codec and requested parameters as one label, e.g. 'webp quality=80'."""
        values = " ".join(f"{k}={v}" for k, v in sorted(self.request.items()))
        return " ".join(filter(None, [self.codec or "decoded", values]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: infinite PSNR (identical images) becomes null with identical=true."""
        data = asdict(self)
        data["setting"] = self.setting
        data["identical"] = self.psnr == math.inf
        for name in ("psnr", "psnr_y"):
            if data[name] is not None and math.isinf(data[name]):
                data[name] = None
        return data


def measure(reference: Image, decoded: Image, size: int | None) -> dict[str, Any]:
    """Metrics of one decoded image against its reference; bpp from a real file size."""
    if (reference.width, reference.height) != (decoded.width, decoded.height):
        raise UsageError(
            f"sizes differ: reference {reference.width}x{reference.height}, "
            f"decoded {decoded.width}x{decoded.height}"
        )
    a, b = reference.pixels, decoded.pixels
    if a.shape[2] != b.shape[2] and {a.shape[2], b.shape[2]} - {3, 4}:
        raise UsageError(f"channel counts differ: {a.shape[2]} vs {b.shape[2]}")
    colours = min(a.shape[2], b.shape[2], 3)
    a, b = a[:, :, :colours], b[:, :, :colours]
    return {
        "bytes": size,
        "bpp": None if size is None else size * 8 / (reference.width * reference.height),
        "psnr": psnr(a, b),
        "psnr_y": psnr_y(a, b),
        "ms_ssim": ms_ssim(a, b),
    }


def run(task: Task, cache: ResultCache | None = None) -> Row:
    """Carry out one task; failures are recorded in the row, never raised."""
    row = Row(task.input, task.codec)
    try:
        if task.decoded is not None:
            _compare(task, row)
        else:
            _run_codec(task, row, cache)
    except (NccliError, OSError) as exc:
        row.error = str(exc) if isinstance(exc, NccliError) else f"cannot read: {exc.strerror}"
        row.exit_code = exc.exit_code if isinstance(exc, NccliError) else 2
    return row


def run_all(
    tasks: list[Task],
    jobs: int = 1,
    cache: ResultCache | None = None,
    on_done: Callable[[Row], None] = lambda row: None,
) -> list[Row]:
    """Run tasks in order, in this process or in ``jobs`` worker processes."""
    if jobs <= 1 or len(tasks) <= 1:
        rows = []
        for task in tasks:
            rows.append(run(task, cache))
            on_done(rows[-1])
        return rows
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, task, cache) for task in tasks]
        rows = []
        for future in futures:
            rows.append(future.result())
            on_done(rows[-1])
        return rows


def _run_codec(task: Task, row: Row, cache: ResultCache | None) -> None:
    params = dict(task.params)
    resolved = get_codec(task.codec).resolve_params(params)
    row.request = {"bpp": task.bpp} if task.bpp is not None else resolved
    source = Path(task.input).read_bytes()
    key = None
    if cache is not None and task.keep is None:
        backend = get_codec(task.codec)
        digest = hashlib.sha256(source).hexdigest()
        identity = backend.identity(resolved)
        key = cache.key(digest, backend.name, backend.version, row.request, identity)
        hit = cache.get(key)
        if hit is not None:
            _fill(row, hit)
            row.cached = True
            return
    reference = read_image(source)
    data = api.encode(reference, task.codec, bpp=task.bpp, **params)
    decoded = api.decode_media(data)
    row.params = decoded.header.params
    _fill(row, measure(reference, decoded.media, len(data)))
    if task.keep is not None:
        Path(task.keep).write_bytes(data)
    if key is not None:
        cache.put(key, {name: getattr(row, name) for name in (*METRICS, "bytes", "params")})


def _compare(task: Task, row: Row) -> None:
    reference = read_image(Path(task.input).read_bytes())
    data = Path(task.decoded).read_bytes()
    if task.decoded.lower().endswith(".ncc"):
        decoded = api.decode_media(data)
        row.codec, row.params = decoded.header.codec, decoded.header.params
        row.request = row.params
        _fill(row, measure(reference, decoded.media, len(data)))
    else:
        _fill(row, measure(reference, read_image(data), None))


def _fill(row: Row, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)
