#!/usr/bin/env python
"""Fit the joined answerer's weights (src/regionqa/answer/joined.json): the candidate scorer and the confidence.

    .venv/bin/python training/fit_answerer.py [--write]

Data, none of it seen by the reader in training and none of it a validation or blind set:
  - the SQuAD calibration article(s) of the reader's split (training/README.md; Warsaw), through their own
    index (regionqa.evaluate.open_squad_engine), answerable and unanswerable questions;
  - the project's tuning sets on the article index: the sample set, eval/{dev,heldout,final}_questions.jsonl,
    and the out-of-corpus sets eval/{out_of_corpus,heldout_out_of_corpus,final_out_of_corpus}.jsonl.
Every question goes through retrieval, the typed candidates and the reader (answer.combine.read_and_join),
exactly as `ask` runs them. Then:
  1. the scorer: a logistic regression over answer.combine.candidate_features of every candidate of the
     answerable questions, each candidate's target its token F1 against the gold answers (soft labels, as
     a positive and a negative row weighted F1 and 1 - F1);
  2. the confidence: a logistic regression over answer.confidence.joined_features of each question's best
     candidate under that scorer, target 1 when it is right (F1 >= 0.5) and 0 when it is wrong or the
     question has no answer in the corpus;
  3. the threshold: the lowest that abstains on OOC_TARGET of the out-of-corpus questions and on
     UNANSWERABLE_TARGET of the SQuAD unanswerable ones.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from regionqa.answer.combine import apply_scorer, candidate_features, read_and_join  # noqa: E402
from regionqa.answer.confidence import confidence, joined_features  # noqa: E402
from regionqa.config import Settings  # noqa: E402
from regionqa.engine import open_engine  # noqa: E402
from regionqa.evaluate import f1_score, open_squad_engine, read_qa_file, read_squad  # noqa: E402
from regionqa.search import retrieve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SQUAD = Path("/work/shared/qa/squad2-dev-half-train.json")
TUNING = ["../shared/eval/sample_qa.jsonl", "eval/dev_questions.jsonl", "eval/heldout_questions.jsonl", "eval/final_questions.jsonl"]
OUT_OF_CORPUS = ["eval/out_of_corpus.jsonl", "eval/heldout_out_of_corpus.jsonl", "eval/final_out_of_corpus.jsonl"]
OOC_TARGET = 0.85  # as eval/calibrate.py: abstain on this share of the out-of-corpus questions
UNANSWERABLE_TARGET = 0.70  # and on this share of SQuAD's unanswerable ones (issue 11's bar)
C = 1.0  # inverse L2 strength of both regressions


@dataclass
class Asked:
    group: str  # "squad" or "article:<file>"
    qid: str
    answers: list[str]
    ranking: object
    reading: object
    candidates: dict[int, tuple[dict[str, float], float]]  # id(candidate) -> (its features, its F1)


def ask_all(engine, items, group: str) -> list[Asked]:
    out = []
    for n, item in enumerate(items, 1):
        vector = engine.encoder([item.question])[0]
        hits = retrieve(engine.store, item.question, vector, 5, engine.settings.retrieval)
        ranking, reading = read_and_join(engine.store, item.question, hits, engine.encoder, engine.reader)
        if n % 100 == 0:
            print(f"  {group}: {n}/{len(items)} questions", flush=True)
        if not ranking.candidates or reading is None:
            out.append(Asked(group, item.id, item.answers, None, None, {}))
            continue
        candidates = {
            id(c): (candidate_features(ranking, c), f1_score(c.text, item.answers) if item.answers else 0.0) for c in ranking.candidates
        }
        out.append(Asked(group, item.id, item.answers, ranking, reading, candidates))
    return out


def collect(args) -> list[Asked]:
    settings = Settings.from_environment()
    split = json.loads(args.split.read_text())["titles"]
    data = read_squad(args.squad, set(split["calibration"]))
    with open_squad_engine(data, settings, notify=print) as engine:
        asked = ask_all(engine, data.items, "squad")
    with open_engine(settings, build_if_missing=True, notify=print) as engine:
        for path in TUNING + OUT_OF_CORPUS:
            asked += ask_all(engine, read_qa_file(ROOT / path), f"article:{Path(path).stem}")
    return asked


def fit_logistic(rows: list[list[float]], targets: list[int], weights: list[float], names: list[str]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    x, y, w = np.array(rows), np.array(targets), np.array(weights)
    keep = w > 0
    model = LogisticRegression(C=C, max_iter=5000, fit_intercept=False)  # "bias" is a feature, as the runtime computes it
    model.fit(x[keep], y[keep], sample_weight=w[keep])
    return {name: round(float(v), 4) for name, v in zip(names, model.coef_[0])}


def fit_scorer(asked: list[Asked]) -> dict[str, float]:
    names = list(next(iter(next(a for a in asked if a.candidates).candidates.values()))[0])
    rows, targets, weights = [], [], []
    for a in asked:
        if not a.answers:
            continue
        for values, f1 in a.candidates.values():
            row = [values[n] for n in names]
            rows += [row, row]
            targets += [1, 0]
            weights += [f1, 1.0 - f1]
    print(f"scorer: {sum(1 for a in asked if a.answers)} answerable questions, {len(rows) // 2} candidates")
    return fit_logistic(rows, targets, weights, names)


def rescore(a: Asked, scorer: dict[str, float]) -> float:
    """Rank the question's candidates by the scorer; the F1 of the new best (0 without candidates)."""
    if a.ranking is None:
        return 0.0
    apply_scorer(a.ranking, [a.candidates[id(c)][0] for c in a.ranking.candidates], scorer)
    return a.candidates[id(a.ranking.candidates[0])][1]


