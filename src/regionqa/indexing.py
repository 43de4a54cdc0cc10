"""Building the index: bring it up to date with the corpus, writing a new generation and switching to it atomically.

Only new or changed sources are analysed and embedded (sources are identified by name and
content hash); the batches themselves are `batches.index_sources`' job.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from . import batches
from . import store as store_mod
from .batches import BuildModels, Progress
from .config import Settings
from .errors import BadInputError, IndexStateError, IndexWriteError
from .models import Source
from .sources import CACHE_FOLDER, SUPPORTED_SUFFIXES, LoadReport, load_corpus, ocr_cache


def real_models(settings: Settings, ray_address: str | None = None) -> BuildModels:
    """all-MiniLM-L6-v2 and the spaCy pipeline (loaded on first use, not here), run in this
    process or, with a `ray_address`, on that Ray cluster's workers (`distributed`)."""
    from .embedding import count_word_pieces, encode
    from .nlp import analyse_sources

    return BuildModels(
        encode=partial(encode, batch_size=settings.embed_batch_size),
        count_tokens=count_word_pieces,
        analyse=analyse_sources,
        ray_address=ray_address,
    )


def read_corpus(settings: Settings, folder: Path | None = None) -> LoadReport:
    """Every source of the corpus folder (or of `folder`), scans read once by OCR and then from the
    cache in the per-user data folder (see sources.ocr)."""
    with ocr_cache(settings.data_dir / CACHE_FOLDER):
        return load_corpus(folder or settings.corpus_dir)


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


def expected_manifest(settings: Settings) -> store_mod.Manifest:
    """The manifest identity this code builds and accepts (store.manifest_for the settings' chunking)."""
    return store_mod.manifest_for(settings.chunking)


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


def build(
    settings: Settings,
    full: bool = False,
    progress: Progress | None = None,
    models: BuildModels | None = None,
    notify: Callable[[str], None] | None = None,
) -> BuildReport:
    """Bring the index up to date with the corpus folder; only new or changed sources are processed.

    Writes a new generation and switches to it atomically, so an interrupted build leaves the
    previous index answering. Raises BadInputError when the corpus has no readable source.
    """
    started = time.perf_counter()
    corpus = settings.corpus_dir
    if not corpus.is_dir():
        raise BadInputError(f"the corpus folder {corpus} does not exist; create it or pass --corpus-dir")
    loaded = read_corpus(settings)
    if not loaded.sources:
        # Name the files that could not be read (the first few): the user has to fix those.
        shown = "; ".join(loaded.errors[:5]) + (f"; and {len(loaded.errors) - 5} more" if len(loaded.errors) > 5 else "")
        detail = f" ({len(loaded.errors)} could not be read: {shown})" if loaded.errors else ""
        raise BadInputError(f"no readable source in {corpus}{detail}; add {', '.join(sorted(SUPPORTED_SUFFIXES))} files")
    report = build_sources(settings, loaded.sources, full=full, progress=progress, models=models, notify=notify)
    report.errors = loaded.errors
    report.seconds = time.perf_counter() - started
    return report


# A write that failed for want of room: the build says so in one line. Any other OSError (a model
# file that cannot be read, say) is not the index folder's fault and goes on up.
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}


