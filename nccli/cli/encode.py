"""`nccli encode`: media files to .ncc containers."""

from __future__ import annotations

from typing import Annotated, BinaryIO

import typer

from nccli import api
from nccli.audio import encode_audio
from nccli.cli.common import (
    Device,
    Force,
    Quiet,
    check_device,
    fitting_bar,
    parse_bitrate,
    parse_pairs,
    run_batch,
    stderr,
)
from nccli.cli.files import (
    IMAGE_SUFFIXES,
    Job,
    display,
    display_output,
    looks_like_audio,
    naming,
    output_stream,
    plan,
    spool_input,
    write_output,
)
from nccli.codecs.base import DEFAULT_CODECS, choose_image_codec, get_codec
from nccli.errors import UsageError
from nccli.media.audio import AUDIO_SUFFIXES, open_audio
from nccli.media.image import Image


def encode(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Images or audio to encode; '-' reads stdin; directories recurse."),
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
    bitrate: Annotated[
        str | None,
        typer.Option(help="Audio bitrate: 24k or 24 for kbit/s, 24000 for bit/s."),
    ] = None,
    effort: Annotated[
        str | None,
        typer.Option(
            help="Encoder effort, for codecs that optimise at encode time (nc-overfit: fast,"
            " default, max; nc-photo: fast, default, max) or a number of steps."
        ),
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
    """Compress images and audio into .ncc files."""
    check_device(device)
    params = parse_pairs(param or [], "--param")
    if quality is not None:
        if bpp is not None:
            raise UsageError("give either --quality or --bpp, not both")
        params["quality"] = quality
    if effort is not None:
        params["effort"] = effort
    if bitrate is not None:
        if bpp is not None:
            raise UsageError("--bpp is for images and --bitrate for audio; give one")
        params["bitrate"] = parse_bitrate(bitrate)
    metadata = parse_pairs(meta or [], "--meta")
    jobs = plan(inputs, output, ".ncc", IMAGE_SUFFIXES | AUDIO_SUFFIXES)
    codec_modality = get_codec(codec).modality if codec else None

    def work(job: Job) -> None:
        with naming(job.source), spool_input(job.source) as file:
            head = file.read(16)
            file.seek(0)
            if codec_modality == "audio" or (codec_modality is None and looks_like_audio(head)):
                return encode_audio_file(job, file)
            if bitrate is not None:
                raise UsageError("--bitrate is for audio; use --quality or --bpp for images")
            media = api.load_media(file.read())
            backend = codec or chosen_codec(job, media)
            with fitting_bar(display(job.source), shown=not quiet):
                data = api.encode(media, backend, bpp=bpp, metadata=metadata, strip=strip, **params)
        write_output(job.target, data, force)
        if not quiet:
            rate = len(data) * 8 / (media.width * media.height)
            stderr.print(
                f"{display(job.source)} -> {display_output(job.target)}: "
                f"{len(data)} bytes, {rate:.4f} bpp",
                markup=False,
            )

    def chosen_codec(job: Job, media: Image) -> str:
        choice = choose_image_codec(media, params)
        if choice.passed_over and not quiet:
            stderr.print(
                f"note: {display(job.source)} has {choice.passed_over}, which the default "
                f"codec {DEFAULT_CODECS['image']} cannot keep: coded with {choice.codec.name}",
                markup=False,
            )
        return choice.codec.name

    def encode_audio_file(job: Job, file: BinaryIO) -> None:
        if bpp is not None:
            raise UsageError("--bpp is for images; use --bitrate for audio")
        with open_audio(file) as source, output_stream(job.target, force) as out:
            size = encode_audio(source, out, codec, metadata=metadata, **params)
        if not quiet:
            rate = size * 8 / source.info.seconds / 1000
            stderr.print(
                f"{display(job.source)} -> {display_output(job.target)}: "
                f"{size} bytes, {rate:.2f} kbit/s",
                markup=False,
            )

    return run_batch(jobs, work, lambda job: display(job.source))
