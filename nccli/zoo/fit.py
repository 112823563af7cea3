"""Checking that a mapped checkpoint fits a model, by name and shape."""

from __future__ import annotations

import torch


def check_fits(
    mapped: dict[str, torch.Tensor],
    expected: dict[str, torch.Tensor],
    optional: tuple[str, ...] = (),
) -> None:
    """ValueError naming the first missing, unexpected or misshapen tensors; keys ending in
    one of ``optional`` may be missing (their shapes are not checked)."""
    missing = [k for k in expected if k not in mapped and not k.endswith(optional)]
    unexpected = [k for k in mapped if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    wrong = [
        f"{k} is {tuple(v.shape)}, the model has {tuple(expected[k].shape)}"
        for k, v in mapped.items()
        if not k.endswith(optional) and v.shape != expected[k].shape
    ]
    if wrong:
        raise ValueError(f"checkpoint does not fit the model: {'; '.join(wrong[:3])}")
