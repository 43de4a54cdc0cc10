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
  1. the scorer: a logistic regression over answer.combine.ranking_features of every candidate of the
     answerable questions, each candidate's target its token F1 against the gold answers (soft labels, as
     a positive and a negative row weighted F1 and 1 - F1);
  2. the confidence: a logistic regression over answer.confidence.joined_features of each question's best
     candidate under a scorer fitted without that question's fold (5-fold cross-fitting), target 1 when it is right (F1 >= 0.5) and 0 when it is wrong or the
     question has no answer in the corpus;
  3. the threshold: the lowest that abstains on OOC_TARGET of the out-of-corpus questions (as eval/calibrate.py).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from regionqa.answer.combine import apply_scorer, ranking_features, read_and_join  # noqa: E402
from regionqa.answer.confidence import confidence, joined_features  # noqa: E402
from regionqa.config import Settings  # noqa: E402
from regionqa.engine import open_engine  # noqa: E402
from regionqa.evaluate import f1_score, open_squad_engine, read_qa_file, read_squad  # noqa: E402
from regionqa.search import retrieve  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader_common as rc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SQUAD = rc.DATA_PATH
TUNING = [
    str(rc.SHARED / "eval" / "sample_qa.jsonl"),
    "eval/dev_questions.jsonl",
    "eval/heldout_questions.jsonl",
    "eval/final_questions.jsonl",
]
OUT_OF_CORPUS = ["eval/out_of_corpus.jsonl", "eval/heldout_out_of_corpus.jsonl", "eval/final_out_of_corpus.jsonl"]
OOC_TARGET = 0.85  # as eval/calibrate.py: abstain on this share of the out-of-corpus questions
C = 1.0  # inverse L2 strength of both regressions


@dataclass
class Asked:
    group: str  # "squad" or "article:<file>"
    qid: str
    answers: list[str]
    ranking: object
    reading: object
    candidates: dict[tuple, tuple[dict[str, float], float]]  # key(candidate) -> (its features, its F1)


def key(candidate) -> tuple:
    """A candidate's identity that survives pickling (the --cache)."""
    return (candidate.source, candidate.start, candidate.end, candidate.label, candidate.range)


