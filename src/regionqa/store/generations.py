"""The index folder on disk: a folder of generations, each with `manifest.json`, `meta.sqlite`, `vectors.faiss`.

    index/
      CURRENT              name of the generation that answers (replaced atomically)
      .lock                held by a build, so that two builds cannot interleave
      gen-<time>-<rand>/   manifest.json, meta.sqlite, vectors.faiss

A build writes a whole new generation beside the current one and then switches CURRENT
with one atomic rename: a build killed at any point leaves the previous index answering.
Published generations are never modified, so readers open them immutable, without locks.

What is guaranteed (tests/test_faults.py kills builds at each step, tests/test_index_recovery.py
breaks every part):
- A build killed at any moment (SIGKILL, power cut) leaves CURRENT naming a complete, checked
  generation: the previous one, or the new one once the rename is done. What the killed build
  left (a generation folder, a .CURRENT.* file) is ignored by readers and removed by the next
  build; the kernel drops the killed build's lock.
- One build at a time: a second one fails at once (IndexBusyError, exit code 5).
- A reader opens exactly one generation: CURRENT, then that folder's manifest and files, checked
  (identity, size, sha256) before use. Builds delete superseded generations but keep the one
  before the current; a reader that has opened a generation answers from it to the end even after
  it is deleted (its SQLite file stays open, its vectors are in memory), and a reader whose
  generation vanished before it could open it opens the new current one (open_store).
- A missing, cut, altered or mismatched part (manifest, data files, CURRENT) is an
  IndexStateError (exit code 3) that names `regionqa index build --full`, which rebuilds from
  the corpus whatever state the index folder is in.
SQLite holds sources, sentences, chunks (with their vectors), entities, figures and phrases,
and an FTS5 table for BM25; FAISS ids are the chunk row ids, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from ..errors import BadInputError, IndexBusyError, IndexStateError

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
DATABASE_FILE = "meta.sqlite"
VECTORS_FILE = "vectors.faiss"
REBUILD_HINT = "run: regionqa index build --full"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; any difference from the running settings means a rebuild."""

    schema_version: int
    embedding_model: str
    embedding_sha256: str
    dimension: int
    spacy_model: str
    chunking: dict
    sources: int = 0
    chunks: int = 0
    created: str = ""
    files: dict = field(default_factory=dict)  # name -> {"size", "sha256"}: detects truncation and corruption
    vector_index: str = "flat"  # FAISS index type (flat, hnsw, ivf); older manifests had only flat

    def identity(self) -> dict:
        """The fields that must match between an index and the running code."""
        return {
            "schema_version": self.schema_version,
            "embedding_model": self.embedding_model,
            "embedding_sha256": self.embedding_sha256,
            "dimension": self.dimension,
            "spacy_model": self.spacy_model,
            "chunking": self.chunking,
        }


# ---------------------------------------------------------------- generations


GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_-]+")


