"""Wires the steps together: sources -> nlp -> chunking -> embedding -> store, and questions -> answers.

The CLI, the evaluation and the tests call these functions; the steps themselves do not
call each other sideways.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from . import store as store_mod
from .config import Settings
from .errors import BadInputError, IndexBusyError, IndexStateError, RegionQAError
from .models import Analysis, Fact, Result, Source
from .sources import (
    SUPPORTED_SUFFIXES,
    content_hash,
    discover,
    file_part,
    is_utf8,
    load_corpus,
    matches_globs,
    printable,
    read_file,
)

if TYPE_CHECKING:
    import numpy as np

    from .embedding import Encoder

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
MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 100
# A source longer than this is analysed, chunked and embedded piece by piece (cut at line ends), so
# that a 100 MB file holds one piece's spaCy documents and chunks in memory, not the whole file's.
PIECE_CHARS = 1_000_000
FAULT_POINT_ENV = "REGIONQA_FAULT_POINT"


def fault_point(name: str) -> None:
    """A test hook (tests/test_faults.py): with REGIONQA_FAULT_POINT=name the build kills itself
    with SIGKILL here, or stops itself with SIGSTOP for name:stop; a no-op when the variable is unset."""
    wanted = os.environ.get(FAULT_POINT_ENV)
    if wanted and wanted.split(":")[0] == name:
        os.kill(os.getpid(), signal.SIGSTOP if wanted.endswith(":stop") else signal.SIGKILL)


@dataclass(frozen=True)
class BuildModels:
    """The models a build runs. `real_models` by default; tests pass fakes (a hash encoder,
    `spacy.blank("en")`) to build an index in milliseconds."""

    encode: Callable[[list[str]], np.ndarray]  # texts -> normalised float32 vectors
    count_tokens: Callable[[str], int]  # word pieces of a text, for chunking
    analyse: Callable[[list[Source]], Iterable[tuple[Source, Analysis]]]  # nlp.analyse_sources
    export_query_encoder: bool = True  # export the ONNX query encoder after the build


def real_models(settings: Settings) -> BuildModels:
    """all-MiniLM-L6-v2 and the spaCy pipeline (loaded on first use, not here)."""
    from .embedding import count_word_pieces, encode
    from .nlp import analyse_sources

    return BuildModels(
        encode=partial(encode, batch_size=settings.embed_batch_size), count_tokens=count_word_pieces, analyse=analyse_sources
    )


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # same content as another source: skipped
    errors: list[str] = field(default_factory=list)  # sources that could not be read
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    generation: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def expected_manifest(settings: Settings) -> store_mod.Manifest:
    """The manifest identity this code builds and accepts."""
    from .embedding import DIMENSION, MODEL_NAME, MODEL_PACKAGE, WEIGHTS_SHA256
    from .nlp import SPACY_MODEL, SPACY_VERSION

    return store_mod.Manifest(
        schema_version=store_mod.SCHEMA_VERSION,
        embedding_model=f"{MODEL_NAME} ({MODEL_PACKAGE})",
        embedding_sha256=WEIGHTS_SHA256,
        dimension=DIMENSION,
        spacy_model=f"{SPACY_MODEL}=={SPACY_VERSION}",
        chunking=asdict(settings.chunking),
    )


def _lock(index_dir: Path):
    """The build lock of an index folder, held (the caller releases it); IndexBusyError at once when
    another process holds it. Re-entrant in one process: `remove` holds it around the build it runs.
    The kernel drops it when its holder dies, so a killed build never leaves the index locked."""
    from filelock import FileLock, Timeout

    store_mod.check_index_dir(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a parent that is a file, a read-only place
        raise BadInputError(f"cannot create the index folder {index_dir} ({error.strerror}); pass another with --index-dir") from None
    lock = FileLock(str(index_dir / store_mod.LOCK_FILE), timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise IndexBusyError(f"another build is running on {index_dir}; wait for it to finish and try again") from None
    return lock


def _deduplicate(sources: list[Source], report: BuildReport) -> list[Source]:
    """Keep the first of sources with identical text; the others are reported, not indexed twice."""
    first_by_hash: dict[str, str] = {}
    kept: list[Source] = []
    for source in sources:
        owner = first_by_hash.setdefault(source.content_hash, source.name)
        if owner != source.name:
            report.duplicates.append(f"{source.name} has the same text as {owner}; indexed once, as {owner}")
        else:
            kept.append(source)
    return kept


def build(settings: Settings, full: bool = False, progress: Progress | None = None, models: BuildModels | None = None) -> BuildReport:
    """Bring the index up to date with the corpus folder; only new or changed sources are processed.

    Writes a new generation and switches to it atomically, so an interrupted build leaves the
    previous index answering. Raises BadInputError when the corpus has no readable source.
    """
    started = time.perf_counter()
    corpus = settings.corpus_dir
    if not corpus.is_dir():
        raise BadInputError(f"the corpus folder {corpus} does not exist; create it or pass --corpus-dir")
    loaded = load_corpus(corpus)
    if not loaded.sources:
        # Name the files that could not be read (the first few): the user has to fix those.
        shown = "; ".join(loaded.errors[:5]) + (f"; and {len(loaded.errors) - 5} more" if len(loaded.errors) > 5 else "")
        detail = f" ({len(loaded.errors)} could not be read: {shown})" if loaded.errors else ""
        raise BadInputError(f"no readable source in {corpus}{detail}; add {', '.join(sorted(SUPPORTED_SUFFIXES))} files")
    report = build_sources(settings, loaded.sources, full=full, progress=progress, models=models)
    report.errors = loaded.errors
    report.seconds = time.perf_counter() - started
    return report


def build_sources(
    settings: Settings, sources: list[Source], full: bool = False, progress: Progress | None = None, models: BuildModels | None = None
) -> BuildReport:
    """Bring the index in `settings.index_dir` up to date with exactly these sources.

    Sources are identified by name and content hash: only new or changed ones are analysed and
    embedded, and indexed sources missing from the list are removed. Used by `build` (the corpus
    folder) and by the BEIR evaluation (its own index). Raises BadInputError for an empty list,
    IndexBusyError when another build holds the lock, IndexStateError when an incremental build
    finds the index corrupt or built with other models (a full build replaces it instead).
    """
    started = time.perf_counter()
    report = BuildReport()
    if not sources:
        raise BadInputError("no source to index")
    models = models or real_models(settings)
    lock = _lock(settings.index_dir)
    try:
        sources = _deduplicate(sources, report)
        expected = expected_manifest(settings)
        previous = _previous_generation(settings.index_dir, full)
        if previous is not None and not full:
            manifest = store_mod.read_manifest(previous)
            store_mod.check_compatible(manifest, expected)
            # An incremental build copies the previous database: a corrupt one must not be carried
            # into a new generation whose manifest would then vouch for it with fresh hashes.
            store_mod.check_files(previous, manifest)
        _update(settings, sources, previous, full, expected, report, progress, models)
        if models.export_query_encoder:
            # The ONNX query encoder (derived from the model, kept in index_dir/models): exported once,
            # so that `ask` never imports torch. A failed export is a warning, not a failed build.
            from .onnx_export import prepare_query_encoder

            if progress:
                progress("exporting", 0, -1)
            warning = prepare_query_encoder(settings.index_dir)
            if warning:  # on stderr until build takes the CLI's notifier
                print(f"warning: {warning}", file=sys.stderr)
            if progress:
                progress("exporting", 1, -1)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    return report


def _previous_generation(index_dir: Path, full: bool) -> Path | None:
    """The answering generation; for a full build, None when CURRENT is broken (the build replaces it)."""
    try:
        return store_mod.current_generation(index_dir)
    except IndexStateError:
        if full:
            return None
        raise


def _update(
    settings: Settings,
    sources: list[Source],
    previous: Path | None,
    full: bool,
    expected,
    report: BuildReport,
    progress: Progress | None,
    models: BuildModels,
) -> None:
    wanted = {s.name: s for s in sources}
    old: dict[str, str] = {}
    if previous is not None and not full:
        # Opened whole (FAISS included), not just read from SQLite: opening checks that the vectors
        # fit the manifest, and an incremental build must not carry a broken index forward.
        opened = store_mod.Store(previous, store_mod.read_manifest(previous))
        try:
            old = {name: digest for name, digest, _ in opened.source_rows()}
        finally:
            opened.close()
    report.removed = sorted(old.keys() - wanted.keys())
    report.added = sorted(wanted.keys() - old.keys())
    report.changed = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash != old[n])
    report.unchanged = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash == old[n])
    if previous is not None and not full and not (report.removed or report.added or report.changed):
        report.generation = previous.name
        report.chunks_total = store_mod.read_manifest(previous).chunks
        store_mod.remove_stale_generations(settings.index_dir, keep=[previous], unfinished_only=True)
        return
    generation = store_mod.new_generation(settings.index_dir)
    try:
        db = store_mod.open_for_writing(generation, None if full else previous)
        try:
            store_mod.delete_sources(db, report.removed + report.changed)
            todo = [wanted[n] for n in report.added + report.changed]
            report.chunks_embedded = _index_sources(db, todo, settings, progress, models)
            db.commit()
            fault_point("committed")
            count, vector_index = store_mod.write_vectors(db, generation / store_mod.VECTORS_FILE, expected.dimension)
            sources_count = db.execute("SELECT count(*) FROM sources").fetchone()[0]
        finally:
            db.close()
        fault_point("vectors")
        store_mod.write_manifest(
            generation, store_mod.Manifest(**{**asdict(expected), "sources": sources_count, "chunks": count, "vector_index": vector_index})
        )
        fault_point("manifest")
        store_mod.publish(settings.index_dir, generation)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    fault_point("published")
    report.chunks_total = count
    report.generation = generation.name
    # Kept: the previous generation, for a reader that read CURRENT just before the switch. Removed:
    # older ones and whatever a killed build left. Readers that opened a removed generation finish
    # (open files outlive their unlinking); store.open_store retries one that vanished while opening.
    store_mod.remove_stale_generations(settings.index_dir, keep=[generation] + ([previous] if previous else []))


def _index_sources(db, sources: list[Source], settings: Settings, progress: Progress | None, models: BuildModels) -> int:
    """Analyse, chunk, embed and store sources, embedding in batches across sources.

    A batch is embedded in a worker thread while this thread analyses the next one: spaCy keeps
    one core busy and the encoder the rest (torch releases the GIL), so a build takes little more
    than its embedding alone (issue 4; benchmarks/bench_build.py). At most two batches are in
    memory, and every SQLite write stays in this thread, in source order.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from .chunking import chunk_source

    pending: list[tuple] = []  # (source, first piece?, analysis, chunks) analysed, not yet embedding
    in_flight: tuple | None = None  # (batch, texts, future vectors) being embedded
    embedded = 0
    stop = threading.Event()  # set on an error or Ctrl-C: the worker stops at its next step

    def store_in_flight() -> None:
        nonlocal in_flight, embedded
        if in_flight is not None:
            batch, texts, vectors = in_flight
            in_flight = None
            _store_batch(db, batch, texts, vectors.result())
            embedded += len(texts)
            fault_point("embedded")

    def flush() -> None:
        nonlocal in_flight
        batch = list(pending)
        pending.clear()
        texts = _embedded_texts(batch)
        already = embedded + (len(in_flight[1]) if in_flight else 0)
        job = executor.submit(_embed, texts, models.encode, progress, already, stop)
        store_in_flight()
        in_flight = (batch, texts, job)

    buffered = 0
    chunked = 0
    done = 0
    # Until the first batch is analysed the encoder waits, so that batch is small; the next ones
    # double up to EMBED_FLUSH_CHUNKS.
    flush_at = 2 * EMBED_PROGRESS_STEP
    if progress:  # at once: loading the spaCy model takes seconds before the first source is done
        progress("analysed", 0, len(sources))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regionqa-embed")
    try:
        for source, offset, last, analysis in _analysed_pieces(sources, models.analyse):
            chunks = chunk_source(source.name, source.text, analysis.sentences, models.count_tokens, settings.chunking)
            pending.append((source, offset == 0, analysis, chunks))
            buffered += len(chunks)
            chunked += len(chunks)
            done += last
            if progress:
                progress("chunked", chunked, -1)
                progress("analysed", done, len(sources))
            fault_point("analysed")
            if buffered >= flush_at:
                flush()
                buffered = 0
                flush_at = min(2 * flush_at, EMBED_FLUSH_CHUNKS)
        if pending:
            flush()
        store_in_flight()
    except BaseException:
        stop.set()  # an interrupted build ends within one step, not after the whole batch
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return embedded


