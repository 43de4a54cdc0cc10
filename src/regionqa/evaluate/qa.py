"""Answer quality on a QA file: SQuAD exact match and F1, evidence recall, MRR and abstention."""

from __future__ import annotations

import collections
import json
import re
import statistics
import string
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError
from ..figures import format_number, parse_number

_ARTICLES = re.compile(r"\b(a|an|the)\b")


_PUNCT = set(string.punctuation) | {"“", "”", "’", "‘", "–", "—"}


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces), with number
    words written as digits so that "five" and "5" compare equal."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT and ch not in ".," else ch for ch in text)
    words = []
    for word in text.split():
        word = word.strip(".,")
        if not word:
            continue
        number = parse_number(word)
        words.append(format_number(number) if number is not None else word.replace(",", "").replace(".", ""))
    text = " ".join(words)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: Iterable[str]) -> float:
    return max((float(normalize_answer(prediction) == normalize_answer(g)) for g in gold), default=0.0)


def f1_score(prediction: str, gold: Iterable[str]) -> float:
    """Token F1 against the best of the gold answers, as SQuAD scores it."""
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for answer in gold:
        truth = normalize_answer(answer).split()
        common = collections.Counter(predicted) & collections.Counter(truth)
        same = sum(common.values())
        if same == 0:
            continue
        precision, recall = same / len(predicted), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _squash(text: str) -> str:
    """Compare evidence ignoring quote styles, dashes and spacing."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(str.maketrans({"“": '"', "”": '"', "’": "'", "‘": "'", "–": "-", "—": "-"}))
    return " ".join(text.split())


@dataclass
class QAItem:
    id: str
    question: str
    answers: list[str]
    evidence: str | None
    source: str | None = None  # the source that holds the answer, when known (SQuAD: its paragraph)


def _qa_item(row: dict, number: int) -> QAItem:
    """One line's question; ValueError saying which field has the wrong type (a string for `answers`
    would otherwise be scored letter by letter)."""
    if not isinstance(row, dict):
        raise ValueError('each line must be one JSON object: {"id", "question", "answers", "evidence"}')
    answers = row.get("answers")
    answers = [] if answers is None else answers  # left out or null: a question with no answer
    if not isinstance(row["question"], str) or not row["question"].strip():
        raise ValueError('"question" must be a non-empty string')
    if not isinstance(answers, list) or not all(isinstance(answer, str) for answer in answers):
        raise ValueError('"answers" must be a list of strings, e.g. ["Ilham Aliyev"] ([] for a question with no answer)')
    if not isinstance(row.get("evidence"), str | None):
        raise ValueError('"evidence" must be a string (the passage text that holds the answer) or left out')
    return QAItem(str(row.get("id", number)), row["question"], answers, row.get("evidence"))


def read_qa_file(path: Path) -> list[QAItem]:
    """Read `{"id","question","answers","evidence"}` lines; `answers: []` marks an unanswerable question."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(_qa_item(row, number))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BadInputError(f'{path} line {number}: expected {{"id","question","answers","evidence"}} ({error})') from None
        except ValueError as error:
            raise BadInputError(f"{path} line {number}: {error}") from None
    if not items:
        raise BadInputError(f"{path}: no questions in the file")
    return items


@dataclass
class QAReport:
    questions: int
    answerable: int
    exact_match: float
    f1: float
    evidence_recall: dict[str, float]
    mrr: float
    abstention_rate: float  # share of answerable questions with no answer
    unanswerable_abstained: float | None  # share of unanswerable questions correctly abstained
    latency_ms: dict[str, float]
    rows: list[dict] = field(default_factory=list)


def evaluate_qa(items: list[QAItem], ask: Callable[[str], object], ks: tuple[int, ...] = (1, 3, 5)) -> QAReport:
    """Run every question through `ask` (an Engine.ask bound to top_k >= max(ks)) and score it."""
    rows = []
    latencies = []
    for item in items:
        started = time.perf_counter()
        result = ask(item.question)
        latencies.append((time.perf_counter() - started) * 1000)
        prediction = result.answer.text if result.answer else ""
        rank = None
        if item.evidence:
            wanted = _squash(item.evidence)
            rank = next((hit.rank for hit in result.passages if wanted in _squash(hit.chunk.text)), None)
        elif item.source:
            rank = next((hit.rank for hit in result.passages if hit.chunk.source == item.source), None)
        rows.append(
            {
                "id": item.id,
                "question": item.question,
                "gold": item.answers,
                "prediction": result.answer.text if result.answer else None,
                "score": result.answer.score if result.answer else None,
                "em": exact_match(prediction, item.answers) if item.answers and result.answer else 0.0,
                "f1": f1_score(prediction, item.answers) if item.answers and result.answer else 0.0,
                "evidence_rank": rank,
                "latency_ms": round(latencies[-1], 1),
            }
        )
    answerable = [r for r in rows if r["gold"]]
    unanswerable = [r for r in rows if not r["gold"]]
    with_evidence = [r for r in answerable if r["gold"]] if any(i.evidence or i.source for i in items) else []
    n = max(len(answerable), 1)
    recall = {
        f"@{k}": sum(1 for r in with_evidence if r["evidence_rank"] and r["evidence_rank"] <= k) / max(len(with_evidence), 1) for k in ks
    }
    mrr = sum(1 / r["evidence_rank"] for r in with_evidence if r["evidence_rank"]) / max(len(with_evidence), 1)
    latencies.sort()
    return QAReport(
        questions=len(rows),
        answerable=len(answerable),
        exact_match=sum(r["em"] for r in answerable) / n,
        f1=sum(r["f1"] for r in answerable) / n,
        evidence_recall=recall,
        mrr=mrr,
        abstention_rate=sum(1 for r in answerable if r["prediction"] is None) / n,
        unanswerable_abstained=(sum(1 for r in unanswerable if r["prediction"] is None) / len(unanswerable)) if unanswerable else None,
        latency_ms={"p50": statistics.median(latencies), "max": latencies[-1], "mean": statistics.fmean(latencies)},
        rows=rows,
    )
