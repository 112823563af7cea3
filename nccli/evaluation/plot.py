"""RD curves per metric as PNG and SVG (needs the optional matplotlib: `nccli[plot]`)."""

from __future__ import annotations

import io
import math

from nccli.errors import UsageError
from nccli.evaluation.bd import QUALITY_METRICS
from nccli.evaluation.gates import Summary

LABELS = {"psnr": "PSNR (dB)", "psnr_y": "PSNR-Y (dB)", "ms_ssim": "MS-SSIM"}


def plot_rd(summaries: list[Summary]) -> dict[str, bytes]:
    """RD plots per quality metric: file name (rd-METRIC.png / .svg) to file contents."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "plots need matplotlib: pip install 'nccli[plot]' (or pip install matplotlib)"
        ) from None
    curves: dict[str, list[Summary]] = {}
    for summary in summaries:
        if summary.codec and summary.means.get("bpp") is not None:
            curves.setdefault(summary.codec, []).append(summary)
    if not curves:
        raise UsageError("nothing to plot: no codec run measured a rate")
    written = {}
    for metric in QUALITY_METRICS:
        figure, axes = plt.subplots(figsize=(6, 4.5))
        for codec, points in curves.items():
            pairs = sorted(
                (p.means["bpp"], p.means[metric])
                for p in points
                if p.means[metric] is not None and math.isfinite(p.means[metric])
            )
            if pairs:
                axes.plot(*zip(*pairs, strict=True), marker="o", label=codec)
        axes.set_xlabel("bits per pixel")
        axes.set_ylabel(LABELS[metric])
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=120)
            written[f"rd-{metric}.{suffix}"] = buffer.getvalue()
        plt.close(figure)
    return written
