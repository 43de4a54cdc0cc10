"""Retrieval quality on a BEIR folder: nDCG@10 and Recall@10/100 of dense, lexical and fused search,
through the project's own pipeline and index."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import store as store_mod
from ..errors import BadInputError, IndexStateError
from ..indexing import build_sources, expected_manifest, real_models
from .beir_data import BeirData, beir_index_dir, ndcg_at_k, read_beir, recall_at_k

BEIR_RETRIEVERS = ("dense", "lexical", "fused")


BEIR_METRICS = ("ndcg@10", "recall@10", "recall@100")


BEIR_RUN_LENGTH = 100  # documents kept per query and retriever: enough for Recall@100


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


def _build_progress(notify: Callable[[str], None], every: float = 15.0):
    """A build progress callback that reports to `notify` at most every `every` seconds, and at the end."""
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


def _copies(documents) -> dict[str, list[str]]:
    """{the document a build keeps: the ids of the later ones with the same text}, which it does not index
    (indexing.build_sources keeps the first of identical texts)."""
    first: dict[str, str] = {}
    copies: dict[str, list[str]] = {}
    for document in documents:
        kept = first.setdefault(document.content_hash, document.name)
        if kept != document.name:
            copies.setdefault(kept, []).append(document.name)
    return copies


def with_copies(runs: dict[str, list[list[str]]], copies: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    """Each ranking with the copies of a document right after it (their text, so their score, is the same):
    a qrel that names a copy is found where its text was retrieved."""
    if not copies:
        return runs
    return {name: [[i for d in ranked for i in (d, *copies.get(d, ()))] for ranked in rankings] for name, rankings in runs.items()}


def _build_beir_index(settings, data: BeirData, notify: Callable[[str], None]):
    """Index the BEIR documents with the project's pipeline; an index built with other settings is rebuilt."""
    full = False
    previous = store_mod.current_generation(settings.index_dir)
    if previous is not None:
        try:
            store_mod.check_compatible(store_mod.read_manifest(previous), expected_manifest(settings))
        except IndexStateError:
            notify(f"the index in {settings.index_dir} was built with other models or chunk settings: rebuilding it")
            full = True
    # Queries are encoded here with sentence-transformers: the ONNX query encoder `ask` uses is not needed.
    models = replace(real_models(settings), export_query_encoder=False)
    report = build_sources(settings, data.documents, full=full, progress=_build_progress(notify), models=models)
    if report.duplicates:
        notify(f"{len(report.duplicates):,} documents have the same text as another, indexed once: each is ranked beside that one")
    return report


@dataclass
class BeirCandidates:
    """What the retrievers returned for each query, before documents are ranked (kept for tuning)."""

    dense: list[list[tuple[int, float]]]  # chunk id, cosine; best first
    lexical: list[list[tuple]]  # (chunk id or document name, BM25), best first
    lexical_unit: str
    source_of: dict[int, str]  # chunk id -> document name


def bm25_expression(query: str) -> str:
    """An FTS5 MATCH expression for plain BM25: any content word of the query, or any canonical number."""
    from ..search import match_expression

    return match_expression(query, near=False)


def _dense_hits(store, vector, depth: int, source_of: dict[int, str]) -> list[tuple[int, float]]:
    """The best `depth` chunks, or more when they come from fewer than BEIR_RUN_LENGTH documents."""
    while True:
        hits = store.dense_search(vector, depth)
        if len(hits) < depth or len({source_of.get(i) for i, _ in hits}) >= BEIR_RUN_LENGTH:
            return hits
        depth *= 2


def beir_candidates(store, texts: list[str], vectors, options: BeirOptions) -> BeirCandidates:
    """Dense and BM25 candidates of every query, `options.depth` deep."""
    from ..search import match_expression as project_expression
    from ..search import number_tokens

    match_expression = bm25_expression if options.lexical_query == "bm25" else project_expression
    source_of = store.chunk_sources()
    dense = [_dense_hits(store, vector, options.depth, source_of) for vector in vectors]
    if options.lexical == "document":
        bm25 = store_mod.DocumentBM25((name, text, " ".join(number_tokens(text))) for name, text in store.source_texts())
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
    from ..search import fuse

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
    from ..embedding import encode

    say = notify or (lambda message: None)
    started = time.perf_counter()
    folder = Path(beir_dir)
    data = _read_checked(folder, split)
    beir_settings = replace(settings, index_dir=Path(index_dir) if index_dir else beir_index_dir(folder, settings.data_dir))
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
        runs = with_copies(rank_documents(candidates, settings.retrieval, options), _copies(data.documents))
        t2 = time.perf_counter()
    finally:
        store.close()
    timing = {"encode_queries": round(t1 - t0, 2), "search": round(t2 - t1, 2), "total": round(time.perf_counter() - started, 2)}
    return {
        "dataset": data.name,
        "folder": str(folder),
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.documents),
        "metrics": score_runs(runs, query_ids, data.qrels),
        "settings": _settings_used(settings, options),
        "index": _index_used(beir_settings.index_dir, report),
        "skipped": {
            "documents_without_text": data.skipped_documents,
            "queries_without_text": data.skipped_queries,
            "duplicate_documents": len(report.duplicates),
        },
        "seconds": timing,
    }


def _read_checked(folder: Path, split: str) -> BeirData:
    """The BEIR folder's documents and judged queries; BadInputError when either is empty."""
    data = read_beir(folder, split)
    if not data.documents:
        raise BadInputError(f"{folder / 'corpus.jsonl'}: no document with text")
    if not data.queries:
        raise BadInputError(f"no query judged in qrels/{split}.tsv has a text in {folder / 'queries.jsonl'}")
    return data


def _settings_used(settings, options: BeirOptions) -> dict:
    """The retrieval settings a BEIR result was measured with."""
    return {
        "fusion": settings.retrieval.method,
        "dense_weight": settings.retrieval.dense_weight,
        "depth": options.depth,
        "lexical": options.lexical,
        "lexical_query": options.lexical_query,
        "second_chunk_bonus": options.second_chunk_bonus,
        "chunking": asdict(settings.chunking),
    }


def _index_used(index_dir: Path, report) -> dict:
    """The BEIR index a result came from, and what building it cost (zero when it was reused)."""
    built = len(report.added) + len(report.changed)
    seconds = report.seconds if built else 0.0
    return {
        "path": str(index_dir),
        "generation": report.generation,
        "reused": not (built or report.removed),
        "chunks": report.chunks_total,
        "documents_indexed": built,
        "chunks_embedded": report.chunks_embedded,
        "build_seconds": round(report.seconds, 2),
        "documents_per_second": round(built / seconds, 2) if seconds else None,
        "chunks_per_second": round(report.chunks_embedded / seconds, 2) if seconds else None,
    }
