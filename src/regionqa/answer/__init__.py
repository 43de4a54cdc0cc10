"""Answer the question itself: a short typed span with a confidence, or an honest abstention.

The answer is chosen among typed candidates (the entities, figures, quoted titles and noun
phrases of the best sentences of the retrieved passages) and the spans of a reader trained
here (`reader_model/`). The steps, one module each:
  question.py    what the question asks for (its type, focus noun, cues), by rules only
  candidates.py  the candidate spans of a sentence
  scoring.py     the typed scores and ranking (the numbers in weights.py, `ScoringWeights`)
  reader.py      the span reader (onnxruntime) over the best sentences and their neighbours
  combine.py     reader spans joined with the typed candidates under one learned scorer (`joined.json`)
  confidence.py  how sure the best candidate is (coefficients in `calibration.json`, `joined.json`)
  extract.py     the answer or an abstention, and the facts that bear on the question
"""

from __future__ import annotations

from .candidates import Candidate, ScoreParts
from .confidence import Calibration, calibration, confidence, features
from .extract import answer_question, relevant_facts
from .question import QuestionType, classify
from .scoring import SCORING_WEIGHTS, Encoder, Ranking, ScoringWeights, rank_candidates

__all__ = [
    "SCORING_WEIGHTS",
    "Calibration",
    "Candidate",
    "Encoder",
    "QuestionType",
    "Ranking",
    "ScoreParts",
    "ScoringWeights",
    "answer_question",
    "calibration",
    "classify",
    "confidence",
    "features",
    "rank_candidates",
    "relevant_facts",
]
