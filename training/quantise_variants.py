#!/usr/bin/env python
"""Measure quantisation variants of an exported reader: validation F1 (always answering), agreement with fp32, size, speed.

    .venv/bin/python training/quantise_variants.py --run-dir /work/reader-runs/NAME [VARIANT ...]

RUN_DIR is a train_reader.py run exported by export_reader.py (RUN_DIR/onnx/reader-fp32.onnx). Variants, each
written to RUN_DIR/variants/ and read through onnxruntime with the same windows and decoding as export_reader.py:

  dynamic          the shipped recipe: quantize_dynamic, per-channel int8 weights, reduce_range, every MatMul and Gather
  dynamic-ffn2     the same with the feed-forward output MatMul of every layer kept fp32
  smooth-A         activations divided per channel by s = max|x|^A / max|w|^(1-A) before each MatMul and its
                   weight rows multiplied by s (SmoothQuant, Xiao et al. 2023), then `dynamic`; the channel maxima
                   from 256 windows of the calibration article
  shipped          the package's reader-int8.onnx as it is (with --eval-batch 1: as regionqa reads, a window a call)
  weights8-B-L     8-bit weights only (MatMulNBits, block B along the input, accuracy level L: 0 computes in fp32,
                   4 quantises activations per block), word embeddings as int8 rows (export_reader.embeddings_per_row);
                   needs the onnx-ir package (pip install onnx-ir)

The variant is chosen on the calibration article (train side, never trained on); validation is reported.
The windows/s printed are the validation side's (--eval-batch windows a call, length-sorted).
Results are in training/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_reader as er  # noqa: E402
import reader_common as rc  # noqa: E402

READER_FILE = Path(__file__).resolve().parent.parent / "src" / "regionqa" / "reader_model" / "reader-int8.onnx"
DEFAULT_VARIANTS = ["dynamic", "dynamic-ffn2", "smooth-0.5", "smooth-0.7", "weights8-32-4", "weights8-128-4", "weights8-32-0"]


def weight_groups(model) -> tuple[dict, dict]:
    """MatMuls with a 2-D weight initializer, grouped by the activation they multiply (Q, K and V share one)."""
    tables = {t.name: t for t in model.graph.initializer}
    groups: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in tables and len(tables[node.input[1]].dims) == 2:
            groups.setdefault(node.input[0], []).append(node)
    return groups, tables


def activation_maxima(model, names: list[str], windows) -> dict[str, np.ndarray]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the probed tensors
    sess = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for batch in rc.length_sorted_batches(windows, 32):
        feed = rc.pad_batch([windows[i] for i in batch])
        real = feed["attention_mask"].reshape(-1).astype(bool)
        for name, value in zip(names, sess.run(names, feed)):
            top = np.abs(value.reshape(-1, value.shape[-1])[real]).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, top), top)
    return maxima


def smoothed(fp32: Path, alpha: float, windows):
    """The fp32 model with each MatMul's input divided by s per channel and its weight rows multiplied by s (same outputs)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    groups, tables = weight_groups(model)
    maxima = activation_maxima(model, list(groups), windows)
    nodes = list(model.graph.node)
    for name, consumers in groups.items():
        weights = [numpy_helper.to_array(tables[n.input[1]]) for n in consumers]
        weight_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = np.clip(np.maximum(maxima[name], 1e-5) ** alpha / np.maximum(weight_max, 1e-5) ** (1 - alpha), 1e-3, 1e3).astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(1.0 / scale, name + "_smooth"))
        nodes.insert(
            nodes.index(consumers[0]), helper.make_node("Mul", [name, name + "_smooth"], [name + "_smoothed"], name=name + "_smooth")
        )
        for node, weight in zip(consumers, weights):
            tables[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
            node.input[0] = name + "_smoothed"
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def weights_only(fp32: Path, out: Path, block: int, level: int) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(str(fp32))
    er.embeddings_per_row(model)  # MatMulNBits' Gather takes 4 bits only
    # The quantizer makes its DefaultWeightOnlyQuantConfig from these; quant_axes are its defaults (MatMul along the input).
    quantizer = nbits.MatMulNBitsQuantizer(
        model,
        bits=8,
        block_size=block,
        is_symmetric=True,
        accuracy_level=level,
        op_types_to_quantize=("MatMul",),
        quant_axes=(("MatMul", 0), ("Gather", 1)),
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=False)


def make_variant(name: str, fp32: Path, out: Path, calibration_windows) -> None:
    import onnx

    if name == "shipped":
        shutil.copy2(READER_FILE, out)
    elif name == "dynamic":
        er.quantize(fp32, out)
    elif name == "dynamic-ffn2":
        er.quantize(fp32, out, exclude=tuple(f"/m/bert/encoder/layer.{i}/output/dense/MatMul" for i in range(6)))
    elif name.startswith("smooth-"):
        with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
            source = Path(scratch) / "smoothed.onnx"
            onnx.save(smoothed(fp32, float(name.split("-")[1]), calibration_windows), str(source))
            er.quantize(source, out)
    elif name.startswith("weights8-"):
        _, block, level = name.split("-")
        weights_only(fp32, out, int(block), int(level))
    else:
        raise SystemExit(f"unknown variant {name!r}; choose from: {', '.join(DEFAULT_VARIANTS)} (any A, B, L)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-batch", type=int, default=64, help="windows a call in the variants' evaluation (1: as regionqa reads)")
    args = p.parse_args(argv)
    args.model_dir, args.data, args.limit, args.seed = args.run_dir / "model", rc.DATA_PATH, 0, 13
    sides = er.load_sides(args)
    tok = er.fast_tokenizer(args.model_dir)
    fp32 = args.run_dir / "onnx" / "reader-fp32.onnx"
    folder = args.run_dir / "variants"
    folder.mkdir(exist_ok=True)
    reference = {}
    for side in ("calibration", "validation"):
        reference[side], rate = er.ort_predict(er.session(fp32, args.threads), tok, sides[side], 64)
    print(f"fp32 {fp32.stat().st_size / 1e6:.1f} MB {rate:.1f} windows/s | {_forced(sides, reference)}", flush=True)
    calibration_windows = rc.windows_from_tokenizers(tok, sides["calibration"])[:256]
    for name in args.variants:
        out = folder / f"{name}.onnx"
        make_variant(name, fp32, out, calibration_windows)
        sess = er.session(out, args.threads)
        preds = {}
        for side in ("calibration", "validation"):
            preds[side], rate = er.ort_predict(sess, tok, sides[side], args.eval_batch)
        agree = " ".join(f"{s} {sum(preds[s][q][0] == reference[s][q][0] for q in preds[s]) / len(preds[s]):.3f}" for s in preds)
        print(
            f"{name:<16} {out.stat().st_size / 1e6:.1f} MB {rate:.1f} windows/s | same best span as fp32: {agree} | {_forced(sides, preds)}",
            flush=True,
        )
    return 0


def _forced(sides: dict, preds: dict) -> str:
    return "F1 always answering: " + " ".join(f"{s} {rc.score(sides[s], preds[s], -np.inf)['f1_answerable']:.4f}" for s in preds)


if __name__ == "__main__":
    raise SystemExit(main())
