"""The variants of onnxruntime's transformers-optimizer ops (issue 20 item 5) that the one-node
suite (tests/test_wild_ms_transformer_ops.py) leaves out, each against onnxruntime's CPU kernel on
two input shapes, irforge's IR on the CPU plugin and its ONNX output in onnxruntime:
Attention with a past / present KV state (GPT-2's fused form, prefill then decode, batch 2),
unidirectional, with a [B, P + S] mask, and with qkv_hidden_sizes (V wider than Q/K).
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino


def _attention(n, hd, *, past, mask, sizes=None, unidirectional=1):
    d = n * hd
    qkv = sizes or [d, d, d]
    rng = np.random.default_rng(11)
    inits = {"w": (rng.standard_normal((d, sum(qkv))) / np.sqrt(d)).astype(np.float32),
             "bias": (rng.standard_normal(sum(qkv)) * 0.1).astype(np.float32)}
    ins = [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", d])]
    names = ["x", "w", "bias", "mask" if mask else "", "past" if past else ""]
    if mask:
        ins.append(h.make_tensor_value_info("mask", T.INT32, ["b", "t"]))
    if past:
        ins.append(h.make_tensor_value_info("past", T.FLOAT, [2, "b", n, "p", hd]))
    outs = ["y"] + (["present"] if past else [])
    attrs = {"num_heads": n, "unidirectional": unidirectional}
    if sizes:
        attrs["qkv_hidden_sizes"] = sizes
    node = h.make_node("Attention", names, outs, domain="com.microsoft", name="attention_0", **attrs)
    g = h.make_graph([node], "g", ins, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs],
                     initializer=[onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def _compare(model, feeds, tmp_path):
    converted = irforge.convert_model(model)
    out = str(tmp_path / "irforge.onnx")
    irforge.save_model(converted, out)
    assert [n.op_type for n in onnx.load(out).graph.node if n.domain == "com.microsoft"] == ["Attention"]
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    assert all(np.asarray(e).size for e in expected)
    assert_outputs_close(expected, run_openvino(converted, feeds), rtol=1e-4, atol=1e-5)
    assert_outputs_close(expected, run_onnxruntime(out, feeds), rtol=1e-5, atol=1e-6)
    return expected


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("b,prompt", [(2, 5), (1, 3)])
def test_attention_with_past_prefill_and_decode(mask, b, prompt, tmp_path):
    n, hd = 2, 8
    model = _attention(n, hd, past=True, mask=mask)
    rng = np.random.default_rng(b * 10 + prompt)
    past = np.zeros((2, b, n, 0, hd), np.float32)
    lengths = np.array([prompt, prompt - 2][:b])
    valid = np.arange(prompt)[None, :] < lengths[:, None]  # the second row right-padded
    for step, s in enumerate([prompt, 1, 1]):
        f = {"x": rng.standard_normal((b, s, n * hd)).astype(np.float32), "past": past}
        if mask:
            f["mask"] = np.concatenate([valid, np.ones((b, step), bool)], axis=1).astype(np.int32)
        y, present = _compare(model, f, tmp_path)
        assert present.shape == (2, b, n, past.shape[3] + s, hd)
        past = present


@pytest.mark.parametrize("unidirectional", [0, 1])
def test_attention_qkv_hidden_sizes(unidirectional, tmp_path):
    n = 2
    model = _attention(n, 8, past=False, mask=False, sizes=[16, 16, 24], unidirectional=unidirectional)
    for b, s in [(1, 4), (2, 7)]:
        rng = np.random.default_rng(b + s)
        (y,) = _compare(model, {"x": rng.standard_normal((b, s, 16)).astype(np.float32)}, tmp_path)
        assert y.shape == (b, s, 24)
