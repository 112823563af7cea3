"""`nccli encode`: media files to .ncc containers."""

from __future__ import annotations

from typing import Annotated

import typer

from nccli import api
from nccli.cli.common import Device, Force, Quiet, check_device, parse_pairs, run_batch, stderr
from nccli.cli.files import (
    IMAGE_SUFFIXES,
    Job,
    display,
    display_output,
    naming,
    plan,
    read_input,
    write_output,
)
from nccli.errors import UsageError


def encode(
    inputs: Annotated[
        list[str], typer.Argument(help="Images to encode; '-' reads stdin; directories recurse.")
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output file, '-' for stdout, or a directory."),
    ] = None,
    codec: Annotated[
        str | None, typer.Option("--codec", "-c", help="Backend (see `nccli codecs`).")
    ] = None,
    quality: Annotated[
        str | None, typer.Option("--quality", "-Q", help="Quality in the codec's own scale.")
    ] = None,
    bpp: Annotated[
        float | None,
        typer.Option(help="Target bits per pixel: the largest file at or below it."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Codec parameter KEY=VALUE.")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="User metadata KEY=VALUE for the header.")
    ] = None,
    strip: Annotated[bool, typer.Option(help="Leave the ICC colour profile out.")] = False,
    force: Force = False,
    quiet: Quiet = False,
    device: Device = "auto",
) -> int:
    """Compress images into .ncc files."""
    check_device(device)
    params = parse_pairs(param or [], "--param")
    if quality is not None:
        if bpp is not None:
            raise UsageError("give either --quality or --bpp, not both")
        params["quality"] = quality
    metadata = parse_pairs(meta or [], "--meta")
    jobs = plan(inputs, output, ".ncc", IMAGE_SUFFIXES)

    def work(job: Job) -> None:
        with naming(job.source):
            media = api.load_media(read_input(job.source))
            data = api.encode(media, codec, bpp=bpp, metadata=metadata, strip=strip, **params)
        write_output(job.target, data, force)
        if not quiet:
            rate = len(data) * 8 / (media.width * media.height)
            stderr.print(
                f"{display(job.source)} -> {display_output(job.target)}: "
                f"{len(data)} bytes, {rate:.4f} bpp",
                markup=False,
            )

    return run_batch(jobs, work, lambda job: display(job.source))
