"""BD-rate of every codec against an anchor, on the curves of per-setting means.

The rate axis is the modality's (bpp or kbit/s); a distance, where smaller is better, is
negated so that quality rises with rate on every curve, and the low/high interval is
reported on that negated scale."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nccli.evaluation.gates import Summary, summarize
from nccli.evaluation.measures import Measures, measures_of
from nccli.evaluation.runner import Row
from nccli.metrics.bdrate import bd_rate


@dataclass(frozen=True)
class BDEntry:
    """BD-rate (%) of one codec against the anchor for one metric, or why there is none."""

    codec: str
    anchor: str
    metric: str
    bd_rate: float | None
    low: float | None = None
    high: float | None = None
    overlap: float | None = None
    note: str | None = None

    def text(self, digits: int = 1) -> str:
        """'+1.2 %', or why there is no value."""
        return f"{self.bd_rate:+.{digits}f} %" if self.bd_rate is not None else str(self.note)


def bd_cells(entries: list[BDEntry], codec: str, metrics: Iterable[str]) -> list[str]:
    """One codec's BD-rate for each metric, as table cells."""
    by_metric = {e.metric: e for e in entries if e.codec == codec}
    return [by_metric[metric].text() for metric in metrics]


def bd_rates(summaries: list[Summary], anchor: str) -> list[BDEntry]:
    """One entry per (codec of the anchor's modality other than the anchor, quality
    metric)."""
    modality = next((s.modality for s in summaries if s.codec == anchor), None)
    if modality is None:
        return []
    measures = measures_of(modality)
    curves = _curves([s for s in summaries if s.modality == modality], measures.rate)
    if anchor not in curves:
        return []
    entries = []
    for codec, points in curves.items():
        if codec == anchor:
            continue
        for metric in measures.shown(s.means for s in summaries):
            entries.append(_entry(codec, anchor, metric, measures, curves[anchor], points))
    return entries


def per_input_bd_rates(
    rows: list[Row], codecs: Iterable[str], anchor: str
) -> dict[str, list[BDEntry]]:
    """bd_rates of ``codecs`` against the anchor on each input alone, by file stem: where one
    photo departs from the means."""
    kept = [row for row in rows if row.codec in {*codecs, anchor}]
    return {
        Path(name).stem: bd_rates(summarize([row for row in kept if row.input == name]), anchor)
        for name in sorted({row.input for row in kept})
    }


def _curves(summaries: list[Summary], rate: str) -> dict[str, list[dict[str, float | None]]]:
    curves: dict[str, list[dict[str, float | None]]] = {}
    for summary in summaries:
        if summary.codec is not None and summary.means.get(rate) is not None:
            curves.setdefault(summary.codec, []).append(summary.means)
    return curves


def _entry(
    codec: str, anchor: str, metric: str, measures: Measures, reference: list, test: list
) -> BDEntry:
    sign = 1 if measures.higher_is_better(metric) else -1
    points = [
        [(p[measures.rate], sign * p[metric]) for p in curve if _finite(p.get(metric))]
        for curve in (reference, test)
    ]
    if min(len(p) for p in points) < 2:
        return BDEntry(codec, anchor, metric, None, note="needs two rate points per codec")
    try:
        result = bd_rate(*zip(*points[0], strict=True), *zip(*points[1], strict=True))
    except ValueError as exc:
        return BDEntry(codec, anchor, metric, None, note=str(exc))
    if result is None:
        return BDEntry(codec, anchor, metric, None, note="quality ranges do not overlap")
    return BDEntry(codec, anchor, metric, result.value, result.low, result.high, result.overlap)


def _finite(value: float | None) -> bool:
    return value is not None and value not in (float("inf"), float("-inf"))
