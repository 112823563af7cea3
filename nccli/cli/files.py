"""Inputs and outputs of the CLI: '-' for stdin/stdout, batches, atomic writes, --force."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nccli.errors import InvalidInputError, NccliError, UsageError

STDIO = "-"
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pnm", ".avif"}
)
NCC_SUFFIXES = frozenset({".ncc"})
#: Magic bytes of audio files, to tell audio from images on stdin.
_AUDIO_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b"\xff\xfb", b"\xff\xf3")


def looks_like_audio(head: bytes) -> bool:
    """Whether the first bytes of a stream are those of an audio file."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return False
    return head.startswith(_AUDIO_MAGIC) or (head[4:8] == b"ftyp" and b"M4A" in head[8:12])


@dataclass(frozen=True)
class Job:
    """One input and where its result goes."""

    source: str
    target: str


def display(path: str | Path) -> str:
    """How an input is named in messages."""
    return "<stdin>" if str(path) == STDIO else str(path)


def display_output(path: str) -> str:
    """How an output is named in messages."""
    return "<stdout>" if path == STDIO else path


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Prefix errors raised inside with the file they concern (once)."""
    try:
        yield
    except NccliError as exc:
        if not getattr(exc, "names_file", False):
            exc.args = (f"{display(path)}: {exc}",)
            exc.names_file = True  # type: ignore[attr-defined]
        raise


def read_input(path: str) -> bytes:
    """All bytes of a file or of stdin, with clear errors for the usual mistakes."""
    with naming(path):
        if path == STDIO:
            data = sys.stdin.buffer.read()
            if not data:
                raise InvalidInputError("standard input is empty")
            return data
        read_check(path)
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read: {exc.strerror}") from None


def plan(inputs: list[str], output: str | None, suffix: str, accept: frozenset[str]) -> list[Job]:
    """Pair each input (directories expanded to files with accepted suffixes) with an output.

    One input: OUTPUT may be a file, '-', or an existing directory; omitted, the result goes
    beside the input (or to stdout for stdin). Several inputs or a directory: OUTPUT must be
    a directory (created if missing) or omitted.
    """
    if not inputs:
        raise UsageError("no input given")
    if STDIO in inputs and len(inputs) > 1:
        raise UsageError("'-' (stdin) cannot be combined with other inputs")
    sources = _expand(inputs, accept)
    batch = len(sources) > 1 or any(Path(p).is_dir() for p in inputs if p != STDIO)
    if not batch:
        source = sources[0]
        if output is None:
            target = STDIO if source == STDIO else str(Path(source).with_suffix(suffix))
        elif output != STDIO and Path(output).is_dir():
            target = str(Path(output) / _stem_name(source, suffix))
        else:
            target = output
        return [Job(source, target)]
    if output == STDIO:
        raise UsageError("several inputs cannot all go to stdout; give -o DIRECTORY")
    if output is not None:
        directory = Path(output)
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"{output}: several inputs need -o to name a directory")
        jobs = [Job(s, str(directory / _stem_name(s, suffix))) for s in sources]
    else:
        jobs = [Job(s, str(Path(s).with_suffix(suffix))) for s in sources]
    _refuse_collisions(jobs)
    return jobs


def write_output(target: str, data: bytes, force: bool) -> None:
    """Write atomically (temporary file + rename); refuse to overwrite unless forced."""
    with output_stream(target, force) as stream:
        stream.write(data)


@contextmanager
def output_stream(target: str, force: bool) -> Iterator[BinaryIO]:
    """A binary stream onto ``target``: stdout, or a temporary file beside the target that
    replaces it when the block succeeds and is removed when it fails."""
    if target == STDIO:
        if sys.stdout.isatty():
            raise UsageError("refusing to write binary data to a terminal; use -o FILE")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    with naming(target):
        if path.exists() and not force:
            raise UsageError("already exists; pass --force to overwrite")
        if path.is_dir():
            raise UsageError("is a directory")
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".part")
        except OSError as exc:
            raise UsageError(f"cannot write in {parent}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w+b") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except OSError as exc:
            raise UsageError(f"cannot write: {exc.strerror}") from None
        finally:
            if os.path.exists(temp):
                os.unlink(temp)


def spool_input(path: str) -> BinaryIO:
    """A seekable binary file of an input: the file itself, or stdin copied to a temporary
    file in blocks (so a long stream never sits in memory)."""
    with naming(path):
        if path != STDIO:
            read_check(path)
            return open(path, "rb")
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        if spool.tell() == 0:
            spool.close()
            raise InvalidInputError("standard input is empty")
        spool.seek(0)
        return spool


def read_check(path: str) -> None:
    """UsageError for a missing path or a directory."""
    file = Path(path)
    if not file.exists():
        raise UsageError("no such file")
    if file.is_dir():
        raise UsageError("is a directory, expected a file")


def expand_files(paths: list[Path], accept: frozenset[str], what: str) -> list[Path]:
    """Files as given, and the files below each directory whose suffix is accepted."""
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


def _expand(inputs: list[str], accept: frozenset[str]) -> list[str]:
    """Inputs as given ('-' and missing paths included, to fail later), directories expanded."""
    sources = []
    for item in inputs:
        if item != STDIO and Path(item).is_dir():
            sources.extend(str(p) for p in expand_files([Path(item)], accept, "input"))
        else:
            sources.append(item)
    return sources


def _stem_name(source: str, suffix: str) -> str:
    return ("stdin" if source == STDIO else Path(source).stem) + suffix


def _refuse_collisions(jobs: list[Job]) -> None:
    seen: dict[str, str] = {}
    for job in jobs:
        if job.target in seen:
            raise UsageError(f"{seen[job.target]} and {job.source} would both write {job.target}")
        seen[job.target] = job.source


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
