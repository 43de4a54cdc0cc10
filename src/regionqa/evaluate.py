"""Evaluation: answer quality on a QA file (SQuAD EM/F1, evidence recall, MRR, abstention)
and retrieval quality on a BEIR folder (nDCG@10, Recall@10/100 for dense, lexical and fused).
"""

from __future__ import annotations

import collections
import json
import math
import re
import statistics
import string
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import BadInputError
from .figures import format_number, parse_number

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"“", "”", "’", "‘", "–", "—"}


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces), with number
    words written as digits so that "five" and "5" compare equal."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT and ch not in ".," else ch for ch in text)
    words = []
    for word in text.split():
        word = word.strip(".,")
        if not word:
            continue
        number = parse_number(word)
        words.append(format_number(number) if number is not None else word.replace(",", "").replace(".", ""))
    text = " ".join(words)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: Iterable[str]) -> float:
    return max((float(normalize_answer(prediction) == normalize_answer(g)) for g in gold), default=0.0)


def f1_score(prediction: str, gold: Iterable[str]) -> float:
    """Token F1 against the best of the gold answers, as SQuAD scores it."""
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for answer in gold:
        truth = normalize_answer(answer).split()
        common = collections.Counter(predicted) & collections.Counter(truth)
        same = sum(common.values())
        if same == 0:
            continue
        precision, recall = same / len(predicted), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _squash(text: str) -> str:
    """Compare evidence ignoring quote styles, dashes and spacing."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(str.maketrans({"“": '"', "”": '"', "’": "'", "‘": "'", "–": "-", "—": "-"}))
    return " ".join(text.split())


@dataclass
class QAItem:
    id: str
    question: str
    answers: list[str]
    evidence: str | None


def read_qa_file(path: Path) -> list[QAItem]:
    """Read `{"id","question","answers","evidence"}` lines; `answers: []` marks an unanswerable question."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(QAItem(str(row.get("id", number)), row["question"], list(row.get("answers") or []), row.get("evidence")))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BadInputError(f'{path} line {number}: expected {{"id","question","answers","evidence"}} ({error})') from None
    if not items:
        raise BadInputError(f"{path}: no questions in the file")
    return items


@dataclass
class QAReport:
    questions: int
    answerable: int
    exact_match: float
    f1: float
    evidence_recall: dict[str, float]
    mrr: float
    abstention_rate: float  # share of answerable questions with no answer
    unanswerable_abstained: float | None  # share of unanswerable questions correctly abstained
    latency_ms: dict[str, float]
    rows: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_qa(items: list[QAItem], ask: Callable[[str], object], ks: tuple[int, ...] = (1, 3, 5)) -> QAReport:
    """Run every question through `ask` (an Engine.ask bound to top_k >= max(ks)) and score it."""
    rows = []
    latencies = []
    for item in items:
        started = time.perf_counter()
        result = ask(item.question)
        latencies.append((time.perf_counter() - started) * 1000)
        prediction = result.answer.text if result.answer else ""
        rank = None
        if item.evidence:
            wanted = _squash(item.evidence)
            rank = next((hit.rank for hit in result.passages if wanted in _squash(hit.chunk.text)), None)
        rows.append(
            {
                "id": item.id,
                "question": item.question,
                "gold": item.answers,
                "prediction": result.answer.text if result.answer else None,
                "score": result.answer.score if result.answer else None,
                "em": exact_match(prediction, item.answers) if item.answers and result.answer else 0.0,
                "f1": f1_score(prediction, item.answers) if item.answers and result.answer else 0.0,
                "evidence_rank": rank,
                "latency_ms": round(latencies[-1], 1),
            }
        )
    answerable = [r for r in rows if r["gold"]]
    unanswerable = [r for r in rows if not r["gold"]]
    with_evidence = [r for r in answerable if r["gold"]] if any(i.evidence for i in items) else []
    n = max(len(answerable), 1)
    recall = {
        f"@{k}": sum(1 for r in with_evidence if r["evidence_rank"] and r["evidence_rank"] <= k) / max(len(with_evidence), 1) for k in ks
    }
    mrr = sum(1 / r["evidence_rank"] for r in with_evidence if r["evidence_rank"]) / max(len(with_evidence), 1)
    latencies.sort()
    return QAReport(
        questions=len(rows),
        answerable=len(answerable),
        exact_match=sum(r["em"] for r in answerable) / n,
        f1=sum(r["f1"] for r in answerable) / n,
        evidence_recall=recall,
        mrr=mrr,
        abstention_rate=sum(1 for r in answerable if r["prediction"] is None) / n,
        unanswerable_abstained=(sum(1 for r in unanswerable if r["prediction"] is None) / len(unanswerable)) if unanswerable else None,
        latency_ms={"p50": statistics.median(latencies), "max": latencies[-1], "mean": statistics.fmean(latencies)},
        rows=rows,
    )


