"""Turn results into human-readable terminal output (and, for the cold commands, their JSON).

Data goes to stdout; progress and messages go to stderr. Rich turns colour off when stdout
is not a terminal and honours NO_COLOR.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from .models import Answer, Fact, Hit, Result

if TYPE_CHECKING:
    from rich.console import Console

    from .corpus import Status
    from .doctor import Check
    from .engine import EntityCount
    from .evaluate import QAReport
    from .indexing import BuildReport
    from .store.history import HistoryEntry


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------- JSON
# The JSON contract is contract.py (pydantic models, from which schemas/ are generated). These plain
# twins of its AskOut, FactOut and EntityOut serve the cold commands (`ask`, `entities`, `facts`),
# which would otherwise pay about 0.1 s importing pydantic; tests/test_schemas.py proves that each
# gives exactly the model's dump (same keys, order and values).


def answer_json(answer: Answer | None) -> dict | None:
    if answer is None:
        return None
    return {
        "text": answer.text, "score": answer.score, "source": answer.source, "start": answer.start,
        "end": answer.end, "sentence": answer.sentence, "label": answer.label,
        "location": answer.location or offset_only(answer.source, answer.start), "meta": answer.meta,
    }  # fmt: skip


def passage_json(hit: Hit) -> dict:
    c = hit.chunk
    return {
        "rank": hit.rank, "score": round(hit.score, 6), "source": c.source, "chunk_id": c.id,
        "start": c.start, "end": c.end, "text": c.text, "location": hit.location or offset_only(c.source, c.start),
        "meta": hit.meta,
    }  # fmt: skip


def fact_json(fact: Fact) -> dict:
    return {
        "text": fact.text, "label": fact.label, "value": fact.value, "value_max": fact.value_max,
        "unit": fact.unit, "source": fact.source, "start": fact.start, "end": fact.end, "sentence": fact.sentence,
        "date": fact.date,
    }  # fmt: skip


def result_json(result: Result) -> dict:
    """The `ask --json` object (schema: `schemas/ask.schema.json`)."""
    return {
        "question": result.question,
        "answer": answer_json(result.answer),
        "message": result.message or None,
        "passages": [passage_json(h) for h in result.passages],
        "facts": [fact_json(f) for f in result.facts],
    }


def entity_json(row: EntityCount) -> dict:
    return asdict(row)


# ---------------------------------------------------------------- human output


def offset_only(source: str, start: int, end: int | None = None) -> str:
    """A location without the index at hand to tell the page or line: the character offset."""
    return f"char {start}"


def provenance(meta: dict[str, str]) -> str:
    """A source's metadata for a citation: “Title”, author, date, URL (a message: its subject, sender and date)."""
    title = meta.get("subject") or meta.get("title")
    parts = [f"“{title}”" if title else "", meta.get("from") or meta.get("author", ""), meta.get("date", ""), meta.get("url", "")]
    return ", ".join(part for part in parts if part)


def print_result(result: Result, console: Console, location: Callable[..., str] = offset_only) -> None:
    from rich.table import Table
    from rich.text import Text

    answer = result.answer
    if answer is not None:
        console.print(Text.assemble(("Answer: ", "bold"), (answer.text, "bold green"), (f"   (confidence {answer.score:.2f})", "dim")))
        sentence = Text(answer.sentence)
        offset = answer.start - answer.sentence_start
        sentence.stylize(ANSWER_STYLE, offset, offset + len(answer.text))
        _print_indented(console, Text("“") + sentence + Text("”"), 2)
        where = answer.location or location(answer.source, answer.start)  # Engine.ask fills it in
        cited = provenance(answer.meta)
        console.print(
            f"  — {answer.source}, {where}, chars {answer.start}–{answer.end}{f' · {cited}' if cited else ''}", style="dim", markup=False
        )
    else:
        console.print(Text.assemble(("No answer: ", "bold yellow"), result.message or "the corpus does not say"))
    console.print()
    console.print("Passages", style="bold")
    for hit in result.passages:
        c = hit.chunk
        where = f"{c.source}, {hit.location or location(c.source, c.start, c.end)}, chars {c.start}–{c.end}"
        if hit.rank > 1:
            console.print()
        console.print(Text.assemble((f"[{hit.rank}] ", "bold"), (where, "cyan"), (f"  score {hit.score:.3f}", "dim")))
        if hit.meta and provenance(hit.meta):
            console.print(Text("    " + provenance(hit.meta), style="dim"))
        passage = Text(c.text)
        if answer is not None and answer.source == c.source and c.start <= answer.start and answer.end <= c.end:
            passage.stylize(ANSWER_STYLE, answer.start - c.start, answer.end - c.start)
        _print_indented(console, passage, 4)
    if result.facts:
        console.print()
        table = Table(title="Facts", title_justify="left", title_style="bold", box=_box("SIMPLE_HEAD"), show_edge=False)
        for column in ("fact", "label", "value", "where"):
            table.add_column(column, justify="right" if column == "value" else "left")
        for fact in result.facts:
            table.add_row(Text(fact.text), fact.label, format_value(fact), Text(f"{fact.source}, {location(fact.source, fact.start)}"))
        console.print(table)


