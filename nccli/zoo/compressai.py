"""Importing CompressAI image checkpoints: state_dict key mapping onto nccli's models.

CompressAI stores helper buffers nccli does not use (its own CDF tables and lower-bound
constants) and, in its oldest checkpoints, entropy-bottleneck parameters under underscored
names. Both are handled here; the weights themselves load unchanged.
"""

from __future__ import annotations

import re

import torch

from nccli.zoo.fit import check_fits

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

    Every weight must match by name and shape (ValueError naming the first mismatches);
    only nccli's own tables may be missing, and they are then computed from the density.
    """
    mapped = map_state_dict(state)
    expected = model.state_dict()
    check_fits(mapped, expected, optional=_TABLES)
    model.load_state_dict(mapped, strict=False)
    if not all(prefix_key in mapped for prefix_key in expected if prefix_key.endswith(_TABLES)):
        model.update_tables()
