"""The weights that ship inside the package (nccli/weights), and their export format.

A file holds the state dict (floating-point parameters in fp16 or fp32; integer tables and
float64 buffers as they are) and, in its safetensors metadata, the architecture and sizes
that rebuild the model, the training steps done so far and the rate levels' lambdas.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from nccli.errors import InvalidInputError
from nccli.models.image.variable_rate import GainedMeanScaleHyperprior
from nccli.zoo.paths import sha256_of

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
ARCHITECTURE = "gained-mbt2018-mean"


def path_of(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def export(
    model: GainedMeanScaleHyperprior,
    path: Path,
    info: dict[str, str],
    dtype: torch.dtype = torch.float16,
) -> None:
    """Write a model's weights atomically; float32 tensors are stored as ``dtype``."""
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        tensors[key] = (value.to(dtype) if value.dtype == torch.float32 else value).contiguous()
    metadata = {
        "architecture": ARCHITECTURE,
        "N": str(model.g_a[0].out_channels),
        "M": str(model.g_a[-1].out_channels),
        "levels": str(model.levels),
        **info,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        save_file(tensors, temp, metadata=metadata)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def read(path: Path) -> tuple[GainedMeanScaleHyperprior, dict[str, str]]:
    """The model stored in a weights file (float32, eval mode) and the file's metadata."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("architecture") != ARCHITECTURE:
            raise ValueError(f"architecture {metadata.get('architecture')!r}, not {ARCHITECTURE}")
        model = GainedMeanScaleHyperprior(
            int(metadata["N"]), int(metadata["M"]), int(metadata["levels"])
        )
        model.load_state_dict(load_file(path))
    except (OSError, SafetensorError, KeyError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{path}: not valid nccli weights: {exc}") from None
    return model.eval(), metadata


@functools.lru_cache(maxsize=2)
def load(name: str) -> tuple[GainedMeanScaleHyperprior, str]:
    """An embedded model by name, and the sha256 of its weights file."""
    path = path_of(name)
    if not path.is_file():
        raise InvalidInputError(f"embedded weights {path} are missing: reinstall nccli")
    model, _ = read(path)
    return model, sha256_of(path)
