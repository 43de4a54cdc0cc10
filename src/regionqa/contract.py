"""The JSON contract: every `--json` output and HTTP response, each shape defined once as a pydantic model.

The models give the keys, their order, their types and their documentation; `schemas/*.json` are
generated from them (schemas.py: `python -m regionqa.schemas schemas`, `make schemas`) and the API's OpenAPI
description comes from them. `Model.of(thing)` builds the output from the library's dataclass and
`.dump()` gives the JSON object, exactly as it is printed.

The models are built with `model_construct`, not validated: the values are the library's own (an
int stays an int, a float keeps its digits), so the JSON is what the dataclasses hold, and a request
to the API pays no validation. The tests validate real outputs against the generated schemas.

Importing pydantic costs about 0.1 s, a fifth of a cold `regionqa ask`: the cold commands (`ask`,
`entities`, `facts`) print through render.result_json / fact_json / entity_json instead, plain
functions that tests/test_schemas.py proves equal to these models' dumps.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import Answer, Hit, Result
from .render import offset_only

# ---------------------------------------------------------------- building a model from the library's data


class Out(BaseModel):
    """An output shape: every key always present (null, not missing, for no value), no others."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def of(cls, data: Any) -> typing.Self:
        """The output of a dataclass (its fields of the same names) or of a dict, nested models included."""
        return _construct(cls, asdict(data) if is_dataclass(data) else data)

    def dump(self) -> dict:
        """The JSON object, keys in the model's order (`render.dumps` prints it)."""
        return self.model_dump(by_alias=True)


def _construct(model: type[Out], data: dict) -> Out:
    """`model` holding `data` as it is (no validation, no conversion); a manifest's unknown keys are kept."""
    keys = {name: field.alias or name for name, field in model.model_fields.items()}
    fields = {name: _value(model.model_fields[name].annotation, data[key]) for name, key in keys.items() if key in data}
    extra = {key: value for key, value in data.items() if key not in keys.values()} if model.model_config.get("extra") == "allow" else {}
    return model.model_construct(**fields, **extra)


def _value(annotation: Any, value: Any) -> Any:
    """A value for a field of type `annotation`: dicts become the models the annotation names."""
    if value is None:
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _value(args[0], value)
    if origin in (typing.Union, type(int | None)):
        return _value(next(arg for arg in args if arg is not type(None)), value)
    if origin is list:
        return [_value(args[0], item) for item in value]
    if origin is dict:
        return {key: _value(args[1], item) for key, item in value.items()}
    if isinstance(annotation, type) and issubclass(annotation, Out) and isinstance(value, dict):
        return _construct(annotation, value)
    return value


def _pick(model: type[Out], thing: object, **values: Any) -> Out:
    """`model` from the attributes of the same names of `thing`, with `values` in place of some."""
    return model.model_construct(**{name: values[name] if name in values else getattr(thing, name) for name in model.model_fields})


# ---------------------------------------------------------------- ask, entities, facts (and the API)

SourceName = Annotated[str, Field(min_length=1, description="Path relative to the corpus folder, plus #id for a JSONL record.")]
Offset = Annotated[int, Field(ge=0, description="Character offset into the source's text.")]
Location = Annotated[
    str,
    Field(
        pattern=r"^(p\. [1-9][0-9]*|pp\. [1-9][0-9]*–[1-9][0-9]*|slide [1-9][0-9]*|slides [1-9][0-9]*–[1-9][0-9]*|(.+ )?row [1-9][0-9]*"
        r"|chapter [1-9][0-9]*(: .+)?|line [1-9][0-9]*|char [0-9]+)$",
        description='Where the span is, for a person to look up: "p. 3" (the page of a PDF or a scan, counting from 1; "pp. 3–4" for a '
        'passage that runs onto the next page), "slide 4" ("slides 4–5"), "Sheet1 row 12" (the row of a sheet as the spreadsheet '
        'numbers it; "row 12" in a CSV file), "chapter 2: Title" (of a book), or "line 11" (the line where it starts, in the text '
        "regionqa read from the file).",
    ),
]
Meta = Annotated[
    dict[str, str],
    Field(
        description="What the source says about itself, keys as known: url, title, author, date (YYYY-MM-DD, or YYYY-MM / YYYY), "
        "modified, and for email from, to, subject. An attachment also carries its message's from, to, subject and date."
    ),
]
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
Names = list[str]


