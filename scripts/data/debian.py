"""Fetch and unpack Debian packages (the project's only source of training media).

`apt-get download NAME=VERSION` into a cache directory, then `dpkg -x` into cache/NAME;
both steps are skipped when already done. Needs apt-get and dpkg (Debian/Ubuntu).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "nccli-data"


def unpack(package: str, version: str, cache: Path) -> Path:
    """Download and unpack one pinned package version once; return the unpacked tree."""
    tree = cache / package
    marker = tree / ".version"
    if marker.is_file() and marker.read_text() == version:
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    debs = list(cache.glob(f"{package}_*.deb"))
    if not debs or version.split(":")[-1] not in debs[0].name:
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=cache, check=True)
        debs = [d for d in cache.glob(f"{package}_*.deb") if version.split(":")[-1] in d.name]
    subprocess.run(["dpkg", "-x", str(debs[0]), str(tree)], check=True)
    marker.write_text(version)
    return tree
