"""`nccli codecs`: the registered backends, their parameters and availability."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nccli.codecs.base import DEFAULT_CODECS, registry


def codecs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> int:
    """List codecs: name, modality, parameters, availability."""
    rows = [describe(name) for name in registry()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return 0
    table = Table("codec", "modality", "parameters", "available", "description")
    for row in rows:
        params = ", ".join(_describe_param(p) for p in row["params"])
        name = row["name"] + (" (default)" if row["default"] else "")
        available = "yes" if row["available"] else f"no: {row['reason']}"
        table.add_row(name, row["modality"] or "?", params or "-", available, row["description"])
    Console(highlight=False).print(table)
    return 0


def _describe_param(param: dict[str, Any]) -> str:
    if param["choices"]:
        return f"{param['name']} {'|'.join(param['choices'])} (default {param['default']})"
    return f"{param['name']} {param['low']:g}..{param['high']:g} (default {param['default']:g})"


def describe(name: str) -> dict[str, Any]:
    entry = registry()[name]
    codec = entry.codec
    if codec is None:
        return {
            "name": name,
            "modality": None,
            "version": None,
            "lossless": None,
            "params": [],
            "available": False,
            "reason": entry.error,
            "default": False,
            "description": "",
        }
    reason = codec.unavailable_reason()
    return {
        "name": name,
        "modality": codec.modality,
        "version": codec.version,
        "lossless": codec.lossless,
        "params": [
            {
                "name": p.name,
                "type": p.kind.__name__,
                "low": p.low,
                "high": p.high,
                "default": p.default,
                "help": p.help,
                "choices": list(p.choices),
            }
            for p in codec.params
        ],
        "rate_param": codec.rate_param,
        "available": reason is None,
        "reason": reason,
        "default": DEFAULT_CODECS.get(codec.modality) == name,
        "description": codec.description,
    }