def build_sources(
    settings: Settings,
    sources: list[Source],
    full: bool = False,
    progress: Progress | None = None,
    models: BuildModels | None = None,
    notify: Callable[[str], None] | None = None,
) -> BuildReport:
    """Bring the index in `settings.index_dir` up to date with exactly these sources.

    Sources are identified by name and content hash: only new or changed ones are analysed and
    embedded, and indexed sources missing from the list are removed. Used by `build` (the corpus
    folder) and by the BEIR evaluation (its own index). Raises BadInputError for an empty list,
    IndexBusyError when another build holds the lock, IndexStateError when an incremental build
    finds the index corrupt or built with other models (a full build replaces it instead),
    IndexWriteError when the new generation cannot be written (a full disk).
    """
    started = time.perf_counter()
    report = BuildReport()
    if not sources:
        raise BadInputError("no source to index")
    models = models or real_models(settings)
    lock = store_mod.lock_index(settings.index_dir)
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
        try:
            _update(settings, sources, previous, full, expected, report, progress, models)
        except Exception as error:  # _update has removed the unfinished generation
            if not (isinstance(error, OSError) and error.errno in WRITE_ERRNOS) and not store_mod.is_write_failure(error):
                raise
            reason = getattr(error, "strerror", None) or str(error)
            raise IndexWriteError(
                f"cannot write the new index in {settings.index_dir} ({reason}); the previous index is unchanged: "
                "free some disk space (or make the folder writable) and run: regionqa index build"
            ) from None
        if models.export_query_encoder:
            # The ONNX query encoder (derived from the model, kept in index_dir/models): exported once,
            # so that `ask` never imports torch. A failed export is a warning, not a failed build.
            from .onnx_export import prepare_query_encoder

            if progress:
                progress("exporting", 0, -1)
            prepare_query_encoder(settings.index_dir, notify)
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
    expected: store_mod.Manifest,
    report: BuildReport,
    progress: Progress | None,
    models: BuildModels,
) -> None:
    wanted = {s.name: s for s in sources}
    _compare(wanted, {} if previous is None or full else _indexed_sources(previous), report)
    if previous is not None and not full and not (report.removed or report.added or report.changed):
        report.generation = previous.name
        report.chunks_total = store_mod.read_manifest(previous).chunks
        store_mod.remove_stale_generations(settings.index_dir, keep=[previous], unfinished_only=True)
        return
    generation = store_mod.new_generation(settings.index_dir)
    try:
        manifest = _write_generation(generation, None if full else previous, wanted, expected, report, settings, progress, models)
        batches.reached("manifest")
        store_mod.publish(settings.index_dir, generation)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    batches.reached("published")
    report.chunks_total = manifest.chunks
    report.generation = generation.name
    # Kept: the previous generation, for a reader that read CURRENT just before the switch. Removed:
    # older ones and whatever a killed build left. Readers that opened a removed generation finish
    # (open files outlive their unlinking); store.open_store retries one that vanished while opening.
    store_mod.remove_stale_generations(settings.index_dir, keep=[generation] + ([previous] if previous else []))


def _index_sources(models: BuildModels):
    """The function that analyses, embeds and stores sources: here, or on a Ray cluster."""
    if models.ray_address is None:
        return batches.index_sources
    from . import distributed  # imports Ray: only for `--ray`

    return distributed.index_sources


def _indexed_sources(previous: Path) -> dict[str, str]:
    """{name: content hash} of the sources the previous generation holds."""
    # Opened whole (FAISS included), not just read from SQLite: opening checks that the vectors
    # fit the manifest, and an incremental build must not carry a broken index forward.
    opened = store_mod.Store(previous, store_mod.read_manifest(previous))
    try:
        return {row.name: row.content_hash for row in opened.source_rows()}
    finally:
        opened.close()


def _compare(wanted: dict[str, Source], old: dict[str, str], report: BuildReport) -> None:
    """Fill the report's added / changed / removed / unchanged names."""
    report.removed = sorted(old.keys() - wanted.keys())
    report.added = sorted(wanted.keys() - old.keys())
    report.changed = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash != old[n])
    report.unchanged = sorted(n for n in wanted.keys() & old.keys() if wanted[n].content_hash == old[n])


def _write_generation(
    generation: Path,
    previous: Path | None,
    wanted: dict[str, Source],
    expected: store_mod.Manifest,
    report: BuildReport,
    settings: Settings,
    progress: Progress | None,
    models: BuildModels,
) -> store_mod.Manifest:
    """Write the database, the vectors and the manifest of a new generation (not yet published)."""
    with store_mod.IndexWriter(generation, previous) as writer:
        writer.delete_sources(report.removed + report.changed)
        todo = [wanted[n] for n in report.added + report.changed]
        report.chunks_embedded = _index_sources(models)(writer, todo, settings.chunking, progress, models)
        writer.commit()
        batches.reached("committed")
        count, vector_index = writer.write_vectors(generation / store_mod.VECTORS_FILE, expected.dimension)
        sources_count = writer.source_count()
    batches.reached("vectors")
    return store_mod.write_manifest(generation, replace(expected, sources=sources_count, chunks=count, vector_index=vector_index))
