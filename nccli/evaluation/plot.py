"""RD curves per metric as PNG and SVG (needs the optional matplotlib: `nccli[plot]`)."""

from __future__ import annotations

import io
import math

from nccli.errors import UsageError
from nccli.evaluation.gates import Summary
from nccli.evaluation.measures import measures_of

RATE_LABELS = {"bpp": "bits per pixel", "kbps": "kbit/s"}


def plot_rd(summaries: list[Summary]) -> dict[str, bytes]:
    """RD plots per quality metric of the summaries' modality (the first one's, if they
    mix): file name (rd-METRIC.png / .svg) to file contents."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "plots need matplotlib: pip install 'nccli[plot]' (or pip install matplotlib)"
        ) from None
    measures = measures_of(summaries[0].modality if summaries else "image")
    curves: dict[str, list[Summary]] = {}
    for summary in summaries:
        rate = summary.means.get(measures.rate)
        if summary.codec and summary.modality == measures.modality and rate is not None:
            curves.setdefault(summary.codec, []).append(summary)
    if not curves:
        raise UsageError("nothing to plot: no codec run measured a rate")
    written = {}
    for metric in measures.shown(s.means for points in curves.values() for s in points):
        figure, axes = plt.subplots(figsize=(6, 4.5))
        for codec, points in curves.items():
            pairs = sorted(
                (p.means[measures.rate], p.means[metric])
                for p in points
                if p.means[metric] is not None and math.isfinite(p.means[metric])
            )
            if pairs:
                axes.plot(*zip(*pairs, strict=True), marker="o", label=codec)
        axes.set_xlabel(RATE_LABELS[measures.rate])
        axes.set_ylabel(measures.label(metric))
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=120)
            written[f"rd-{metric}.{suffix}"] = buffer.getvalue()
        plt.close(figure)
    return written
