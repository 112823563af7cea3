"""Importing CompressAI image checkpoints: state_dict key mapping onto nccli's models.

CompressAI stores helper buffers nccli does not use (its own CDF tables and lower-bound
constants) and, in its oldest checkpoints, entropy-bottleneck parameters under underscored
names. Both are handled here; the weights themselves load unchanged.
"""

from __future__ import annotations

import re

import torch

#: Buffers CompressAI keeps that nccli recomputes or does not need.
_DROPPED = (
    "likelihood_lower_bound.bound",
    "lower_bound_scale.bound",
    "reparam.lower_bound.bound",
    "._quantized_cdf",
    "._offset",
    "._cdf_length",
    "gaussian_conditional.scale_bound",
)
_OLD_NAMES = [
    (
        re.compile(r"entropy_bottleneck\._(matrices|biases|factors)\.(\d+)$"),
        r"entropy_bottleneck.\1.\2",
    ),
    (re.compile(r"entropy_bottleneck\._(matrix|bias|factor)(\d+)$"), None),
]
_PLURAL = {"matrix": "matrices", "bias": "biases", "factor": "factors"}


def map_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A CompressAI state_dict with nccli's key names and dtypes."""
    mapped = {}
    for key, value in state.items():
        if key.endswith(_DROPPED):
            continue
        mapped[_rename(key)] = value
    if "gaussian_conditional.scale_table" in mapped:
        mapped["gaussian_conditional.scale_table"] = mapped[
            "gaussian_conditional.scale_table"
        ].double()
    return mapped


def _rename(key: str) -> str:
    for pattern, replacement in _OLD_NAMES:
        match = pattern.search(key)
        if match and replacement is not None:
            return pattern.sub(replacement, key)
        if match:
            kind, index = match.groups()
            return key[: match.start()] + f"entropy_bottleneck.{_PLURAL[kind]}.{index}"
    return key


_TABLES = ("table_counts", "table_lengths", "table_offsets")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a CompressAI state_dict into an nccli model and build its coding tables.

    Every weight must match by name and shape; only nccli's own tables may be missing, and
    they are then computed from the loaded density.
    """
    result = model.load_state_dict(map_state_dict(state), strict=False)
    missing = [key for key in result.missing_keys if not key.endswith(_TABLES)]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"checkpoint does not fit the model: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    if any(key.endswith(_TABLES) for key in result.missing_keys):
        model.update_tables()
