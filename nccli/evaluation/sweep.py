"""Turning inputs, codecs and sweep options into the list of tasks `nccli eval` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nccli.codecs.base import get_codec
from nccli.errors import UsageError
from nccli.evaluation.runner import Task


def codec_settings(
    codec: str, params: dict[str, Any], sweep: bool, qualities: list[str] | None
) -> list[dict[str, Any]]:
    """The parameter sets one codec runs with; each is validated here, before any work."""
    backend = get_codec(codec)
    if (sweep or qualities) and backend.rate_param is None:
        settings = [params]  # a codec without a rate parameter has a single point
    elif qualities:
        settings = [{**params, backend.rate_param: q} for q in qualities]
    elif sweep:
        settings = [{**params, backend.rate_param: q} for q in backend.sweep]
    else:
        settings = [params]
    for setting in settings:
        backend.resolve_params(setting)
    return settings


def codec_tasks(
    inputs: list[Path],
    codecs: list[str],
    params: dict[str, Any],
    *,
    sweep: bool = False,
    qualities: list[str] | None = None,
    bpp_targets: list[float] | None = None,
    keep_dir: Path | None = None,
    optional: tuple[str, ...] = (),
) -> list[Task]:
    """Every (codec, setting, input) combination, codec by codec, setting by setting;
    ``optional`` names optional metrics to compute too."""
    if bpp_targets and (sweep or qualities):
        raise UsageError("give --bpp, --sweep or --qualities, not several")
    tasks = []
    for codec in codecs:
        if bpp_targets:
            get_codec(codec).resolve_params(params)
            settings = [(params, bpp) for bpp in bpp_targets]
        else:
            settings = [(s, None) for s in codec_settings(codec, params, sweep, qualities)]
        for setting, bpp in settings:
            for path in inputs:
                keep = None if keep_dir is None else str(keep_dir / f"{len(tasks):06d}.ncc")
                values = tuple(sorted(setting.items()))
                tasks.append(Task(str(path), codec, values, bpp, keep=keep, optional=optional))
    return tasks


def pair_tasks(
    references: list[Path], decoded: list[Path], optional: tuple[str, ...] = ()
) -> list[Task]:
    """Pair decoded files with references: by file stem, else by position when counts match."""
    by_stem = {p.stem: p for p in decoded}
    if len(by_stem) == len(decoded) and all(r.stem in by_stem for r in references):
        pairs = [(r, by_stem[r.stem]) for r in references]
    elif len(decoded) == len(references):
        pairs = list(zip(references, decoded, strict=True))
    else:
        missing = [str(r) for r in references if r.stem not in by_stem]
        raise UsageError(f"no decoded file matches {', '.join(missing)}")
    return [Task(str(r), decoded=str(d), optional=optional) for r, d in pairs]
