#!/usr/bin/env python
"""Export a span reader trained by train_reader.py to ONNX (fp32 and dynamic int8) and evaluate both on validation.

    .venv/bin/python training/export_reader.py --run-dir /work/reader-runs/NAME
    # writes RUN_DIR/onnx/{reader-fp32.onnx, reader-int8.onnx, tokenizer.json, config.json, export.json}

Steps: torch.onnx.export (dynamo=False, opset 17, dynamic batch and sequence axes; inputs input_ids, attention_mask,
token_type_ids; outputs start_logits, end_logits) from the model loaded with eager attention; onnxruntime vs torch
max abs difference on validation windows; quant_pre_process, then quantize_dynamic (per-channel, int8 weights);
then both ONNX files are evaluated through onnxruntime and the `tokenizers` library (the model folder's
tokenizer.json, truncation only_second at 192 with stride 64, no padding, windows padded per batch), with the same
split, decoding and threshold rule (chosen on the calibration article) as train_reader.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader_common as rc  # noqa: E402

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUTS = ["start_logits", "end_logits"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, required=True, help="train_reader.py run folder (split.json, model/)")
    p.add_argument("--model-dir", type=Path, default=None, help="default RUN_DIR/model")
    p.add_argument("--out-dir", type=Path, default=None, help="default RUN_DIR/onnx")
    p.add_argument("--data", type=Path, default=rc.DATA_PATH)
    p.add_argument("--limit", type=int, default=0, help="smoke test: only this many questions per side")
    p.add_argument("--seed", type=int, default=13, help="as train_reader.py --seed (used with --limit)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-batch", type=int, default=64)
    p.add_argument("--max-int8-mb", type=float, default=30.0)
    p.add_argument(
        "--row-embeddings",
        action="store_true",
        help="a variant, not shipped: int8 embedding rows with their own scales, then only the MatMuls quantised",
    )
    return p.parse_args(argv)


def load_sides(args) -> dict:
    import random

    split = json.loads((args.run_dir / "split.json").read_text())["titles"]
    examples = rc.load_examples(args.data)
    sides = {k: [e for e in examples if e.title in set(v)] for k, v in split.items() if k != "train"}
    if args.limit:
        rng = random.Random(args.seed)
        sides = {k: sorted(rng.sample(v, min(args.limit, len(v))), key=lambda e: e.qid) for k, v in sides.items()}
    for k, v in sides.items():
        print(f"{k}: {', '.join(split[k])} ({len(v)} questions)", flush=True)
    return sides


# ---------------------------------------------------------------- export


def export_fp32(model_dir: Path, path: Path, sample: dict) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.start_logits, out.end_logits

    axes = {n: {0: "batch", 1: "sequence"} for n in INPUTS + OUTPUTS}
    args = tuple(torch.from_numpy(sample[n]) for n in INPUTS)
    with torch.inference_mode():
        torch.onnx.export(
            Wrapper(model),
            args,
            str(path),
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    import onnx

    onnx.checker.check_model(str(path))
    print(f"exported {path}", flush=True)


def torch_logits(model_dir: Path, batches: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir)).eval()
    out = []
    with torch.inference_mode():
        for b in batches:
            o = model(**{k: torch.from_numpy(v) for k, v in b.items()})
            out.append((o.start_logits.numpy(), o.end_logits.numpy()))
    return out


def session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_logits(sess, batches: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [tuple(sess.run(OUTPUTS, b)) for b in batches]


def max_abs_diff(a, b) -> float:
    return max(float(np.abs(x - y).max()) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def quantize(fp32: Path, int8: Path, row_embeddings: bool = False, exclude: tuple[str, ...] = ()) -> None:
    """int8 weights by onnxruntime's dynamic quantisation (per-channel, activations quantised per call) of every
    MatMul and Gather; or with row_embeddings the embedding tables row by row (embeddings_per_row) and then only
    the MatMuls; `exclude` names nodes left fp32 (quantise_variants.py). training/README.md has the validation F1 of each."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=int8.parent) as scratch:  # the intermediate graphs go, even on a failure
        source, pre = fp32, Path(scratch) / "pre.onnx"
        if row_embeddings:
            model = onnx.load(str(fp32))
            embeddings_per_row(model)
            source = Path(scratch) / "rows.onnx"
            onnx.save(model, str(source))
        quant_pre_process(str(source), str(pre), skip_symbolic_shape=False, auto_merge=True)
        ops = ["MatMul"] if row_embeddings else None  # None: every op type onnxruntime quantises
        # reduce_range (7-bit weights): validation F1 0.591 against 0.583 without (fp32: 0.611).
        quantize_dynamic(
            str(pre),
            str(int8),
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=ops,
            nodes_to_exclude=list(exclude),
        )
    print(f"quantised {int8}", flush=True)


