"""`nccli bench`: encode/decode throughput and peak memory per codec."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nccli.cli.common import Force, parse_pairs, stderr
from nccli.cli.files import IMAGE_SUFFIXES, STDIO, expand_files, write_output
from nccli.codecs.base import DEFAULT_CODECS, get_codec
from nccli.errors import UsageError
from nccli.evaluation.bench import SCHEMA, BenchResult, bench


def bench_command(
    inputs: Annotated[list[Path], typer.Argument(help="Images or directories of them.")],
    codec: Annotated[
        list[str] | None, typer.Option("--codec", "-c", help="Codec to measure (repeatable).")
    ] = None,
    quality: Annotated[str | None, typer.Option("--quality", "-Q")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p")] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs per measurement.")] = 5,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs before timing.")] = 1,
    anchor: Annotated[
        str | None, typer.Option(help="Codec whose speeds the others are divided by.")
    ] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the results as JSON to FILE or '-'.")
    ] = None,
    force: Force = False,
) -> int:
    """Measure encode/decode MPixel/s (median and range of repeated runs) and peak RSS."""
    files = expand_files(inputs, IMAGE_SUFFIXES, "image")
    params = parse_pairs(param or [], "--param")
    if quality is not None:
        params["quality"] = quality
    codecs = codec or [DEFAULT_CODECS["image"]]
    if anchor is not None and anchor not in codecs:
        raise UsageError(f"--anchor {anchor} is not one of the codecs measured")
    for name in codecs:
        get_codec(name).resolve_params(params)
    results = []
    for name in codecs:
        stderr.print(f"benchmarking {name} on {len(files)} file(s)...", markup=False)
        results.append(bench(files, name, params, repeat, warmup))
    if json_out:
        data = {"schema": SCHEMA, "results": [asdict(r) for r in results]}
        write_output(json_out, (json.dumps(data, indent=2) + "\n").encode(), force)
    if json_out != STDIO:
        _print_table(results, anchor)
    return 0


def _print_table(results: list[BenchResult], anchor: str | None) -> None:
    reference = next((r for r in results if r.codec == anchor), None)
    columns = ["codec", "bpp", "encode MP/s (range)", "decode MP/s (range)", "peak RSS MiB"]
    if reference:
        columns[3:3] = [f"enc / {anchor}"]
        columns[5:5] = [f"dec / {anchor}"]
    table = Table(*columns)
    for r in results:
        cells = [
            r.codec,
            f"{r.bpp:.4f}",
            f"{r.encode.median:.2f} ({r.encode.low:.2f}-{r.encode.high:.2f})",
            f"{r.decode.median:.2f} ({r.decode.low:.2f}-{r.decode.high:.2f})",
            f"{r.peak_rss_mib:.0f} (start {r.start_rss_mib:.0f})",
        ]
        if reference:
            cells[3:3] = [f"{r.encode.median / reference.encode.median:.3f}"]
            cells[5:5] = [f"{r.decode.median / reference.decode.median:.3f}"]
        table.add_row(*cells)
    Console(highlight=False, width=max(120, Console().width)).print(table)
