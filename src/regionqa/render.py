"""Turn results into JSON (a stable, documented schema) or human-readable terminal output.

Data goes to stdout; progress and messages go to stderr. Rich turns colour off when stdout
is not a terminal and honours NO_COLOR.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from .models import Answer, Fact, Hit, Result

if TYPE_CHECKING:
    from rich.console import Console

    from .evaluate import QAReport
    from .pipeline import BuildReport, EntityCount, Status


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------- JSON schemas


def answer_json(answer: Answer | None) -> dict | None:
    if answer is None:
        return None
    return {
        "text": answer.text, "score": answer.score, "source": answer.source, "start": answer.start,
        "end": answer.end, "sentence": answer.sentence, "label": answer.label,
    }  # fmt: skip


def passage_json(hit: Hit) -> dict:
    c = hit.chunk
    return {
        "rank": hit.rank, "score": round(hit.score, 6), "source": c.source, "chunk_id": c.id,
        "start": c.start, "end": c.end, "text": c.text,
    }  # fmt: skip


def fact_json(fact: Fact) -> dict:
    return {
        "text": fact.text, "label": fact.label, "value": fact.value, "value_max": fact.value_max,
        "unit": fact.unit, "source": fact.source, "start": fact.start, "end": fact.end, "sentence": fact.sentence,
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


def _location(source_text: str | None, start: int) -> str:
    """"line N" for a citation a person can follow."""
    if source_text is None:
        return f"char {start}"
    return f"line {source_text.count(chr(10), 0, start) + 1}"


def print_result(result: Result, console: Console, source_text=lambda name: None) -> None:
    from rich.table import Table
    from rich.text import Text

    answer = result.answer
    if answer is not None:
        console.print(Text.assemble(("Answer: ", "bold"), (answer.text, "bold green"), f"   (confidence {answer.score:.2f})"))
        sentence = Text(answer.sentence)
        offset = answer.start - answer.sentence_start
        sentence.stylize("bold green underline", offset, offset + len(answer.text))
        console.print(Text("  “") + sentence + Text("”"))
        console.print(f"  — {answer.source}, {_location(source_text(answer.source), answer.start)}, chars {answer.start}–{answer.end}", style="dim")
    else:
        console.print(Text.assemble(("No answer: ", "bold yellow"), result.message or "the corpus does not say"))
    console.print()
    console.print("Passages", style="bold")
    for hit in result.passages:
        c = hit.chunk
        where = f"{c.source}, {_location(source_text(c.source), c.start)}, chars {c.start}–{c.end}"
        console.print(Text.assemble((f"[{hit.rank}] ", "bold"), (where, "cyan"), (f"  score {hit.score:.3f}", "dim")))
        console.print(f"    {c.text}")
    if result.facts:
        console.print()
        table = Table(title="Facts", title_justify="left", title_style="bold")
        for column in ("fact", "label", "value", "source"):
            table.add_column(column)
        for fact in result.facts:
            table.add_row(fact.text, fact.label, format_value(fact), f"{fact.source}:{fact.start}")
        console.print(table)


def format_value(fact: Fact) -> str:
    if fact.value is None:
        return ""

    def one(v: float) -> str:
        if fact.unit == "fraction":
            return f"{v:.4g}"
        return f"{v:,.10g}"

    text = one(fact.value) if fact.value_max is None else f"{one(fact.value)} – {one(fact.value_max)}"
    return f"{text} {fact.unit}" if fact.unit else text


def print_entities(rows: list[EntityCount], console: Console) -> None:
    from rich.table import Table

    table = Table()
    for column in ("entity", "label", "count", "sources"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in rows:
        table.add_row(row.text, row.label, str(row.count), ", ".join(row.sources))
    console.print(table)


def print_facts(facts: list[Fact], console: Console) -> None:
    from rich.table import Table

    table = Table()
    for column in ("figure", "label", "value", "source", "sentence"):
        table.add_column(column, overflow="fold")
    for fact in facts:
        table.add_row(fact.text, fact.label, format_value(fact), f"{fact.source}:{fact.start}-{fact.end}", fact.sentence)
    console.print(table)


def print_build(report: BuildReport, console: Console) -> None:
    console.print(
        f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged; {report.chunks_embedded} chunks embedded, "
        f"{report.chunks_total} in the index ({report.seconds:.1f} s)"
    )
    for line in report.duplicates:
        console.print(f"note: {line}", style="yellow")
    for line in report.errors:
        console.print(f"skipped: {line}", style="yellow")


def print_status(status: Status, console: Console) -> None:
    if status.problem:
        console.print(f"problem: {status.problem}", style="red")
    if status.generation is None:
        console.print(f"no index in {status.index_dir}; run: regionqa index build")
    elif status.manifest:
        m = status.manifest
        console.print(f"index: {status.index_dir}/{status.generation} (built {m['created']}, schema {m['schema_version']})")
        console.print(f"embedding model: {m['embedding_model']}, {m['dimension']}-d, weights sha256 {m['embedding_sha256'][:12]}…")
        console.print(f"spaCy model: {m['spacy_model']}; chunking: {m['chunking']}")
        console.print(f"{m['sources']} sources, {m['chunks']} chunks")
        for source in status.sources:
            console.print(f"  {source['name']}  ({source['chunks']} chunks, {source['content_hash'][:12]})")
    stale = status.stale
    if any(stale.values()):
        console.print(f"stale: {len(stale['added'])} new, {len(stale['changed'])} changed, {len(stale['removed'])} removed in the corpus; run: regionqa index build", style="yellow")
    elif status.generation:
        console.print("up to date with the corpus", style="green")


def print_qa_report(report: QAReport, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Questions", title_justify="left")
    for column in ("id", "evidence rank", "EM", "F1", "answer", "gold"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(row["id"], str(row["evidence_rank"] or "-"), f"{row['em']:.0f}", f"{row['f1']:.2f}", str(row["prediction"]), " | ".join(row["gold"]) or "(unanswerable)")
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

    table = Table(title=f"{result['dataset']} ({result['split']}, {result['queries']:,} queries, {result['documents']:,} documents)", title_justify="left")
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
    built = "reused" if index["reused"] else f"built in {index['build_seconds']:.1f} s ({index['documents_indexed']:,} documents, {index['chunks_embedded']:,} chunks embedded)"
    console.print(f"index: {index['path']} ({index['chunks']:,} chunks), {built}", style="dim")