class _Stopped(Exception):
    """The embedding worker was told to stop (the build failed or was interrupted)."""


def _embedded_texts(batch: list[tuple]) -> list[str]:
    """What is embedded (and searched) for each chunk of a batch: the chunk with its context
    (heading, list introduction)."""
    from .chunking import index_text

    return [index_text(source.text, chunk) for source, _, _, chunks in batch for chunk in chunks]


def _embed(texts: list[str], encode: Callable[[list[str]], np.ndarray], progress: Progress | None, already: int, stop) -> np.ndarray:
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
        if stop.is_set():
            raise _Stopped
        parts.append(encode([texts[i] for i in order[start : start + EMBED_PROGRESS_STEP]]))
        if progress:
            progress("embedded", already + min(start + EMBED_PROGRESS_STEP, len(texts)), -1)
    if not parts:
        return encode([])
    vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    vectors[order] = np.concatenate(parts)
    return vectors


def _store_batch(db, batch: list[tuple], texts: list[str], vectors: np.ndarray) -> None:
    """Insert a batch of embedded sources (or pieces of a long source); the build commits once, at its end."""
    from .search import number_tokens

    offset = 0
    for source, first, analysis, chunks in batch:
        part = slice(offset, offset + len(chunks))
        offset += len(chunks)
        numbers = [" ".join(number_tokens(text)) for text in texts[part]]
        if first:
            store_mod.insert_source(db, source, analysis, chunks, vectors[part], texts[part], numbers)
        else:
            store_mod.insert_parts(db, source.name, analysis, chunks, vectors[part], texts[part], numbers)