# ---------------------------------------------------------------- BEIR


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance (BEIR / pytrec_eval definition: gain = relevance, log2 discount)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    positives = {doc for doc, rel in relevant.items() if rel > 0}
    return len(positives & set(ranked[:k])) / len(positives) if positives else 0.0


# ---------------------------------------------------------------- BEIR: retrieval on a benchmark folder

BEIR_RETRIEVERS = ("dense", "lexical", "fused")
BEIR_METRICS = ("ndcg@10", "recall@10", "recall@100")
BEIR_RUN_LENGTH = 100  # documents kept per query and retriever: enough for Recall@100
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# The tokenizer of the store's chunks_fts table, so that document-level and chunk-level BM25 stem alike.
_FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


@dataclass(frozen=True)
class BeirOptions:
    """How chunk results become one ranking of documents; the fusion itself comes from Settings.retrieval.

    A document scores as its best chunk (plus `second_chunk_bonus` times its second best): a
    long abstract is split into several chunks, so its tail is searched too. The defaults are
    the best on SciFact train (809 queries); see `regionqa eval --beir`.
    """

    depth: int = 300  # chunks from the dense retriever (more if they cover < 100 documents); documents (or chunks) from BM25
    lexical: str = "document"  # BM25 over whole documents ("document") or over chunks, best chunk per document ("chunk")
    # "bm25": any content word or number of the query (plain BM25); "project": search.match_expression
    # as `ask` uses it (adds NEAR pairs of neighbouring words: -0.026 nDCG@10 for BM25 on SciFact train).
    lexical_query: str = "bm25"
    second_chunk_bonus: float = 0.0

    def __post_init__(self) -> None:
        if self.depth < BEIR_RUN_LENGTH:
            raise ValueError(f"depth must be at least {BEIR_RUN_LENGTH}; got {self.depth}")
        if self.lexical not in ("document", "chunk"):
            raise ValueError(f"lexical must be 'document' or 'chunk'; got {self.lexical!r}")
        if self.lexical_query not in ("bm25", "project"):
            raise ValueError(f"lexical_query must be 'bm25' or 'project'; got {self.lexical_query!r}")
        if not 0.0 <= self.second_chunk_bonus <= 1.0:
            raise ValueError(f"second_chunk_bonus must be between 0 and 1; got {self.second_chunk_bonus}")


@dataclass
class BeirData:
    name: str
    documents: list  # Source objects: name = _id, text = title + "\n" + text
    queries: dict[str, str]  # query id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}
    skipped_documents: int = 0  # without any text
    skipped_queries: int = 0  # judged in the split but missing (or empty) in queries.jsonl


