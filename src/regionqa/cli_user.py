"""`regionqa history` and `regionqa config ...`: what regionqa keeps for the user, apart from the index."""

# No `from __future__ import annotations` here: Typer reads these annotations at every call (cli.py says why).

from typing import Annotated

import typer

from .cli_common import JsonOption, handle_errors, invocation

config_app = typer.Typer(help="Where the config file is, and the settings in force.", no_args_is_help=True)


@handle_errors
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many entries, newest first.")] = 20,
    search: Annotated[str | None, typer.Option(help="Only questions that contain this text (case ignored).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Delete the whole history.")] = False,
    json_output: JsonOption = False,
) -> None:
    """List past questions with their answers and citations (kept by `regionqa ask`, unless --no-history or history = false)."""
    from . import render
    from .store import history as history_mod

    settings = invocation(ctx).settings
    if clear:
        removed = history_mod.clear(settings.history_file)
        if removed is None:
            typer.echo(f"removed the unreadable history file {settings.history_file}", err=True)
        else:
            typer.echo(f"removed {removed:,} entries from {settings.history_file}", err=True)
        return
    rows = history_mod.entries(settings.history_file, limit, search)
    if json_output:
        from .contract import HistoryEntryOut

        typer.echo(render.dumps([HistoryEntryOut.of(row).dump() for row in rows]))
    else:
        render.print_history(rows, render.stdout(), settings.history_file)


@config_app.command("path")
@handle_errors
def config_path() -> None:
    """Print where the config file is read from (it need not exist)."""
    from .config import config_path as path_of

    typer.echo(str(path_of()))


@config_app.command("show")
@handle_errors
def config_show(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print the settings in force (options > environment variables > config file > defaults), as TOML."""
    from . import render
    from .config import config_path as path_of
    from .config import effective

    settings = invocation(ctx).settings
    values = effective(settings)
    if json_output:
        typer.echo(render.dumps({"config_file": str(path_of()), "exists": settings.config_file is not None, "settings": values}))
        return
    where = f"read from {settings.config_file}" if settings.config_file else f"no config file at {path_of()}: defaults"
    typer.echo(f"# {where}")
    for key, value in values.items():
        typer.echo(f"{key} = {render.dumps(value) if not isinstance(value, bool) else str(value).lower()}")
