"""The `regionqa` command: parses arguments, calls one library function, renders the result.

Heavy libraries are imported inside the commands that need them, so `regionqa --help` is instant.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .config import CORPUS_DIR_ENV, DATA_DIR_ENV, INDEX_DIR_ENV, Settings
from .errors import BadInputError, RegionQAError
from .version import __version__

EXIT_CODES = (
    "Exit codes: 0 done; 1 other error; 2 bad input (argument, question, source file); "
    "3 index missing, corrupt or built with other models (run: regionqa index build --full); "
    "4 model missing or changed; 5 another build is running; 130 interrupted."
)

app = typer.Typer(
    help="Answer questions from your documents, offline, with the passage and offsets that support every answer.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
index_app = typer.Typer(help="Build, extend and inspect the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object; one per line for --batch) instead of tables.")]


class OutputFormat(str, Enum):  # noqa: UP042 (typer takes str Enums as choices)
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        show_default=False,
        help="table (default; a bar chart of counts for entities), csv (with a header) or json (as --json).",
    ),
]
ListJsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


def _output_format(chosen: OutputFormat | None, json_output: bool) -> OutputFormat:
    """The format of a listing, from --format and its alias --json."""
    if json_output and chosen not in (None, OutputFormat.json):
        raise BadInputError(f"--json and --format {chosen.value} ask for two formats; give one")
    return OutputFormat.json if json_output else (chosen or OutputFormat.table)


@dataclass
class Invocation:
    """What the root options of one `regionqa` call decided (ctx.obj), read by every command."""

    settings: Settings
    quiet: bool = False
    seed: bool = False  # the per-user corpus is to be created (with the article) on first use

    def notify(self, message: str) -> None:
        """A note on stderr; with --quiet only warnings are printed."""
        if not self.quiet or message.startswith("warning:"):
            typer.echo(message, err=True)


def _invocation(ctx: typer.Context) -> Invocation:
    return ctx.find_root().obj


def _settings(ctx: typer.Context) -> Settings:
    """The settings of this invocation; a per-user corpus is created (with the article) on first use."""
    invocation = _invocation(ctx)
    if invocation.seed:
        from .config import seed_corpus

        invocation.seed = False
        if seed_corpus(invocation.settings.corpus_dir):
            invocation.notify(
                f"no corpus/ here: using the per-user corpus {invocation.settings.corpus_dir}, started with the article; add documents with: regionqa index add FILE"
            )
    return invocation.settings


def _notify(ctx: typer.Context) -> Callable[[str], None]:
    return _invocation(ctx).notify


def handle_errors(command):
    """Turn library errors into a one-line message on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RegionQAError as error:
            # One line, whatever the message carries (a file name with a line break in it).
            typer.echo(f"error: {' '.join(str(error).splitlines())}", err=True)
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
    index_dir: Annotated[
        Path | None,
        typer.Option(
            show_default=False,
            help=f"Folder of the index (or ${INDEX_DIR_ENV}). Default: index/ beside ./corpus, else in the per-user data folder (moved by ${DATA_DIR_ENV}).",
        ),
    ] = None,
    corpus_dir: Annotated[
        Path | None,
        typer.Option(
            show_default=False,
            help=f"Folder of the source documents (or ${CORPUS_DIR_ENV}). Default: ./corpus if it exists, else corpus/ in the per-user data folder, started with the article.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars or notes on stderr (errors and warnings still go there).")
    ] = False,
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    settings = Settings.from_environment(corpus_dir, index_dir)
    ctx.obj = Invocation(settings, quiet=quiet, seed=settings.user_data)


def _build_progress(ctx: typer.Context):
    """A progress display for index builds (a Progress callback inside a `with`): bars on
    stderr with rate and time left when stderr is a terminal, nothing when not or with --quiet."""
    from . import render
    from .progress import build_progress

    return build_progress(render.stderr(), enabled=not _invocation(ctx).quiet)