def _jsonl_rows(path: Path):
    """(line number, object) for each non-empty line; BadInputError naming the line when one is not an object with an _id."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise BadInputError(f"{path} line {number}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict) or "_id" not in row:
                    raise BadInputError(f'{path} line {number}: expected an object with an "_id" field')
                yield number, row
        except UnicodeDecodeError as error:
            raise BadInputError(f"{path}: not UTF-8 text ({error.reason}); BEIR files are UTF-8") from None


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or (number == 1 and fields[0] == "query-id"):
            continue
        try:
            query_id, doc_id, score = fields[0].strip(), fields[1].strip(), int(fields[2])
        except (IndexError, ValueError):
            raise BadInputError(f"{path} line {number}: expected query-id, corpus-id and an integer score separated by tabs") from None
        qrels.setdefault(query_id, {})[doc_id] = score
    if not qrels:
        raise BadInputError(f"{path}: no relevance judgements in the file")
    return qrels


def read_beir(folder: Path, split: str) -> BeirData:
    """Read a BEIR folder: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv."""
    from .models import Source
    from .sources import content_hash

    if not folder.is_dir():
        raise BadInputError(f"the BEIR folder {folder} does not exist")
    if not _SPLIT_NAME.match(split):
        raise BadInputError(f"--split must be a plain name such as test, dev or train; got {split!r}")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise BadInputError(f"{qrels_path} does not exist; splits in {folder}: {', '.join(available) or 'none'}")
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise BadInputError(f"{folder / required} does not exist; a BEIR folder has corpus.jsonl, queries.jsonl and qrels/")
    qrels = _read_qrels(qrels_path)
    documents = []
    seen: set[str] = set()
    skipped_documents = 0
    for number, row in _jsonl_rows(folder / "corpus.jsonl"):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise BadInputError(f"{folder / 'corpus.jsonl'} line {number}: the _id {doc_id!r} is used twice")
        seen.add(doc_id)
        title, body = str(row.get("title") or "").strip(), str(row.get("text") or "").strip()
        text = f"{title}\n{body}" if title and body else title or body
        if not text:
            skipped_documents += 1
            continue
        documents.append(Source(name=doc_id, text=text, content_hash=content_hash(text), title=title))
    texts = {str(row["_id"]): str(row.get("text") or "").strip() for _, row in _jsonl_rows(folder / "queries.jsonl")}
    queries = {query_id: texts[query_id] for query_id in qrels if texts.get(query_id)}
    return BeirData(
        name=folder.resolve().name, documents=documents, queries=queries, qrels=qrels,
        skipped_documents=skipped_documents, skipped_queries=len(qrels) - len(queries),
    )  # fmt: skip


def beir_index_dir(folder: Path) -> Path:
    """The BEIR folder's own index: <per-user data folder>/beir/<folder name>.

    Never in the project or beside the user's index: it holds the benchmark's text, and benchmark
    licences (SciFact: CC BY-NC) keep that out of anything a checkout could commit or ship.
    """
    from .config import user_data_dir

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(folder).resolve().name) or "corpus"
    return user_data_dir() / "beir" / name


def _build_progress(notify: Callable[[str], None], every: float = 15.0):
    """A pipeline Progress callback that reports to `notify` at most every `every` seconds, and at the end."""
    started = last = time.perf_counter()
    state = {"analysed": 0, "embedded": 0, "total": 0}

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal last
        state[stage] = done
        if total > 0:
            state["total"] = total
        now = time.perf_counter()
        if now - last >= every or (stage == "analysed" and done == total):
            last = now
            notify(
                f"  analysed {state['analysed']:,}/{state['total']:,} documents, embedded {state['embedded']:,} chunks ({now - started:.0f} s)"
            )

    return progress


def _build_beir_index(settings, data: BeirData, notify: Callable[[str], None]):
    """Index the BEIR documents with the project's pipeline; an index built with other settings is rebuilt."""
    from dataclasses import replace

    from . import pipeline
    from . import store as store_mod
    from .errors import IndexStateError

    full = False
    previous = store_mod.current_generation(settings.index_dir)
    if previous is not None:
        try:
            store_mod.check_compatible(store_mod.read_manifest(previous), pipeline.expected_manifest(settings))
        except IndexStateError:
            notify(f"the index in {settings.index_dir} was built with other models or chunk settings: rebuilding it")
            full = True
    # Queries are encoded here with sentence-transformers: the ONNX query encoder `ask` uses is not needed.
    models = replace(pipeline.real_models(settings), export_query_encoder=False)
    return pipeline.build_sources(settings, data.documents, full=full, progress=_build_progress(notify), models=models)


class DocumentBM25:
    """BM25 over whole documents: an in-memory FTS5 table of the indexed sources, same tokenizer as the chunks."""

    def __init__(self, store) -> None:
        import sqlite3

        from .search import number_tokens

        self.db = sqlite3.connect(":memory:")
        self.db.execute(f"CREATE VIRTUAL TABLE docs USING fts5(name UNINDEXED, text, numbers, tokenize = '{_FTS_TOKENIZER}')")
        rows = store.db.execute("SELECT name, text FROM sources").fetchall()
        self.db.executemany(
            "INSERT INTO docs (name, text, numbers) VALUES (?, ?, ?)", [(n, t, " ".join(number_tokens(t))) for n, t in rows]
        )

    def search(self, match: str, k: int) -> list[tuple[str, float]]:
        if not match:
            return []
        rows = self.db.execute("SELECT name, -bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?", (match, k))
        return [(r[0], float(r[1])) for r in rows]

    def close(self) -> None:
        self.db.close()