def embeddings_per_row(model, min_rows: int = 1000) -> None:
    """Store each large embedding table (a Gather over a float initializer) as int8 with one scale per row:
    Gather the int8 rows and their scales, Cast, Mul. A row is one token's vector, so its own scale keeps every
    token as exact as the table's largest value allows; the table shrinks 4x and nothing else is computed."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    tables = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        table = tables.get(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if table is None or axis != 0 or table.data_type != TensorProto.FLOAT or len(table.dims) != 2 or table.dims[0] < min_rows:
            nodes.append(node)
            continue
        values = numpy_helper.to_array(table)
        scale = (np.maximum(np.abs(values).max(axis=1, keepdims=True), 1e-12) / 127.0).astype(np.float32)
        rows = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
        ids, out = node.input[1], node.output[0]
        graph.initializer.remove(table)
        graph.initializer.extend(
            [numpy_helper.from_array(rows, table.name + "_int8"), numpy_helper.from_array(scale, table.name + "_scale")]
        )
        nodes += [
            helper.make_node("Gather", [table.name + "_int8", ids], [out + "_int8"], name=node.name + "_int8", axis=0),
            helper.make_node("Cast", [out + "_int8"], [out + "_cast"], name=node.name + "_cast", to=TensorProto.FLOAT),
            helper.make_node("Gather", [table.name + "_scale", ids], [out + "_scale"], name=node.name + "_scale", axis=0),
            helper.make_node("Mul", [out + "_cast", out + "_scale"], [out], name=node.name + "_dequantise"),
        ]
    del graph.node[:]
    graph.node.extend(nodes)


# ---------------------------------------------------------------- evaluation through tokenizers + onnxruntime


def fast_tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=rc.MAX_LENGTH, stride=rc.DOC_STRIDE, strategy="only_second")
    return tok


def check_windows_match(model_dir: Path, tok, examples) -> None:
    """The tokenizers-library windows must equal transformers' (used in training) token for token."""
    from transformers import AutoTokenizer

    hf = rc.windows_from_hf(AutoTokenizer.from_pretrained(str(model_dir)), examples)
    ours = rc.windows_from_tokenizers(tok, examples)
    same = len(hf) == len(ours) and all(
        a.input_ids == b.input_ids
        and a.token_type_ids == b.token_type_ids
        and a.offsets == b.offsets
        and a.example_index == b.example_index
        for a, b in zip(hf, ours)
    )
    print(
        f"tokenizers vs transformers windows on {len(examples)} questions: {len(ours)} vs {len(hf)} windows, identical: {same}", flush=True
    )
    if not same:
        raise SystemExit("window mismatch between tokenizers and transformers")


def ort_predict(sess, tok, examples, batch_size: int) -> tuple[dict, float]:
    windows = rc.windows_from_tokenizers(tok, examples)
    starts: list = [None] * len(windows)
    ends: list = [None] * len(windows)
    t0 = time.time()
    for b in rc.length_sorted_batches(windows, batch_size):
        s, e = sess.run(OUTPUTS, rc.pad_batch([windows[i] for i in b]))
        for r, i in enumerate(b):
            starts[i], ends[i] = s[r], e[r]
    rate = len(windows) / (time.time() - t0)
    return rc.decode(examples, windows, starts, ends), rate


