"""Wires the steps together: sources -> nlp -> chunking -> embedding -> store, and questions -> answers.

The CLI, the evaluation and the tests call these functions; the steps themselves do not
call each other sideways.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import BadInputError, RegionQAError
from .models import Fact, Result, Source
from .sources import SUPPORTED_SUFFIXES, RECORD_SEPARATOR, content_hash, discover, file_part, load_corpus, read_file
from . import store as store_mod

if TYPE_CHECKING:
    from .embedding import Encoder

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 100


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
    from .nlp import SPACY_MODEL

    return store_mod.Manifest(
        schema_version=store_mod.SCHEMA_VERSION,
        embedding_model=f"{MODEL_NAME} ({MODEL_PACKAGE})",
        embedding_sha256=WEIGHTS_SHA256,
        dimension=DIMENSION,
        spacy_model=f"{SPACY_MODEL}==3.8.0",
        chunking=asdict(settings.chunking),
    )


def _lock(index_dir: Path):
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / store_mod.LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RegionQAError(f"another build is running on {index_dir}; wait for it to finish and try again") from None
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


def build(settings: Settings, full: bool = False, progress: Progress | None = None) -> BuildReport:
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
        detail = f" ({len(loaded.errors)} could not be read)" if loaded.errors else ""
        raise BadInputError(f"no readable source in {corpus}{detail}; add .txt, .md, .html or .jsonl files")
    report = build_sources(settings, loaded.sources, full=full, progress=progress)
    report.errors = loaded.errors
    report.seconds = time.perf_counter() - started
    return report


def build_sources(settings: Settings, sources: list[Source], full: bool = False, progress: Progress | None = None) -> BuildReport:
    """Bring the index in `settings.index_dir` up to date with exactly these sources.

    Sources are identified by name and content hash: only new or changed ones are analysed and
    embedded, and indexed sources missing from the list are removed. Used by `build` (the corpus
    folder) and by the BEIR evaluation (its own index). Raises BadInputError for an empty list.
    """
    started = time.perf_counter()
    report = BuildReport()
    if not sources:
        raise BadInputError("no source to index")
    lock = _lock(settings.index_dir)
    try:
        sources = _deduplicate(sources, report)
        expected = expected_manifest(settings)
        previous = store_mod.current_generation(settings.index_dir)
        if previous is not None and not full:
            store_mod.check_compatible(store_mod.read_manifest(previous), expected)
        _update(settings, sources, previous, full, expected, report, progress)
        # The ONNX query encoder (derived from the model, kept in index_dir/models): exported once,
        # so that `ask` never imports torch. A failed export is a warning, not a failed build.
        from .embedding import prepare_query_encoder

        prepare_query_encoder(settings.index_dir)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    return report


def _update(settings: Settings, sources: list[Source], previous: Path | None, full: bool, expected, report: BuildReport, progress: Progress | None) -> None:
    wanted = {s.name: s for s in sources}
    if previous is not None and not full:
        old = dict((name, digest) for name, digest, _ in store_mod.Store(previous, store_mod.read_manifest(previous)).source_rows())
    else:
        old = {}
    report.removed = sorted(old.keys() - wanted.keys())
    report.added = sorted(wanted.keys() - old.keys())
    report.changed = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash != old[n])
    report.unchanged = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash == old[n])
    if previous is not None and not full and not (report.removed or report.added or report.changed):
        report.generation = previous.name
        report.chunks_total = store_mod.read_manifest(previous).chunks
        return
    generation = store_mod.new_generation(settings.index_dir)
    try:
        db = store_mod.open_for_writing(generation, None if full else previous)
        try:
            store_mod.delete_sources(db, report.removed + report.changed)
            todo = [wanted[n] for n in report.added + report.changed]
            report.chunks_embedded = _index_sources(db, todo, settings, progress)
            db.commit()
            count = store_mod.write_vectors(db, generation / store_mod.VECTORS_FILE, expected.dimension)
            sources_count = db.execute("SELECT count(*) FROM sources").fetchone()[0]
        finally:
            db.close()
        store_mod.write_manifest(generation, store_mod.Manifest(**{**asdict(expected), "sources": sources_count, "chunks": count}))
        store_mod.publish(settings.index_dir, generation)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    report.chunks_total = count
    report.generation = generation.name
    store_mod.remove_stale_generations(settings.index_dir, keep=[generation] + ([previous] if previous else []))


def _index_sources(db, sources: list[Source], settings: Settings, progress: Progress | None) -> int:
    """Analyse, chunk, embed and store sources, embedding in batches across sources."""
    from .chunking import chunk_source, index_text
    from .embedding import count_word_pieces, encode
    from .nlp import analyse_sources
    from .search import number_tokens

    pending: list[tuple] = []
    embedded = 0

    def flush() -> None:
        nonlocal embedded
        # Each chunk is embedded and searched with its context (heading, list introduction).
        texts = [index_text(source.text, chunk) for source, _, chunks in pending for chunk in chunks]
        vectors = encode(texts, batch_size=settings.embed_batch_size)
        offset = 0
        for source, analysis, chunks in pending:
            part = slice(offset, offset + len(chunks))
            offset += len(chunks)
            numbers = [" ".join(number_tokens(text)) for text in texts[part]]
            store_mod.insert_source(db, source, analysis, chunks, vectors[part], texts[part], numbers)
        embedded += len(texts)
        pending.clear()
        if progress:
            progress("embedded", embedded, -1)

    buffered = 0
    for done, (source, analysis) in enumerate(analyse_sources(sources), start=1):
        chunks = chunk_source(source.name, source.text, analysis.sentences, count_word_pieces, settings.chunking)
        pending.append((source, analysis, chunks))
        buffered += len(chunks)
        if progress:
            progress("analysed", done, len(sources))
        if buffered >= 256:
            flush()
            buffered = 0
    if pending:
        flush()
    return embedded


# ---------------------------------------------------------------- add, remove, status


@dataclass
class AddReport:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already present, with a reason
    errors: list[str] = field(default_factory=list)
    build: BuildReport | None = None


def _files_to_add(path: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in the corpus) for a file or every supported file of a folder, recursively."""
    if path.is_dir():
        base = path.resolve()
        for found in discover(base):
            yield found, f"{base.name}/{found.relative_to(base).as_posix()}"
    else:
        yield path, path.name


