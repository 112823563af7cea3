"""Where the model store lives: ``$NCCLI_HOME/models`` (default ``~/.cache/nccli/models``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nccli.errors import UsageError


def home() -> Path:
    value = os.environ.get("NCCLI_HOME")
    return Path(value) if value else Path.home() / ".cache" / "nccli"


def weights_path(model_id: str) -> Path:
    """The safetensors file of a model id in the store."""
    if not model_id or "/" in model_id or model_id.startswith("."):
        raise UsageError(f"invalid model id {model_id!r}")
    return home() / "models" / f"{model_id}.safetensors"


def weights_identity(model_id: str) -> str:
    """The sha256 of a model's weights in the store, or "missing"."""
    path = weights_path(model_id)
    return sha256_of(path) if path.exists() else "missing"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
