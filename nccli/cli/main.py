"""The `nccli` command: the Typer app, its global options and its subcommands."""

from __future__ import annotations

import typer

from nccli.api import __version__
from nccli.cli.bench import bench_command
from nccli.cli.common import exits, settings
from nccli.cli.decode import decode
from nccli.cli.encode import encode
from nccli.cli.evaluate import evaluate
from nccli.cli.info import info
from nccli.cli.list_codecs import codecs
from nccli.cli.models import app as models_app

app = typer.Typer(
    name="nccli",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(exits(encode))
app.command()(exits(decode))
app.command()(exits(info))
app.command()(exits(codecs))
app.command("eval")(exits(evaluate))
app.command("bench")(exits(bench_command))
app.add_typer(models_app, name="models")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"nccli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback when something fails."),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Neural compression of images, audio and video.

    Exit codes: 0 success, 1 internal error, 2 usage error, 3 invalid or corrupt input,
    4 a quality gate in `eval` failed.
    """
    settings["debug"] = debug


def main() -> None:
    """Console-script entry point."""
    app(prog_name="nccli")
