"""Throughput and peak memory of codecs: warm-up, repeated timed runs, median and spread.

Each codec runs in a fresh process so that its peak resident memory is its own.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "nccli.bench/1"


@dataclass(frozen=True)
class Speed:
    """Throughput over the repeated runs, in MPixel/s."""

    median: float
    low: float
    high: float
    runs: int


@dataclass(frozen=True)
class BenchResult:
    codec: str
    params: dict[str, Any]
    files: int
    megapixels: float
    bytes: int
    bpp: float
    encode: Speed
    decode: Speed
    #: Peak resident memory of the benchmark process, and what it was before any coding.
    peak_rss_mib: float
    start_rss_mib: float


def bench(
    paths: list[Path], codec: str, params: dict[str, Any], repeat: int, warmup: int
) -> BenchResult:
    """Benchmark one codec in a fresh process."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(
            _bench_here, [str(p) for p in paths], codec, params, repeat, warmup
        ).result()


def _bench_here(
    paths: list[str], codec: str, params: dict[str, Any], repeat: int, warmup: int
) -> BenchResult:
    from nccli import api
    from nccli.media.image import read_image

    images = [read_image(Path(p).read_bytes()) for p in paths]
    start_rss = _peak_rss_mib()
    encoded = [api.encode(image, codec, **params) for image in images]
    resolved = api.decode_media(encoded[0]).header.params
    megapixels = sum(image.width * image.height for image in images) / 1e6

    def encode_all() -> None:
        for image in images:
            api.encode(image, codec, **params)

    def decode_all() -> None:
        for data in encoded:
            api.decode_media(data)

    size = sum(len(data) for data in encoded)
    return BenchResult(
        codec=codec,
        params=resolved,
        files=len(images),
        megapixels=megapixels,
        bytes=size,
        bpp=size * 8 / (megapixels * 1e6),
        encode=_speed(encode_all, megapixels, repeat, warmup),
        decode=_speed(decode_all, megapixels, repeat, warmup),
        peak_rss_mib=_peak_rss_mib(),
        start_rss_mib=start_rss,
    )


def _speed(work: Any, megapixels: float, repeat: int, warmup: int) -> Speed:
    rates = [megapixels / seconds for seconds in run_times(work, repeat, warmup)]
    return Speed(statistics.median(rates), min(rates), max(rates), repeat)


def run_times(work: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall times of ``repeat`` runs of ``work`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(work: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``repeat`` runs of ``work`` after ``warmup`` untimed ones."""
    return statistics.median(run_times(work, repeat, warmup))


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