@app.command()
@handle_errors
def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question, in plain words.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages to show.")] = 5,
    batch: Annotated[str | None, typer.Option(help="Answer one question per line of this file ('-' for stdin); prints JSON lines.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Answer a question: a short answer with its citation, the passages behind it, and the facts that bear on it."""
    from . import engine as engine_mod
    from . import render
    from .sources import printable

    if (question is None) == (batch is None):
        raise BadInputError("give either a QUESTION or --batch FILE (not both)")
    engine_mod.check_top_k(top_k)
    if question is not None:
        engine_mod.check_question(question)
    engine = _open_engine(ctx)
    if batch is not None:
        lines = _stdin_lines() if batch == "-" else _open_batch(batch)
        for line in lines:
            if not line.strip():
                continue
            try:
                typer.echo(render.dumps(render.result_json(engine.ask(line, top_k))))
            except BadInputError as error:
                typer.echo(render.dumps({"question": printable(line.strip())[:200], "error": str(error)}))
        return
    result = engine.ask(question, top_k)
    if json_output:
        typer.echo(render.dumps(render.result_json(result)))
    else:
        render.print_result(result, render.stdout(), engine.store.location)


def _open_engine(ctx: typer.Context):
    """The engine of this invocation's index, built first (with a progress bar) when there is none."""
    from . import engine as engine_mod

    with _build_progress(ctx) as progress:
        return engine_mod.open_engine(_settings(ctx), build_if_missing=True, notify=_notify(ctx), progress=progress)


# Bytes that are not UTF-8 are kept as lone surrogates, which check_question turns into spaces:
# one bad line gets an answer or a one-line error, never a crash of the whole batch.
def _stdin_lines():
    import io

    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape") if hasattr(sys.stdin, "buffer") else sys.stdin


def _open_batch(path: str):
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the questions file ({error.strerror})") from None


@app.command()
@handle_errors
def entities(
    ctx: typer.Context,
    label: Annotated[str | None, typer.Option(help="Only this label, e.g. PERSON, ORG, GPE.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    output_format: FormatOption = None,
    graphml: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="Instead of the list, write the co-occurrence network (entities that share a sentence; edge weight = sentences shared) as GraphML to PATH ('-' for stdout), for Gephi.",
        ),
    ] = None,
    json_output: ListJsonOption = False,
) -> None:
    """List the named entities of the corpus with label, count and sources, or export their co-occurrence network."""
    from . import engine as engine_mod
    from . import render

    if graphml is not None and (output_format is not None or json_output):
        raise BadInputError("--graphml writes the network instead of the list; leave out --format/--json")
    chosen = _output_format(output_format, json_output)
    engine = _open_engine(ctx)
    label = label.upper() if label else None
    if graphml is not None:
        from .graph import graphml_text, write_graphml

        network = engine_mod.entity_graph(engine, label, source)
        if graphml == "-":
            typer.echo(graphml_text(network), nl=False)
        else:
            write_graphml(network, Path(graphml))
            _notify(ctx)(f"wrote {network.number_of_nodes():,} entities and {network.number_of_edges():,} links to {graphml}")
        return
    rows = engine_mod.list_entities(engine, label, source)
    if chosen is OutputFormat.json:
        typer.echo(render.dumps([render.entity_json(r) for r in rows]))
    elif chosen is OutputFormat.csv:
        typer.echo(render.entities_csv(rows), nl=False)
    else:
        render.print_entities(rows, render.stdout())


@app.command()
@handle_errors
def facts(
    ctx: typer.Context,
    label: Annotated[str | None, typer.Option(help="Only this label: MONEY, QUANTITY, PERCENT, CARDINAL, MULTIPLIER, DATE.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    output_format: FormatOption = None,
    json_output: ListJsonOption = False,
) -> None:
    """List the figures of the corpus (money, quantities, percentages, counts, dates) with normalised values."""
    from . import engine as engine_mod
    from . import render

    chosen = _output_format(output_format, json_output)
    engine = _open_engine(ctx)
    rows = engine_mod.list_facts(engine, label.upper() if label else None, source)
    if chosen is OutputFormat.json:
        typer.echo(render.dumps([render.fact_json(f) for f in rows]))
    elif chosen is OutputFormat.csv:
        typer.echo(render.facts_csv(rows), nl=False)
    else:
        render.print_facts(rows, render.stdout(), engine.store.location)


@app.command()
@handle_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on. The API has no authentication: keep it on loopback.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8765,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request on stderr.")] = False,
) -> None:
    """Serve a local HTTP API (POST /ask, GET /entities, /facts, /health; OpenAPI at /docs) from one warm index."""
    from .server import create_app, is_loopback

    if not is_loopback(host):
        _notify(ctx)(f"warning: serving on {host}, not a loopback address; anyone who can reach it can query the index")
    engine = _open_engine(ctx)
    application = create_app(engine.settings, engine)
    import uvicorn

    _notify(ctx)(f"regionqa serving {engine.store.generation} on http://{host}:{port} (OpenAPI: /docs); Ctrl-C to stop")
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=access_log)


@index_app.command("build")
@handle_errors
def index_build(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything instead of only new or changed sources.")] = False,
    json_output: JsonOption = False,
) -> None:
    """(Re)build the index from every source in the corpus folder; unchanged sources are kept as they are."""
    from . import indexing

    with _build_progress(ctx) as progress:
        report = indexing.build(_settings(ctx), full=full, progress=progress, notify=_notify(ctx))
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
            help="Files (.txt, .md, .html, .pdf, .docx, .jsonl), folders (searched recursively) or http(s) URLs to copy into the corpus and index.",
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
    json_output: JsonOption = False,
) -> None:
    """Add files, folders or web pages to the corpus and index them at once.

    A URL is fetched (at most 50 MB, redirects only to http/https) and saved under web/<host>/ in the corpus.
    """
    from . import corpus, render

    with _build_progress(ctx) as progress:
        report = corpus.add(_settings(ctx), paths, progress=progress, include=include or (), exclude=exclude or (), notify=_notify(ctx))
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

    with _build_progress(ctx) as progress:
        report = corpus.remove(_settings(ctx), source, progress=progress, notify=_notify(ctx))
    _print_build(report, json_output)


@index_app.command("status")
@handle_errors
def index_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Say what is indexed, with which models and settings, and whether the corpus has changed since."""

    from . import corpus, render

    status = corpus.status(_settings(ctx))
    if json_output:
        from .contract import StatusOut

        typer.echo(render.dumps(StatusOut.of(status.as_dict()).dump()))
    else:
        render.print_status(status, render.stdout())
    if status.problem:
        raise typer.Exit(3)


@app.command("eval")
@handle_errors
def evaluate(
    ctx: typer.Context,
    qa_file: Annotated[Path | None, typer.Argument(help='A JSONL file of {"id","question","answers","evidence"} lines.')] = None,
    beir: Annotated[Path | None, typer.Option(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/) to evaluate retrieval on.")] = None,
    split: Annotated[str, typer.Option(help="The qrels split for --beir.")] = "test",
    json_output: JsonOption = False,
) -> None:
    """Measure answers on a QA file (EM, F1, evidence recall, MRR) or retrieval on a BEIR folder (nDCG@10)."""
    from . import render

    if (qa_file is None) == (beir is None):
        raise BadInputError("give either a QA_FILE or --beir DIR")
    if qa_file is not None:
        from .evaluate import evaluate_qa, read_qa_file

        items = read_qa_file(qa_file)
        engine = _open_engine(ctx)
        report = evaluate_qa(items, lambda q: engine.ask(q, top_k=5))
        if json_output:
            from .contract import QAReportOut

            typer.echo(render.dumps(QAReportOut.of(report).dump()))
        else:
            render.print_qa_report(report, render.stdout())
        return
    from .evaluate import evaluate_beir

    result = evaluate_beir(beir, split, _settings(ctx), notify=_notify(ctx))
    if json_output:
        from .contract import BeirOut

        typer.echo(render.dumps(BeirOut.of(result).dump()))
    else:
        render.print_beir(result, render.stdout())


@app.command()
@handle_errors
def doctor(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Check the models (installed, hashes), the index (present, consistent, fresh) and the versions; say how to fix each problem."""
    from . import doctor as doctor_mod
    from . import render

    checks = doctor_mod.run_checks(_settings(ctx), command=_command_prefix(ctx))
    passed = doctor_mod.ok(checks)
    if json_output:
        from .contract import DoctorOut

        typer.echo(render.dumps(DoctorOut.of_checks(checks, passed).dump()))
    else:
        render.print_checks(checks, render.stdout())
    if not passed:
        raise typer.Exit(1)


def _command_prefix(ctx: typer.Context) -> str:
    """`regionqa` plus the --index-dir/--corpus-dir given on this command line, so that a suggested
    command acts on the same folders (folders from environment variables stay in the environment)."""
    import shlex

    root = ctx.find_root()
    words = ["regionqa"]
    for name in ("index_dir", "corpus_dir"):
        source = root.get_parameter_source(name)  # an enum of Typer's own copy of click: compared by name
        if source is not None and source.name == "COMMANDLINE":
            words += [f"--{name.replace('_', '-')}", shlex.quote(str(root.params[name]))]
    return " ".join(words)
