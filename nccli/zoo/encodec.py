"""Importing EnCodec checkpoints: key mapping onto nccli's Encodec, weight norm folded.

EnCodec's weight-normalised convolutions store a direction ``weight_v`` and a gain
``weight_g``; the weight they stand for, g * v / |v| (the norm over all but the first
dimension), is computed once here. Its codebooks come one module each and are stacked;
the quantiser's training statistics are dropped.
"""

from __future__ import annotations

import re

import torch

from nccli.models.audio import Encodec
from nccli.zoo.fit import check_fits

_CODEBOOK = re.compile(r"quantizer\.vq\.layers\.(\d+)\._codebook\.embed$")
_TRAINING_ONLY = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")


def map_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An EnCodec state_dict with nccli's names and plain convolution weights."""
    mapped: dict[str, torch.Tensor] = {}
    codebooks: dict[int, torch.Tensor] = {}
    for key, value in state.items():
        match = _CODEBOOK.search(key)
        if match:
            codebooks[int(match.group(1))] = value
        elif key.endswith(_TRAINING_ONLY) or key.endswith(".weight_v"):
            continue
        elif key.endswith(".weight_g"):
            stem = key.removesuffix("_g")
            mapped[_rename(stem)] = _fold(value, state[stem + "_v"])
        else:
            mapped[_rename(key)] = value
    if codebooks:
        if sorted(codebooks) != list(range(len(codebooks))):
            raise ValueError(f"codebooks {sorted(codebooks)} are not numbered from 0")
        mapped["quantizer.codebooks"] = torch.stack([codebooks[i] for i in sorted(codebooks)])
    return mapped


def _fold(gain: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    norm = direction.norm(dim=tuple(range(1, direction.dim())), keepdim=True)
    return direction * (gain / norm)


def _rename(key: str) -> str:
    key = key.replace(".model.", ".", 1)
    for wrapper in (".conv.conv.", ".convtr.convtr."):
        key = key.replace(wrapper, ".conv.")
    return key.replace(".conv.norm.", ".norm.").replace(".convtr.norm.", ".norm.")


def load_into(model: Encodec, state: dict[str, torch.Tensor]) -> None:
    """Load an EnCodec state_dict; ValueError naming what does not fit."""
    mapped = map_state_dict(state)
    check_fits(mapped, model.state_dict())
    model.load_state_dict({k: v.float() for k, v in mapped.items()})
