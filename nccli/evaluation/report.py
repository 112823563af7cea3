"""Eval reports: JSON (schema in docs/evaluation.md), CSV and a Markdown summary."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from typing import Any

from nccli.evaluation.baseline import SCHEMA, Comparison
from nccli.evaluation.bd import BDEntry
from nccli.evaluation.gates import Gate, Summary
from nccli.evaluation.runner import Row

CSV_COLUMNS = (
    "input",
    "setting",
    "codec",
    "params",
    "bytes",
    "bpp",
    "psnr",
    "psnr_y",
    "ms_ssim",
    "error",
)


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
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.to_dict()
        data["params"] = " ".join(f"{k}={v}" for k, v in sorted(row.params.items()))
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def to_markdown(summaries: list[Summary], bd: list[BDEntry]) -> str:
    """Per-setting means, and the BD-rate table when an anchor was given."""
    lines = [
        "| setting | files | bpp | PSNR (dB) | PSNR-Y (dB) | MS-SSIM |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        m = s.means
        lines.append(
            f"| {s.setting} | {s.files - s.failed_files} | {_fmt(m['bpp'], 4)} | "
            f"{_fmt(m['psnr'], 2)} | {_fmt(m['psnr_y'], 2)} | {_fmt(m['ms_ssim'], 5)} |"
        )
    if bd:
        lines += ["", f"BD-rate against {bd[0].anchor} (negative: fewer bits at equal quality)", ""]
        lines += ["| codec | metric | BD-rate | overlap |", "|---|---|---:|---:|"]
        for entry in bd:
            value = f"{entry.bd_rate:+.2f} %" if entry.bd_rate is not None else entry.note
            overlap = f"{entry.overlap:.0%}" if entry.overlap is not None else "-"
            lines.append(f"| {entry.codec} | {entry.metric} | {value} | {overlap} |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def _finite(obj: dict[str, Any]) -> dict[str, Any]:
    means = obj["means"]
    for name, value in means.items():
        if isinstance(value, float) and math.isinf(value):
            means[name] = None
    return obj
