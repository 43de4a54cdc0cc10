"""How sure the answerer is of its best candidate, and when it abstains instead.

Confidence = logistic(features · coefficients). The coefficients and the abstention threshold
are data, `calibration.json`, fitted and written by eval/calibrate.py on the tuning sets (the
sample set and eval/{dev,heldout,final}_*.jsonl with their out-of-corpus companions); the
threshold is the lowest that abstains on 85% of their out-of-corpus questions.
eval/blind_*.jsonl were never used for tuning: they measure how this holds on unseen questions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..lexicon import YEAR_WORD
from .candidates import Candidate
from .question import stem, tokens
from .reader import Reading, reader_margin
from .scoring import Ranking


@dataclass(frozen=True)
class Calibration:
    """The fitted confidence model: one coefficient per feature, and the threshold below which to abstain."""

    coefficients: dict[str, float]  # in the order of the features; "bias" multiplies 1
    abstain_below: float


def calibration_file() -> Path:
    """Where the calibration is kept: `calibration.json` next to this module (pathlib, not importlib.resources,
    whose import cost ~30 ms of every cold `ask`)."""
    return Path(__file__).with_name("calibration.json")


@cache
def calibration() -> Calibration:
    """The calibration of `calibration.json` (read once a process)."""
    data = json.loads(calibration_file().read_text(encoding="utf-8"))
    return Calibration(coefficients=data["coefficients"], abstain_below=data["abstain_below"])


def features(ranking: Ranking) -> dict[str, float]:
    """What the confidence is computed from, for the best candidate."""
    best = ranking.candidates[0]
    p = best.parts
    qtype = ranking.qtype
    typed = qtype.wh == "thing" or best.label in qtype.primary or best.label in qtype.secondary
    return {
        "bias": 1.0,
        "score": best.score,
        "cosine": p.cosine,
        "coverage": p.coverage,
        "fit": min(p.fit, 1.0) * (1 - p.repeated),
        "missing_names": ranking.missing_names,
        "names_found": _names_found(ranking.names, best),
        "untyped": 0.0 if typed else 1.0,  # no candidate of the asked-for type: an NP fallback
        "other_year": 1.0 if qtype.years and not set(qtype.years) & _years_near(best) else 0.0,
    }


def joined_features(ranking: Ranking, reading: Reading) -> dict[str, float]:
    """`features`, with what the reader adds: its score of the best candidate and its own no-answer margin."""
    values = features(ranking)
    best = ranking.candidates[0]
    spans = reading.best_spans(1)
    runner_up = ranking.candidates[1].score if len(ranking.candidates) > 1 else 0.0
    values.update(
        reader=reader_margin(best.parts.reader),
        reader_top=1.0 if best.parts.reader_top else 0.0,
        # SQuAD 2.0's no-answer signal: the reader's best span against [CLS] (its "nothing here" score).
        answerable=max(min(spans[0].score - reading.null_score, 10.0), -10.0) if spans else -10.0,
        margin=best.score - runner_up,
        typed_confidence=ranking.typed_confidence,
    )
    return values


def _names_found(names: list[str], candidate: Candidate) -> float:
    """Share of the question's names that the candidate's sentence (with its context, and the sentence
    before it when it opens with a pronoun) mentions; 1 when the question names nothing. Paraphrases
    change words, rarely names."""
    if not names:
        return 1.0
    parts = candidate.parts
    present = {stem(w) for _, _, w in tokens(f"{parts.antecedent} {parts.context} {candidate.sentence.text}")}
    return sum(1 for n in names if stem(n) in present) / len(names)


def _years_near(candidate: Candidate) -> set[int]:
    """Years written in the candidate's sentence or its context (a list's introduction)."""
    text = candidate.parts.context + " " + candidate.sentence.text
    return {int(y) for y in YEAR_WORD.findall(text)}


def confidence(values: dict[str, float], coefficients: dict[str, float] | None = None) -> float:
    """The logistic confidence of feature values, by the calibrated coefficients unless others are given."""
    if coefficients is None:
        coefficients = calibration().coefficients
    z = sum(coefficients[name] * values[name] for name in coefficients)
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
