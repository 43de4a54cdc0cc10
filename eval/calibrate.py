"""Fit the answer confidence (its coefficients) and the abstention threshold on data.

    .venv/bin/python eval/calibrate.py [--write] ../shared/eval/sample_qa.jsonl eval/dev_questions.jsonl eval/out_of_corpus.jsonl

Each question's best candidate is labelled 1 when it matches a gold answer (token F1 >= 0.5)
and 0 otherwise; questions with no gold answer (out of corpus) are always 0. An L2-regularised
logistic regression over answer.features() is fitted by Newton's method, and the threshold
that abstains on OOC_TARGET of the out-of-corpus questions is printed. With --write, both are
written to src/regionqa/answer/calibration.json, which the answerer reads. Uses the index in
./index (build it first).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from regionqa import engine as engine_mod
from regionqa.answer import calibration, confidence, features, rank_candidates
from regionqa.answer.confidence import calibration_file
from regionqa.config import Settings
from regionqa.evaluate import f1_score, read_qa_file
from regionqa.search import retrieve

L2 = 1.0  # ridge strength: the data set is small and nearly separable
OOC_TARGET = 0.85  # share of out-of-corpus questions to abstain on (the bar is 0.8; a margin for new data)


def collect(paths: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    engine = engine_mod.open_engine(Settings.from_environment(), build_if_missing=True)
    names = list(calibration().coefficients)
    rows, labels, ids, gold = [], [], [], []
    for path in paths:
        for item in read_qa_file(Path(path)):
            vector = engine.encoder([item.question])[0]
            hits = retrieve(engine.store, item.question, vector, 5, engine.settings.retrieval)
            ranking = rank_candidates(engine.store, item.question, hits, engine.encoder)
            if not ranking.candidates:
                continue
            values = features(ranking)
            rows.append([values[n] for n in names])
            labels.append(1.0 if item.answers and f1_score(ranking.candidates[0].text, item.answers) >= 0.5 else 0.0)
            ids.append(item.id)
            gold.append(bool(item.answers))
    return np.array(rows), np.array(labels), ids, np.array(gold)


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = np.zeros(x.shape[1])
    penalty = L2 * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # no penalty on the bias
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return w


def write(coefficients: dict[str, float], abstain_below: float) -> Path:
    """Write the fitted calibration into calibration.json, keeping its explanation."""
    path = Path(str(calibration_file()))
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(coefficients=coefficients, abstain_below=abstain_below)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the result into src/regionqa/answer/calibration.json")
    parser.add_argument("files", nargs="+", help="question files (JSONL) with and without gold answers")
    args = parser.parse_args()
    x, y, ids, has_gold = collect(args.files)
    names = list(calibration().coefficients)
    w = fit(x, y)
    coefficients = {n: round(float(v), 3) for n, v in zip(names, w)}
    scores = np.array([confidence(dict(zip(names, row)), coefficients) for row in x])
    # The lowest threshold that still abstains on OOC_TARGET of the questions the corpus cannot
    # answer: paraphrased questions from real users score lower than these tuning questions, so
    # answering more often generalises better than the threshold that is best on this data.
    unanswerable = scores[~has_gold]
    best = min(t for t in np.arange(0.05, 0.96, 0.01) if np.mean(unanswerable < t) >= OOC_TARGET)
    kept = np.sum((scores >= best) & (y == 1))
    print(f"{len(y)} questions, {int(y.sum())} answered right by the top candidate")
    print(f"coefficients = {coefficients}")
    print(
        f"abstain_below = {best:.2f}: keeps {kept}/{int(y.sum())} right answers, abstains on {np.sum((scores < best) & (y == 0))}/{int((y == 0).sum())} others"
    )
    print(f"  out-of-corpus abstained: {np.sum(scores[~has_gold] < best)}/{int((~has_gold).sum())}")
    for i, s, label in sorted(zip(ids, scores, y), key=lambda t: t[1]):
        if (s >= best) != (label == 1):
            print(f"  misjudged {i}: confidence {s:.2f}, right={bool(label)}")
    if args.write:
        print(f"written to {write(coefficients, round(float(best), 2))}")


if __name__ == "__main__":
    main()
