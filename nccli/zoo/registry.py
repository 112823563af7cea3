"""Zoo entries: named models with an architecture, hyper-parameters and a weights source.

Entries come from the TOML files in configs/. An image architecture has one file per
training metric with a table per quality, and its entries' ids are
``ARCHITECTURE-METRIC-qQUALITY``, e.g. ``bmshj2018-hyperprior-mse-q3``; other files name
their entries in ``[models.ID]`` tables.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import tomllib

from nccli.errors import UsageError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class ZooEntry:
    id: str
    architecture: str
    url: str
    sha256_prefix: str
    source: str
    card: str
    modality: str = "image"
    metric: str = ""
    quality: int | None = None
    N: int | None = None
    M: int | None = None


@functools.cache
def entries() -> dict[str, ZooEntry]:
    """All zoo entries by id, from $NCCLI_CONFIGS or the configs/ directory."""
    directory = Path(os.environ.get("NCCLI_CONFIGS", CONFIG_DIR))
    found = {}
    for path in sorted(directory.glob("*.toml")):
        config = tomllib.loads(path.read_text())
        common = {"source": config.get("source", ""), "card": config.get("card", "")}
        for quality, spec in config.get("qualities", {}).items():
            entry = ZooEntry(
                id=f"{config['architecture']}-{config['metric']}-q{quality}",
                architecture=config["architecture"],
                metric=config["metric"],
                quality=int(quality),
                N=spec["N"],
                M=spec["M"],
                url=spec["url"],
                sha256_prefix=spec["sha256_prefix"].lower(),
                **common,
            )
            found[entry.id] = entry
        for model_id, spec in config.get("models", {}).items():
            found[model_id] = ZooEntry(
                id=model_id,
                architecture=spec["architecture"],
                modality=spec["modality"],
                url=spec["url"],
                sha256_prefix=spec["sha256_prefix"].lower(),
                **common,
            )
    return found


def get_entry(model_id: str) -> ZooEntry:
    entry = entries().get(model_id)
    if entry is None:
        raise UsageError(f"no zoo model {model_id!r}; `nccli models list` shows them")
    return entry
