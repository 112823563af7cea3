"""Error types shared by every layer; each carries the exit code documented in DESIGN.md."""

from __future__ import annotations


class NccliError(Exception):
    """Base of all errors nccli reports as one clear line (exit code 1 unless refined)."""

    exit_code = 1


class UsageError(NccliError):
    """The request cannot be carried out as asked: bad option, missing file, existing output."""

    exit_code = 2


class InvalidInputError(NccliError):
    """An input exists but is invalid, unsupported or corrupt."""

    exit_code = 3
