"""`nccli decode`: .ncc containers back to media files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nccli import api
from nccli.cli.common import Device, Force, Quiet, check_device, run_batch, stderr
from nccli.cli.files import (
    NCC_SUFFIXES,
    STDIO,
    Job,
    display,
    display_output,
    naming,
    plan,
    read_input,
    write_output,
)
from nccli.errors import UsageError
from nccli.media.image import WRITE_FORMATS, write_image


def decode(
    inputs: Annotated[
        list[str], typer.Argument(help=".ncc files; '-' reads stdin; directories recurse.")
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Output file (format from its suffix), '-' or a directory."
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="Suffix for outputs whose name gives none.")
    ] = "png",
    force: Force = False,
    quiet: Quiet = False,
    device: Device = "auto",
) -> int:
    """Decode .ncc files."""
    check_device(device)
    default_suffix = "." + format.lower().lstrip(".")
    if default_suffix not in WRITE_FORMATS:
        raise UsageError(f"--format {format!r} is not one of {', '.join(sorted(WRITE_FORMATS))}")
    jobs = plan(inputs, output, default_suffix, NCC_SUFFIXES)
    for job in jobs:
        suffix = _suffix(job.target, default_suffix)
        if suffix not in WRITE_FORMATS:
            raise UsageError(f"{job.target}: cannot write images as {suffix!r}")

    def work(job: Job) -> None:
        with naming(job.source):
            decoded = api.decode_media(read_input(job.source))
            data = write_image(decoded.media, _suffix(job.target, default_suffix))
        write_output(job.target, data, force)
        if not quiet:
            image = decoded.media
            stderr.print(
                f"{display(job.source)} -> {display_output(job.target)}: "
                f"{image.width}x{image.height} {image.mode} {image.bit_depth}-bit",
                markup=False,
            )

    return run_batch(jobs, work, lambda job: display(job.source))


def _suffix(target: str, default: str) -> str:
    return default if target == STDIO else (Path(target).suffix.lower() or default)
