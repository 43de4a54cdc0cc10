"""Analyse, chunk, embed and store sources in batches: one batch is embedded in a worker thread
while the next is analysed, so a build takes little more than its embedding alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .models import Analysis, Source

if TYPE_CHECKING:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from .chunking import ChunkSettings
    from .store import IndexWriter

# A build reports progress(stage, done, total), total -1 where it does not count:
#   "analysed"  (sources analysed, sources to analyse)
#   "chunked"   (chunks cut so far, -1): the number of chunks to embed, final once every source is analysed
#   "embedded"  (chunks embedded so far, -1)
#   "exporting" (0 when the ONNX query encoder is being checked or exported, 1 when done; -1)
# Sources are analysed and embedded in batches, so "embedded" advances while "analysed" does.
# "embedded" is reported from the embedding worker thread: a progress callback must be thread-safe.
Progress = Callable[[str, int, int], None]

EMBED_PROGRESS_STEP = 64  # chunks embedded between two "embedded" reports


# Chunks analysed before they are embedded together: the more, the closer in length the texts
# of each batch (less padding); memory holds their analyses (~1 MB per 1,000 chunks).
EMBED_FLUSH_CHUNKS = 1024


# A source longer than this is analysed, chunked and embedded piece by piece (cut at line ends), so
# that a 100 MB file holds one piece's spaCy documents and chunks in memory, not the whole file's.
PIECE_CHARS = 1_000_000


def reached(step: str) -> None:
    """A named step of a build ("analysed", "embedded", "committed", "vectors", "manifest",
    "published"): a no-op seam that tests/fault_launcher.py replaces to kill a build right there."""


@dataclass(frozen=True)
class BuildModels:
    """The models a build runs. `real_models` by default; tests pass fakes (a hash encoder,
    `spacy.blank("en")`) to build an index in milliseconds."""

    encode: Callable[[list[str]], np.ndarray]  # texts -> normalised float32 vectors
    count_tokens: Callable[[str], int]  # word pieces of a text, for chunking
    analyse: Callable[[list[Source]], Iterable[tuple[Source, Analysis]]]  # nlp.analyse_sources
    export_query_encoder: bool = True  # export the ONNX query encoder after the build
    # Where the analysis and the embedding run: None in this process (`index_sources`), else the
    # address of a Ray cluster, "local" or "auto" (`distributed.index_sources`, `index build --ray`).
    ray_address: str | None = None


def index_sources(
    writer: IndexWriter, sources: list[Source], chunking: ChunkSettings, progress: Progress | None, models: BuildModels
) -> int:
    """Analyse, chunk, embed and store sources, embedding in batches across sources; returns the chunks embedded.

    A batch is embedded in a worker thread while this thread analyses the next one: spaCy keeps
    one core busy and the encoder the rest (torch releases the GIL), so a build takes little more
    than its embedding alone (issue 4; benchmarks/bench_build.py). At most two batches are in
    memory, and every SQLite write stays in this thread, in source order.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor  # here, not at the top: `ask` never needs it

    from .chunking import chunk_source

    stop = threading.Event()  # set on an error or Ctrl-C: the worker stops at its next step
    buffered = chunked = done = 0
    # Until the first batch is analysed the encoder waits, so that batch is small; the next ones
    # double up to EMBED_FLUSH_CHUNKS.
    flush_at = 2 * EMBED_PROGRESS_STEP
    if progress:  # at once: loading the spaCy model takes seconds before the first source is done
        progress("analysed", 0, len(sources))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regionqa-embed")
    run = _Batches(writer, models, progress, executor, stop)
    try:
        for source, offset, last, analysis in analysed_pieces(sources, models.analyse):
            chunks = chunk_source(source.name, source.text, analysis.sentences, models.count_tokens, chunking)
            run.pending.append((source, offset == 0, analysis, chunks))
            buffered += len(chunks)
            chunked += len(chunks)
            done += last
            if progress:
                progress("chunked", chunked, -1)
                progress("analysed", done, len(sources))
            reached("analysed")
            if buffered >= flush_at:
                run.flush()
                buffered = 0
                flush_at = min(2 * flush_at, EMBED_FLUSH_CHUNKS)
        if run.pending:
            run.flush()
        run.store_in_flight()
    except BaseException:
        stop.set()  # an interrupted build ends within one step, not after the whole batch
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return run.embedded


