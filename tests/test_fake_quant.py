"""training/fake_quant.py computes what onnxruntime's dynamic int8 file computes (the export's own quantize step)."""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper, save

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import fake_quant  # noqa: E402
from export_reader import quantize  # noqa: E402


class TinyReader(torch.nn.Module):
    """ids -> embedding table -> LayerNorm -> one Linear: the two kinds of layer the int8 file quantises, with a
    float step between them as in BERT (else onnxruntime hands the table's uint8 rows straight to the MatMul)."""

    def __init__(self, table: np.ndarray, weight: np.ndarray, bias: np.ndarray):
        super().__init__()
        self.embed = torch.nn.Embedding.from_pretrained(torch.from_numpy(table), freeze=False)
        self.norm = torch.nn.LayerNorm(table.shape[1], elementwise_affine=False)
        self.linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight))
            self.linear.bias.copy_(torch.from_numpy(bias))

    def forward(self, input_ids, attention_mask=None):
        return self.linear(self.norm(self.embed(input_ids)))


def onnx_graph(table: np.ndarray, weight: np.ndarray, bias: np.ndarray):
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [1, None])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, None, weight.shape[0]])
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["embedded"], name="gather", axis=0),
        helper.make_node("LayerNormalization", ["embedded", "ones", "zeros"], ["normed"], name="norm", axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["normed", "weight_t"], ["product"], name="matmul"),
        helper.make_node("Add", ["product", "bias"], ["out"], name="add"),
    ]
    width = table.shape[1]
    constants = [numpy_helper.from_array(np.ones(width, np.float32), "ones"), numpy_helper.from_array(np.zeros(width, np.float32), "zeros")]
    constants += [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(weight.T.copy(), "weight_t"),
        numpy_helper.from_array(bias, "bias"),
    ]
    graph = helper.make_graph(nodes, "tiny", [ids], [out], initializer=constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def make_weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    table = (rng.normal(size=(300, 64)) * 0.5).astype(np.float32)
    weight = (rng.normal(size=(32, 64)) * rng.uniform(0.05, 1.0, size=(32, 1))).astype(np.float32)
    bias = rng.normal(size=32).astype(np.float32)
    return table, weight, bias


def test_the_rounding_torch_trains_through_is_the_int8_files(tmp_path):
    table, weight, bias = make_weights()
    fp32, int8 = tmp_path / "tiny.onnx", tmp_path / "tiny-int8.onnx"
    save(onnx_graph(table, weight, bias), str(fp32))
    quantize(fp32, int8)
    ids = np.random.default_rng(1).integers(0, 300, size=(1, 40))
    int8_out = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    fp32_out = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]

    model = TinyReader(table, weight, bias)
    assert fake_quant.attach(model) == 1
    with torch.no_grad():
        emulated = model(torch.from_numpy(ids), attention_mask=torch.ones(1, 40, dtype=torch.int64)).numpy()
    quantisation_error = np.abs(fp32_out - int8_out).max()
    assert quantisation_error > 1e-2  # the int8 file does round
    assert np.abs(emulated - int8_out).max() < 1e-4  # and the emulation rounds the same way


def test_padding_leaves_a_windows_rounding_as_it_is_alone():
    table, weight, bias = make_weights()
    table[7, 0] = 100.0  # the padding id: one spike, which would widen the window's range if it were counted
    model = TinyReader(table, weight, bias)
    fake_quant.attach(model)
    window = torch.randint(8, 300, (1, 12))
    padded = torch.cat([window, torch.full((1, 8), 7)], dim=1)
    with torch.no_grad():
        alone = model(window, attention_mask=torch.ones(1, 12).long())
        masked = model(padded, attention_mask=torch.cat([torch.ones(1, 12), torch.zeros(1, 8)], dim=1).long())
        unmasked = model(padded, attention_mask=torch.ones(1, 20).long())
    assert torch.equal(masked[0, :12], alone[0])
    assert not torch.allclose(unmasked[0, :12], alone[0])  # so the mask is what kept it


def test_gradients_pass_straight_through_the_rounding():
    model = TinyReader(*make_weights())
    fake_quant.attach(model)
    model(torch.randint(0, 300, (2, 10)), attention_mask=torch.ones(2, 10).long()).sum().backward()
    assert model.linear.weight.grad.abs().sum() > 0 and model.embed.weight.grad.abs().sum() > 0


def test_the_shipped_reader_s_weights_come_back_and_compute_as_its_int8_file():
    from reader_common import base_model_path
    from tokenizers import Tokenizer
    from transformers import AutoModelForQuestionAnswering

    from regionqa.answer.reader import READER_FOLDER

    int8 = READER_FOLDER / "reader-int8.onnx"
    model = AutoModelForQuestionAnswering.from_pretrained(str(base_model_path()), attn_implementation="eager").eval()
    missing, unexpected = model.load_state_dict(fake_quant.weights_of_int8_file(int8), strict=False)
    assert not unexpected and all(key.endswith("position_ids") for key in missing)
    fake_quant.attach(model)
    tokenizer = Tokenizer.from_file(str(READER_FOLDER / "tokenizer.json"))
    window = tokenizer.encode("How much cargo can the port handle?", "The port of Alat can now handle 25 million tons of cargo a year.")
    feed = {
        "input_ids": np.array([window.ids]),
        "attention_mask": np.ones((1, len(window.ids)), np.int64),
        "token_type_ids": np.array([window.type_ids]),
    }
    starts, ends = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, feed)
    with torch.no_grad():
        emulated = model(**{name: torch.from_numpy(value) for name, value in feed.items()})
    # One rounding that flips between float orders moves a logit by a step; the best span is the file's.
    assert np.abs(emulated.start_logits.numpy() - starts).max() < 0.5 and np.abs(emulated.end_logits.numpy() - ends).max() < 0.5
    assert emulated.start_logits.argmax() == starts.argmax() and emulated.end_logits.argmax() == ends.argmax()
