"""What every `regionqa` command shares: the invocation (settings, --quiet), error handling, output options."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .config import Settings
from .errors import BadInputError, RegionQAError

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object) instead of text.")]
AskJsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object; one per line for --batch) instead of text.")]


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


class AskFormat(str, Enum):  # noqa: UP042
    text = "text"
    json = "json"
    md = "md"
    html = "html"
    csv = "csv"


AskFormatOption = Annotated[
    AskFormat | None,
    typer.Option(
        "--format",
        "-f",
        show_default=False,
        help="text (default), json (as --json), or a report to keep: md, html or csv (answer, citations, passages, facts).",
    ),
]
ListJsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


def chosen_format(chosen: OutputFormat | None, json_output: bool) -> OutputFormat:
    """The format of a listing, from --format and its alias --json."""
    if json_output and chosen not in (None, OutputFormat.json):
        raise BadInputError(f"--json and --format {chosen.value} ask for two formats; give one")
    return OutputFormat.json if json_output else (chosen or OutputFormat.table)


def chosen_ask_format(chosen: AskFormat | None, json_output: bool) -> AskFormat:
    """The format of an answer, from --format and its alias --json."""
    if json_output and chosen not in (None, AskFormat.json):
        raise BadInputError(f"--json and --format {chosen.value} ask for two formats; give one")
    return AskFormat.json if json_output else (chosen or AskFormat.text)


@dataclass
class Invocation:
    """What the root options of one `regionqa` call decided (ctx.obj), read by every command."""

    corpus_dir: Path | None = None
    index_dir: Path | None = None
    quiet: bool = False

    @functools.cached_property
    def settings(self) -> Settings:
        """Read when a command first needs them, inside its error handling: a broken config file is
        the command's one-line error (and `regionqa config path` still works)."""
        return Settings.from_environment(self.corpus_dir, self.index_dir)

    def notify(self, message: str) -> None:
        """A note on stderr; with --quiet only warnings are printed."""
        if not self.quiet or message.startswith("warning:"):
            typer.echo(message, err=True)


def invocation(ctx: typer.Context) -> Invocation:
    return ctx.find_root().obj


def command_settings(ctx: typer.Context) -> Settings:
    """The settings of this invocation; a per-user corpus is created (with the article) on first use."""
    from .config import seed_user_corpus

    current = invocation(ctx)
    if seed_user_corpus(current.settings):
        current.notify(
            f"no corpus/ here: using the per-user corpus {current.settings.corpus_dir}, started with the article; add documents with: regionqa index add FILE"
        )
    return current.settings


def notifier(ctx: typer.Context) -> Callable[[str], None]:
    return invocation(ctx).notify


def command_prefix(ctx: typer.Context) -> str:
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


def with_folders(message: str, ctx: typer.Context | None) -> str:
    """A library message's suggested commands ("run: regionqa index build --full") with this command
    line's --index-dir/--corpus-dir, so that following one literally mends the index that failed."""
    import re

    prefix = command_prefix(ctx) if ctx is not None else "regionqa"
    if prefix == "regionqa":
        return message
    return re.sub(r"(?:(?<=: )|(?<=`))regionqa (?=(?:index|doctor|ask)\b)", lambda _: prefix + " ", message)


def handle_errors(command):
    """Turn library errors into a one-line message on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RegionQAError as error:
            # Typer passes the context by its parameter's name (an instance of its own click copy's
            # Context, not of typer.Context); every command names it `ctx`.
            ctx = kwargs.get("ctx")
            # One line, whatever the message carries (a file name with a line break in it).
            typer.echo(f"error: {' '.join(with_folders(str(error), ctx).splitlines())}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; the previous index is unchanged", err=True)
            raise typer.Exit(130) from None

    return wrapper


def build_progress_for(ctx: typer.Context):
    """A progress display for index builds (a Progress callback inside a `with`): bars on
    stderr with rate and time left when stderr is a terminal, nothing when not or with --quiet."""
    from . import render
    from .progress import build_progress

    return build_progress(render.stderr(), enabled=not invocation(ctx).quiet)
