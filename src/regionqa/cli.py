"""The `regionqa` command: parses arguments, calls one library function, renders the result.

Heavy libraries are imported inside the commands that need them, so `regionqa --help` is instant.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .config import CORPUS_DIR_ENV, INDEX_DIR_ENV, Settings
from .errors import BadInputError, RegionQAError

app = typer.Typer(
    help="Answer questions from your documents, offline, with the passage and offsets that support every answer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
index_app = typer.Typer(help="Build, extend and inspect the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object; one per line for --batch) instead of tables.")]


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


def handle_errors(command):
    """Turn library errors into a one-line message on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RegionQAError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; the previous index is unchanged", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"regionqa {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    index_dir: Annotated[Path, typer.Option(envvar=INDEX_DIR_ENV, help="Folder of the index.")] = Path("index"),
    corpus_dir: Annotated[Path, typer.Option(envvar=CORPUS_DIR_ENV, help="Folder of the source documents.")] = Path("corpus"),
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    ctx.obj = Settings(corpus_dir=corpus_dir, index_dir=index_dir)


def _notify(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
@handle_errors
def ask(
    ctx: typer.Context,
    question: Annotated[Optional[str], typer.Argument(help="The question, in plain words.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages to show.")] = 5,
    batch: Annotated[Optional[str], typer.Option(help="Answer one question per line of this file ('-' for stdin); prints JSON lines.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Answer a question: a short answer with its citation, the passages behind it, and the facts that bear on it."""
    from . import pipeline, render

    if (question is None) == (batch is None):
        raise BadInputError("give either a QUESTION or --batch FILE (not both)")
    pipeline.check_top_k(top_k)
    if question is not None:
        pipeline.check_question(question)
    engine = pipeline.open_engine(_settings(ctx), build_if_missing=True, notify=_notify)
    if batch is not None:
        lines = sys.stdin if batch == "-" else _open_batch(batch)
        for line in lines:
            if not line.strip():
                continue
            try:
                typer.echo(render.dumps(render.result_json(engine.ask(line, top_k))))
            except BadInputError as error:
                typer.echo(render.dumps({"question": line.strip()[:200], "error": str(error)}))
        return
    result = engine.ask(question, top_k)
    if json_output:
        typer.echo(render.dumps(render.result_json(result)))
    else:
        render.print_result(result, render.stdout(), engine.store.source_text)


def _open_batch(path: str):
    try:
        return open(path, encoding="utf-8")
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the questions file ({error.strerror})") from None


@app.command()
@handle_errors
def entities(
    ctx: typer.Context,
    label: Annotated[Optional[str], typer.Option(help="Only this label, e.g. PERSON, ORG, GPE.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the named entities of the corpus with label, count and sources."""
    from . import pipeline, render

    engine = pipeline.open_engine(_settings(ctx), build_if_missing=True, notify=_notify)
    rows = pipeline.list_entities(engine, label.upper() if label else None, source)
    if json_output:
        typer.echo(render.dumps([render.entity_json(r) for r in rows]))
    else:
        render.print_entities(rows, render.stdout())


@app.command()
@handle_errors
def facts(
    ctx: typer.Context,
    label: Annotated[Optional[str], typer.Option(help="Only this label: MONEY, QUANTITY, PERCENT, CARDINAL, MULTIPLIER, DATE.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the figures of the corpus (money, quantities, percentages, counts, dates) with normalised values."""
    from . import pipeline, render

    engine = pipeline.open_engine(_settings(ctx), build_if_missing=True, notify=_notify)
    rows = pipeline.list_facts(engine, label.upper() if label else None, source)
    if json_output:
        typer.echo(render.dumps([render.fact_json(f) for f in rows]))
    else:
        render.print_facts(rows, render.stdout())


def _progress():
    from rich.progress import Progress

    return Progress(console=__import__("regionqa.render", fromlist=["stderr"]).stderr(), transient=True)


@index_app.command("build")
@handle_errors
def index_build(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything instead of only new or changed sources.")] = False,
    json_output: JsonOption = False,
) -> None:
    """(Re)build the index from every source in the corpus folder; unchanged sources are kept as they are."""
    from . import pipeline, render

    report = pipeline.build(_settings(ctx), full=full)
    _print_build(report, json_output)


def _print_build(report, json_output: bool) -> None:
    from . import render

    if json_output:
        typer.echo(render.dumps(report.as_dict()))
    else:
        render.print_build(report, render.stderr())


@index_app.command("add")
@handle_errors
def index_add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt, .md, .html, .jsonl) to copy into the corpus and index.")],
    json_output: JsonOption = False,
) -> None:
    """Add files or folders to the corpus and index them at once."""
    from dataclasses import asdict

    from . import pipeline, render

    report = pipeline.add(_settings(ctx), paths)
    console = render.stderr()
    for line in report.errors:
        console.print(f"skipped: {line}", style="yellow")
    for line in report.skipped:
        console.print(f"note: {line}", style="yellow")
    if json_output:
        typer.echo(render.dumps(asdict(report)))
    else:
        console.print(f"added to the corpus: {', '.join(report.copied) or 'nothing new'}")
        render.print_build(report.build, console)


@index_app.command("remove")
@handle_errors
def index_remove(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source name as `regionqa index status` lists it.")],
    json_output: JsonOption = False,
) -> None:
    """Remove a source file from the corpus and everything derived from it from the index."""
    from . import pipeline

    _print_build(pipeline.remove(_settings(ctx), source), json_output)


@index_app.command("status")
@handle_errors
def index_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Say what is indexed, with which models and settings, and whether the corpus has changed since."""
    from dataclasses import asdict

    from . import pipeline, render

    status = pipeline.status(_settings(ctx))
    if json_output:
        typer.echo(render.dumps(asdict(status)))
    else:
        render.print_status(status, render.stdout())
    if status.problem:
        raise typer.Exit(3)


@app.command("eval")
@handle_errors
def evaluate(
    ctx: typer.Context,
    qa_file: Annotated[Optional[Path], typer.Argument(help="A JSONL file of {\"id\",\"question\",\"answers\",\"evidence\"} lines.")] = None,
    beir: Annotated[Optional[Path], typer.Option(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/) to evaluate retrieval on.")] = None,
    split: Annotated[str, typer.Option(help="The qrels split for --beir.")] = "test",
    json_output: JsonOption = False,
) -> None:
    """Measure answers on a QA file (EM, F1, evidence recall, MRR) or retrieval on a BEIR folder (nDCG@10)."""
    from . import pipeline, render

    if (qa_file is None) == (beir is None):
        raise BadInputError("give either a QA_FILE or --beir DIR")
    if qa_file is not None:
        from .evaluate import evaluate_qa, read_qa_file

        items = read_qa_file(qa_file)
        engine = pipeline.open_engine(_settings(ctx), build_if_missing=True, notify=_notify)
        report = evaluate_qa(items, lambda q: engine.ask(q, top_k=5))
        if json_output:
            typer.echo(render.dumps(report.as_dict()))
        else:
            render.print_qa_report(report, render.stdout())
        return
    from .evaluate import evaluate_beir

    result = evaluate_beir(beir, split, _settings(ctx), notify=_notify)
    if json_output:
        typer.echo(render.dumps(result))
    else:
        render.print_beir(result, render.stdout())