def _analysed_pieces(
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


# ---------------------------------------------------------------- add, remove, status


@dataclass
class AddReport:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already present, with a reason
    errors: list[str] = field(default_factory=list)
    build: BuildReport | None = None


def _files_to_add(path: Path, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Iterator[tuple[Path, str]]:
    """(file, name in the corpus) for a file, or for every supported file of a folder, recursively,
    that passes the include/exclude globs (which filter folders only: a file named is always taken)."""
    if path.is_dir():
        base = path.resolve()
        for found in discover(base):
            relative = found.relative_to(base).as_posix()
            if matches_globs(relative, include, exclude):
                yield found, f"{base.name}/{relative}"
    else:
        yield path, path.name


def add(
    settings: Settings,
    paths: Sequence[str | Path],
    progress: Progress | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> AddReport:
    """Copy files, folders and web pages into the corpus folder and index them; bad ones are reported and skipped.

    Args:
        paths: files; folders, searched recursively; http(s) URLs, fetched into web/<host>/ (a URL
            added again replaces its page when the page has changed).
        include, exclude: glob patterns for the files of folders, see `sources.matches_globs`.

    Raises BadInputError when nothing could be added and something was wrong.
    """
    from .fetch import is_url

    report = AddReport()
    corpus = settings.corpus_dir
    # Held from the first copy to the end of the build: while another build runs, the corpus
    # folder does not change under it.
    lock = _lock(settings.index_dir)
    try:
        corpus.mkdir(parents=True, exist_ok=True)
        existing = {s.content_hash: s.name for s in load_corpus(corpus).sources}
        for item in paths:
            if isinstance(item, str) and is_url(item):
                _add_url(item, corpus, existing, report)
                continue
            path = Path(item)
            if not path.exists():
                report.errors.append(f"{path}: no such file or folder")
                continue
            if path.is_dir() and not path.resolve().name:
                report.errors.append(f"{path}: the root folder cannot be added; name the folder that holds the documents")
                continue
            found = False
            for file, name in _files_to_add(path, include, exclude):
                found = True
                _add_file(file, name, str(file), corpus, existing, report)
            if not found:
                patterns = " with --include/--exclude as given" if include or exclude else ""
                report.errors.append(f"{path}: no file to add{patterns}; regionqa reads {', '.join(sorted(SUPPORTED_SUFFIXES))}")
        if not report.copied and report.errors:
            raise BadInputError("nothing was added: " + "; ".join(report.errors))
        report.build = build(settings, progress=progress)
    finally:
        lock.release()
    return report


def _add_url(url: str, corpus: Path, existing: dict[str, str], report: AddReport) -> None:
    """Fetch a URL and add it like a file, under its web/<host>/ name; failures go to the report."""
    import tempfile

    from .fetch import download

    try:
        page = download(url)
    except RegionQAError as error:
        report.errors.append(str(error))
        return
    with tempfile.TemporaryDirectory(prefix="regionqa-") as folder:
        file = Path(folder) / Path(page.name).name
        file.write_bytes(page.data)
        _add_file(file, page.name, url, corpus, existing, report, replace=True)


def _add_file(file: Path, name: str, label: str, corpus: Path, existing: dict[str, str], report: AddReport, replace: bool = False) -> None:
    """Copy one readable file into the corpus as `name`, unless it or its text is there already.

    `label` names the file in messages (its path, or its URL); `replace` lets a changed file take
    the place of an older one of the same name (a web page fetched again).
    """
    label = printable(label)  # a path from the shell may hold bytes that are not UTF-8
    if file.suffix.lower() not in SUPPORTED_SUFFIXES:
        report.errors.append(
            f"{label}: unsupported file type {file.suffix or '(none)'}; use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
        return
    try:
        # A JSONL file with some bad lines is copied for its good records; the build that follows
        # names the bad lines (so they are not listed twice here).
        sources = read_file(file, name, problems=[])
    except RegionQAError as error:
        report.errors.append(str(error).replace(printable(name), label, 1))
        return
    try:
        target = _corpus_file(corpus, name)
    except BadInputError as error:
        report.errors.append(f"{label}: {error}")
        return
    if target.exists() and target.read_bytes() == file.read_bytes():
        report.skipped.append(f"{name} is already in the corpus")
        return
    if target.exists() and not replace:
        report.errors.append(f"{label}: a different {name} is already in the corpus; rename the file or remove the old one first")
        return
    same = [existing[s.content_hash] for s in sources if s.content_hash in existing]
    if same and len(same) == len(sources):
        report.skipped.append(f"{label} has the same text as {same[0]}, already indexed")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(file, temporary)
    temporary.replace(target)
    existing.update({s.content_hash: s.name for s in sources})
    report.copied.append(name)


def corpus_path(settings: Settings, name: str) -> Path:
    """The corpus file of a source name, refusing names that would leave the corpus folder."""
    return _corpus_file(settings.corpus_dir, name)


def _corpus_file(corpus_dir: Path, name: str) -> Path:
    """The file of a source name in a corpus folder; BadInputError for a name that would leave it.

    Absolute names and `..` are refused, and so is a folder that a symlink leads out of the corpus.
    The last part is not resolved: for a symlink in the corpus this is the link (which `remove`
    deletes), never the file it points to.
    """
    corpus = corpus_dir.resolve()
    relative = Path(file_part(name))
    path = corpus / relative
    if (
        not name
        or "\x00" in name
        or not relative.parts
        or relative.is_absolute()
        or ".." in relative.parts
        or not path.parent.resolve().is_relative_to(corpus)
    ):
        raise BadInputError(f"{name!r} is not a source name; names are paths inside {corpus_dir} as listed by: regionqa index status")
    return path


def remove(settings: Settings, name: str, progress: Progress | None = None) -> BuildReport:
    """Delete a source file from the corpus folder and drop everything derived from it from the index.

    The build lock is taken before the file is deleted: while another build runs, nothing changes.
    """
    path = corpus_path(settings, name)
    if file_part(name) != name:
        raise BadInputError(
            f"{name!r} is one record of {file_part(name)}; remove the whole file ({file_part(name)}) or edit it and run: regionqa index build"
        )
    on_disk = path.is_file() or path.is_symlink()
    # A file deleted by hand is still indexed until the next build: removing it runs that build.
    if not on_disk and name not in _indexed_files(settings):
        raise BadInputError(f"{name!r} is not in the corpus; see the indexed sources with: regionqa index status")
    lock = _lock(settings.index_dir)
    try:
        # An index needs a source: removing the last one would delete the file and then fail the
        # build, leaving an index that still answers from a file no longer in the corpus.
        if not any(source.name != name and file_part(source.name) != name for source in load_corpus(settings.corpus_dir).sources):
            raise BadInputError(
                f"{name} is the last readable source and an index needs one; add another source first: regionqa index add FILE"
            )
        if on_disk:
            path.unlink()
        return build(settings, progress=progress)
    finally:
        lock.release()


def _indexed_files(settings: Settings) -> set[str]:
    """The corpus files the index holds sources of; empty when there is no readable index."""
    try:
        generation = store_mod.current_generation(settings.index_dir)
        return {file_part(name) for name in store_mod.indexed_hashes(generation)} if generation else set()
    except (RegionQAError, sqlite3.Error):
        return set()


@dataclass
class Status:
    index_dir: str
    generation: str | None
    manifest: dict | None
    sources: list[dict]
    stale: dict  # added / changed / removed compared with the corpus folder
    problem: str | None = None


def status(settings: Settings) -> Status:
    """What is indexed, with which models, and what the corpus folder has that the index lacks."""
    generation = None
    manifest = None
    rows: list[tuple[str, str, int]] = []
    problem = None
    try:
        folder = store_mod.current_generation(settings.index_dir)
        if folder is not None:
            generation = folder.name
            opened = store_mod.open_store(settings.index_dir, expected_manifest(settings))
            manifest = asdict(opened.manifest)
            rows = opened.source_rows()
            opened.close()
    except RegionQAError as error:
        problem = str(error)
    indexed = {name: digest for name, digest, _ in rows}
    on_disk = {s.name: s.content_hash for s in load_corpus(settings.corpus_dir).sources} if settings.corpus_dir.is_dir() else {}
    indexed_texts = set(indexed.values())
    stale = {
        # A copy of an indexed text under another name is a duplicate a build skips, not news.
        "added": sorted(n for n in on_disk.keys() - indexed.keys() if on_disk[n] not in indexed_texts),
        "changed": sorted(n for n in on_disk.keys() & indexed.keys() if on_disk[n] != indexed[n]),
        "removed": sorted(indexed.keys() - on_disk.keys()),
    }
    sources = [{"name": n, "content_hash": d, "chunks": c} for n, d, c in rows]
    return Status(str(settings.index_dir), generation, manifest, sources, stale, problem)


# ---------------------------------------------------------------- questions


def check_question(question: str) -> str:
    """A cleaned question, or BadInputError saying what is wrong with it."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise BadInputError('the question is empty; ask something, e.g. regionqa ask "Who is the President of Azerbaijan?"')
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise BadInputError(f"the question is {len(cleaned):,} characters long; ask in at most {MAX_QUESTION_CHARS:,}")
    return cleaned


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise BadInputError(f"--top-k must be between 1 and {MAX_TOP_K}; got {top_k}")
    return top_k


class Engine:
    """An opened index plus the query encoder: answers many questions in one process."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None):
        self.settings = settings
        self.store = store_mod.open_store(settings.index_dir, expected_manifest(settings))
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        """The query encoder, picked once per engine (ONNX when the index has a valid export,
        else sentence-transformers), and only when a question needs it: listings never load it."""
        if self._encoder is None:
            from .onnx_encoder import encoder_choice, open_query_encoder

            # The choice from REGIONQA_ENCODER, the fallback notice on stderr: until Settings and the CLI's notifier reach the engine.
            self._encoder = open_query_encoder(self.settings.index_dir, encoder_choice(), notify=partial(print, file=sys.stderr))
        return self._encoder

    def close(self) -> None:
        self.store.close()

    def ask(self, question: str, top_k: int = 5) -> Result:
        from .answer import answer_question
        from .search import retrieve

        question = check_question(question)
        top_k = check_top_k(top_k)
        encode = self.encoder
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = encode([question])[0]
        t1 = time.perf_counter()
        hits = retrieve(self.store, question, vector, max(top_k, 5), self.settings.retrieval)
        t2 = time.perf_counter()
        answer, facts, message = answer_question(self.store, question, hits, encode)
        t3 = time.perf_counter()
        timings.update(encode=t1 - t0, retrieve=t2 - t1, answer=t3 - t2)
        # Citations a person can follow: "p. 3" in a PDF, "line 11" in a text.
        passages = [replace(h, location=self.store.location(h.chunk.source, h.chunk.start, h.chunk.end)) for h in hits[:top_k]]
        if answer is not None:
            answer = replace(answer, location=self.store.location(answer.source, answer.start))
        return Result(question=question, answer=answer, passages=passages, facts=facts, message=message, timings=timings)


def open_engine(
    settings: Settings, build_if_missing: bool = False, notify: Callable[[str], None] | None = None, progress: Progress | None = None
) -> Engine:
    """Open the index for questions, building it first (reporting to `progress`) when there is none and that is wanted."""
    if build_if_missing and store_mod.current_generation(settings.index_dir) is None:
        if notify:
            notify(f"no index in {settings.index_dir} yet: building it from {settings.corpus_dir} (once)…")
        build(settings, progress=progress)
    return Engine(settings)


__all__ = ["build", "build_sources", "add", "remove", "status", "open_engine", "Engine", "BuildReport", "content_hash"]


# ---------------------------------------------------------------- listings


@dataclass(frozen=True)
class EntityCount:
    text: str
    label: str
    count: int
    sources: list[str]


def _check_filters(label: str | None, source: str | None) -> None:
    """BadInputError for a --label or --source that holds bytes that are not UTF-8 (from the shell):
    no stored name can match it, and SQLite cannot even take it as a parameter."""
    hints = {"--label": "labels are words such as PERSON, ORG, GPE, MONEY", "--source": "see the source names with: regionqa index status"}
    for option, value in (("--label", label), ("--source", source)):
        if value is not None and not is_utf8(value):
            raise BadInputError(f"{option} {printable(value)!r} is not valid UTF-8 text; {hints[option]}")


def list_entities(engine: Engine, label: str | None = None, source: str | None = None) -> list[EntityCount]:
    """Every named entity with its label, how often it occurs and where, most frequent first."""
    _check_filters(label, source)
    grouped: dict[tuple[str, str], list[str]] = {}
    for text, entity_label, source_name, _, _ in engine.store.all_entities(label, source):
        grouped.setdefault((text, entity_label), []).append(source_name)
    rows = [EntityCount(text, lab, len(names), sorted(set(names))) for (text, lab), names in grouped.items()]
    return sorted(rows, key=lambda r: (-r.count, r.label, r.text))


def entity_graph(engine: Engine, label: str | None = None, source: str | None = None):
    """The co-occurrence network (a networkx Graph) of the entities `list_entities` lists with the
    same filters: linked when they share a sentence, weighted by how many they share."""
    from .graph import cooccurrence_graph

    _check_filters(label, source)
    mentions = engine.store.all_entities(label, source)
    sentences = {name: [(s.start, s.end) for s in engine.store.sentences(name, 0, 2**62)] for name in sorted({m[2] for m in mentions})}
    return cooccurrence_graph(mentions, sentences)


def list_facts(engine: Engine, label: str | None = None, source: str | None = None) -> list[Fact]:
    """Every figure (money, quantities, percentages, counts, dates) with its sentence and value."""
    _check_filters(label, source)
    facts = []
    for source_name, figure in engine.store.all_figures(label, source):
        sentence = engine.store.sentences(source_name, figure.start, figure.end)
        facts.append(
            Fact(
                source=source_name,
                start=figure.start,
                end=figure.end,
                text=figure.text,
                label=figure.label,
                sentence=sentence[0].text if sentence else "",
                value=figure.value,
                value_max=figure.value_max,
                unit=figure.unit,
            )
        )
    return facts
