"""`nccli models list|pull|info|import`: the model zoo and the local model store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn
from rich.table import Table

from nccli.cli.common import exits, stderr, terminal_bar
from nccli.errors import UsageError
from nccli.zoo.paths import weights_path
from nccli.zoo.registry import entries, get_entry

app = typer.Typer(help="List, download and import neural codec weights.", no_args_is_help=True)


@app.command("list")
@exits
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> int:
    """Zoo entries and whether their weights are in the local store."""
    rows = [
        {**vars(entry), "available": weights_path(entry.id).exists()}
        for entry in entries().values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return 0
    table = Table("id", "modality", "architecture", "metric", "quality", "N, M", "in store")
    for row in rows:
        table.add_row(
            row["id"],
            row["modality"],
            row["architecture"],
            row["metric"] or "-",
            "-" if row["quality"] is None else str(row["quality"]),
            "-" if row["N"] is None else f"{row['N']}, {row['M']}",
            "yes" if row["available"] else "no",
        )
    Console(highlight=False, width=max(100, Console().width)).print(table)
    return 0


@app.command()
@exits
def pull(model_ids: Annotated[list[str], typer.Argument(help="Zoo ids to download.")]) -> int:
    """Download zoo weights once into $NCCLI_HOME (verified by sha256); NCCLI_OFFLINE=1 refuses."""
    from nccli.zoo import store  # torch loads only for the commands that need it

    for model_id in model_ids:
        get_entry(model_id)
        columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with terminal_bar(*columns, description=model_id) as update:
            path = store.pull(model_id, lambda done, total: update(completed=done, total=total))
        stderr.print(f"{model_id}: {path}", markup=False)
    return 0


@app.command()
@exits
def info(model_id: Annotated[str, typer.Argument(help="A zoo or imported model id.")]) -> int:
    """Architecture, sizes, source and local state of one model."""
    from nccli.zoo import store

    entry = entries().get(model_id)
    path = weights_path(model_id)
    details = {"id": model_id, "path": str(path), "in_store": path.exists()}
    if entry:
        details.update(vars(entry))
    if path.exists():
        model, digest = store.load_model(model_id)
        details["sha256"] = digest
        details["parameters"] = sum(p.numel() for p in model.parameters())
    elif entry is None:
        raise UsageError(f"no zoo model and no imported model called {model_id!r}")
    typer.echo(json.dumps(details, indent=2))
    return 0


@app.command("import")
@exits
def import_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="A CompressAI .pth/.pth.tar or an EnCodec .th file.")
    ],
    arch: Annotated[
        str | None, typer.Option(help="Architecture, e.g. mbt2018-mean or encodec-24khz.")
    ] = None,
    model_id: Annotated[
        str | None, typer.Option("--id", help="Store under this id (default: the zoo id).")
    ] = None,
) -> int:
    """Convert a checkpoint to safetensors in the store (reads it with weights_only=True)."""
    from nccli.zoo import store

    entry = entries().get(model_id) if model_id else None
    architecture = arch or (entry.architecture if entry else None)
    if architecture is None:
        raise UsageError("give --arch (or an --id of a zoo entry)")
    if entry is not None and arch is not None and arch != entry.architecture:
        raise UsageError(f"{model_id} is a {entry.architecture}, not a {arch}")
    path = store.import_checkpoint(checkpoint, architecture, model_id or checkpoint.stem, entry)
    stderr.print(f"{checkpoint} -> {path}", markup=False)
    return 0
