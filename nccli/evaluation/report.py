"""Machine-readable eval reports: JSON (schema in docs/evaluation.md) and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from typing import Any

from nccli.evaluation.gates import Gate, Summary
from nccli.evaluation.runner import Row

SCHEMA = "nccli.eval/1"
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
    rows: list[Row], summaries: list[Summary], gates: list[Gate], failures: list[str]
) -> str:
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "results": [row.to_dict() for row in rows],
        "summary": [_finite(asdict(summary)) for summary in summaries],
        "gates": [str(gate) for gate in gates],
        "gate_failures": failures,
        "passed": not failures and all(row.error is None for row in rows),
    }
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.to_dict()
        data["params"] = " ".join(f"{k}={v}" for k, v in sorted(row.params.items()))
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def _finite(obj: dict[str, Any]) -> dict[str, Any]:
    means = obj["means"]
    for name, value in means.items():
        if isinstance(value, float) and math.isinf(value):
            means[name] = None
    return obj
