"""The span reader one window a call against all of a question's windows in one padded batch, and the calls side by side.

    .venv/bin/python benchmarks/bench_reader_batching.py [--index-dir index] [--rounds 3]

Asks the dev, heldout, final and blind questions on the index (any built index: a SQuAD evaluation index
under the per-user data folder gives Wikipedia passages) once to catch what the reader is given
(the question and its passages), then times only the reader's onnxruntime calls over those windows,
the ways taking turns question by question, and prints the medians per question, their ratios, and the
largest difference one window's start logits show between a call and a batch (the int8 reader scales its
activations per call, so in a batch a window's scores depend on the windows beside it). "side by side"
is how answer/reader.py reads: a call a window, the calls spread over its thread pool, one per core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from regionqa.answer import reader as reader_mod  # noqa: E402
from regionqa.config import Settings  # noqa: E402
from regionqa.engine import open_engine  # noqa: E402
from regionqa.evaluate import read_qa_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["dev_questions", "heldout_questions", "final_questions", "blind_questions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = open_engine(Settings.from_environment(index_dir=args.index_dir))
    caught = []
    real_read = reader_mod.Reader.read
    reader_mod.Reader.read = lambda self, question, passages: caught.append((question, passages)) or real_read(self, question, passages)
    try:
        for name in QUESTIONS:
            for item in read_qa_file(ROOT / "eval" / f"{name}.jsonl"):
                engine.ask(item.question)
    finally:
        reader_mod.Reader.read = real_read
    reader = engine.reader
    readings = [[piece for _, piece in reader.encode_windows(question, passages)] for question, passages in caught]
    run = reader.session.run
    one_window = lambda piece: run(reader_mod.OUTPUTS, reader_mod.window_feed([piece]))  # noqa: E731
    one_call = lambda pieces: list(map(one_window, pieces))  # noqa: E731
    one_batch = lambda pieces: run(reader_mod.OUTPUTS, reader_mod.window_feed(pieces))  # noqa: E731
    side_by_side = lambda pieces: list(reader._pool.map(one_window, pieces))  # noqa: E731
    ways = [("window a call", one_call), ("one batch", one_batch)]
    if reader._pool is not None:  # on one core the reader has no pool and reads one window after the other
        ways.append(("side by side", side_by_side))
    times: dict[str, list[float]] = {label: [] for label, _ in ways}
    for round_ in range(args.rounds):
        for i, pieces in enumerate(readings):
            shift = (i + round_) % len(ways)
            for label, way in ways[shift:] + ways[:shift]:
                started = time.perf_counter()
                way(pieces)
                times[label].append(time.perf_counter() - started)
    moved = 0.0
    for pieces in readings:
        batch, alone = one_batch(pieces), one_call(pieces)
        for row, piece in enumerate(pieces):
            moved = max(moved, float(np.abs(batch[0][row, : len(piece.ids)] - alone[row][0][0]).max()))
    windows = [len(p) for p in readings]
    print(
        f"{len(readings)} readings ({statistics.mean(windows):.1f} windows each) x {args.rounds} rounds, load average {os.getloadavg()[0]:.2f}"
    )
    for label, values in times.items():
        print(f"{label:<14} median {statistics.median(values) * 1e3:6.2f} ms a question, mean {statistics.mean(values) * 1e3:6.2f}")
    ratio = statistics.median(times["window a call"]) / statistics.median(times["one batch"])
    print(f"window a call / one batch: {ratio:.3f}; largest change of a window's start logit between the two ways: {moved:.2f}")
    if "side by side" in times:
        ratio = statistics.median(times["side by side"]) / statistics.median(times["window a call"])
        print(f"side by side / window a call: {ratio:.3f} ({reader.workers} threads)")


if __name__ == "__main__":
    main()