def fit_confidence(asked: list[Asked], best: list[float]) -> tuple[dict[str, float], list[float]]:
    """The confidence regression over the best candidates, and every question's confidence (0 without candidates)."""
    kept = [(a, f) for a, f in zip(asked, best) if a.ranking is not None]
    values = [joined_features(a.ranking, a.reading) for a, _ in kept]
    names = list(values[0])
    rows = [[v[n] for n in names] for v in values]
    targets = [1 if a.answers and f >= 0.5 else 0 for a, f in kept]
    coefficients = fit_logistic(rows, targets, [1.0] * len(rows), names)
    by_id = {id(a): confidence(v, coefficients) for (a, _), v in zip(kept, values)}
    return coefficients, [by_id.get(id(a), 0.0) for a in asked]


def choose_threshold(asked: list[Asked], scores: list[float]) -> float:
    ooc = np.array([s for a, s in zip(asked, scores) if not a.answers and a.group != "squad"])
    unanswerable = np.array([s for a, s in zip(asked, scores) if not a.answers and a.group == "squad"])
    for t in np.arange(0.05, 0.96, 0.01):
        if np.mean(ooc < t) >= OOC_TARGET and np.mean(unanswerable < t) >= UNANSWERABLE_TARGET:
            return round(float(t), 2)
    return 0.95


def report(asked: list[Asked], best: list[float], scores: list[float], threshold: float) -> None:
    groups = sorted({a.group for a in asked})
    for group in groups:
        rows = [(a, f, s) for a, f, s in zip(asked, best, scores) if a.group == group]
        answerable = [(f, s) for a, f, s in rows if a.answers]
        unanswerable = [s for a, f, s in rows if not a.answers]
        line = f"  {group:34s}"
        if answerable:
            forced = np.mean([f for f, _ in answerable])
            kept = np.mean([f if s >= threshold else 0.0 for f, s in answerable])
            answered = np.mean([s >= threshold for _, s in answerable])
            line += f" answerable {len(answerable):4d}: F1 forced {forced:.3f}, at threshold {kept:.3f}, answered {answered:.2f}"
        if unanswerable:
            line += f" | unanswerable {len(unanswerable):4d}: abstained {np.mean([s < threshold for s in unanswerable]):.2f}"
        print(line)


def write(scorer: dict, coefficients: dict, threshold: float) -> Path:
    path = ROOT / "src/regionqa/answer/joined.json"
    data = {
        "about": "Written by training/fit_answerer.py --write: the joined answerer's candidate scorer (answer.combine."
        "candidate_features), its confidence (answer.confidence.joined_features) and the threshold below which it abstains.",
        "scorer": scorer,
        "confidence": coefficients,
        "abstain_below": threshold,
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write src/regionqa/answer/joined.json")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--split", type=Path, required=True, help="the reader run's split.json (training/train_reader.py)")
    args = parser.parse_args()
    asked = collect(args)
    print(f"{len(asked)} questions collected")
    scorer = fit_scorer(asked)
    print(f"scorer = {scorer}")
    best = [rescore(a, scorer) for a in asked]
    coefficients, scores = fit_confidence(asked, best)
    print(f"confidence = {coefficients}")
    threshold = choose_threshold(asked, scores)
    print(f"abstain_below = {threshold} (fitted on these questions: in-sample figures)")
    report(asked, best, scores, threshold)
    if args.write:
        print(f"written to {write(scorer, coefficients, threshold)}")


if __name__ == "__main__":
    main()
