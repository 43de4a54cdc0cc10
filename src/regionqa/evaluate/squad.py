"""Answer quality on a SQuAD-format file, end to end: its paragraphs indexed into a private index, every question
asked through `Engine.ask` as a user asks it, and scored (EM/F1 over answerable questions, abstention on
unanswerable ones, and where the gold paragraph ranked among the passages)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import BadInputError
from ..models import Source
from ..sources.names import content_hash
from .beir_data import safe_name
from .qa import QAItem, QAReport, evaluate_qa


@dataclass
class SquadData:
    name: str
    sources: list[Source]  # one per paragraph, named "<title>/p<number>"
    items: list[QAItem]  # `source`: the gold paragraph's name; `answers` empty for unanswerable questions


def read_squad(path: Path, titles: Collection[str] | None = None) -> SquadData:
    """The paragraphs and questions of a SQuAD 1.1 / 2.0 JSON file (of the given article titles only, if any);
    BadInputError saying what is wrong with the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise BadInputError(f"{path}: not a SQuAD JSON file ({error})") from None
    except (KeyError, TypeError):
        raise BadInputError(f'{path}: not a SQuAD JSON file (expected {{"data": [{{"title", "paragraphs"}}]}})') from None
    sources, items = [], []
    try:
        for article in articles:
            if titles is not None and article["title"] not in titles:
                continue
            for number, paragraph in enumerate(article["paragraphs"], start=1):
                name = f"{safe_name(article['title'], 'article')}/p{number:03d}"
                text = paragraph["context"]
                sources.append(Source(name=name, text=text, content_hash=content_hash(text), title=article["title"]))
                for qa in paragraph["qas"]:
                    answers = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                    if not answers and not qa.get("is_impossible"):
                        raise BadInputError(f"{path}: question {qa['id']} has no answers and is not marked is_impossible")
                    items.append(QAItem(str(qa["id"]), qa["question"].strip(), answers, None, source=name))
    except (KeyError, TypeError) as error:
        raise BadInputError(
            f"{path}: a paragraph or question lacks a field ({error}); expected SQuAD's context/qas/question/answers"
        ) from None
    if not items:
        raise BadInputError(f"{path}: no questions in the file" + (" for those titles" if titles is not None else ""))
    return SquadData(Path(path).stem, sources, items)


def squad_index_dir(data: SquadData, data_dir: Path) -> Path:
    """The file's own index in the per-user data folder, one per set of paragraphs (never in the project)."""
    digest = hashlib.sha256("\n".join(s.content_hash for s in data.sources).encode()).hexdigest()[:12]
    return data_dir / "squad" / f"{safe_name(data.name, 'article')}-{digest}"


def open_squad_engine(data: SquadData, settings, notify: Callable[[str], None] | None = None):
    """An Engine over the paragraphs' own index, built first (and reused while the paragraphs are unchanged)."""
    from ..engine import Engine
    from ..indexing import build_sources

    say = notify or (lambda message: None)
    squad_settings = replace(settings, index_dir=squad_index_dir(data, settings.data_dir))
    say(f"SQuAD {data.name}: {len(data.sources):,} paragraphs, {len(data.items):,} questions; index {squad_settings.index_dir}")
    report = build_sources(squad_settings, data.sources, notify=say)
    say(f"index ready ({report.chunks_total:,} chunks); asking…")
    return Engine(squad_settings, notify=say)


def evaluate_squad(data: SquadData, settings, notify: Callable[[str], None] | None = None) -> QAReport:
    """Every question asked as a user asks it (`Engine.ask`, top 5 passages) and scored."""
    with open_squad_engine(data, settings, notify) as engine:
        return evaluate_qa(data.items, lambda question: engine.ask(question, top_k=5))
