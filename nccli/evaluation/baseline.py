"""Comparing a run with a stored report: what regressed beyond the allowed tolerance."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nccli.errors import InvalidInputError, UsageError
from nccli.evaluation.gates import split_metric
from nccli.evaluation.measures import HIGHER_IS_BETTER, METRICS
from nccli.evaluation.runner import Row

SCHEMA = "nccli.eval/1"


@dataclass(frozen=True)
class Tolerance:
    """How much a metric may worsen: an absolute amount, or a percentage of the old value."""

    metric: str
    amount: float
    relative: bool = False

    def allowed(self, old: float) -> float:
        return abs(old) * self.amount / 100 if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.metric}={self.amount:g}{'%' if self.relative else ''}"


@dataclass(frozen=True)
class Regression:
    input: str
    setting: str
    metric: str
    old: float
    new: float | None
    tolerance: str


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a run with a baseline."""

    compared: int
    regressions: list[Regression]
    #: (input, setting) pairs in the baseline that this run lacks, and the reverse.
    missing: list[str]
    unexpected: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.missing or self.unexpected)


def parse_tolerance(text: str) -> Tolerance:
    """Parse 'METRIC=AMOUNT' or 'METRIC=PERCENT%' as given to --tolerance."""
    metric, value = split_metric(text, "--tolerance", "METRIC=VALUE or METRIC=PERCENT%")
    relative = value.endswith("%")
    try:
        amount = float(value.rstrip("%"))
    except ValueError:
        raise UsageError(f"--tolerance {text!r}: {value!r} is not a number") from None
    if amount < 0 or not math.isfinite(amount):
        raise UsageError(f"--tolerance {text!r} must be a finite amount >= 0")
    return Tolerance(metric, amount, relative)


def load_baseline(path: Path) -> list[dict[str, Any]]:
    """The result rows of a stored JSON report; refuses other schemas with a clear message."""
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a JSON report: {exc}") from None
    schema = report.get("schema") if isinstance(report, dict) else None
    if schema != SCHEMA:
        raise InvalidInputError(
            f"{path}: report schema {schema!r} is not {SCHEMA!r}, which this nccli compares; "
            "re-create the baseline with this nccli"
        )
    rows = report.get("results")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError(f"{path}: 'results' must be a list of objects")
    return rows


def compare(
    rows: list[Row], baseline: list[dict[str, Any]], tolerances: list[Tolerance]
) -> Comparison:
    """Row by row, keyed by (input, setting): every metric present in both is checked.

    A metric without a --tolerance must not worsen at all.
    """
    limits = {metric: Tolerance(metric, 0.0) for metric in METRICS}
    limits.update({t.metric: t for t in tolerances})
    old_rows = {(r.get("input"), r.get("setting")): r for r in baseline if r.get("error") is None}
    new_rows = {(r.input, r.setting): r for r in rows if r.error is None}
    regressions = []
    for key in sorted(old_rows.keys() & new_rows.keys()):
        old, new = old_rows[key], new_rows[key].to_dict()
        for metric, tolerance in limits.items():
            regression = _check(key, metric, old, new, tolerance)
            if regression:
                regressions.append(regression)
    return Comparison(
        compared=len(old_rows.keys() & new_rows.keys()),
        regressions=regressions,
        missing=[f"{i} [{s}]" for i, s in sorted(old_rows.keys() - new_rows.keys())],
        unexpected=[f"{i} [{s}]" for i, s in sorted(new_rows.keys() - old_rows.keys())],
    )


def _check(
    key: tuple[str, str], metric: str, old: dict[str, Any], new: dict[str, Any], tol: Tolerance
) -> Regression | None:
    before, after = _value(old, metric), _value(new, metric)
    if before is None:
        return None
    if after is None:
        return Regression(*key, metric, before, None, str(tol))
    worse = before - after if metric in HIGHER_IS_BETTER else after - before
    if worse > tol.allowed(before) + 1e-12:
        return Regression(*key, metric, before, after, str(tol))
    return None


def _value(row: dict[str, Any], metric: str) -> float | None:
    """A metric of a JSON row; identical images stand for infinite PSNR."""
    value = row.get(metric)
    if value is None and metric in ("psnr", "psnr_y") and row.get("identical"):
        return math.inf
    return value if isinstance(value, (int, float)) else None
