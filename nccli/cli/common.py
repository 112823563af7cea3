"""What every command shares: the stderr console, progress, options and batch running."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nccli.errors import NccliError, UsageError

T = TypeVar("T")

#: Diagnostics and progress; stdout is kept for data and requested reports.
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Device = Annotated[
    str,
    typer.Option(
        help="Where learned codecs run: auto (CUDA if present), cpu, cuda or cuda:N.",
        envvar="NCCLI_DEVICE",
    ),
]


#: Global options set by the root callback.
settings = {"debug": False}


def exits(command: Callable[..., int]) -> Callable[..., None]:
    """Wrap a command so that its result and its errors become the documented exit codes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except NccliError as exc:
            report_error(exc)
            code = exc.exit_code
        except KeyboardInterrupt:
            stderr.print("nccli: interrupted")
            code = 130
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 1
        except Exception as exc:  # the one place that turns a bug into exit code 1
            if settings["debug"]:
                traceback.print_exception(exc)
            report_error(f"internal error: {type(exc).__name__}: {exc} (--debug shows a traceback)")
            code = 1
        if code:
            raise typer.Exit(code)

    return wrapper


def check_device(device: str) -> str:
    """Validate --device and select it for the learned codecs of this run."""
    from nccli.codecs.device import select

    return select(device)


def parse_pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """Parse repeated KEY=VALUE options."""
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, not {value!r}")
        pairs[key] = text
    return pairs


def run_batch(items: list[T], work: Callable[[T], None], label: Callable[[T], str]) -> int:
    """Run work on each item; an item's failure is reported and the rest go on.

    Returns the exit code of the first failure, or 0.
    """
    status = 0
    with progress(len(items)) as advance:
        for item in items:
            try:
                work(item)
            except NccliError as exc:
                report_error(exc)
                status = status or exc.exit_code
            advance(label(item))
    return status


@contextmanager
def terminal_bar(
    *columns: Any, shown: bool = True, description: str = "", total: int | None = None
) -> Iterator[Callable[..., None]]:
    """A transient rich progress bar on stderr, only on a terminal.

    Yields an update function taking rich's task fields (advance=, completed=, total=, ...);
    it does nothing where no bar is shown.
    """
    if not (shown and sys.stderr.isatty()):
        yield lambda **fields: None
        return
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda **fields: bar.update(task, **fields)


@contextmanager
def progress(total: int) -> Iterator[Callable[[str], None]]:
    """Progress over items, shown for more than one; yields advance(description)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with terminal_bar(*columns, shown=total > 1, total=total) as update:
        yield lambda description: update(advance=1, description=description)


@contextmanager
def fitting_bar(name: str, shown: bool = True) -> Iterator[None]:
    """A bar for encoders that report progress (nccli.codecs.progress), e.g. fitting ones:
    the fraction done, their status line and the time left; it appears at the first report."""
    from nccli.codecs.progress import reporting

    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with ExitStack() as stack:
        bars: list[Callable[..., None]] = []

        def show(done: float, status: str) -> None:
            if not bars:
                bar = terminal_bar(*columns, shown=shown, description=name, total=1.0)
                bars.append(stack.enter_context(bar))
            bars[0](completed=done, description=f"{name}: {status}")

        with reporting(show):
            yield


def report_error(exc: BaseException | str) -> None:
    """One line on stderr; with --debug, the traceback of an exception before it."""
    if settings["debug"] and isinstance(exc, BaseException):
        traceback.print_exception(exc)
    stderr.print(f"nccli: error: {exc}", markup=False, soft_wrap=True)


def parse_bitrate(text: str) -> float:
    """kbit/s from '24k', '24' (kbit/s) or '24000' (bit/s, as a number of 1000 or more)."""
    value = text.strip().lower().removesuffix("bps").removesuffix("bit/s")
    kilo = value.endswith("k")
    try:
        number = float(value.removesuffix("k"))
    except ValueError:
        raise UsageError(f"--bitrate takes e.g. 24k, not {text!r}") from None
    if not number > 0 or number != number:
        raise UsageError(f"--bitrate must be positive, not {text!r}")
    return number if kilo or number < 1000 else number / 1000
