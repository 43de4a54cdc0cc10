"""Index build throughput: a full build against the same encoder embedding the same chunks alone.

    .venv/bin/python benchmarks/bench_build.py [--limit N] [--skip-article] [--skip-scifact]

For the BEIR SciFact corpus (../shared/bench/scifact/corpus.jsonl, read in place, never copied;
documents as `regionqa eval --beir` makes them: title, a line end, the abstract) and for the
article (corpus/azerbaijan-central-asia.txt), in one process:

1. load the models first (sentence-transformers, spaCy, the tokenizer), timed apart, so that
   both sides below start warm;
2. a full `indexing.build_sources` into a temporary index, with the stages timed by wrapping
   what the build calls: spaCy analysis (nlp.analyse_sources, consumed lazily), chunking
   (chunk_source with its word-piece counting), embedding (the encoder), SQLite (inserts,
   deletes), FAISS (reading the vectors back and building the index), the manifest (file
   hashes) and publishing (fsync); the rest is "other" (contexts, number tokens, bookkeeping);
3. the same encoder embedding the texts that build embedded (read back from the index: each
   chunk with its context), same batch size, in one call: the floor a build cannot go under.

Prints total seconds, the ratio build / embedding alone (issue 4's target: <= 1.3) in wall time
and in CPU time (all threads of this process: steadier than wall time when other jobs share the
machine, which stretches both sides but not always alike), the wall time
per stage (the build analyses one batch while a worker thread embeds the previous one, so the
stages overlap), documents/s and chunks/s, and the peak resident memory of the process after each
build. The ONNX query-encoder export that a real build runs once per index folder is switched
off: it is a fixed cost (~30 s, once) unrelated to corpus size. --limit N takes the first N
SciFact documents for a quick check (the full corpus, 5,183 documents, takes ~15-20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "bench" / "scifact"
ARTICLE = REPO / "corpus" / "azerbaijan-central-asia.txt"
STAGES = ["spaCy analysis", "chunking", "embedding", "SQLite", "FAISS", "manifest", "publish"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    """Seconds spent per stage; nested calls of the same stage are counted once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth: dict[str, int] = defaultdict(int)
        self.cpu = 0.0  # CPU seconds of the whole build (all threads)

    def wrap(self, stage: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            self._depth[stage] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth[stage] -= 1
                if self._depth[stage] == 0:
                    self.seconds[stage] += time.perf_counter() - started

        return timed

    def wrap_iterator(self, stage: str, function):
        """For a generator function: the time spent producing each item."""

        @functools.wraps(function)
        def timed(*args, **kwargs):
            iterator = iter(function(*args, **kwargs))
            while True:
                started = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.seconds[stage] += time.perf_counter() - started
                    return
                self.seconds[stage] += time.perf_counter() - started
                yield item

        return timed


def load_models() -> dict[str, float]:
    from regionqa import embedding, nlp

    timings = {}
    for name, load in (
        ("sentence-transformers", embedding.load_sentence_transformer),
        ("spaCy", nlp.load_pipeline),
        ("tokenizer", embedding.load_tokenizer),
    ):
        started = time.perf_counter()
        load()
        timings[name] = time.perf_counter() - started
    embedding.encode(["warm up the encoder"])
    return timings


def timed_build(sources, index_dir: Path) -> tuple[float, Stopwatch, object]:
    """A full build of `sources` into index_dir with every stage timed."""
    from regionqa import chunking, indexing
    from regionqa import store as store_mod
    from regionqa.config import Settings

    settings = Settings(index_dir=index_dir, corpus_dir=index_dir.parent / "unused-corpus")
    watch = Stopwatch()
    models = indexing.real_models(settings)
    models = replace(
        models,
        encode=watch.wrap("embedding", models.encode),
        analyse=watch.wrap_iterator("spaCy analysis", models.analyse),
        export_query_encoder=False,
    )
    patches = {
        (chunking, "chunk_source"): "chunking",
        (store_mod.IndexWriter, "insert_source"): "SQLite",
        (store_mod.IndexWriter, "insert_parts"): "SQLite",
        (store_mod.IndexWriter, "delete_sources"): "SQLite",
        (store_mod.IndexWriter, "__init__"): "SQLite",
        (store_mod.IndexWriter, "write_vectors"): "FAISS",
        (store_mod, "write_manifest"): "manifest",
        (store_mod, "publish"): "publish",
    }
    originals = {}
    for (module, name), stage in patches.items():
        if hasattr(module, name):
            originals[(module, name)] = getattr(module, name)
            setattr(module, name, watch.wrap(stage, getattr(module, name)))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        report = indexing.build_sources(settings, sources, full=True, models=models)
        total = time.perf_counter() - started
        watch.cpu = time.process_time() - cpu
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)
    return total, watch, report