def ask_all(engine, items, group: str) -> list[Asked]:
    out = []
    for n, item in enumerate(items, 1):
        vector = engine.encoder([item.question])[0]
        hits = retrieve(engine.store, item.question, vector, 5, engine.settings.retrieval)
        ranking, reading = read_and_join(engine.store, item.question, hits, engine.encoder, lambda: engine.reader)
        if n % 100 == 0:
            print(f"  {group}: {n}/{len(items)} questions", flush=True)
        if not ranking.candidates or reading is None:
            out.append(Asked(group, item.id, item.answers, None, None, {}))
            continue
        candidates = {
            key(c): (values, f1_score(c.text, item.answers) if item.answers else 0.0)
            for c, values in zip(ranking.candidates, ranking_features(ranking))
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


def _domain(a: Asked) -> str:
    return "squad" if a.group == "squad" else "article"


def group_shares(asked: list[Asked]) -> dict[str, float]:
    """Weights per question that make the article's questions and SQuAD's count alike in total: SQuAD's would
    otherwise outweigh the article's (438 against 155) and tune the answerer to Wikipedia paragraphs rather
    than to the corpus users ask about."""
    squad = sum(1 for a in asked if _domain(a) == "squad")
    return {"squad": 1.0, "article": squad / max(len(asked) - squad, 1)}


def cross_fitted_best(asked: list[Asked], folds: int = 5) -> list[float]:
    """Each question's best candidate (left ranked in its Ranking) under a scorer fitted without its fold,
    so that the confidence is fitted on rankings as unseen questions get them; the F1 of each best."""
    best = [0.0] * len(asked)
    for fold in range(folds):
        scorer = fit_scorer([a for i, a in enumerate(asked) if i % folds != fold], quiet=True)
        for i, a in enumerate(asked):
            if i % folds == fold:
                best[i] = rescore(a, scorer)
    return best


def fit_scorer(asked: list[Asked], quiet: bool = False) -> dict[str, float]:
    names = list(next(iter(next(a for a in asked if a.candidates).candidates.values()))[0])
    rows, targets, weights = [], [], []
    share = group_shares([a for a in asked if a.answers])
    for a in asked:
        if not a.answers:
            continue
        for values, f1 in a.candidates.values():
            row = [values[n] for n in names]
            rows += [row, row]
            targets += [1, 0]
            weights += [share[_domain(a)] * f1, share[_domain(a)] * (1.0 - f1)]
    if not quiet:
        print(f"scorer: {sum(1 for a in asked if a.answers)} answerable questions, {len(rows) // 2} candidates")
    return fit_logistic(rows, targets, weights, names)


def rescore(a: Asked, scorer: dict[str, float]) -> float:
    """Rank the question's candidates by the scorer; the F1 of the new best (0 without candidates)."""
    if a.ranking is None:
        return 0.0
    apply_scorer(a.ranking, [a.candidates[key(c)][0] for c in a.ranking.candidates], scorer)
    return a.candidates[key(a.ranking.candidates[0])][1]


def fit_confidence(asked: list[Asked], best: list[float]) -> tuple[dict[str, float], list[float]]:
    """The confidence regression over the best candidates, and every question's confidence (0 without candidates)."""
    kept = [(a, f) for a, f in zip(asked, best) if a.ranking is not None]
    values = [joined_features(a.ranking, a.reading) for a, _ in kept]
    names = list(values[0])
    rows = [[v[n] for n in names] for v in values]
    targets = [1 if a.answers and f >= 0.5 else 0 for a, f in kept]
    share = group_shares([a for a, _ in kept])
    weights = [share[_domain(a)] for a, _ in kept]
    coefficients = fit_logistic(rows, targets, weights, names)
    by_id = {id(a): confidence(v, coefficients) for (a, _), v in zip(kept, values)}
    return coefficients, [by_id.get(id(a), 0.0) for a in asked]


def overall_f1(asked: list[Asked], best: list[float], scores: list[float], threshold: float) -> float:
    """SQuAD 2.0's overall F1 over all these questions: an answer scores its F1, an abstention 1 on a question
    without an answer and 0 on one with."""
    return float(np.mean([(f if s >= threshold else 0.0) if a.answers else float(s < threshold) for a, f, s in zip(asked, best, scores)]))


def choose_threshold(asked: list[Asked], scores: list[float]) -> float:
    """The lowest threshold that abstains on OOC_TARGET of the out-of-corpus questions (eval/calibrate.py's rule):
    paraphrased questions from real users score lower than tuning questions, so answering more often generalises
    better than the threshold that is best on this data. SQuAD's unanswerable questions, written to look
    answerable from the very paragraph, are reported beside it, not chosen on."""
    ooc = np.array([s for a, s in zip(asked, scores) if not a.answers and a.group != "squad"])
    return min(round(float(t), 2) for t in np.arange(0.05, 0.96, 0.01) if np.mean(ooc < t) >= OOC_TARGET)


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
    parser.add_argument("--cache", type=Path, help="keep the collected questions in this pickle and reuse it (refits in seconds)")
    args = parser.parse_args()
    if args.cache and args.cache.exists():
        asked = pickle.loads(args.cache.read_bytes())
    else:
        asked = collect(args)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(asked))
    print(f"{len(asked)} questions collected")
    scorer = fit_scorer(asked)
    print(f"scorer = {scorer}")
    in_sample = [rescore(a, scorer) for a in asked]
    print(f"in-sample forced F1 of the scorer over answerable questions: {np.mean([f for a, f in zip(asked, in_sample) if a.answers]):.3f}")
    best = cross_fitted_best(asked)  # the rankings are now the cross-fitted ones
    coefficients, scores = fit_confidence(asked, best)
    print(f"confidence = {coefficients}")
    threshold = choose_threshold(asked, scores)
    for t in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
        print(f"threshold {t:.2f}: overall F1 {overall_f1(asked, best, scores, t):.3f}")
        report(asked, best, scores, t)
    print(f"abstain_below = {threshold}; per group, with 5-fold cross-fitted rankings (the confidence in-sample):")
    report(asked, best, scores, threshold)
    if args.write:
        print(f"written to {write(scorer, coefficients, threshold)}")


if __name__ == "__main__":
    main()
