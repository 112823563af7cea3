"""Where learned codecs run: the device named by --device (or $NCCLI_DEVICE), default auto.

The choice travels in the environment, so worker processes of `nccli eval --jobs` inherit
it. Decoded symbols never depend on it (see DESIGN.md, Determinism): a file encoded on a
GPU decodes on a CPU and the other way round.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from nccli.errors import UsageError

if TYPE_CHECKING:
    import torch

ENVIRONMENT = "NCCLI_DEVICE"
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def select(name: str) -> str:
    """Validate a device name and make it the one learned codecs use from now on."""
    if not _PATTERN.match(name):
        raise UsageError(
            f"--device (or ${ENVIRONMENT}) must be auto, cpu, cuda or cuda:N, not {name!r}"
        )
    os.environ[ENVIRONMENT] = name
    return name


def torch_device() -> torch.device:
    """The selected device; auto is the first CUDA device when there is one, else the CPU."""
    import torch

    name = select(os.environ.get(ENVIRONMENT, "auto"))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices"
            )
    return device
