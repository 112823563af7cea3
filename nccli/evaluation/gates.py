"""Quality gates: per-setting means of the result rows against --fail-under/--fail-over."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nccli.errors import UsageError
from nccli.evaluation.measures import METRICS, measures_of
from nccli.evaluation.runner import Row

ALIASES = {
    "psnr_rgb": "psnr",
    "msssim": "ms_ssim",
    "ms-ssim": "ms_ssim",
    "psnr-y": "psnr_y",
    "si-sdr": "si_sdr",
    "sisdr": "si_sdr",
    "mel": "mel_distance",
    "stft": "stft_distance",
}


@dataclass(frozen=True)
class Gate:
    """A threshold a metric's mean must stay above ('under' fails) or below ('over' fails)."""

    metric: str
    fails_when: str  # "under" or "over"
    threshold: float

    def __str__(self) -> str:
        return f"--fail-{self.fails_when} {self.metric}={self.threshold:g}"


@dataclass(frozen=True)
class Summary:
    """Means over the successful rows of one setting (codec + parameters)."""

    setting: str
    codec: str | None
    modality: str
    files: int
    failed_files: int
    means: dict[str, float | None]


def split_metric(text: str, option: str, form: str = "METRIC=VALUE") -> tuple[str, str]:
    """Split an option value 'METRIC=VALUE' into a known metric name and the value text."""
    name, sep, value = text.partition("=")
    metric = ALIASES.get(name.strip().lower(), name.strip().lower())
    if not sep or metric not in METRICS:
        raise UsageError(
            f"{option} takes {form} with METRIC one of {', '.join(METRICS)}; got {text!r}"
        )
    return metric, value.strip()


def parse_gate(text: str, fails_when: str) -> Gate:
    """Parse 'METRIC=VALUE' as given to --fail-under / --fail-over."""
    metric, value = split_metric(text, f"--fail-{fails_when}")
    try:
        threshold = float(value)
    except ValueError:
        raise UsageError(f"--fail-{fails_when} {text!r}: {value!r} is not a number") from None
    return Gate(metric, fails_when, threshold)


def summarize(rows: list[Row]) -> list[Summary]:
    """One summary per setting, in first-seen order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.setting, []).append(row)
    summaries = []
    for setting, members in groups.items():
        ok = [row for row in members if row.error is None]
        first = members[0]
        metrics = measures_of(first.modality).metrics
        means = {metric: _mean([getattr(row, metric) for row in ok]) for metric in metrics}
        failed = len(members) - len(ok)
        summaries.append(Summary(setting, first.codec, first.modality, len(members), failed, means))
    return summaries


def check(summaries: list[Summary], gates: list[Gate]) -> list[str]:
    """Descriptions of every gate that a setting's mean fails (empty when all pass)."""
    failures = []
    for summary in summaries:
        for gate in gates:
            value = summary.means.get(gate.metric)
            if value is None:
                failures.append(f"{summary.setting}: {gate.metric} was not measured ({gate})")
            elif (
                (value < gate.threshold) if gate.fails_when == "under" else (value > gate.threshold)
            ):
                failures.append(f"{summary.setting}: mean {gate.metric} {value:.4f} ({gate})")
    return failures


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if any(math.isinf(v) for v in present):
        return math.inf
    return sum(present) / len(present)