@dataclass
class BeirCandidates:
    """What the retrievers returned for each query, before documents are ranked (kept for tuning)."""

    dense: list[list[tuple[int, float]]]  # chunk id, cosine; best first
    lexical: list[list[tuple]]  # (chunk id or document name, BM25), best first
    lexical_unit: str
    source_of: dict[int, str]  # chunk id -> document name


def bm25_expression(query: str) -> str:
    """An FTS5 MATCH expression for plain BM25: any content word of the query, or any canonical number."""
    from .search import number_tokens, query_terms

    words = " OR ".join(f'"{term}"' for term in query_terms(query))
    numbers = " OR ".join(f'"{token}"' for token in dict.fromkeys(number_tokens(query)))
    parts = ([f"text : ({words})"] if words else []) + ([f"numbers : ({numbers})"] if numbers else [])
    return " OR ".join(parts)


def _dense_hits(store, vector, depth: int, source_of: dict[int, str]) -> list[tuple[int, float]]:
    """The best `depth` chunks, or more when they come from fewer than BEIR_RUN_LENGTH documents."""
    while True:
        hits = store.dense_search(vector, depth)
        if len(hits) < depth or len({source_of.get(i) for i, _ in hits}) >= BEIR_RUN_LENGTH:
            return hits
        depth *= 2


def beir_candidates(store, texts: list[str], vectors, options: BeirOptions) -> BeirCandidates:
    """Dense and BM25 candidates of every query, `options.depth` deep."""
    from .search import match_expression as project_expression

    match_expression = bm25_expression if options.lexical_query == "bm25" else project_expression
    source_of = dict(store.db.execute("SELECT id, source FROM chunks"))
    dense = [_dense_hits(store, vector, options.depth, source_of) for vector in vectors]
    if options.lexical == "document":
        bm25 = DocumentBM25(store)
        try:
            lexical = [bm25.search(match_expression(text), options.depth) for text in texts]
        finally:
            bm25.close()
    else:
        lexical = [store.lexical_search(match_expression(text), options.depth) for text in texts]
    return BeirCandidates(dense, lexical, options.lexical, source_of)


def documents_from_chunks(
    hits: list[tuple[int, float]], source_of: dict[int, str], second_chunk_bonus: float = 0.0
) -> list[tuple[str, float]]:
    """Chunk hits to documents: best chunk score, plus a share of the second best; best first, ties by name."""
    top: dict[str, list[float]] = {}
    for chunk_id, score in hits:
        name = source_of.get(chunk_id)
        if name is not None:
            scores = top.setdefault(name, [])
            scores.append(score)
    ranked = []
    for name, scores in top.items():
        scores.sort(reverse=True)
        ranked.append((name, scores[0] + (second_chunk_bonus * scores[1] if len(scores) > 1 else 0.0)))
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def rank_documents(candidates: BeirCandidates, retrieval, options: BeirOptions) -> dict[str, list[list[str]]]:
    """Per retriever, per query: document ids, best first, at most BEIR_RUN_LENGTH."""
    from .search import fuse

    runs: dict[str, list[list[str]]] = {name: [] for name in BEIR_RETRIEVERS}
    for dense_hits, lexical_hits in zip(candidates.dense, candidates.lexical, strict=True):
        dense = documents_from_chunks(dense_hits, candidates.source_of, options.second_chunk_bonus)
        if candidates.lexical_unit == "chunk":
            lexical = documents_from_chunks(lexical_hits, candidates.source_of, options.second_chunk_bonus)
        else:
            lexical = list(lexical_hits)
        # Fusion over every candidate document, so min-max scaling sees the whole depth.
        fused = fuse(dense, lexical, retrieval) if dense and lexical else dense or lexical
        for name, ranking in (("dense", dense), ("lexical", lexical), ("fused", fused)):
            runs[name].append([doc for doc, _ in ranking[:BEIR_RUN_LENGTH]])
    return runs