class AnswerOut(Out):
    """The short answer: source_text[start:end] == text."""

    text: str = Field(min_length=1)
    score: Share = Field(description="Confidence in [0, 1].")
    source: SourceName
    start: Offset
    end: Offset
    sentence: str = Field(min_length=1, description="The sentence that supports the answer.")
    label: str = Field(description="The answer's type: PERSON, GPE, MONEY, QUANTITY, ...")
    location: Location
    meta: Meta

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return _pick(cls, answer, location=answer.location or offset_only(answer.source, answer.start))


class PassageOut(Out):
    """A retrieved passage (a chunk of a source) with its rank and fused score."""

    rank: int = Field(ge=1)
    score: float
    source: SourceName
    chunk_id: int = Field(ge=0)
    start: Offset
    end: Offset
    text: str = Field(min_length=1)
    location: Location
    meta: Meta

    @classmethod
    def of(cls, hit: Hit) -> PassageOut:
        chunk = hit.chunk
        location = hit.location or offset_only(chunk.source, chunk.start)
        return _pick(cls, chunk, rank=hit.rank, score=round(hit.score, 6), chunk_id=chunk.id, location=location, meta=hit.meta)


class FactOut(Out):
    """A figure of a source with its normalised value: source_text[start:end] == text."""

    text: str = Field(min_length=1)
    label: str = Field(min_length=1, description="MONEY, QUANTITY, PERCENT, CARDINAL, MULTIPLIER, DATE, ORDINAL, TIME.")
    value: float | None = Field(description="The value, or the low end of a range; null when it cannot be computed.")
    value_max: float | None = Field(description="The high end of a range, else null.")
    unit: str | None = Field(
        description="An ISO 4217 code for money (USD, AZN, KZT), t, fraction (0.172 for 17.2 percent), times, year, ..."
    )
    source: SourceName
    start: Offset
    end: Offset
    sentence: str = Field(description="The sentence the figure stands in.")
    date: str | None = Field(
        description="A DATE as ISO 8601 at the precision the text gives (2024, 2024-03, 2024-05-15) or an interval (2025/2027); "
        "a relative date (last year) is read against the source's own date; null when not a date or it cannot be resolved."
    )


class AskOut(Out):
    """One answered question: the short answer (or null with a message), the passages behind it and the facts that bear on it.
    Every span carries character offsets into its source's text: source_text[start:end] == text."""

    question: str = Field(min_length=1, description="The question as answered (whitespace collapsed).")
    answer: AnswerOut | None
    message: str | None = Field(description="Why there is no answer, when there is none.")
    passages: list[PassageOut]
    facts: list[FactOut]

    @classmethod
    def of(cls, result: Result) -> AskOut:
        answer = AnswerOut.of(result.answer) if result.answer is not None else None
        passages, facts = [PassageOut.of(hit) for hit in result.passages], [FactOut.of(fact) for fact in result.facts]
        return cls.model_construct(question=result.question, answer=answer, message=result.message or None, passages=passages, facts=facts)


class SearchOut(Out):
    """The passages for a question, without an answer (the MCP tool `search`)."""

    question: str = Field(min_length=1, description="The question as searched (whitespace collapsed).")
    passages: list[PassageOut]


class HighlightOut(Out):
    """A span of a passage to highlight: the answer, or a word of the question (as full-text search matched it)."""

    start: int = Field(ge=0, description="Character offset into the passage's text.")
    end: int = Field(ge=0)
    kind: Literal["answer", "term"]