def evaluate_onnx(name: str, path: Path, tok, sides, args) -> dict:
    sess = session(path, args.threads)
    calib_preds, _ = ort_predict(sess, tok, sides["calibration"], args.eval_batch) if sides["calibration"] else ({}, 0)
    val_preds, rate = ort_predict(sess, tok, sides["validation"], args.eval_batch)
    res = rc.report(name, sides["calibration"], calib_preds, sides["validation"], val_preds)
    res["windows_per_second"] = rate
    print(f"   {name}: {rate:.1f} validation windows/s ({args.threads} threads, batch {args.eval_batch})", flush=True)
    torch_preds = args.run_dir / "predictions-final.json"
    if torch_preds.exists() and not args.limit:
        ref = json.loads(torch_preds.read_text())
        same = sum(ref[q]["text"] == t for q, (t, _) in val_preds.items()) / len(val_preds)
        res["same_best_span_as_torch"] = same
        print(f"   {name}: best span identical to the torch model's on {same:.3f} of validation questions", flush=True)
    (args.out_dir / f"eval-{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def describe(path: Path) -> dict:
    return {"path": str(path), "bytes": path.stat().st_size, "mb": round(path.stat().st_size / 1e6, 2), "sha256": rc.sha256_file(path)}


def main(argv=None) -> int:
    args = parse_args(argv)
    args.model_dir = args.model_dir or args.run_dir / "model"
    args.out_dir = args.out_dir or args.run_dir / "onnx"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads)
    sides = load_sides(args)
    tok = fast_tokenizer(args.model_dir)
    check_windows_match(args.model_dir, tok, sides["validation"][:200])

    # A sample of validation windows of several lengths and batch sizes for the equality checks.
    windows = rc.windows_from_tokenizers(tok, sides["validation"][:120])
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    picks = [order[:1], order[:7], order[len(order) // 2 : len(order) // 2 + 16], order[-32:]]
    batches = [rc.pad_batch([windows[i] for i in p]) for p in picks]
    print("check batches (batch x sequence):", [b["input_ids"].shape for b in batches], flush=True)

    fp32 = args.out_dir / "reader-fp32.onnx"
    int8 = args.out_dir / "reader-int8.onnx"
    export_fp32(args.model_dir, fp32, batches[1])
    ref = torch_logits(args.model_dir, batches)
    d32 = max_abs_diff(ref, ort_logits(session(fp32, args.threads), batches))
    print(f"max |onnxruntime fp32 - torch| over start/end logits: {d32:.3e}", flush=True)
    quantize(fp32, int8, args.row_embeddings)
    d8 = max_abs_diff(ref, ort_logits(session(int8, args.threads), batches))
    print(f"max |onnxruntime int8 - torch| over start/end logits: {d8:.3e} (int8 is a different model; see its metrics)", flush=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        shutil.copy2(args.model_dir / f, args.out_dir / f)

    results = {"fp32": evaluate_onnx("onnx-fp32", fp32, tok, sides, args), "int8": evaluate_onnx("onnx-int8", int8, tok, sides, args)}
    files = {"fp32": describe(fp32), "int8": describe(int8), "tokenizer.json": describe(args.out_dir / "tokenizer.json")}
    for k, v in files.items():
        print(f"{k:<15} {v['mb']:>8.2f} MB  sha256 {v['sha256']}  {v['path']}", flush=True)
    manifest = {
        "max_abs_diff_fp32_vs_torch": d32,
        "max_abs_diff_int8_vs_torch": d8,
        "files": files,
        "validation": {k: r["validation"] for k, r in results.items()},
        "threshold": {k: r["threshold"] for k, r in results.items()},
    }
    (args.out_dir / "export.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if files["int8"]["mb"] > args.max_int8_mb:
        print(f"int8 file is {files['int8']['mb']} MB > {args.max_int8_mb} MB", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
