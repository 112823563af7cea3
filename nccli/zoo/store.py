"""The local model store: importing checkpoints to safetensors, and loading models by id.

Weights live in ``$NCCLI_HOME/models/ID.safetensors`` (default ``~/.cache/nccli``), with
the architecture and its sizes in the file's metadata. Checkpoints are CompressAI's (image
architectures) or EnCodec's (``encodec-24khz``, ``encodec-48khz``). Only explicit imports
read a pickle, and only through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from nccli.errors import InvalidInputError, UsageError
from nccli.models.audio import SPECS, Encodec
from nccli.models.image import ARCHITECTURES
from nccli.zoo import compressai, encodec
from nccli.zoo.download import fetch
from nccli.zoo.paths import home, sha256_of, weights_path
from nccli.zoo.registry import ZooEntry, entries


def import_checkpoint(
    source: Path, architecture: str, model_id: str, expected: ZooEntry | None = None
) -> Path:
    """Convert a checkpoint into the store; returns the safetensors path."""
    if architecture not in ARCHITECTURES and architecture not in SPECS:
        known = ", ".join(sorted([*ARCHITECTURES, *SPECS]))
        raise UsageError(f"unknown architecture {architecture!r}; known: {known}")
    state = _read_checkpoint(source)
    if architecture in SPECS:
        model, metadata = _encodec_model(state, architecture, source)
    else:
        model, metadata = _image_model(state, architecture, source, expected)
    metadata = {"architecture": architecture, **metadata, "source_sha256": sha256_of(source)}
    target = weights_path(model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, temp, metadata=metadata)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    load_model.cache_clear()
    return target


def _image_model(
    state: dict[str, torch.Tensor], architecture: str, source: Path, expected: ZooEntry | None
) -> tuple[nn.Module, dict[str, str]]:
    try:
        first = state.get("g_a.0.weight", state.get("g_a.0.conv1.weight"))
        channels, latent = first.shape[0], state["g_a.6.weight"].shape[0]
    except (KeyError, IndexError, AttributeError):
        raise InvalidInputError(
            f"{source}: not an image-model checkpoint (no g_a weights)"
        ) from None
    if expected is not None and (channels, latent) != (expected.N, expected.M):
        raise InvalidInputError(
            f"{source}: checkpoint has N={channels}, M={latent} but {expected.id} expects "
            f"N={expected.N}, M={expected.M}: wrong quality or architecture?"
        )
    model = ARCHITECTURES[architecture](channels, latent)
    try:
        compressai.load_into(model, state)
    except ValueError as exc:
        raise InvalidInputError(f"{source}: not a {architecture} checkpoint: {exc}") from None
    return model, {"N": str(channels), "M": str(latent)}


def _encodec_model(
    state: dict[str, torch.Tensor], architecture: str, source: Path
) -> tuple[nn.Module, dict[str, str]]:
    model = Encodec(SPECS[architecture])
    try:
        encodec.load_into(model, state)
    except (ValueError, KeyError) as exc:
        raise InvalidInputError(f"{source}: not a {architecture} checkpoint: {exc}") from None
    return model, {}


def pull(model_id: str, progress=lambda done, total: None) -> Path:
    """Download a zoo entry's checkpoint once, verify it, and import it into the store."""
    entry = entries().get(model_id)
    if entry is None:
        raise UsageError(f"no zoo model {model_id!r}; `nccli models list` shows them")
    target = weights_path(model_id)
    if target.exists():
        return target
    download = home() / "downloads" / entry.url.rsplit("/", 1)[-1]
    fetch(entry.url, download, entry.sha256_prefix, progress)
    try:
        return import_checkpoint(download, entry.architecture, model_id, expected=entry)
    finally:
        download.unlink(missing_ok=True)


@functools.lru_cache(maxsize=4)
def load_model(model_id: str) -> tuple[nn.Module, str]:
    """The model stored under an id, in eval mode, and the sha256 of its weights file."""
    path = weights_path(model_id)
    if not path.exists():
        how = (
            f"`nccli models pull {model_id}`"
            if model_id in entries()
            else f"`nccli models import FILE --arch ARCH --id {model_id}`"
        )
        raise UsageError(f"model {model_id} is not in {path.parent}; get it with {how}")
    try:
        tensors = load_file(path)
        metadata = _metadata(path)
        architecture = metadata["architecture"]
        if architecture in SPECS:
            model = Encodec(SPECS[architecture])
        else:
            model = ARCHITECTURES[architecture](int(metadata["N"]), int(metadata["M"]))
        model.load_state_dict(tensors)
    except (SafetensorError, KeyError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{path}: not valid nccli weights: {exc}") from None
    return model.eval(), sha256_of(path)


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}


def _read_checkpoint(source: Path) -> dict[str, torch.Tensor]:
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{source}: not a loadable checkpoint: {first}") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise InvalidInputError(f"{source}: not a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in loaded.items()}
