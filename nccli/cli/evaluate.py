"""`nccli eval`: quality and rate of codecs on images or audio, sweeps, BD-rate, baselines,
gates."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nccli.cli.common import (
    Device,
    Force,
    check_device,
    parse_bitrate,
    parse_pairs,
    progress,
    stderr,
)
from nccli.cli.files import IMAGE_SUFFIXES, NCC_SUFFIXES, STDIO, expand_files, write_output
from nccli.codecs.base import DEFAULT_CODECS, get_codec
from nccli.errors import UsageError
from nccli.evaluation import report
from nccli.evaluation.baseline import Comparison, compare, load_baseline, parse_tolerance
from nccli.evaluation.bd import BDEntry, bd_rates
from nccli.evaluation.cache import ResultCache, default_root
from nccli.evaluation.gates import Summary, check, parse_gate, summarize
from nccli.evaluation.measures import Measures, check_metric, measures_of
from nccli.evaluation.plot import plot_rd
from nccli.evaluation.runner import Row, run_all
from nccli.evaluation.scoring import optional_metrics
from nccli.evaluation.sweep import codec_tasks, pair_tasks
from nccli.evaluation.verify import verify
from nccli.media.audio import AUDIO_SUFFIXES, is_audio_path

GATE_FAILED = 4


def evaluate(
    inputs: Annotated[
        list[Path], typer.Argument(help="Reference images or audio, or directories of them.")
    ],
    codec: Annotated[
        list[str] | None, typer.Option("--codec", "-c", help="Codec to run (repeatable).")
    ] = None,
    decoded: Annotated[
        list[Path] | None,
        typer.Option(
            help="Decoded files (.ncc, images or audio) to compare, or a directory of them."
        ),
    ] = None,
    quality: Annotated[str | None, typer.Option("--quality", "-Q")] = None,
    qualities: Annotated[
        str | None, typer.Option(help="Comma-separated values of each codec's rate parameter.")
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Run each codec across its rate range.")
    ] = False,
    bpp: Annotated[
        str | None,
        typer.Option(help="Images: target bits per pixel (comma-separated for several)."),
    ] = None,
    bitrate: Annotated[
        str | None,
        typer.Option(
            help="Audio: bitrates, 24k or 24 for kbit/s, 24000 for bit/s (comma-separated)."
        ),
    ] = None,
    with_visqol: Annotated[
        bool,
        typer.Option(
            "--visqol",
            help="Audio: also compute ViSQOL v3 (audio mode, 48 kHz); takes about real time.",
        ),
    ] = False,
    param: Annotated[list[str] | None, typer.Option("--param", "-p")] = None,
    anchor: Annotated[
        str | None, typer.Option(help="Codec that BD-rates are computed against.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute results even when cached.")
    ] = False,
    verify_files: Annotated[
        bool, typer.Option("--verify", help="Decode every file again in a fresh process.")
    ] = False,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to FILE or '-'.")
    ] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write per-file rows as CSV to FILE or '-'.")
    ] = None,
    markdown_out: Annotated[
        str | None, typer.Option("--markdown", help="Write a Markdown summary to FILE or '-'.")
    ] = None,
    plot_dir: Annotated[
        Path | None, typer.Option("--plot", help="Write RD plots (PNG and SVG) into DIR.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A previous JSON report to compare against.")
    ] = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option(help="METRIC=AMOUNT or METRIC=PERCENT% a metric may worsen by."),
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
    """Measure quality and rate (real file size) per file and per setting: PSNR, PSNR-Y,
    MS-SSIM and bpp for images; SI-SDR, mel and STFT distances, STOI, PESQ and kbit/s for
    audio."""
    check_device(device)
    gates = [parse_gate(g, "under") for g in fail_under or []]
    gates += [parse_gate(g, "over") for g in fail_over or []]
    tolerances = [parse_tolerance(t) for t in tolerance or []]
    if tolerances and baseline is None:
        raise UsageError("--tolerance needs --baseline")
    old_rows = load_baseline(baseline) if baseline else None
    outputs = [o for o in (json_out, csv_out, markdown_out) if o == STDIO]
    if len(outputs) > 1:
        raise UsageError("only one of --json, --csv and --markdown can go to stdout")
    if decoded and codec:
        raise UsageError("give either --codec (run codecs) or --decoded (compare files), not both")
    if decoded and (sweep or qualities or bpp or verify_files):
        raise UsageError("--sweep, --qualities, --bpp and --verify run codecs; drop --decoded")
    modality = _codec_modality(codec or [])
    suffixes = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES}
    accept = suffixes[modality] if modality else IMAGE_SUFFIXES | AUDIO_SUFFIXES
    references = expand_files(inputs, accept, modality or "image or audio")
    modality = _input_modality(references, modality)
    measures = measures_of(modality)
    optional = optional_metrics(modality, with_visqol)
    for metric in [g.metric for g in gates] + [t.metric for t in tolerances]:
        check_metric(metric, measures, "--fail-under/--fail-over/--tolerance")
        if metric in measures.optional and metric not in optional:
            raise UsageError(f"a gate or tolerance on {metric} needs --{metric}")
    if modality == "image" and bitrate is not None:
        raise UsageError("--bitrate is for audio; give --quality, --qualities or --bpp")
    if modality == "audio" and (bpp is not None or quality is not None):
        raise UsageError("--bpp and --quality are for images; give --bitrate for audio")
    if bitrate is not None:
        if qualities is not None:
            raise UsageError("give --bitrate or --qualities, not both")
        qualities = ",".join(str(parse_bitrate(v)) for v in _list(bitrate) or [])
    codecs = codec or [DEFAULT_CODECS[modality]]
    if anchor is not None and anchor not in codecs:
        raise UsageError(f"--anchor {anchor} is not one of the codecs run ({', '.join(codecs)})")

    with tempfile.TemporaryDirectory(prefix="nccli-eval-") as scratch:
        keep_dir = Path(scratch) / "encoded" if verify_files else None
        if keep_dir:
            keep_dir.mkdir()
        if decoded:
            tasks = pair_tasks(
                references,
                expand_files(decoded, NCC_SUFFIXES | suffixes[modality], "--decoded"),
                optional,
            )
        else:
            params = parse_pairs(param or [], "--param")
            if quality is not None:
                params["quality"] = quality
            tasks = codec_tasks(
                references,
                codecs,
                params,
                sweep=sweep,
                qualities=_list(qualities),
                bpp_targets=[_positive(v) for v in _list(bpp) or []],
                keep_dir=keep_dir,
                optional=optional,
            )
        cache = None if no_cache else ResultCache(default_root())
        with progress(len(tasks)) as advance:
            rows = run_all(tasks, jobs, cache, lambda row: advance(Path(row.input).name))
        if keep_dir:
            verify(tasks, rows, keep_dir, Path(scratch) / "decoded")

    summaries = summarize(rows)
    failures = check(summaries, gates)
    failures += [
        f"{r.input} [{r.setting}]: fresh-process decode differs"
        for r in rows
        if r.verified is False
    ]
    bd = bd_rates(summaries, anchor) if anchor else []
    comparison = compare(rows, old_rows, tolerances) if old_rows is not None else None

    if json_out:
        text = report.to_json(rows, summaries, gates, failures, bd, comparison)
        write_output(json_out, text.encode(), force)
    if csv_out:
        write_output(csv_out, report.to_csv(rows).encode(), force)
    if markdown_out:
        write_output(markdown_out, report.to_markdown(summaries, bd).encode(), force)
    if plot_dir:
        for name, data in plot_rd(summaries).items():
            write_output(str(plot_dir / name), data, force)
    if not outputs:
        _print_tables(rows, summaries, bd, measures)
    return _finish(rows, failures, comparison)


def _finish(rows: list[Row], failures: list[str], comparison: Comparison | None) -> int:
    """Report problems on stderr and choose the exit code."""
    for row in rows:
        if row.error:
            stderr.print(f"nccli: error: {row.input}: {row.error}", markup=False)
    for failure in failures:
        stderr.print(f"nccli: quality gate failed: {failure}", markup=False)
    if comparison is not None:
        _print_comparison(comparison)
    first_error = next((row.exit_code for row in rows if row.error), 0)
    failed = failures or (comparison is not None and comparison.failed)
    return first_error or (GATE_FAILED if failed else 0)


def _print_comparison(comparison: Comparison) -> None:
    if not comparison.failed:
        stderr.print(
            f"baseline: {comparison.compared} results compared, no regression", markup=False
        )
        return
    if comparison.regressions:
        table = Table(
            "input",
            "setting",
            "metric",
            "baseline",
            "now",
            "tolerance",
            title="regressions against the baseline",
        )
        for r in comparison.regressions:
            now = "missing" if r.new is None else f"{r.new:.5g}"
            table.add_row(r.input, r.setting, r.metric, f"{r.old:.5g}", now, r.tolerance)
        stderr.print(table)
    for item in comparison.missing:
        stderr.print(f"nccli: baseline has a result this run lacks: {item}", markup=False)
    for item in comparison.unexpected:
        stderr.print(f"nccli: this run has a result the baseline lacks: {item}", markup=False)


def _codec_modality(codecs: list[str]) -> str | None:
    """The one modality of the named codecs (None when none is named)."""
    modalities = {get_codec(name).modality for name in codecs}
    if len(modalities) > 1:
        raise UsageError(f"the codecs mix {' and '.join(sorted(modalities))}; run them apart")
    return modalities.pop() if modalities else None


def _input_modality(references: list[Path], wanted: str | None) -> str:
    """The one modality of the references, which must be the codecs' when they name one."""
    kinds = {path: "audio" if is_audio_path(path) else "image" for path in references}
    if wanted is not None:
        other = next((path for path, kind in kinds.items() if kind != wanted), None)
        if other is not None:
            raise UsageError(f"{other} is not {wanted}, which the codecs given are for")
        return wanted
    modalities = set(kinds.values())
    if len(modalities) > 1:
        raise UsageError("the inputs mix images and audio; evaluate them in separate runs")
    return modalities.pop()