ANSWER_STYLE = "bold green underline"


def _box(name: str):
    from rich import box

    return getattr(box, name)


def _print_indented(console: Console, text, indent: int) -> None:
    """Text with every line indented: wrapped to the width on a terminal; piped, each line is kept
    whole (no breaks inserted into the document's text, so that grep finds it)."""
    from rich.padding import Padding
    from rich.text import Text

    if console.is_terminal:
        console.print(Padding(text, (0, 0, 0, indent)), soft_wrap=False)
    else:
        for line in text.split("\n", allow_blank=True):
            console.print(Text(" " * indent) + line)


def format_value(fact: Fact) -> str:
    """A fact's normalised value for people: "15,000,000 – 25,000,000 t", "17.2 %" (JSON keeps 0.172), "2024-03"."""
    if fact.date is not None:
        return fact.date
    if fact.value is None:
        return ""
    scale, unit = (100, "%") if fact.unit == "fraction" else (1, fact.unit)

    def one(v: float) -> str:
        v *= scale
        # Whole numbers in full ("450,000,000,000", not "4.5e+11"); others to 6 significant digits.
        return f"{v:,.0f}" if v == round(v) and abs(v) < 1e18 else f"{v:,.6g}"

    text = one(fact.value) if fact.value_max is None else f"{one(fact.value)} – {one(fact.value_max)}"
    return f"{text} {unit}" if unit else text


BAR_WIDTH = 30  # cells of the longest bar in `entities`
_EIGHTHS = " ▏▎▍▌▋▊▉"
LABEL_STYLES = {"PERSON": "magenta", "ORG": "cyan", "NORP": "yellow", "GPE": "green", "LOC": "green", "FAC": "green"}


