"""`regionqa eval --beir`: a tiny BEIR folder written here, run end to end with the real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionqa.config import Settings
from regionqa.errors import BadInputError
from regionqa.evaluate import BEIR_METRICS, BEIR_RETRIEVERS, bm25_expression, documents_from_chunks, evaluate_beir, read_beir

DOCUMENTS = [
    (
        "d1",
        "Photosynthesis in green plants",
        "Chlorophyll absorbs sunlight. The energy turns carbon dioxide and water into glucose and oxygen.",
    ),
    ("d2", "Volcanoes", "Magma rises through cracks in the crust. It erupts as lava and ash, sometimes for weeks."),
    (
        "d3",
        "Monarch butterfly migration",
        "Every autumn monarch butterflies fly thousands of kilometres south to overwinter in the forests of central Mexico.",
    ),
    ("d4", "Tides", "The gravity of the Moon pulls on the oceans, which rise and fall twice a day along the coasts."),
]
QUERIES = [
    ("q1", "monarch butterflies overwinter in central Mexico"),
    ("q2", "chlorophyll absorbs sunlight"),
    ("q3", "a query without judgements"),
]
QRELS = [("q1", "d3", 1), ("q2", "d1", 1)]


def write_beir(folder: Path, documents=DOCUMENTS, qrels=QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, title, text in documents:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for query_id, text in QUERIES:
            handle.write(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_evaluate_beir_end_to_end_and_reuses_its_index(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    messages: list[str] = []

    result = evaluate_beir(folder, "test", settings, notify=messages.append)

    assert result["dataset"] == "tiny" and result["split"] == "test"
    assert result["queries"] == 2 and result["documents"] == 4
    assert set(result["metrics"]) == set(BEIR_RETRIEVERS)
    for metrics in result["metrics"].values():
        assert set(metrics) == set(BEIR_METRICS)
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    # Each query repeats words of exactly one document, the only relevant one: BM25 ranks it first.
    assert result["metrics"]["lexical"]["ndcg@10"] == pytest.approx(1.0)
    assert result["metrics"]["lexical"]["recall@10"] == pytest.approx(1.0)
    assert result["index"]["path"] == str(tmp_path / "user-data" / "beir" / "tiny")  # outside the project
    assert not result["index"]["reused"] and result["index"]["documents_indexed"] == 4
    assert messages, "progress is reported through notify"
    assert not (tmp_path / "index" / "CURRENT").exists(), "the user's index is left alone"
    json.dumps(result)  # the --json output

    again = evaluate_beir(folder, "test", settings)
    assert again["index"]["reused"] and again["index"]["chunks_embedded"] == 0
    assert again["index"]["generation"] == result["index"]["generation"]
    assert again["metrics"] == result["metrics"]


def test_read_beir_titles_and_errors(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    data = read_beir(folder, "test")
    assert data.documents[0].name == "d1"
    assert (
        data.documents[0].text
        == "Photosynthesis in green plants\nChlorophyll absorbs sunlight. The energy turns carbon dioxide and water into glucose and oxygen."
    )
    assert list(data.queries) == ["q1", "q2"] and data.qrels["q1"] == {"d3": 1}
    with pytest.raises(BadInputError, match="splits in .*: test"):
        read_beir(folder, "dev")
    with pytest.raises(BadInputError, match="plain name"):
        read_beir(folder, "../test")
    with pytest.raises(BadInputError, match="does not exist"):
        read_beir(tmp_path / "missing", "test")
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):  # saved with a byte-order mark
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    again = read_beir(folder, "test")
    assert again.documents[0].name == "d1" and list(again.queries) == ["q1", "q2"] and again.qrels == data.qrels


def test_documents_score_as_their_best_chunk() -> None:
    source_of = {1: "a", 2: "a", 3: "b", 4: "c"}
    hits = [(3, 0.9), (1, 0.8), (2, 0.7), (4, 0.1), (99, 5.0)]  # 99: unknown chunk, ignored
    assert documents_from_chunks(hits, source_of) == [("b", 0.9), ("a", 0.8), ("c", 0.1)]
    bonus = documents_from_chunks(hits, source_of, second_chunk_bonus=0.5)
    assert [name for name, _ in bonus] == ["a", "b", "c"]
    assert bonus[0][1] == pytest.approx(0.8 + 0.5 * 0.7)


def test_bm25_expression_is_any_content_word_or_number() -> None:
    assert (
        bm25_expression("Do 5 million monarch butterflies migrate?")
        == 'text : ("5" OR "million" OR "monarch" OR "butterflies" OR "migrate") OR numbers : ("n5000000")'
    )
    assert bm25_expression("the") == ""


def test_a_document_with_the_text_of_another_is_ranked_beside_it(tmp_path: Path) -> None:
    """A build indexes identical texts once; a qrel naming the copy must still find it (recall was 0 for it)."""
    copy = ("d5", DOCUMENTS[0][1], DOCUMENTS[0][2])  # d1's title and text under another id
    folder = write_beir(tmp_path / "copies", [*DOCUMENTS, copy], [("q1", "d3", 1), ("q2", "d5", 1)])
    messages: list[str] = []
    result = evaluate_beir(folder, "test", Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"), notify=messages.append)
    assert result["skipped"]["duplicate_documents"] == 1 and any("same text as another" in m for m in messages)
    assert result["metrics"]["lexical"]["recall@10"] == pytest.approx(1.0)


def test_copies_follow_the_document_they_copy_in_every_ranking() -> None:
    from regionqa.evaluate.beir import with_copies

    runs = {"dense": [["d1", "d2"], ["d3"]], "lexical": [["d2", "d1"], []]}
    assert with_copies(runs, {"d1": ["d5", "d6"]}) == {
        "dense": [["d1", "d5", "d6", "d2"], ["d3"]],
        "lexical": [["d2", "d1", "d5", "d6"], []],
    }
    assert with_copies(runs, {}) is runs
