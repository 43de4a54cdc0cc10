"""Currencies and dates in whole sentences, through the real spaCy pipeline: the sentence set of
tests/data/figure_sentences.jsonl, and the article's MONEY facts as they were before currencies and
dates were read (tests/data/article_money_facts.json, captured from a clean build of the article)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from regionqa.models import Figure, Source
from regionqa.sources import content_hash

DATA = Path(__file__).resolve().parent / "data"
SENTENCES = [json.loads(line) for line in (DATA / "figure_sentences.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class DatedSource(Source):
    """A source with the `meta` of the formats step (its own date), which nlp.py reads when present."""

    meta: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def analysed() -> dict[int, list[Figure]]:
    """The figures of every sentence of the set, each its own source (with its reference date as meta)."""
    from regionqa.nlp import analyse_sources

    sources = [
        DatedSource(
            name=f"s{i}.txt",
            text=row["text"],
            content_hash=content_hash(row["text"]),
            meta={"date": row["reference"]} if "reference" in row else {},
        )
        for i, row in enumerate(SENTENCES)
    ]
    return {int(source.name[1:-4]): analysis.figures for source, analysis in analyse_sources(sources)}


def test_the_sentence_set_is_large_enough_to_mean_something() -> None:
    assert len(SENTENCES) >= 30
    assert {"MONEY", "DATE"} <= {row["label"] for row in SENTENCES}


@pytest.mark.parametrize(
    "index", range(len(SENTENCES)), ids=[row["figure"] + (" @" + row["reference"] if "reference" in row else "") for row in SENTENCES]
)
def test_every_sentence_gives_its_figure_normalised(analysed: dict[int, list[Figure]], index: int) -> None:
    row = SENTENCES[index]
    found = {figure.text: figure for figure in analysed[index]}
    assert row["figure"] in found, f"{row['figure']!r} not found as a figure in {row['text']!r}: {sorted(found)}"
    figure = found[row["figure"]]
    expected = (row["label"], row["value"], row.get("value_max"), row["unit"], row.get("date"))
    assert (figure.label, figure.value, figure.value_max, figure.unit, figure.date) == expected
    assert row["text"][figure.start : figure.end] == figure.text


def test_the_article_money_facts_are_unchanged(cli, article_env) -> None:
    """The regression guard: every MONEY fact of the article as before, field for field; only `date` is new (null)."""
    before = json.loads((DATA / "article_money_facts.json").read_text(encoding="utf-8"))
    after = cli.json("facts", "--label", "MONEY")
    assert [fact.pop("date") for fact in after] == [None] * len(before)
    assert after == before


def test_date_facts_carry_their_iso_date_through_the_index(cli, article_env) -> None:
    facts = cli.json("facts", "--label", "DATE")
    dates = {fact["text"]: fact["date"] for fact in facts}
    assert dates["February 2022"] == "2022-02" and dates["2025-2027"] == "2025/2027" and dates["the end of 2023"] == "2023"
    # The table shows the ISO date as the value, and the CSV has it as a column.
    assert "2022-02" in cli("facts", "--label", "DATE").stdout
    header, *rows = cli("facts", "--label", "DATE", "--format", "csv").stdout.splitlines()
    assert header.split(",")[-1] == "date" and any(row.endswith(",2022-02") for row in rows)
