"""The corpus folder: adding files, folders and web pages to it, removing sources, and its status against the index."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import store as store_mod
from .batches import BuildModels, Progress
from .config import Settings
from .errors import BadInputError, RegionQAError
from .indexing import BuildReport, build, expected_manifest, read_corpus
from .models import IndexedSource
from .sources import CACHE_FOLDER, SUPPORTED_SUFFIXES, discover, file_part, matches_globs, ocr_cache, printable, read_file


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
    notify: Callable[[str], None] | None = None,
    models: BuildModels | None = None,
) -> AddReport:
    """Copy files, folders and web pages into the corpus folder and index them; bad ones are reported and skipped.

    Args:
        paths: files; folders, searched recursively; http(s) URLs, fetched into web/<host>/ (a URL
            added again replaces its page when the page has changed).
        include, exclude: glob patterns for the files of folders, see `sources.matches_globs`.
        models: what the build runs (indexing.real_models by default; with a Ray address for `--ray`).

    Raises BadInputError when nothing could be added and something was wrong.
    """
    from .fetch import is_url

    report = AddReport()
    corpus = settings.corpus_dir
    # Held from the first copy to the end of the build: while another build runs, the corpus
    # folder does not change under it.
    lock = store_mod.lock_index(settings.index_dir)
    try:
        corpus.mkdir(parents=True, exist_ok=True)
        existing = {s.content_hash: s.name for s in read_corpus(settings).sources}
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
                with ocr_cache(settings.data_dir / CACHE_FOLDER):  # the build that follows reads a scan from the cache
                    _add_file(file, name, str(file), corpus, existing, report)
            if not found:
                patterns = " with --include/--exclude as given" if include or exclude else ""
                report.errors.append(f"{path}: no file to add{patterns}; regionqa reads {', '.join(sorted(SUPPORTED_SUFFIXES))}")
        if not report.copied and report.errors:
            raise BadInputError("nothing was added: " + "; ".join(report.errors))
        report.build = build(settings, progress=progress, notify=notify, models=models)
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
    if page.name in report.copied or (corpus / page.name).exists():
        from .sources.provenance import record_origin

        record_origin(corpus / page.name, page.final_url)


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


def remove(settings: Settings, name: str, progress: Progress | None = None, notify: Callable[[str], None] | None = None) -> BuildReport:
    """Delete a source file from the corpus folder and drop everything derived from it from the index.

    The build lock is taken before the file is deleted: while another build runs, nothing changes.
    """
    path = corpus_path(settings, name)
    if file_part(name) != name:
        raise BadInputError(
            f"{name!r} is one record of {file_part(name)}; remove the whole file ({file_part(name)}) or edit it and run: regionqa index build"
        )
    on_disk = path.is_file() or path.is_symlink()
    indexed = _indexed_files(settings)
    # A file deleted by hand is still indexed until the next build: removing it runs that build.
    if not on_disk and name not in indexed:
        raise BadInputError(f"{name!r} is not in the corpus; see the indexed sources with: regionqa index status")
    # A file of a kind regionqa never reads is no source of its: it is the user's, left where it is.
    if on_disk and name not in indexed and path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise BadInputError(
            f"{name!r} is not a source (regionqa does not read {path.suffix or 'files without a suffix'}); it was left in place"
        )
    lock = store_mod.lock_index(settings.index_dir)
    try:
        # An index needs a source: removing the last one would delete the file and then fail the
        # build, leaving an index that still answers from a file no longer in the corpus.
        if not any(source.name != name and file_part(source.name) != name for source in read_corpus(settings).sources):
            raise BadInputError(
                f"{name} is the last readable source and an index needs one; add another source first: regionqa index add FILE"
            )
        if on_disk:
            path.unlink()
        return build(settings, progress=progress, notify=notify)
    finally:
        lock.release()


def _indexed_files(settings: Settings) -> set[str]:
    """The corpus files the index holds sources of; empty when there is no readable index."""
    try:
        generation = store_mod.current_generation(settings.index_dir)
        return {file_part(name) for name in store_mod.indexed_hashes(generation)} if generation else set()
    except RegionQAError:
        return set()


@dataclass(frozen=True)
class Stale:
    """What the corpus folder has that the index does not reflect yet (source names)."""

    added: list[str]
    changed: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class Status:
    index_dir: str
    generation: str | None
    manifest: store_mod.Manifest | None
    sources: list[IndexedSource]
    stale: Stale
    problem: str | None = None
    missing_corpus: str | None = None  # the corpus folder, when it does not exist (every indexed source then looks removed)

    def as_dict(self) -> dict:
        return {
            "index_dir": self.index_dir,
            "generation": self.generation,
            "manifest": asdict(self.manifest) if self.manifest else None,
            "sources": [row._asdict() for row in self.sources],
            "stale": asdict(self.stale),
            "problem": self.problem,
        }


def status(settings: Settings) -> Status:
    """What is indexed, with which models, and what the corpus folder has that the index lacks."""
    generation = None
    manifest = None
    rows: list[IndexedSource] = []
    problem = None
    try:
        folder = store_mod.current_generation(settings.index_dir)
        if folder is not None:
            generation = folder.name
            opened = store_mod.open_store(settings.index_dir, expected_manifest(settings))
            manifest = opened.manifest
            rows = opened.source_rows()
            opened.close()
    except RegionQAError as error:
        problem = str(error)
    indexed = {row.name: row.content_hash for row in rows}
    on_disk = {s.name: s.content_hash for s in read_corpus(settings).sources} if settings.corpus_dir.is_dir() else {}
    indexed_texts = set(indexed.values())
    stale = Stale(
        # A copy of an indexed text under another name is a duplicate a build skips, not news.
        added=sorted(n for n in on_disk.keys() - indexed.keys() if on_disk[n] not in indexed_texts),
        changed=sorted(n for n in on_disk.keys() & indexed.keys() if on_disk[n] != indexed[n]),
        removed=sorted(indexed.keys() - on_disk.keys()),
    )
    missing = None if settings.corpus_dir.is_dir() else str(settings.corpus_dir)
    return Status(str(settings.index_dir), generation, manifest, rows, stale, problem, missing)