def score_runs(runs: dict[str, list[list[str]]], query_ids: list[str], qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """Mean nDCG@10, Recall@10 and Recall@100 of each retriever over the queries."""
    metrics = {}
    n = max(len(query_ids), 1)
    for name, rankings in runs.items():
        totals = dict.fromkeys(BEIR_METRICS, 0.0)
        for query_id, ranked in zip(query_ids, rankings, strict=True):
            relevant = qrels[query_id]
            totals["ndcg@10"] += ndcg_at_k(ranked, relevant, 10)
            totals["recall@10"] += recall_at_k(ranked, relevant, 10)
            totals["recall@100"] += recall_at_k(ranked, relevant, 100)
        metrics[name] = {key: value / n for key, value in totals.items()}
    return metrics


def evaluate_beir(
    beir_dir: Path,
    split: str,
    settings,
    notify: Callable[[str], None] | None = None,
    options: BeirOptions = BeirOptions(),
    index_dir: Path | None = None,
) -> dict:
    """Retrieval quality on a BEIR folder: nDCG@10, Recall@10 and Recall@100 of dense, lexical and fused search.

    The documents go through the project's own pipeline (sentence chunks, MiniLM, FTS5) into their
    own index, `index_dir` or `beir_index_dir(folder)` (the per-user data folder), which later runs reuse while
    the documents and settings are unchanged. Progress goes to `notify`; the result is a JSON-ready dict.
    """
    from dataclasses import replace

    from . import store as store_mod
    from .embedding import encode
    from .pipeline import expected_manifest

    say = notify or (lambda message: None)
    started = time.perf_counter()
    folder = Path(beir_dir)
    data = read_beir(folder, split)
    if not data.documents:
        raise BadInputError(f"{folder / 'corpus.jsonl'}: no document with text")
    if not data.queries:
        raise BadInputError(f"no query judged in qrels/{split}.tsv has a text in {folder / 'queries.jsonl'}")
    beir_settings = replace(settings, index_dir=Path(index_dir) if index_dir else beir_index_dir(folder))
    say(
        f"BEIR {data.name}, split {split}: {len(data.documents):,} documents, {len(data.queries):,} queries; index {beir_settings.index_dir}"
    )
    report = _build_beir_index(beir_settings, data, say)
    built = len(report.added) + len(report.changed)
    if built or report.removed:
        say(f"indexed {built:,} documents, {report.chunks_embedded:,} chunks in {report.seconds:.1f} s")
    else:
        say(f"reusing the index ({report.chunks_total:,} chunks; documents and settings unchanged)")
    store = store_mod.open_store(beir_settings.index_dir, expected_manifest(beir_settings))
    try:
        query_ids = list(data.queries)
        texts = [data.queries[q] for q in query_ids]
        t0 = time.perf_counter()
        vectors = encode(texts, batch_size=settings.embed_batch_size)
        t1 = time.perf_counter()
        say(f"encoded {len(texts):,} queries in {t1 - t0:.1f} s; searching…")
        candidates = beir_candidates(store, texts, vectors, options)
        runs = rank_documents(candidates, settings.retrieval, options)
        t2 = time.perf_counter()
    finally:
        store.close()
    seconds = report.seconds if built else 0.0
    return {
        "dataset": data.name,
        "folder": str(folder),
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.documents),
        "metrics": score_runs(runs, query_ids, data.qrels),
        "settings": {
            "fusion": settings.retrieval.method,
            "dense_weight": settings.retrieval.dense_weight,
            "depth": options.depth,
            "lexical": options.lexical,
            "lexical_query": options.lexical_query,
            "second_chunk_bonus": options.second_chunk_bonus,
            "chunking": asdict(settings.chunking),
        },
        "index": {
            "path": str(beir_settings.index_dir),
            "generation": report.generation,
            "reused": not (built or report.removed),
            "chunks": report.chunks_total,
            "documents_indexed": built,
            "chunks_embedded": report.chunks_embedded,
            "build_seconds": round(report.seconds, 2),
            "documents_per_second": round(built / seconds, 2) if seconds else None,
            "chunks_per_second": round(report.chunks_embedded / seconds, 2) if seconds else None,
        },
        "skipped": {
            "documents_without_text": data.skipped_documents,
            "queries_without_text": data.skipped_queries,
            "duplicate_documents": len(report.duplicates),
        },
        "seconds": {"encode_queries": round(t1 - t0, 2), "search": round(t2 - t1, 2), "total": round(time.perf_counter() - started, 2)},
    }
