"""`nccli decode`: .ncc containers back to media files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nccli import api
from nccli.audio import AudioDecoding, start_decoding
from nccli.cli.common import Device, Force, Quiet, check_device, run_batch, stderr
from nccli.cli.files import (
    NCC_SUFFIXES,
    STDIO,
    Job,
    display,
    display_output,
    naming,
    output_stream,
    plan,
    read_check,
    write_output,
)
from nccli.container import Reader
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio_writer import WRITE_SUFFIXES as AUDIO_WRITE_SUFFIXES
from nccli.media.audio_writer import open_writer
from nccli.media.image import WRITE_FORMATS, write_image

#: Output suffix when neither -o nor --format names one.
DEFAULT_SUFFIXES = {"image": ".png", "audio": ".wav"}


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
        str | None,
        typer.Option(
            "--format", help="Suffix for outputs whose name gives none (default png / wav)."
        ),
    ] = None,
    sample_rate: Annotated[
        int | None, typer.Option(help="Audio: resample to this rate (default: the original).")
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="Audio: mix to this many channels (default: original).")
    ] = None,
    force: Force = False,
    quiet: Quiet = False,
    device: Device = "auto",
) -> int:
    """Decode .ncc files into images (PNG, ...) or audio (WAV, FLAC)."""
    check_device(device)
    chosen = None if format is None else "." + format.lower().lstrip(".")
    if chosen is not None and chosen not in {*WRITE_FORMATS, *AUDIO_WRITE_SUFFIXES}:
        known = ", ".join(sorted({*WRITE_FORMATS, *AUDIO_WRITE_SUFFIXES}))
        raise UsageError(f"--format {format!r} is not one of {known}")
    jobs = plan(inputs, output, "", NCC_SUFFIXES)

    def work(job: Job) -> None:
        with naming(job.source):
            if job.source != STDIO:
                read_check(job.source)
            with _Replayable(job.source) as stream:
                reader = Reader(stream)
                stream.stop_recording()
                modality = reader.header.modality
                default = chosen or DEFAULT_SUFFIXES.get(modality, "")
                target, suffix = _target(job.target, default), _suffix(job.target, default)
                if modality == "audio":
                    if suffix not in AUDIO_WRITE_SUFFIXES:
                        raise UsageError(f"cannot write audio as {suffix!r}; use .wav or .flac")
                    decoding = start_decoding(reader.header, reader, sample_rate, channels)
                    return _write_audio(job.source, target, suffix, decoding)
                if sample_rate is not None or channels is not None:
                    raise UsageError("--sample-rate and --channels apply to audio only")
                if suffix not in WRITE_FORMATS:
                    raise UsageError(f"cannot write images as {suffix!r}")
                decoded = api.decode_media(stream.replay())
            data = write_image(decoded.media, suffix)
        write_output(target, data, force)
        if not quiet:
            image = decoded.media
            stderr.print(
                f"{display(job.source)} -> {display_output(target)}: "
                f"{image.width}x{image.height} {image.mode} {image.bit_depth}-bit",
                markup=False,
            )

    def _write_audio(source: str, target: str, suffix: str, decoding: AudioDecoding) -> None:
        damage = None
        with output_stream(target, force) as out:
            writer = open_writer(out, decoding.info, suffix, seekable=target != STDIO)
            try:
                for block in decoding.blocks():
                    writer.write(block)
            except InvalidInputError as exc:
                damage = exc
            writer.close()
        if damage is not None:
            raise InvalidInputError(f"{damage}; the intact part was written to {target}")
        if not quiet:
            info = decoding.info
            stderr.print(
                f"{display(source)} -> {display_output(target)}: {info.seconds:.2f} s, "
                f"{info.sample_rate} Hz, {info.channels} ch, {info.sample_format}",
                markup=False,
            )

    return run_batch(jobs, work, lambda job: display(job.source))


class _Replayable:
    """An input read from its start, whose bytes can be had again whole (images need the
    whole file); it records only until stop_recording(), which follows the header."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._raw = sys.stdin.buffer if source == STDIO else open(source, "rb")  # noqa: SIM115
        if source == STDIO and not self._raw.peek(1):
            raise InvalidInputError("standard input is empty")
        self._seen = bytearray()
        self._recording = True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._recording:
            self._seen += data
        return data

    def stop_recording(self) -> None:
        self._recording = False
        if self._source != STDIO:
            self._seen.clear()

    def replay(self) -> bytes:
        """Every byte of the input, including those read so far."""
        if self._source != STDIO:
            return Path(self._source).read_bytes()
        return bytes(self._seen) + self._raw.read()

    def __enter__(self) -> _Replayable:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._source != STDIO:
            self._raw.close()


def _target(target: str, suffix: str) -> str:
    """The planned target, with the modality's suffix where the user named none."""
    if target == STDIO or Path(target).suffix:
        return target
    return target + suffix


def _suffix(target: str, default: str) -> str:
    return default if target == STDIO else (Path(target).suffix.lower() or default)
