"""Where the corpus and index live, and the settings an index is built with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import ChunkSettings
from .search import RetrievalSettings

INDEX_DIR_ENV = "REGIONQA_INDEX_DIR"
CORPUS_DIR_ENV = "REGIONQA_CORPUS_DIR"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get(CORPUS_DIR_ENV, "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get(INDEX_DIR_ENV, "index")))
    chunking: ChunkSettings = ChunkSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    embed_batch_size: int = 32
