"""Eval reports: JSON (schema in docs/evaluation.md), CSV and a Markdown summary."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from nccli.evaluation.baseline import SCHEMA, Comparison
from nccli.evaluation.bd import BDEntry
from nccli.evaluation.gates import Gate, Summary
from nccli.evaluation.measures import Measures, measures_of
from nccli.evaluation.runner import Row


def to_json(
    rows: list[Row],
    summaries: list[Summary],
    gates: list[Gate],
    failures: list[str],
    bd: list[BDEntry],
    baseline: Comparison | None,
) -> str:
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "results": [row.to_dict() for row in rows],
        "summary": [_finite(asdict(summary)) for summary in summaries],
        "bd_rates": [asdict(entry) for entry in bd],
        "gates": [str(gate) for gate in gates],
        "gate_failures": failures,
        "baseline": None if baseline is None else asdict(baseline),
        "passed": passed(rows, failures, baseline),
    }
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def passed(rows: list[Row], failures: list[str], baseline: Comparison | None) -> bool:
    """True when every file was measured, every gate held and nothing regressed."""
    ok_rows = all(row.error is None and row.verified is not False for row in rows)
    return ok_rows and not failures and not (baseline and baseline.failed)


def to_csv(rows: list[Row]) -> str:
    """One line per row: input, setting, codec, params, bytes, then the rate and quality
    metrics of each modality among the rows, then the error."""
    data = [row.to_dict() for row in rows]
    metrics = [
        name for m in _measures(r.modality for r in rows) for name in (m.rate, *m.shown(data))
    ]
    columns = ("input", "setting", "codec", "params", "bytes", *metrics, "error")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row, values in zip(rows, data, strict=True):
        values["params"] = " ".join(f"{k}={v}" for k, v in sorted(row.params.items()))
        writer.writerow(["" if values.get(c) is None else values[c] for c in columns])
    return buffer.getvalue()


def to_markdown(summaries: list[Summary], bd: list[BDEntry]) -> str:
    """Per-setting means (a table per modality), and the BD-rate table when an anchor was
    given."""
    lines: list[str] = []
    for measures in _measures(s.modality for s in summaries):
        means = [s.means for s in summaries if s.modality == measures.modality]
        metrics = (measures.rate, *measures.shown(means))
        if lines:
            lines.append("")
        lines.append("| setting | files | " + " | ".join(map(measures.label, metrics)) + " |")
        lines.append("|---|---:|" + "---:|" * len(metrics))
        for s in summaries:
            if s.modality == measures.modality:
                cells = [cell(s.means[m], measures.digits(m)) for m in metrics]
                lines.append(
                    f"| {s.setting} | {s.files - s.failed_files} | " + " | ".join(cells) + " |"
                )
    if bd:
        lines += ["", f"BD-rate against {bd[0].anchor} (negative: fewer bits at equal quality)", ""]
        lines += ["| codec | metric | BD-rate | overlap |", "|---|---|---:|---:|"]
        for entry in bd:
            value = entry.text(digits=2)
            overlap = f"{entry.overlap:.0%}" if entry.overlap is not None else "-"
            lines.append(f"| {entry.codec} | {entry.metric} | {value} | {overlap} |")
    return "\n".join(lines) + "\n"


def _measures(modalities: Iterable[str]) -> list[Measures]:
    """The measures of the modalities present, in first-seen order."""
    return [measures_of(m) for m in dict.fromkeys(modalities)]


def cell(value: float | None, digits: int) -> str:
    """A table cell: the value to ``digits`` decimals, "inf" (identical images' PSNR) or "-"
    where there is none (a failed file, the MS-SSIM of an image under 161 pixels)."""
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def _finite(obj: dict[str, Any]) -> dict[str, Any]:
    means = obj["means"]
    for name, value in means.items():
        if isinstance(value, float) and math.isinf(value):
            means[name] = None
    return obj
