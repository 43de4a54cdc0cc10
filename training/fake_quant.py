"""Quantisation-aware training: the reader trains through the rounding its shipped int8 file will do.

The shipped reader is onnxruntime's `quantize_dynamic` of the fp32 export (`export_reader.py`), and its validation
F1 loses 1.2-2.4 points to fp32 (training/README.md). The loss is the activations' (8-bit weights alone lose 0.6):
every MatMul's input is quantised on the fly with one scale for the whole window. `attach(model)` makes the torch
model compute what that file computes, so the weights learn to live with it:

- every `nn.Linear` (the 36 encoder MatMuls and the start/end head, the 37 MatMulInteger of the int8 graph):
  its input rounded as `DynamicQuantizeLinear` rounds it (uint8, asymmetric, the range of the window's real tokens
  and 0), its weight rounded per output channel, symmetric, 7-bit (`per_channel=True, reduce_range=True`:
  integers in [-64, 64], scale max|w| / 64);
- the word, position and token-type embedding tables (the quantised Gathers): uint8, asymmetric, one scale each.

The rounding passes gradients straight through (the straight-through estimator), as in Q8BERT (Zafrir et al.,
2019). Attention's own two MatMuls, LayerNorm and softmax stay float, as they do in the int8 graph.
`attach` changes no parameter and no state_dict key: checkpoints, `--resume` and the export work unchanged, and
the model saved at the end is the plain fp32 model that `export_reader.py` quantises.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def _straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    return x + (rounded - x).detach()


def activation_uint8(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """x (batch, tokens, features) rounded as onnxruntime's DynamicQuantizeLinear rounds one window.

    At inference regionqa reads one window a call (answer/reader.py), so each row of a training batch gets its own
    range, taken over its real tokens only: padding is set to 0, which the range always includes."""
    with torch.no_grad():
        real = x if mask is None else x * mask[:, :, None].to(x.dtype)
        high = real.amax(dim=(1, 2), keepdim=True).clamp(min=0)
        low = real.amin(dim=(1, 2), keepdim=True).clamp(max=0)
        scale = ((high - low) / 255).clamp(min=1e-12)
        zero = torch.round(-low / scale).clamp(0, 255)
        rounded = (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
    return _straight_through(x, rounded)


def weight_int7_per_row(weight: torch.Tensor) -> torch.Tensor:
    """A Linear weight (out, in) rounded per output channel, symmetric, integers in [-64, 64]."""
    with torch.no_grad():
        scale = (weight.abs().amax(dim=1, keepdim=True) / 64).clamp(min=1e-12)
        rounded = torch.clamp(torch.round(weight / scale), -64, 64) * scale
    return _straight_through(weight, rounded)


def table_uint8(weight: torch.Tensor) -> torch.Tensor:
    """An embedding table rounded as quantize_dynamic rounds a Gather's table: uint8, asymmetric, one scale."""
    with torch.no_grad():
        low, high = weight.min().clamp(max=0), weight.max().clamp(min=0)
        scale = ((high - low) / 255).clamp(min=1e-12)
        zero = torch.round(-low / scale)
        rounded = (torch.clamp(torch.round(weight / scale) + zero, 0, 255) - zero) * scale
    return _straight_through(weight, rounded)


def attach(model: torch.nn.Module) -> int:
    """Make `model` (a transformers BERT question-answering model) compute as its int8 export will; returns how
    many Linear layers now round. The attention mask of each call is kept for the activation ranges."""
    state: dict = {"mask": None}
    forward = model.forward

    def forward_keeping_mask(self, *args, attention_mask=None, **kwargs):
        state["mask"] = attention_mask
        return forward(*args, attention_mask=attention_mask, **kwargs)

    def linear(self, x):
        return F.linear(activation_uint8(x, state["mask"]), weight_int7_per_row(self.weight), self.bias)

    def embedding(self, ids):
        return F.embedding(
            ids, table_uint8(self.weight), self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse
        )

    model.forward = types.MethodType(forward_keeping_mask, model)
    linears = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.forward = types.MethodType(linear, module)
            linears += 1
        elif isinstance(module, torch.nn.Embedding):
            module.forward = types.MethodType(embedding, module)
    return linears


def weights_of_int8_file(path) -> dict:
    """The state_dict (transformers key names) of a reader whose int8 file `path` is (export_reader.py's graph):
    every quantised weight as its int8 file computes it (dequantised), the float ones as stored. A model loaded with
    it and attach()ed computes what that file computes, so quantisation-aware training can start from a shipped
    reader whose fp32 checkpoint is gone."""
    import re

    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    stored = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}

    def dequantised(name: str):
        values = stored[f"{name}_quantized"].astype("float32") - stored[f"{name}_zero_point"].astype("float32")
        return torch.from_numpy(values * stored[f"{name}_scale"])

    weights = {}
    for name, value in stored.items():
        if name.startswith("m.") and not name.endswith(("_quantized", "_scale", "_zero_point")):
            weights[name[2:]] = torch.from_numpy(value.copy())
        elif name.startswith("m.") and name.endswith("_quantized"):  # an embedding table (a quantised Gather)
            weights[name[2 : -len("_quantized")]] = dequantised(name[: -len("_quantized")])
    for node in graph.node:
        if node.op_type == "MatMulInteger":  # "/m/bert/encoder/layer.0/attention/self/key/MatMul_quant"
            layer = re.sub(r"^/m/|/MatMul_quant$", "", node.name).replace("/", ".")
            weights[f"{layer}.weight"] = dequantised(node.input[1][: -len("_quantized")]).T.contiguous()
    return weights