def bar(count: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of `count` scaled so that `largest` fills `width` cells, in eighths of a cell;
    never empty for a positive count."""
    if count <= 0 or largest <= 0:
        return ""
    eighths = max(1, round(8 * width * count / largest))
    return "█" * (eighths // 8) + _EIGHTHS[eighths % 8].strip()


def print_entities(rows: list[EntityCount], console: Console) -> None:
    """The entities as a bar chart of their counts, most frequent first."""
    from rich.table import Table
    from rich.text import Text

    sources = sorted({name for row in rows for name in row.sources})
    if not rows:
        console.print("no entities (check --label and --source)", style="yellow")
        return
    title = f"{len(rows):,} entities in {', '.join(sources) if len(sources) == 1 else f'{len(sources):,} sources'}"
    table = Table(title=title, title_justify="left", title_style="bold", box=_box("SIMPLE_HEAD"), show_edge=False)
    table.add_column("entity", max_width=40, overflow="fold")
    table.add_column("label")
    table.add_column("count", justify="right")
    table.add_column("", no_wrap=True)
    if len(sources) > 1:
        table.add_column("sources", overflow="fold")
    largest = max(row.count for row in rows)
    for row in rows:
        # Text, not str: a "[" in a document must not be read as Rich markup.
        cells = [Text(row.text), row.label, str(row.count), Text(bar(row.count, largest), style=LABEL_STYLES.get(row.label, "blue"))]
        table.add_row(*cells, *([Text(", ".join(row.sources))] if len(sources) > 1 else []))
    console.print(table)


def print_facts(facts: list[Fact], console: Console, location: Callable[..., str] = offset_only) -> None:
    from rich.table import Table
    from rich.text import Text

    if not facts:
        console.print("no facts (check --label and --source)", style="yellow")
        return
    sources = sorted({fact.source for fact in facts})
    one_source = len(sources) == 1  # then named once, in the title, and each row says only where in it
    title = f"{len(facts):,} facts in {sources[0] if one_source else f'{len(sources):,} sources'}"
    table = Table(title=title, title_justify="left", title_style="bold", box=_box("SIMPLE_HEAD"), show_edge=False)
    table.add_column("figure", overflow="fold", max_width=30)
    table.add_column("label")
    table.add_column("value", justify="right", overflow="fold", max_width=30)
    table.add_column("where", overflow="fold", no_wrap=one_source, max_width=None if one_source else 30)
    table.add_column("sentence", overflow="fold", ratio=1)
    for fact in facts:
        where = location(fact.source, fact.start) if one_source else f"{fact.source}, {location(fact.source, fact.start)}"
        table.add_row(Text(fact.text), fact.label, format_value(fact), Text(where), Text(fact.sentence))
    console.print(table)


ENTITY_CSV_COLUMNS = ("text", "label", "count", "sources")
FACT_CSV_COLUMNS = ("text", "label", "value", "value_max", "unit", "source", "start", "end", "sentence", "date")


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def entities_csv(rows: list[EntityCount]) -> str:
    """CSV with a header; a row's sources are joined with "; "."""
    return _csv(ENTITY_CSV_COLUMNS, [{**entity_json(row), "sources": "; ".join(row.sources)} for row in rows])


def facts_csv(facts: list[Fact]) -> str:
    """CSV with a header, the columns of `facts --json`; an empty cell for a null."""
    return _csv(FACT_CSV_COLUMNS, [fact_json(fact) for fact in facts])


def print_build(report: BuildReport, console: Console) -> None:
    console.print(
        f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged; {report.chunks_embedded} chunks embedded, "
        f"{report.chunks_total} in the index ({report.seconds:.1f} s)"
    )
    for line in report.duplicates:
        console.print(f"note: {line}", style="yellow", markup=False)  # messages carry file names: "[x]" is not markup
    for line in report.errors:
        console.print(f"skipped: {line}", style="yellow", markup=False)


CHECK_STYLES = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


def print_checks(checks: list[Check], console: Console) -> None:
    """`regionqa doctor`: a table of checks, then the command that fixes each problem."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=_box("SIMPLE_HEAD"), show_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, Text(check.status, style=CHECK_STYLES[check.status]), Text(check.detail))
    console.print(table)
    problems = [check for check in checks if check.status != "OK"]
    if not problems:
        console.print("all checks passed", style="green")
        return
    console.print()
    console.print("To fix:", style="bold")
    for check in problems:
        console.print(
            Text.assemble(
                "  ", (check.status, CHECK_STYLES[check.status]), f" {check.name}: ", (check.fix or "see the detail above", "bold")
            )
        )


def print_history(rows: list[HistoryEntry], console: Console, path: object) -> None:
    """Past questions, newest first: when, the question, the answer and where it came from."""
    from rich.table import Table
    from rich.text import Text

    if not rows:
        console.print(f"no questions in the history ({path})", style="yellow", markup=False)
        return
    table = Table(box=_box("SIMPLE_HEAD"), show_edge=False)
    for column in ("asked (UTC)", "question", "answer", "where"):
        table.add_column(column, overflow="fold")
    for row in rows:
        where = f"{row.source}, {row.location}" if row.source else ""
        answer = Text(row.answer) if row.answer else Text(row.message or "no answer", style="dim")
        table.add_row(row.asked_at.replace("T", " ").removesuffix("+00:00"), Text(row.question), answer, Text(where))
    console.print(table)


def print_status(status: Status, console: Console) -> None:
    if status.problem:
        console.print(f"problem: {status.problem}", style="red", markup=False)
    if status.generation is None and not status.problem:  # a broken index has its own hint
        console.print(f"no index in {status.index_dir}; run: regionqa index build", markup=False)
    elif status.manifest:
        m = status.manifest
        console.print(f"index: {status.index_dir}/{status.generation} (built {m.created}, schema {m.schema_version})", markup=False)
        console.print(f"embedding model: {m.embedding_model}, {m.dimension}-d, weights sha256 {m.embedding_sha256[:12]}…")
        console.print(f"spaCy model: {m.spacy_model}; chunking: {m.chunking}")
        console.print(f"{m.sources} sources, {m.chunks} chunks")
        for source in status.sources:
            console.print(f"  {source.name}  ({source.chunks} chunks, {source.content_hash[:12]})", markup=False)
    stale = status.stale
    if status.missing_corpus:  # a build would fail, not bring the index up to date
        console.print(
            f"the corpus folder {status.missing_corpus} does not exist; pass the right one with --corpus-dir (or REGIONQA_CORPUS_DIR)",
            style="yellow",
            markup=False,
        )
    elif stale:
        console.print(
            f"stale: {len(stale.added)} new, {len(stale.changed)} changed, {len(stale.removed)} removed in the corpus; run: regionqa index build",
            style="yellow",
        )
    elif status.generation:
        console.print("up to date with the corpus", style="green")


def print_qa_report(report: QAReport, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Questions", title_justify="left")
    for column in ("id", "evidence rank", "EM", "F1", "answer", "gold"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(
            row["id"],
            str(row["evidence_rank"] or "-"),
            f"{row['em']:.0f}",
            f"{row['f1']:.2f}",
            str(row["prediction"]),
            " | ".join(row["gold"]) or "(unanswerable)",
        )
    console.print(table)
    r = report.evidence_recall
    console.print(
        f"questions {report.questions} ({report.answerable} answerable)  "
        f"evidence recall@1 {r['@1']:.3f} @3 {r['@3']:.3f} @5 {r['@5']:.3f}  MRR {report.mrr:.3f}"
    )
    console.print(f"exact match {report.exact_match:.3f}  F1 {report.f1:.3f}  abstained on answerable {report.abstention_rate:.3f}", end="")
    if report.unanswerable_abstained is not None:
        console.print(f"  abstained on unanswerable {report.unanswerable_abstained:.3f}", end="")
    console.print(f"\nlatency per question: p50 {report.latency_ms['p50']:.1f} ms, max {report.latency_ms['max']:.1f} ms")


def print_beir(result: dict, console: Console) -> None:
    """The BEIR retrieval metrics of `regionqa eval --beir`: one row per retriever."""
    from rich.table import Table

    table = Table(
        title=f"{result['dataset']} ({result['split']}, {result['queries']:,} queries, {result['documents']:,} documents)",
        title_justify="left",
    )
    table.add_column("retriever")
    for column in ("nDCG@10", "Recall@10", "Recall@100"):
        table.add_column(column, justify="right")
    for name, metrics in result["metrics"].items():
        table.add_row(name, f"{metrics['ndcg@10']:.4f}", f"{metrics['recall@10']:.4f}", f"{metrics['recall@100']:.4f}")
    console.print(table)
    s, index = result["settings"], result["index"]
    fusion = f"min-max, dense weight {s['dense_weight']}" if s["fusion"] == "minmax" else "reciprocal rank fusion"
    console.print(
        f"fusion: {fusion}; depth {s['depth']}; BM25 over {s['lexical']}s; chunks of at most {s['chunking']['max_tokens']} word pieces",
        style="dim",
    )
    built = (
        "reused"
        if index["reused"]
        else f"built in {index['build_seconds']:.1f} s ({index['documents_indexed']:,} documents, {index['chunks_embedded']:,} chunks embedded)"
    )
    console.print(f"index: {index['path']} ({index['chunks']:,} chunks), {built}", style="dim")