def current_generation(index_dir: Path) -> Path | None:
    """The folder of the generation that answers, or None when no index was built.

    IndexStateError when CURRENT cannot be read or does not name a generation folder of index_dir
    (garbage, a path, a folder that is gone): such an index is never guessed at.
    """
    check_index_dir(index_dir)
    path = index_dir / CURRENT_FILE
    try:
        with path.open("rb") as handle:
            name = handle.read(4096).decode("utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a generation name"
        raise IndexStateError(f"the index pointer {path} cannot be read ({reason}); {REBUILD_HINT}") from None
    folder = index_dir / name
    if not GENERATION_NAME.fullmatch(name) or not folder.is_dir():
        raise IndexStateError(f"the index in {index_dir} points to a missing generation {name[:80]!r}; {REBUILD_HINT}")
    return folder


def check_not_orphaned(index_dir: Path) -> None:
    """IndexStateError when CURRENT is missing but a built generation (one with a manifest) is there.

    CURRENT deleted by hand, or a first build killed between its manifest and its publishing: either
    way the folder holds an index that only an explicit build may replace, never `ask` building one
    of its own on first use (which would delete it as a stale generation)."""
    built = sorted(child.name for child in index_dir.glob("gen-*") if (child / MANIFEST_FILE).is_file())
    if built:
        raise IndexStateError(
            f"the index in {index_dir} has no {CURRENT_FILE} file but holds a built generation ({built[-1]}), "
            f"so it is not rebuilt on its own; {REBUILD_HINT} (rebuilds it from the corpus)"
        )


def check_index_dir(index_dir: Path) -> None:
    """BadInputError when the index folder given is a file: no build could ever write there."""
    if index_dir.exists() and not index_dir.is_dir():
        raise BadInputError(f"{index_dir} is a file, not an index folder; pass a folder with --index-dir (or REGIONQA_INDEX_DIR)")


def lock_index(index_dir: Path):
    """The build lock of an index folder, held (the caller releases it); IndexBusyError at once when
    another process holds it. Re-entrant in one process: `remove` holds it around the build it runs.
    The kernel drops it when its holder dies, so a killed build never leaves the index locked."""
    from filelock import FileLock, Timeout

    check_index_dir(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a parent that is a file, a read-only place
        raise BadInputError(f"cannot create the index folder {index_dir} ({error.strerror}); pass another with --index-dir") from None
    lock = FileLock(str(index_dir / LOCK_FILE), timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise IndexBusyError(f"another build is running on {index_dir}; wait for it to finish and try again") from None
    return lock


def new_generation(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    folder = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir()
    return folder


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, generation: Path) -> None:
    """Make `generation` the answering index with one atomic rename, durable across a power cut."""
    for child in generation.iterdir():
        _fsync_path(child)
    _fsync_path(generation)
    temporary = index_dir / f".{CURRENT_FILE}.{secrets.token_hex(3)}"
    temporary.write_text(generation.name + "\n", encoding="utf-8")
    _fsync_path(temporary)
    os.replace(temporary, index_dir / CURRENT_FILE)
    _fsync_path(index_dir)


def remove_stale_generations(index_dir: Path, keep: Iterable[Path], unfinished_only: bool = False) -> None:
    """Delete generations other than `keep`: unfinished builds and superseded indexes. With
    `unfinished_only`, only folders without a manifest (a build killed before it wrote one).
    Only a build calls this, under the build lock, so no other build is writing any of them."""
    kept = {p.name for p in keep}
    for child in index_dir.glob("gen-*"):
        if child.is_dir() and child.name not in kept and not (unfinished_only and (child / MANIFEST_FILE).exists()):
            shutil.rmtree(child, ignore_errors=True)
    for child in index_dir.glob(f".{CURRENT_FILE}.*"):
        child.unlink(missing_ok=True)


def write_manifest(generation: Path, manifest: Manifest) -> Manifest:
    """Record each data file's size and hash, then write the manifest."""
    from ..integrity import file_sha256

    files = {
        name: {"size": (generation / name).stat().st_size, "sha256": file_sha256(generation / name)}
        for name in (DATABASE_FILE, VECTORS_FILE)
    }
    final = Manifest(**{**asdict(manifest), "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    (generation / MANIFEST_FILE).write_text(json.dumps(asdict(final), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return final


# ---------------------------------------------------------------- reading


def read_manifest(generation: Path) -> Manifest:
    """The manifest of a generation; IndexStateError when it is missing, unreadable or malformed."""
    path = generation / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexStateError(f"the index manifest {path} is missing; {REBUILD_HINT}") from None
    except (OSError, ValueError) as error:  # ValueError: bad JSON or UTF-8
        detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise IndexStateError(f"the index manifest {path} is unreadable ({detail}); {REBUILD_HINT}") from None
    if not isinstance(data, dict):
        raise IndexStateError(f"the index manifest {path} is unreadable (not a JSON object); {REBUILD_HINT}")
    unknown = sorted(set(data) - {f.name for f in fields(Manifest)})
    missing = [f.name for f in fields(Manifest) if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
    if unknown or missing:
        problem = f"fields this regionqa does not know: {', '.join(unknown)}" if unknown else f"no {', '.join(missing)}"
        raise IndexStateError(f"the index manifest {path} is unreadable ({problem[:200]}); {REBUILD_HINT}")
    manifest = Manifest(**data)
    counts_ok = all(type(getattr(manifest, key)) is int for key in ("schema_version", "dimension", "sources", "chunks"))
    files_ok = isinstance(manifest.files, dict) and all(
        isinstance(entry, dict) and type(entry.get("size")) is int and isinstance(entry.get("sha256"), str)
        for entry in manifest.files.values()
    )
    if not (counts_ok and files_ok):
        raise IndexStateError(f"the index manifest {path} is malformed (a count or the file list has the wrong type); {REBUILD_HINT}")
    return manifest


def check_compatible(manifest: Manifest, expected: Manifest) -> None:
    """Refuse an index built by another schema, model or chunking: never mix vectors of two models."""
    found, wanted = manifest.identity(), expected.identity()
    for key, value in wanted.items():
        if found.get(key) != value:
            raise IndexStateError(f"the index was built with {key}={found.get(key)!r} but this regionqa uses {value!r}; {REBUILD_HINT}")


def check_files(generation: Path, manifest: Manifest) -> None:
    """Detect a missing, truncated or altered data file before it can give wrong answers."""
    from ..integrity import file_sha256

    for name in (DATABASE_FILE, VECTORS_FILE):
        path = generation / name
        expected = manifest.files.get(name)
        if expected is None:
            raise IndexStateError(f"the index manifest in {generation} does not list {name}; {REBUILD_HINT}")
        try:
            intact = path.stat().st_size == expected["size"] and file_sha256(path) == expected["sha256"]
        except OSError:  # gone, or not readable
            raise IndexStateError(f"the index file {path} is missing; {REBUILD_HINT}") from None
        if not intact:
            raise IndexStateError(f"the index file {path} is corrupt (its size or hash changed); {REBUILD_HINT}")
