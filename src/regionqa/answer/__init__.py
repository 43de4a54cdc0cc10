"""Answer the question itself: a short typed span with a confidence, or an honest abstention.

No reader model can be installed offline, so the answer is chosen from what the index
already holds: the entities, figures, quoted titles and noun phrases of the sentences in
the retrieved passages. The steps, one module each:
  question.py    what the question asks for (its type, focus noun, cues), by rules only
  candidates.py  the candidate spans of a sentence
  scoring.py     their scores and the ranking (the numbers in weights.py, `ScoringWeights`)
  confidence.py  how sure the best candidate is (coefficients in `calibration.json`)
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