class HighlightedAskOut(AskOut):
    """`POST /ask` as the web page asks it: the ask JSON plus, for each passage, the spans to highlight."""

    highlights: list[list[HighlightOut]] = Field(description="One list per passage, in the passages' order, sorted by start.")


class EntityOut(Out):
    """One distinct (text, label) of the corpus."""

    text: str = Field(min_length=1, description="The entity as written in the text.")
    label: str = Field(min_length=1, description="spaCy's label: PERSON, ORG, GPE, LOC, NORP, FAC, ...")
    count: int = Field(ge=1, description="Mentions in the corpus.")
    sources: list[SourceName] = Field(
        min_length=1, json_schema_extra={"uniqueItems": True}, description="The sources that mention it, sorted."
    )


class HistoryEntryOut(Out):
    """One question asked from the command line, as `regionqa history` keeps it."""

    id: int = Field(ge=1)
    asked_at: str = Field(description="When, in ISO 8601 UTC to the second.")
    question: str = Field(min_length=1)
    answer: str | None = Field(description="The short answer's text; null when there was none.")
    source: SourceName | None
    location: Location | None
    score: Share | None
    message: str | None = Field(description="Why there was no answer, when there was none.")
    generation: str = Field(description="The index generation that answered.")
    result: AskOut = Field(description="The whole `ask --json` object, as it was printed.")


class HealthOut(Out):
    """What `regionqa serve` is serving."""

    status: str
    version: str
    generation: str
    sources: int
    chunks: int
    encoder: str


class ErrorOut(Out):
    """Every error of the API."""

    error: str


# ---------------------------------------------------------------- index build, add, remove, status


class BuildReportOut(Out):
    """What a build did. Only new or changed sources are analysed and embedded."""

    added: Names = Field(description="Sources indexed for the first time (all of them after --full).")
    changed: Names = Field(description="Sources whose text changed: re-analysed and re-embedded.")
    removed: Names = Field(description="Sources gone from the corpus: dropped from the index.")
    unchanged: Names = Field(description="Sources kept as they were.")
    duplicates: Names = Field(description="Notes on sources with the same text as another, indexed once.")
    errors: Names = Field(description="Sources that could not be read, with the reason; they are skipped.")
    chunks_embedded: Count
    chunks_total: Count = Field(description="Chunks in the index after the build.")
    seconds: Seconds
    generation: str = Field(description="The index generation that answers now (unchanged when nothing changed).")


class AddReportOut(Out):
    """Which files were copied into the corpus, which were skipped and why, and the build that followed."""

    copied: Names = Field(description="Names in the corpus of the files copied in.")
    skipped: Names = Field(description="Files already in the corpus (same name and bytes, or same text), with the reason.")
    errors: Names = Field(description="Files that could not be added, with the reason.")
    build: BuildReportOut | None


Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class IndexFileOut(Out):
    sha256: Sha256
    size: Count


