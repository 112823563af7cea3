"""Measuring one input: a codec run (encode, decode, measure) or a reference/decoded pair,
of an image (PSNR, MS-SSIM, bpp) or of audio (SI-SDR, distances, speech metrics, kbps)."""

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
from nccli.evaluation.measures import METRICS, measures_of
from nccli.evaluation.scoring import read_media, reference_modality, score


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
    #: Optional metrics to compute too (e.g. "visqol").
    optional: tuple[str, ...] = ()


@dataclass
class Row:
    """One measured (input, setting) pair; ``error`` is set instead of metrics on failure."""

    input: str
    codec: str | None
    modality: str = "image"
    #: What was asked for (codec parameters and any bpp target); rows are grouped by it.
    request: dict[str, Any] = field(default_factory=dict)
    #: The parameters the file was actually coded with (differ from request under --bpp).
    params: dict[str, Any] = field(default_factory=dict)
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    kbps: float | None = None
    si_sdr: float | None = None
    mel_distance: float | None = None
    stft_distance: float | None = None
    stoi: float | None = None
    pesq: float | None = None
    visqol: float | None = None
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
        """JSON-safe: infinite PSNR (identical images) becomes null with identical=true;
        only the metrics of the row's modality appear."""
        data = asdict(self)
        kept = measures_of(self.modality).metrics
        for name in METRICS:
            if name not in kept:
                del data[name]
        data["setting"] = self.setting
        data["identical"] = self.psnr == math.inf
        for name in ("psnr", "psnr_y"):
            if data.get(name) is not None and math.isinf(data[name]):
                data[name] = None
        return data


def run(task: Task, cache: ResultCache | None = None) -> Row:
    """Carry out one task; failures are recorded in the row, never raised."""
    row = Row(task.input, task.codec)
    try:
        row.modality = (
            get_codec(task.codec).modality if task.codec else reference_modality(task.input)
        )
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
        key = cache.key(digest, backend.name, backend.version, row.request, identity, task.optional)
        hit = cache.get(key)
        if hit is not None:
            _fill(row, hit)
            row.cached = True
            return
    if reference_modality(task.input) != row.modality:
        raise UsageError(f"codec {task.codec} is for {row.modality}; {task.input} is not")
    reference = read_media(source, row.modality)
    data = api.encode(reference, task.codec, bpp=task.bpp, **params)
    decoded = api.decode_media(data)
    row.params = decoded.header.params
    _fill(row, score(reference, decoded.media, len(data), task.optional))
    if task.keep is not None:
        Path(task.keep).write_bytes(data)
    if key is not None:
        kept = (*measures_of(row.modality).metrics, "bytes", "params")
        cache.put(key, {name: getattr(row, name) for name in kept})


def _compare(task: Task, row: Row) -> None:
    reference = read_media(Path(task.input).read_bytes(), row.modality)
    data = Path(task.decoded).read_bytes()
    if task.decoded.lower().endswith(".ncc"):
        decoded = api.decode_media(data)
        row.codec, row.params = decoded.header.codec, decoded.header.params
        row.request = row.params
        _fill(row, score(reference, decoded.media, len(data), task.optional))
    else:
        _fill(row, score(reference, read_media(data, row.modality), None, task.optional))


def _fill(row: Row, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)
