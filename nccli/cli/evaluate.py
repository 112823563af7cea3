"""`nccli eval`: quality and rate of codecs on images, with gates for CI."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nccli.cli.common import Device, Force, check_device, parse_pairs, progress, stderr
from nccli.cli.files import IMAGE_SUFFIXES, NCC_SUFFIXES, STDIO, write_output
from nccli.codecs.base import DEFAULT_CODECS, get_codec
from nccli.errors import UsageError
from nccli.evaluation import report
from nccli.evaluation.gates import Summary, check, parse_gate, summarize
from nccli.evaluation.runner import Row, compare_pair, run_codec

GATE_FAILED = 4


def evaluate(
    inputs: Annotated[list[Path], typer.Argument(help="Reference images or directories of them.")],
    codec: Annotated[
        list[str] | None, typer.Option("--codec", "-c", help="Codec to run (repeatable).")
    ] = None,
    decoded: Annotated[
        list[Path] | None,
        typer.Option(help="Decoded files (.ncc or images) to compare, or a directory of them."),
    ] = None,
    quality: Annotated[str | None, typer.Option("--quality", "-Q")] = None,
    bpp: Annotated[float | None, typer.Option(help="Target bits per pixel.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to FILE or '-'.")
    ] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write per-file rows as CSV to FILE or '-'.")
    ] = None,
    fail_under: Annotated[
        list[str] | None, typer.Option(help="METRIC=VALUE: exit 4 if a mean falls below.")
    ] = None,
    fail_over: Annotated[
        list[str] | None, typer.Option(help="METRIC=VALUE: exit 4 if a mean rises above.")
    ] = None,
    force: Force = False,
    device: Device = "auto",
) -> int:
    """Measure PSNR, PSNR-Y, MS-SSIM and bpp (real file size) per file and per setting."""
    check_device(device)
    gates = [parse_gate(g, "under") for g in fail_under or []]
    gates += [parse_gate(g, "over") for g in fail_over or []]
    if json_out == STDIO and csv_out == STDIO:
        raise UsageError("--json and --csv cannot both go to stdout")
    references = _images(inputs, IMAGE_SUFFIXES, "input")
    if decoded and codec:
        raise UsageError("give either --codec (run codecs) or --decoded (compare files), not both")
    if decoded:
        pairs = _pair(references, _images(decoded, NCC_SUFFIXES | IMAGE_SUFFIXES, "--decoded"))
        tasks = [lambda r=r, d=d: compare_pair(r, d) for r, d in pairs]
    else:
        params = parse_pairs(param or [], "--param")
        if quality is not None:
            params["quality"] = quality
        if quality is not None and bpp is not None:
            raise UsageError("give either --quality or --bpp, not both")
        names = codec or [DEFAULT_CODECS["image"]]
        for name in names:  # unknown codecs and bad parameters fail before any work
            get_codec(name).resolve_params(params)
        tasks = [lambda r=r, c=c: run_codec(r, c, params, bpp) for c in names for r in references]
    rows: list[Row] = []
    with progress(len(tasks)) as advance:
        for task in tasks:
            rows.append(task())
            advance(Path(rows[-1].input).name)
    summaries = summarize(rows)
    failures = check(summaries, gates)
    if json_out:
        write_output(json_out, report.to_json(rows, summaries, gates, failures).encode(), force)
    if csv_out:
        write_output(csv_out, report.to_csv(rows).encode(), force)
    if STDIO not in (json_out, csv_out):
        _print_table(rows, summaries)
    for row in rows:
        if row.error:
            stderr.print(f"nccli: error: {row.input}: {row.error}", markup=False)
    for failure in failures:
        stderr.print(f"nccli: quality gate failed: {failure}", markup=False)
    first_error = next((row.exit_code for row in rows if row.error), 0)
    return first_error or (GATE_FAILED if failures else 0)


def _images(paths: list[Path], accept: frozenset[str], what: str) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in accept)
            if not found:
                raise UsageError(f"{path}: directory holds no {what} files")
            files.extend(found)
        elif not path.exists():
            raise UsageError(f"{path}: no such file")
        else:
            files.append(path)
    return files


def _pair(references: list[Path], decoded: list[Path]) -> list[tuple[Path, Path]]:
    """Match decoded files to references by position, or by file stem when counts differ."""
    if len(decoded) == len(references):
        by_stem = {p.stem: p for p in decoded}
        if all(r.stem in by_stem for r in references) and len(by_stem) == len(decoded):
            return [(r, by_stem[r.stem]) for r in references]
        return list(zip(references, decoded, strict=True))
    by_stem = {p.stem: p for p in decoded}
    missing = [str(r) for r in references if r.stem not in by_stem]
    if missing:
        raise UsageError(f"no decoded file matches {', '.join(missing)}")
    return [(r, by_stem[r.stem]) for r in references]


def _print_table(rows: list[Row], summaries: list[Summary]) -> None:
    table = Table("input", "setting", "bpp", "PSNR", "PSNR-Y", "MS-SSIM")
    for row in rows:
        if row.error:
            table.add_row(row.input, row.setting, "error", "", "", "")
        else:
            table.add_row(
                row.input,
                row.setting,
                _fmt(row.bpp, 4),
                _fmt(row.psnr, 2),
                _fmt(row.psnr_y, 2),
                _fmt(row.ms_ssim, 5),
            )
    if len(rows) > 1:
        for summary in summaries:
            m = summary.means
            table.add_row(
                f"mean of {summary.files - summary.failed_files}",
                summary.setting,
                _fmt(m["bpp"], 4),
                _fmt(m["psnr"], 2),
                _fmt(m["psnr_y"], 2),
                _fmt(m["ms_ssim"], 5),
                style="bold",
            )
    Console(highlight=False, width=max(100, Console().width)).print(table)


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"
