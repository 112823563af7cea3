"""Errors raised while reading a .ncc container; all derive from ContainerError."""

from __future__ import annotations

from nccli.errors import InvalidInputError


class ContainerError(InvalidInputError):
    """The bytes are not a valid .ncc container this reader can read."""


class NotAContainerError(ContainerError):
    """The signature is missing or damaged."""


class TruncatedError(ContainerError):
    """The data ended before the container did."""


class CorruptError(ContainerError):
    """A checksum, length, type or structural rule does not hold."""


class UnsupportedVersionError(ContainerError):
    """The file needs a newer reader than this one."""


class LimitError(ContainerError):
    """A size or count read from the file exceeds what this reader accepts."""