def embedded_texts(index_dir: Path) -> list[str]:
    """What the build embedded, chunk by chunk: the FTS text column holds exactly those texts."""
    from regionqa import store as store_mod

    generation = store_mod.current_generation(index_dir)
    db = sqlite3.connect(f"file:{generation / store_mod.DATABASE_FILE}?mode=ro", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT text FROM chunks_fts ORDER BY rowid")]
    finally:
        db.close()


def encode_alone(texts: list[str], batch_size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) to embed `texts` in one call."""
    from regionqa import embedding

    started, cpu = time.perf_counter(), time.process_time()
    embedding.encode(texts, batch_size=batch_size)
    return time.perf_counter() - started, time.process_time() - cpu


def run(label: str, sources, root: Path) -> None:
    from regionqa.config import Settings

    index_dir = root / label.replace(" ", "-") / "index"
    index_dir.parent.mkdir(parents=True)
    total, watch, report = timed_build(sources, index_dir)
    peak = peak_rss_mb()
    texts = embedded_texts(index_dir)
    alone, alone_cpu = encode_alone(texts, Settings().embed_batch_size)
    chunks = report.chunks_total
    print(
        f"\n## {label}: {len(sources):,} documents, {chunks:,} chunks ({sum(len(t) for t in texts) / max(len(texts), 1):.0f} characters per embedded text)"
    )
    print(f"full build            {total:8.1f} s   {len(sources) / total:7.1f} docs/s   {chunks / total:7.1f} chunks/s")
    print(
        f"embedding alone       {alone:8.1f} s   {len(sources) / alone:7.1f} docs/s   {chunks / alone:7.1f} chunks/s   (same texts, batch {Settings().embed_batch_size}, one call)"
    )
    print(
        f"ratio build / embedding alone: {total / alone:.2f} wall, {watch.cpu / alone_cpu:.2f} CPU time ({watch.cpu:.1f} s / {alone_cpu:.1f} s)  (target <= 1.3)"
    )
    # The build embeds one batch in a worker thread while it analyses the next, so the stages
    # overlap: their times add up to more than the build's.
    for stage in STAGES:
        seconds = watch.seconds.get(stage, 0.0)
        print(f"  {stage:<16} {seconds:8.1f} s  {100 * seconds / total:5.1f} % of the build")
    overlap = sum(watch.seconds.values()) - total
    print(
        f"  stages overlapped {max(overlap, 0.0):7.1f} s (analysis beside embedding)"
        if overlap > 0
        else f"  other            {-overlap:8.1f} s"
    )
    print(f"peak RSS after the build: {peak:,.0f} MB (process, models included); vector index: {report.generation}")
    shutil.rmtree(index_dir.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N SciFact documents")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="the BEIR SciFact folder")
    parser.add_argument("--skip-article", action="store_true")
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    print(f"machine: {machine()}")
    started = time.perf_counter()
    loads = load_models()
    print(
        f"model loads (before the timed builds): {', '.join(f'{k} {v:.1f} s' for k, v in loads.items())}; total {time.perf_counter() - started:.1f} s"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        if not args.skip_article:
            from regionqa.sources import load_corpus

            corpus = root / "article-corpus"
            corpus.mkdir()
            shutil.copyfile(ARTICLE, corpus / ARTICLE.name)
            run("article", load_corpus(corpus).sources, root)
        if not args.skip_scifact:
            from regionqa.evaluate import read_beir

            documents = read_beir(args.scifact, "test").documents
            if args.limit:
                documents = documents[: args.limit]
            run(f"SciFact{'' if not args.limit else f' (first {args.limit})'}", documents, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
