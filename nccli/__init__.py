"""nccli: neural compression of images, audio and video, from the command line and Python."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["__version__", "decode", "decode_media", "encode"]


def __getattr__(name: str) -> Any:
    """The public API, imported on first use: `import nccli.models` stays free of media I/O."""
    if name in __all__:
        return getattr(importlib.import_module("nccli.api"), name)
    raise AttributeError(f"module 'nccli' has no attribute {name!r}")
