"""Zoo entries: named models with an architecture, hyper-parameters and a weights source.

Entries come from the TOML files in configs/ (one per architecture and training metric,
with a table per quality). An entry's id is ``ARCHITECTURE-METRIC-qQUALITY``, e.g.
``bmshj2018-hyperprior-mse-q3``.
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
    metric: str
    quality: int
    N: int
    M: int
    url: str
    sha256_prefix: str
    source: str
    card: str


@functools.cache
def entries() -> dict[str, ZooEntry]:
    """All zoo entries by id, from $NCCLI_CONFIGS or the configs/ directory."""
    directory = Path(os.environ.get("NCCLI_CONFIGS", CONFIG_DIR))
    found = {}
    for path in sorted(directory.glob("*.toml")):
        config = tomllib.loads(path.read_text())
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
                source=config.get("source", ""),
                card=config.get("card", ""),
            )
            found[entry.id] = entry
    return found


def get_entry(model_id: str) -> ZooEntry:
    entry = entries().get(model_id)
    if entry is None:
        raise UsageError(f"no zoo model {model_id!r}; `nccli models list` shows them")
    return entry