def add(settings: Settings, paths: list[Path], progress: Progress | None = None) -> AddReport:
    """Copy files or folders into the corpus folder and index them; bad files are reported and skipped."""
    report = AddReport()
    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    existing = {s.content_hash: s.name for s in load_corpus(corpus).sources}
    for path in paths:
        if not path.exists():
            report.errors.append(f"{path}: no such file or folder")
            continue
        for file, name in _files_to_add(path):
            if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                report.errors.append(f"{file}: unsupported file type {file.suffix or '(none)'}; use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}")
                continue
            try:
                sources = read_file(file, name)
            except RegionQAError as error:
                report.errors.append(str(error).replace(name, str(file), 1))
                continue
            target = corpus / name
            same = [existing[s.content_hash] for s in sources if s.content_hash in existing]
            if target.exists() and target.read_bytes() == file.read_bytes():
                report.skipped.append(f"{name} is already in the corpus")
                continue
            if target.exists():
                report.errors.append(f"{file}: a different {name} is already in the corpus; rename the file or remove the old one first")
                continue
            if same and len(same) == len(sources):
                report.skipped.append(f"{file} has the same text as {same[0]}, already indexed")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.part")
            shutil.copyfile(file, temporary)
            temporary.replace(target)
            existing.update({s.content_hash: s.name for s in sources})
            report.copied.append(name)
    if not report.copied and report.errors:
        raise BadInputError("nothing was added: " + "; ".join(report.errors))
    report.build = build(settings, progress=progress)
    return report


def corpus_path(settings: Settings, name: str) -> Path:
    """The corpus file of a source name, refusing names that would leave the corpus folder."""
    corpus = settings.corpus_dir.resolve()
    path = (corpus / file_part(name)).resolve()
    if not name or Path(file_part(name)).is_absolute() or not path.is_relative_to(corpus) or path == corpus:
        raise BadInputError(f"{name!r} is not a source name; names are paths inside {settings.corpus_dir} as listed by: regionqa index status")
    return path


def remove(settings: Settings, name: str, progress: Progress | None = None) -> BuildReport:
    """Delete a source file from the corpus folder and drop everything derived from it from the index."""
    path = corpus_path(settings, name)
    if RECORD_SEPARATOR in name:
        raise BadInputError(f"{name!r} is one record of {file_part(name)}; remove the whole file ({file_part(name)}) or edit it and run: regionqa index build")
    if not path.is_file():
        raise BadInputError(f"{name!r} is not in the corpus; see the indexed sources with: regionqa index status")
    path.unlink()
    return build(settings, progress=progress)


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
    stale = {
        "added": sorted(on_disk.keys() - indexed.keys()),
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
        raise BadInputError("the question is empty; ask something, e.g. regionqa ask \"Who is the President of Azerbaijan?\"")
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
            from .embedding import open_query_encoder

            self._encoder = open_query_encoder(self.settings.index_dir)
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
        return Result(question=question, answer=answer, passages=hits[:top_k], facts=facts, message=message, timings=timings)


def open_engine(settings: Settings, build_if_missing: bool = False, notify: Callable[[str], None] | None = None) -> Engine:
    """Open the index for questions, building it first when there is none and that is wanted."""
    if build_if_missing and store_mod.current_generation(settings.index_dir) is None:
        if notify:
            notify(f"no index in {settings.index_dir} yet: building it from {settings.corpus_dir} (once)…")
        build(settings)
    return Engine(settings)


__all__ = ["build", "build_sources", "add", "remove", "status", "open_engine", "Engine", "BuildReport", "content_hash"]


# ---------------------------------------------------------------- listings


@dataclass(frozen=True)
class EntityCount:
    text: str
    label: str
    count: int
    sources: list[str]


def list_entities(engine: Engine, label: str | None = None, source: str | None = None) -> list[EntityCount]:
    """Every named entity with its label, how often it occurs and where, most frequent first."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for text, entity_label, source_name, _, _ in engine.store.all_entities(label, source):
        grouped.setdefault((text, entity_label), []).append(source_name)
    rows = [EntityCount(text, lab, len(names), sorted(set(names))) for (text, lab), names in grouped.items()]
    return sorted(rows, key=lambda r: (-r.count, r.label, r.text))


def list_facts(engine: Engine, label: str | None = None, source: str | None = None) -> list[Fact]:
    """Every figure (money, quantities, percentages, counts, dates) with its sentence and value."""
    facts = []
    for source_name, figure in engine.store.all_figures(label, source):
        sentence = engine.store.sentences(source_name, figure.start, figure.end)
        facts.append(
            Fact(
                source=source_name, start=figure.start, end=figure.end, text=figure.text, label=figure.label,
                sentence=sentence[0].text if sentence else "", value=figure.value, value_max=figure.value_max, unit=figure.unit,
            )
        )
    return facts
