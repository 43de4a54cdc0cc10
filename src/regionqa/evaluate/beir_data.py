"""A BEIR benchmark folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) and its metrics (nDCG@k, Recall@k)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInputError

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance (BEIR / pytrec_eval definition: gain = relevance, log2 discount)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    positives = {doc for doc, rel in relevant.items() if rel > 0}
    return len(positives & set(ranked[:k])) / len(positives) if positives else 0.0


@dataclass
class BeirData:
    name: str
    documents: list  # Source objects: name = _id, text = title + "\n" + text
    queries: dict[str, str]  # query id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}
    skipped_documents: int = 0  # without any text
    skipped_queries: int = 0  # judged in the split but missing (or empty) in queries.jsonl


def _jsonl_rows(path: Path):
    """(line number, object) for each non-empty line; BadInputError naming the line when one is not an object with an _id."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise BadInputError(f"{path} line {number}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict) or "_id" not in row:
                    raise BadInputError(f'{path} line {number}: expected an object with an "_id" field')
                yield number, row
        except UnicodeDecodeError as error:
            raise BadInputError(f"{path}: not UTF-8 text ({error.reason}); BEIR files are UTF-8") from None


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise BadInputError(f"{path}: cannot read the file ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or (number == 1 and fields[0] == "query-id"):
            continue
        try:
            query_id, doc_id, score = fields[0].strip(), fields[1].strip(), int(fields[2])
        except (IndexError, ValueError):
            raise BadInputError(f"{path} line {number}: expected query-id, corpus-id and an integer score separated by tabs") from None
        qrels.setdefault(query_id, {})[doc_id] = score
    if not qrels:
        raise BadInputError(f"{path}: no relevance judgements in the file")
    return qrels


def read_beir(folder: Path, split: str) -> BeirData:
    """Read a BEIR folder: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv."""
    from ..models import Source
    from ..sources import content_hash

    if not folder.is_dir():
        raise BadInputError(f"the BEIR folder {folder} does not exist")
    if not _SPLIT_NAME.match(split):
        raise BadInputError(f"--split must be a plain name such as test, dev or train; got {split!r}")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise BadInputError(f"{qrels_path} does not exist; splits in {folder}: {', '.join(available) or 'none'}")
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise BadInputError(f"{folder / required} does not exist; a BEIR folder has corpus.jsonl, queries.jsonl and qrels/")
    qrels = _read_qrels(qrels_path)
    documents = []
    seen: set[str] = set()
    skipped_documents = 0
    for number, row in _jsonl_rows(folder / "corpus.jsonl"):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise BadInputError(f"{folder / 'corpus.jsonl'} line {number}: the _id {doc_id!r} is used twice")
        seen.add(doc_id)
        title, body = str(row.get("title") or "").strip(), str(row.get("text") or "").strip()
        text = f"{title}\n{body}" if title and body else title or body
        if not text:
            skipped_documents += 1
            continue
        documents.append(Source(name=doc_id, text=text, content_hash=content_hash(text), title=title))
    texts = {str(row["_id"]): str(row.get("text") or "").strip() for _, row in _jsonl_rows(folder / "queries.jsonl")}
    queries = {query_id: texts[query_id] for query_id in qrels if texts.get(query_id)}
    return BeirData(
        name=folder.resolve().name, documents=documents, queries=queries, qrels=qrels,
        skipped_documents=skipped_documents, skipped_queries=len(qrels) - len(queries),
    )  # fmt: skip


def safe_name(text: str, default: str) -> str:
    """`text` as a file or folder name: every character outside [A-Za-z0-9_.-] an underscore; `default` for nothing."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or default


def beir_index_dir(folder: Path, data_dir: Path) -> Path:
    """The BEIR folder's own index: <data_dir (the per-user data folder)>/beir/<folder name>.

    Never in the project or beside the user's index: it holds the benchmark's text, and benchmark
    licences (SciFact: CC BY-NC) keep that out of anything a checkout could commit or ship.
    """
    name = safe_name(Path(folder).resolve().name, "corpus")
    return data_dir / "beir" / name