def _list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise UsageError(f"expected comma-separated values, got {text!r}")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--bpp takes numbers, not {text!r}") from None
    if not value > 0:
        raise UsageError(f"--bpp must be positive, not {text}")
    return value


def _print_tables(
    rows: list[Row], summaries: list[Summary], bd: list[BDEntry], measures: Measures
) -> None:
    console = Console(highlight=False, width=max(100, Console().width))
    metrics = (measures.rate, *measures.shown(s.means for s in summaries))
    table = Table("input", "setting", *map(measures.label, metrics))
    for row in rows:
        if row.error:
            table.add_row(row.input, row.setting, "error", *[""] * (len(metrics) - 1))
        else:
            values = [report.cell(getattr(row, m), measures.digits(m)) for m in metrics]
            table.add_row(row.input, row.setting, *values)
    if len(rows) > len(summaries):
        for summary in summaries:
            values = [report.cell(summary.means[m], measures.digits(m)) for m in metrics]
            label = f"mean of {summary.files - summary.failed_files}"
            table.add_row(label, summary.setting, *values, style="bold")
    console.print(table)
    if bd:
        bd_table = Table(
            "codec", "metric", "BD-rate", "overlap", title=f"BD-rate vs {bd[0].anchor}"
        )
        for entry in bd:
            value = f"{entry.bd_rate:+.2f} %" if entry.bd_rate is not None else entry.note
            overlap = f"{entry.overlap:.0%}" if entry.overlap is not None else "-"
            bd_table.add_row(entry.codec, entry.metric, value, overlap)
        console.print(bd_table)
