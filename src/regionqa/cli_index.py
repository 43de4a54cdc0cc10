"""`regionqa index ...`: build, extend, shrink and inspect the index."""

# No `from __future__ import annotations` here: Typer reads these annotations at every call (cli.py says why).

from pathlib import Path
from typing import Annotated

import typer

from .cli_common import JsonOption, build_progress_for, command_settings, handle_errors, notifier

index_app = typer.Typer(help="Build, extend and inspect the index.", no_args_is_help=True)

RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Analyse and embed on a Ray cluster: 'auto' (RAY_ADDRESS), 'local' (start one here) or an address. Needs regionqa[ray].",
    ),
]


def _build_models(ctx: typer.Context, ray_address: str | None):
    """The models a build runs: here (None, the default), or on the Ray cluster at `ray_address`."""
    if ray_address is None:
        return None
    from . import distributed, indexing

    distributed.require_ray()
    return indexing.real_models(command_settings(ctx), ray_address=ray_address)


@index_app.command("build")
@handle_errors
def index_build(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything instead of only new or changed sources.")] = False,
    ray_address: RayOption = None,
    json_output: JsonOption = False,
) -> None:
    """(Re)build the index from every source in the corpus folder; unchanged sources are kept as they are."""
    from . import indexing

    models = _build_models(ctx, ray_address)
    with build_progress_for(ctx) as progress:
        report = indexing.build(command_settings(ctx), full=full, progress=progress, notify=notifier(ctx), models=models)
    _print_build(report, json_output)


def _print_build(report, json_output: bool) -> None:
    from . import render

    if json_output:
        from .contract import BuildReportOut

        typer.echo(render.dumps(BuildReportOut.of(report).dump()))
    else:
        render.print_build(report, render.stderr())


@index_app.command("add")
@handle_errors
def index_add(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            # The file types are written out (tests/test_cli.py checks them against sources.SUPPORTED_SUFFIXES):
            # importing the readers to list them would slow every command.
            help="Files (.txt .md .html .htm .pdf .docx .xlsx .csv .pptx .epub .eml .mbox .jsonl; scans: .png .jpg .jpeg .tif .tiff), "
            "folders (searched recursively) or http(s) URLs to copy into the corpus and index.",
            metavar="PATH_OR_URL",
        ),
    ],
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            metavar="GLOB",
            help="Only the files of a folder whose path inside it matches this glob, e.g. '*.pdf' (repeatable; case ignored).",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", metavar="GLOB", help="Leave out the files of a folder whose path matches this glob, e.g. 'drafts/*' (repeatable)."
        ),
    ] = None,
    ray_address: RayOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add files, folders or web pages to the corpus and index them at once.

    A URL is fetched (at most 50 MB, redirects only to http/https) and saved under web/<host>/ in the corpus.
    """
    from . import corpus, render

    models = _build_models(ctx, ray_address)
    with build_progress_for(ctx) as progress:
        report = corpus.add(
            command_settings(ctx),
            paths,
            progress=progress,
            include=include or (),
            exclude=exclude or (),
            notify=notifier(ctx),
            models=models,
        )
    console = render.stderr()
    for line in report.errors:
        console.print(f"skipped: {line}", style="yellow", markup=False)  # file names: "[x]" is not markup
    for line in report.skipped:
        console.print(f"note: {line}", style="yellow", markup=False)
    if json_output:
        from .contract import AddReportOut

        typer.echo(render.dumps(AddReportOut.of(report).dump()))
    else:
        console.print(f"added to the corpus: {', '.join(report.copied) or 'nothing new'}", markup=False)
        render.print_build(report.build, console)


@index_app.command("remove")
@handle_errors
def index_remove(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source name as `regionqa index status` lists it.")],
    json_output: JsonOption = False,
) -> None:
    """Remove a source file from the corpus and everything derived from it from the index."""
    from . import corpus

    with build_progress_for(ctx) as progress:
        report = corpus.remove(command_settings(ctx), source, progress=progress, notify=notifier(ctx))
    _print_build(report, json_output)


@index_app.command("status")
@handle_errors
def index_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Say what is indexed, with which models and settings, and whether the corpus has changed since."""

    from . import corpus, render

    status = corpus.status(command_settings(ctx))
    if json_output:
        from .contract import StatusOut

        typer.echo(render.dumps(StatusOut.of(status.as_dict()).dump()))
    else:
        render.print_status(status, render.stdout())
    if status.problem:
        raise typer.Exit(3)


@index_app.command("watch")
@handle_errors
def index_watch(
    ctx: typer.Context,
    folder: Annotated[
        Path | None, typer.Argument(help="The corpus folder to watch (default: the corpus folder, as for index build).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help='Print each rebuild\'s report as a JSON line; a failed one as {"error", "changed"}.')
    ] = False,
) -> None:
    """Keep the index up to date: re-index files as they are added, changed or removed in the corpus folder, until Ctrl-C.

    Each rebuild is an incremental `index build` (the same lock, the same atomic switch); a file that cannot be read is named in one line and the watch goes on.
    """
    from dataclasses import replace

    from . import render, watch

    settings = command_settings(ctx)
    if folder is not None:
        settings = replace(settings, corpus_dir=folder)
    notify = notifier(ctx)
    ready = lambda: notify(f"watching {settings.corpus_dir} for changes; Ctrl-C to stop")  # noqa: E731
    console = render.stderr()
    try:
        for event in watch.watch(settings, notify=notify, on_ready=ready):
            _print_watch_event(event, console, json_output)
    except KeyboardInterrupt:
        # A build cut short leaves the generation before it answering, as `index build` does.
        typer.echo(f"stopped watching {settings.corpus_dir}; the index answers from its last finished build", err=True)
        raise typer.Exit(130) from None


def _print_watch_event(event, console, json_output: bool) -> None:
    from . import render

    if event.changed:
        console.print(f"changed: {', '.join(event.changed)}", markup=False)
    if event.error:
        console.print(f"error: {event.error}", style="yellow", markup=False)
        if json_output:  # a script reading the reports sees the failed rebuild too
            typer.echo(render.dumps({"error": event.error, "changed": event.changed}))
    elif json_output:
        _print_build(event.report, json_output)
    else:
        render.print_build(event.report, console)
