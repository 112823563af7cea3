"""How a slow encoder tells whoever shows progress (the CLI's bar) how far it has come.

Library code calls report(); nothing is shown unless a caller installed a reporter with
reporting(), so the API stays silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Receives the fraction done (0..1) and a short status line.
Reporter = Callable[[float, str], None]

_reporter: ContextVar[Reporter | None] = ContextVar("nccli_progress_reporter", default=None)


def report(done: float, status: str) -> None:
    """Tell the installed reporter, if any, how far the current encode has come."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter(done, status)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send report() calls made inside the block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextmanager
def part(index: int, count: int, label: str) -> Iterator[None]:
    """Inside the block, report() speaks for the index-th (from 0) of ``count`` equal parts
    of the encode: its fraction is scaled into that part and its status prefixed by
    ``label`` ("tile 2/6"), so a bar over several parts moves forward only."""
    outer = _reporter.get()
    if outer is None:
        yield
        return
    with reporting(lambda done, status: outer((index + done) / count, f"{label}: {status}")):
        yield
