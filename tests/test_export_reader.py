"""training/export_reader.py's int8 embedding rows (the --row-embeddings variant) keep what the graph computes."""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from export_reader import embeddings_per_row  # noqa: E402


def gather_graph(words: np.ndarray, positions: np.ndarray):
    """ids -> words[ids] + positions[ids]: a large table (rewritten) and a small one (left as it is)."""
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [None])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, words.shape[1]])
    nodes = [
        helper.make_node("Gather", ["words", "ids"], ["w"], name="gather_words", axis=0),
        helper.make_node("Gather", ["positions", "ids"], ["p"], name="gather_positions", axis=0),
        helper.make_node("Add", ["w", "p"], ["out"], name="add"),
    ]
    tables = [numpy_helper.from_array(words, "words"), numpy_helper.from_array(positions, "positions")]
    graph = helper.make_graph(nodes, "embeddings", [ids], [out], initializer=tables)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"ids": ids})[0]


def test_rows_are_int8_with_their_own_scale_and_the_output_stays_within_half_a_step():
    rng = np.random.default_rng(0)
    words = (rng.normal(size=(1200, 8)) * rng.uniform(0.01, 3.0, size=(1200, 1))).astype(np.float32)
    positions = rng.normal(size=(1200, 8)).astype(np.float32)[:64]
    model = gather_graph(words, positions)
    ids = rng.integers(0, 64, size=50)
    before = run(model, ids)

    embeddings_per_row(model)
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert stored["words_int8"].dtype == np.int8 and "words" not in stored
    assert stored["positions"].dtype == np.float32  # under min_rows: not rewritten
    step = np.abs(words).max(axis=1) / 127.0  # each row's own scale
    after = run(model, ids)
    assert np.all(np.abs(after - before) <= step[ids, None] / 2 + 1e-6)
    assert not np.array_equal(after, before)  # it did quantise
