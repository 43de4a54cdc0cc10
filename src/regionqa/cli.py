"""The `regionqa` command: parses arguments, calls one library function, renders the result.

Heavy libraries are imported inside the commands that need them, so `regionqa --help` is instant.
The command modules (this one, cli_index, cli_user) do without `from __future__ import annotations`:
Typer reads every command's annotations at every call, and evaluating them once at import instead of
from strings each time saves about 7 ms of each command (typer.main.get_command 10.3 against 3.3 ms).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import (
    AskFormat,
    AskFormatOption,
    AskJsonOption,
    FormatOption,
    Invocation,
    JsonOption,
    ListJsonOption,
    OutputFormat,
    build_progress_for,
    chosen_ask_format,
    chosen_format,
    command_prefix,
    command_settings,
    handle_errors,
    notifier,
)
from .cli_index import index_app
from .cli_user import config_app, history
from .config import CORPUS_DIR_ENV, DATA_DIR_ENV, INDEX_DIR_ENV, TOKEN_ENV, token_from_environment
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
app.add_typer(index_app, name="index")


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
    ctx.obj = Invocation(corpus_dir, index_dir, quiet=quiet)


@app.command()
@handle_errors
def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question, in plain words.")] = None,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", "-k", show_default=False, help="How many passages to show (default 5, or top_k in the config file)."),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            help="Answer one question per line of this file ('-' for stdin); prints JSON lines, or one report with --format md|html|csv."
        ),
    ] = None,
    output_format: AskFormatOption = None,
    no_history: Annotated[bool, typer.Option("--no-history", help="Do not record this question in `regionqa history`.")] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(
            metavar="GLOB",
            help="Ask only the sources whose name matches, e.g. 'web/*', '*.pdf', 'mail.eml*' (as index add --include matches); repeat for more.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE", help="Ask only sources dated on or after DATE (YYYY-MM-DD, YYYY-MM or YYYY); undated ones are left out."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            metavar="DATE", help="Ask only sources dated on or before DATE (YYYY-MM-DD, YYYY-MM or YYYY); undated ones are left out."
        ),
    ] = None,
    json_output: AskJsonOption = False,
) -> None:
    """Answer a question: a short answer with its citation (with the source's title, author, date and URL), the passages behind it, and the facts that bear on it."""
    from . import engine as engine_mod

    if question is None and batch is None:
        raise BadInputError('give a QUESTION (regionqa ask "Who chairs the summit?") or a file of them with --batch FILE')
    if question is not None and batch is not None:
        raise BadInputError("give either a QUESTION or --batch FILE, not both")
    chosen = chosen_ask_format(output_format, json_output)
    settings = command_settings(ctx)
    top_k = engine_mod.check_top_k(settings.top_k if top_k is None else top_k)
    if question is not None:
        engine_mod.check_question(question)
    sources = engine_mod.SourceFilter(tuple(source or ()), since, until)
    lines = None
    if batch is not None:  # a bad questions file fails here, before the models load
        lines = _stdin_lines() if batch == "-" else _read_batch(batch)
    engine = _open_engine(ctx)
    keep = _history_keeper(ctx, engine, settings.history and not no_history)
    if lines is not None:
        _ask_batch(engine, lines, top_k, sources, chosen, keep)
        return
    result = engine.ask(question, top_k, sources)
    keep(result)
    _print_answer(result, chosen, engine)


def _print_answer(result, chosen: AskFormat, engine) -> None:
    from . import render

    if chosen is AskFormat.json:
        typer.echo(render.dumps(render.result_json(result)))
    elif chosen is AskFormat.text:
        render.print_result(result, render.stdout(), engine.store.location)
    else:
        _print_report(chosen, [render.result_json(result)])


def _print_report(chosen: AskFormat, results: list[dict]) -> None:
    from datetime import UTC, datetime

    from .report import write_report

    title = f"regionqa answers, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    typer.echo(write_report(chosen.value, results, title), nl=False)


def _ask_batch(engine, lines, top_k: int, sources, chosen: AskFormat, keep) -> None:
    """Each line answered: printed as a JSON line at once, or gathered into one report at the end."""
    from . import render
    from .sources import printable

    gathered = []
    asked = 0
    for line in lines:
        if not line.strip():
            continue
        asked += 1
        try:
            result = engine.ask(line, top_k, sources)
            keep(result)
            data = render.result_json(result)
        except BadInputError as error:
            data = {"question": printable(line.strip())[:200], "error": str(error)}
        if chosen in (AskFormat.json, AskFormat.text):
            typer.echo(render.dumps(data))
        else:
            gathered.append(data)
    if gathered:
        _print_report(chosen, gathered)
    if not asked:
        raise BadInputError("no question in the batch: give one question a line")


def _history_keeper(ctx: typer.Context, engine, wanted: bool):
    """A function that records an answered question in the per-user history (when wanted); a history
    that cannot be written is a warning, never a failed question."""
    if not wanted:
        return lambda result: None
    from . import render
    from .store import history

    path = engine.settings.history_file
    warned = []

    def keep(result) -> None:
        try:
            history.record(path, render.result_json(result), engine.store.generation.name)
        except RegionQAError as error:
            if not warned:  # once per batch
                notifier(ctx)(f"warning: the question was not recorded: {error}; --no-history leaves it out")
                warned.append(error)

    return keep


def _open_engine(ctx: typer.Context):
    """The engine of this invocation's index, built first (with a progress bar) when there is none."""
    from contextlib import nullcontext

    from . import engine as engine_mod
    from . import store

    settings = command_settings(ctx)
    # Nothing to build: no progress display, so no Rich console (an import of about 20 ms before every question).
    has_index = store.current_generation(settings.index_dir) is not None
    with nullcontext() if has_index else build_progress_for(ctx) as progress:
        return engine_mod.open_engine(settings, build_if_missing=True, notify=notifier(ctx), progress=progress)


# Bytes that are not UTF-8 are kept as lone surrogates, which check_question turns into spaces:
# one bad line gets an answer or a one-line error, never a crash of the whole batch.
def _stdin_lines():
    import io

    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape") if hasattr(sys.stdin, "buffer") else sys.stdin


def _read_batch(path: str) -> list[str]:
    """The lines of a questions file; BadInputError when it cannot be read, is binary or holds no question."""
    from .sources.text import not_binary

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the questions file ({error.strerror})") from None
    not_binary(text, path)  # each line of an image or an archive would be "answered"
    if not text.strip():
        raise BadInputError(f"{path}: no question in the file; write one question a line")
    return text.splitlines()


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
    chosen = chosen_format(output_format, json_output)
    engine = _open_engine(ctx)
    label = label.upper() if label else None
    if graphml is not None:
        from .graph import graphml_text, write_graphml

        network = engine_mod.entity_graph(engine, label, source)
        if graphml == "-":
            typer.echo(graphml_text(network), nl=False)
        else:
            write_graphml(network, Path(graphml))
            notifier(ctx)(f"wrote {network.number_of_nodes():,} entities and {network.number_of_edges():,} links to {graphml}")
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

    chosen = chosen_format(output_format, json_output)
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
    host: Annotated[str, typer.Option(help="Address to listen on. Other than loopback, it needs --token or --no-auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(envvar=TOKEN_ENV, show_envvar=True, help="Require Authorization: Bearer TOKEN (the web page: open /#token=TOKEN)."),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve a non-loopback address without a token (a trusted network only).")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Accept this name in the Host header too (loopback names always); repeat for more."),
    ] = None,
    cors: Annotated[
        list[str] | None, typer.Option("--cors", help="Let web pages of this origin call the API (CORS); repeat for more.")
    ] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request on stderr.")] = False,
) -> None:
    """Serve the web page and a local HTTP API (POST /ask, GET /entities, /facts, /health, /openapi.json) from the live index."""
    from .server import Guard, check_port_free, is_loopback, run

    if token is None and token_from_environment() == "":
        token = ""  # click reads an empty variable as unset; Guard refuses it, as it refuses an empty --token
    guard = Guard.for_address(host, token=token, no_auth=no_auth, allow_hosts=tuple(allow_host or ()), cors=tuple(cors or ()))
    if no_auth and not is_loopback(host):
        notifier(ctx)(f"warning: serving on {host} without a token; anyone who can reach it can query the index")
    check_port_free(host, port)  # before the models load (or a first index is built)
    run(_open_engine(ctx), host, port, guard, access_log, notifier(ctx))


@app.command("mcp")
@handle_errors
def mcp(ctx: typer.Context) -> None:
    """Serve the index to an AI assistant over the Model Context Protocol (stdio): tools ask, search, entities, facts.

    stdout carries only the protocol; notes and logs go to stderr. Questions asked here are not recorded in the history.
    """
    from .live import LiveEngine
    from .mcp_server import serve_stdio

    engine = _open_engine(ctx)  # once, before the first request: a missing index is built (or fails) here
    notifier(ctx)(f"regionqa MCP server on stdio, answering from {engine.store.generation.name}")
    live = LiveEngine(command_settings(ctx), engine=engine, notify=notifier(ctx))  # follows rebuilds between calls
    try:
        serve_stdio(live.use)
    finally:
        live.close()


@app.command("eval")
@handle_errors
def evaluate(
    ctx: typer.Context,
    qa_file: Annotated[Path | None, typer.Argument(help='A JSONL file of {"id","question","answers","evidence"} lines.')] = None,
    beir: Annotated[Path | None, typer.Option(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/) to evaluate retrieval on.")] = None,
    split: Annotated[str, typer.Option(help="The qrels split for --beir.")] = "test",
    squad: Annotated[
        Path | None, typer.Option(help="A SQuAD 1.1/2.0 JSON file: its paragraphs are indexed privately and every question is asked.")
    ] = None,
    article: Annotated[list[str] | None, typer.Option(help="With --squad: only this article (by title); repeat for more.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Measure answers on a QA file or a SQuAD file (EM, F1, abstention, evidence recall, MRR) or retrieval on a BEIR folder (nDCG@10)."""
    from . import render

    if sum(x is not None for x in (qa_file, beir, squad)) != 1:
        raise BadInputError("give one of: a QA_FILE, --squad FILE or --beir DIR")
    if article and squad is None:
        raise BadInputError("--article selects articles of a --squad file; give --squad FILE too")
    if qa_file is not None or squad is not None:
        from .evaluate import evaluate_qa, evaluate_squad, read_qa_file, read_squad

        if squad is not None:
            report = evaluate_squad(read_squad(squad, set(article) if article else None), command_settings(ctx), notify=notifier(ctx))
        else:
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

    result = evaluate_beir(beir, split, command_settings(ctx), notify=notifier(ctx))
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

    checks = doctor_mod.run_checks(command_settings(ctx), command=command_prefix(ctx))
    passed = doctor_mod.ok(checks)
    if json_output:
        from .contract import DoctorOut

        typer.echo(render.dumps(DoctorOut.of_checks(checks, passed).dump()))
    else:
        render.print_checks(checks, render.stdout())
    if not passed:
        raise typer.Exit(1)


# Registered here, after the commands above, so that `regionqa --help` lists them in this order.
app.command("history")(history)
app.add_typer(config_app, name="config")
