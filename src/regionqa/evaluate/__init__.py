"""Evaluation: answer quality on a QA file (qa.py) and retrieval quality on a BEIR folder (beir.py, beir_data.py)."""

from .beir import (
    BEIR_METRICS,
    BEIR_RETRIEVERS,
    BEIR_RUN_LENGTH,
    BeirCandidates,
    BeirOptions,
    beir_candidates,
    bm25_expression,
    documents_from_chunks,
    evaluate_beir,
    rank_documents,
    score_runs,
)
from .beir_data import BeirData, beir_index_dir, ndcg_at_k, read_beir, recall_at_k
from .qa import QAItem, QAReport, _squash, evaluate_qa, exact_match, f1_score, normalize_answer, read_qa_file
from .squad import SquadData, evaluate_squad, open_squad_engine, read_squad, squad_index_dir