class ManifestOut(Out):
    """The index's manifest.json as written by the build (versioned by schema_version; new fields may appear)."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(ge=1)
    embedding_model: str
    embedding_sha256: Sha256
    dimension: int = Field(ge=1)
    spacy_model: str
    chunking: dict[str, Any] = Field(description="The chunk settings (max_tokens, overlap_sentences).")
    sources: Count
    chunks: Count
    created: str
    files: dict[str, IndexFileOut]
    vector_index: str = Field("flat", description="The FAISS index type: flat, hnsw or ivf.")


class IndexedSourceOut(Out):
    name: SourceName
    content_hash: Sha256
    chunks: Count


class StaleOut(Out):
    """Sources of the corpus folder new, changed or removed since the build: `regionqa index build` catches up."""

    added: Names
    changed: Names
    removed: Names


class StatusOut(Out):
    """What is indexed, with which models and settings, and what changed in the corpus since.
    Exit code 3 (and `problem`) when the index cannot be used."""

    index_dir: str
    generation: str | None = Field(description="The generation that answers; null when there is no index.")
    manifest: ManifestOut | None
    sources: list[IndexedSourceOut]
    stale: StaleOut
    problem: str | None = Field(description="Why the index cannot be used (corrupt, other models), with the command that fixes it.")


# ---------------------------------------------------------------- doctor


class CheckOut(Out):
    name: str = Field(
        min_length=1,
        description="embedding model, embedding weights, spaCy model, query encoder (ONNX), corpus, index, index manifest, "
        "index files, index freshness, python, packages.",
    )
    status: Literal["OK", "WARN", "FAIL"]
    detail: str = Field(description="What was found.")
    fix: str | None = Field(description="The command that fixes the problem; null when OK or when there is none.")


class DoctorOut(Out):
    """The checks of the models, the index and the versions. ok is false (and the exit code 1) when a check failed; warnings do not fail."""

    ok: bool
    checks: list[CheckOut] = Field(min_length=1)

    @classmethod
    def of_checks(cls, checks: list, ok: bool) -> DoctorOut:
        return cls.model_construct(ok=ok, checks=[CheckOut.of(check) for check in checks])


# ---------------------------------------------------------------- eval


class LatencyOut(Out):
    p50: Seconds
    max: Seconds
    mean: Seconds


class QARowOut(Out):
    id: str
    question: str
    gold: list[str]
    prediction: str | None
    score: float | None
    em: Share
    f1: Share
    evidence_rank: Annotated[int, Field(ge=1)] | None = Field(
        description="Rank of the first passage holding the evidence; null when none does."
    )
    latency_ms: Seconds


class QAReportOut(Out):
    """Answer quality on a QA file: exact match and F1 over answerable questions, evidence recall@k and MRR of the passages,
    abstention, latency; one row per question."""

    questions: int = Field(ge=1)
    answerable: Count = Field(description="Questions with at least one gold answer.")
    exact_match: Share
    f1: Share
    evidence_recall: dict[Annotated[str, Field(pattern="^@[0-9]+$")], Share] = Field(
        json_schema_extra={"additionalProperties": False},
        description="Share of questions whose evidence is in the top k passages: @1, @3, @5.",
    )
    mrr: Share
    abstention_rate: Share = Field(description="Share of answerable questions left without an answer.")
    unanswerable_abstained: Share | None = Field(
        description="Share of unanswerable questions correctly left without an answer; null when there are none."
    )
    latency_ms: LatencyOut
    rows: list[QARowOut]


class RetrievalOut(Out):
    ndcg_at_10: Share = Field(alias="ndcg@10")
    recall_at_10: Share = Field(alias="recall@10")
    recall_at_100: Share = Field(alias="recall@100")


class BeirSettingsOut(Out):
    fusion: str
    dense_weight: float
    depth: int
    lexical: str
    lexical_query: str
    second_chunk_bonus: float
    chunking: dict[str, Any]


class BeirIndexOut(Out):
    path: str
    generation: str
    reused: bool
    chunks: Count
    documents_indexed: Count
    chunks_embedded: Count
    build_seconds: Seconds
    documents_per_second: float | None
    chunks_per_second: float | None


class BeirSkippedOut(Out):
    documents_without_text: Count
    queries_without_text: Count
    duplicate_documents: Count


class BeirSecondsOut(Out):
    encode_queries: Seconds
    search: Seconds
    total: Seconds


class BeirOut(Out):
    """Retrieval quality on a BEIR folder: nDCG@10, Recall@10 and Recall@100 of each retriever, with the settings and the index used."""

    dataset: str
    folder: str
    split: str
    queries: Count
    documents: Count
    metrics: dict[str, RetrievalOut] = Field(min_length=1, description="Retriever name (dense, lexical, hybrid, ...) -> its metrics.")
    settings: BeirSettingsOut
    index: BeirIndexOut
    skipped: BeirSkippedOut
    seconds: BeirSecondsOut