@dataclass
class _Batches:
    """One index_sources run: the analysed pieces waiting for the encoder, and the batch it is embedding."""

    writer: IndexWriter
    models: BuildModels
    progress: Progress | None
    executor: ThreadPoolExecutor
    stop: threading.Event
    pending: list[tuple] = field(default_factory=list)  # (source, first piece?, analysis, chunks), not yet embedding
    in_flight: tuple | None = None  # (batch, texts, future vectors) being embedded
    embedded: int = 0

    def store_in_flight(self) -> None:
        """Wait for the batch being embedded and store it."""
        if self.in_flight is not None:
            batch, texts, vectors = self.in_flight
            self.in_flight = None
            store_batch(self.writer, batch, texts, vectors.result())
            self.embedded += len(texts)
            reached("embedded")

    def flush(self) -> None:
        """Hand the pending pieces to the worker, then store the batch it was embedding before."""
        batch = list(self.pending)
        self.pending.clear()
        texts = embedded_texts(batch)
        already = self.embedded + (len(self.in_flight[1]) if self.in_flight else 0)
        job = self.executor.submit(embed_in_steps, texts, self.models.encode, self.progress, already, self.stop)
        self.store_in_flight()
        self.in_flight = (batch, texts, job)


class _Stopped(Exception):
    """The embedding worker was told to stop (the build failed or was interrupted)."""


def embedded_texts(batch: list[tuple]) -> list[str]:
    """What is embedded (and searched) for each chunk of a batch: the chunk with its context
    (heading, list introduction)."""
    from .chunking import index_text

    return [index_text(source.text, chunk) for source, _, _, chunks in batch for chunk in chunks]


def embed_in_steps(
    texts: list[str],
    encode: Callable[[list[str]], np.ndarray],
    progress: Progress | None = None,
    already: int = 0,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """The vectors of texts, in order, encoded in steps of EMBED_PROGRESS_STEP.

    In steps (with or without a progress bar, so that the vectors are the same either way), so
    that a bar moves during the thousands of chunks of a large source and a stopped build ends
    quickly. Longest first, as sentence-transformers orders one call: a batch then pads its texts
    to nearly the same length. Steps in source order padded each batch to its longest text and
    made the embedding 25% slower than the same texts in one call (benchmarks/bench_build.py).
    """
    import numpy as np

    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    parts = []
    for start in range(0, len(texts), EMBED_PROGRESS_STEP):
        if stop is not None and stop.is_set():
            raise _Stopped
        parts.append(encode([texts[i] for i in order[start : start + EMBED_PROGRESS_STEP]]))
        if progress:
            progress("embedded", already + min(start + EMBED_PROGRESS_STEP, len(texts)), -1)
    if not parts:
        return encode([])
    vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    vectors[order] = np.concatenate(parts)
    return vectors


def store_batch(writer: IndexWriter, batch: list[tuple], texts: list[str], vectors: np.ndarray) -> None:
    """Insert a batch of embedded sources (or pieces of a long source); the build commits once, at its end."""
    from .search import number_tokens

    offset = 0
    for source, first, analysis, chunks in batch:
        part = slice(offset, offset + len(chunks))
        offset += len(chunks)
        numbers = [" ".join(number_tokens(text)) for text in texts[part]]
        if first:
            writer.insert_source(source, analysis, chunks, vectors[part], texts[part], numbers)
        else:
            writer.insert_parts(source.name, analysis, chunks, vectors[part], texts[part], numbers)


def analysed_pieces(
    sources: list[Source], analyse: Callable[[list[Source]], Iterable[tuple[Source, Analysis]]]
) -> Iterator[tuple[Source, int, bool, Analysis]]:
    """(source, offset, last piece?, analysis) for every piece of every source, in order.

    A source of at most PIECE_CHARS characters is one piece, analysed whole. A longer one is cut
    at line ends into pieces of about PIECE_CHARS, analysed one after another, so that memory holds
    one piece's spaCy documents rather than a 100 MB file's (spaCy keeps a tensor row per token).
    The analysis of a piece has its offsets moved into the whole source. Pieces of several small
    sources go to the analyser together, which keeps its batching.
    """
    from .nlp import split_blocks

    group: list[tuple[Source, int, bool, Source]] = []
    size = 0

    def run() -> Iterator[tuple[Source, int, bool, Analysis]]:
        analysed = analyse([piece for *_, piece in group])
        for (source, offset, last, _), (_, analysis) in zip(group, analysed, strict=True):
            yield source, offset, last, _shifted(analysis, offset)
        group.clear()

    for source in sources:
        cuts = split_blocks(source.text, PIECE_CHARS) if len(source.text) > PIECE_CHARS else [(0, source.text)]
        for offset, text in cuts:
            if group and size + len(text) > PIECE_CHARS:  # at most PIECE_CHARS in the analyser at once
                yield from run()
                size = 0
            whole = offset == 0 and len(text) == len(source.text)
            group.append((source, offset, offset + len(text) == len(source.text), source if whole else replace(source, text=text)))
            size += len(text)
    if group:
        yield from run()


def _shifted(analysis: Analysis, offset: int) -> Analysis:
    """The analysis of a piece of a source with its offsets moved by `offset`, into the whole source."""
    if offset == 0:
        return analysis

    def move(spans):
        return [replace(span, start=span.start + offset, end=span.end + offset) for span in spans]

    return replace(
        analysis,
        sentences=move(analysis.sentences),
        entities=move(analysis.entities),
        figures=move(analysis.figures),
        phrases=move(analysis.phrases),
    )
