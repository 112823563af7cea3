"""`nccli info`: what a .ncc file holds, chunk by chunk."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

import typer

from nccli import container
from nccli.cli.common import run_batch
from nccli.cli.files import display, naming, read_input


def info(
    inputs: Annotated[list[str], typer.Argument(help=".ncc files; '-' reads stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> int:
    """Show the header, chunks and sizes of .ncc files."""
    results: list[dict[str, Any]] = []

    def work(path: str) -> None:
        with naming(path):
            data = read_input(path)
            parsed = container.load(io.BytesIO(data))
        results.append(describe(display(path), len(data), parsed))
        if not as_json:
            typer.echo(render(results[-1]))

    status = run_batch(inputs, work, display)
    if as_json:
        typer.echo(json.dumps(results[0] if len(inputs) == 1 and results else results, indent=2))
    return status


def describe(name: str, size: int, parsed: container.Container) -> dict[str, Any]:
    """A JSON-ready description of one container."""
    media = parsed.header.media
    pixels = media.get("width", 0) * media.get("height", 0)
    return {
        "file": name,
        "bytes": size,
        "bpp": size * 8 / pixels if parsed.header.modality == "image" and pixels else None,
        "writer_version": parsed.writer_version,
        "min_reader_version": parsed.min_reader_version,
        "header": parsed.header.to_dict(),
        "chunks": [
            {"type": chunk.type, "offset": chunk.offset, "length": chunk.length}
            for chunk in parsed.layout
        ],
        "index": parsed.has_index,
    }


def render(description: dict[str, Any]) -> str:
    """Plain-text form of describe()'s output."""
    header = description["header"]
    lines = [
        f"{description['file']}: .ncc v{description['writer_version']} "
        f"(needs reader v{description['min_reader_version']}), {description['bytes']} bytes"
        + (f", {description['bpp']:.4f} bpp" if description["bpp"] is not None else ""),
        f"  codec     {header['codec']['name']} v{header['codec']['version']} "
        + " ".join(f"{k}={v}" for k, v in sorted(header["codec"]["params"].items())),
        f"  modality  {header['modality']} "
        + " ".join(f"{k}={v}" for k, v in sorted(header["media"].items())),
    ]
    if header["model"]:
        lines.append(f"  model     {header['model']['id']} sha256={header['model']['sha256']}")
    if header["entropy_coder"]:
        coder = header["entropy_coder"]
        lines.append(f"  entropy   {coder['name']} {coder['version']}")
    for key, value in sorted(header["metadata"].items()):
        lines.append(f"  meta      {key}={value}")
    lines.append(f"  writer    {header['writer']}")
    lines.append("  chunks    type  offset  length")
    for chunk in description["chunks"]:
        lines.append(f"            {chunk['type']}  {chunk['offset']:>6}  {chunk['length']:>6}")
    return "\n".join(lines)
