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


def _one_node(op, inputs, outputs, inits, **attrs):
    node = h.make_node(op, [i if isinstance(i, str) else i.name for i in inputs], outputs, domain="com.microsoft", **attrs)
    g = h.make_graph([node], "g", [i for i in inputs if not isinstance(i, str)], [h.make_tensor_value_info(o, T.FLOAT if "index" not in o else T.INT32, None)
                                                                            for o in outputs if o],
                     initializer=[onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def test_embed_layer_normalization_position_ids_and_embedding_sum(tmp_path):
    """BERT's embeddings with explicit position_ids (input 8), mask_index and the embedding_sum
    output (2) that the optimizer's fused graphs read."""
    rng = np.random.default_rng(8)
    vocab, positions, hidden = 30, 16, 8
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    inits = {"word": f32(vocab, hidden), "pos": f32(positions, hidden), "seg": f32(2, hidden), "gamma": f32(hidden) * 0.1 + 1, "beta": f32(hidden)}
    vi = lambda n: h.make_tensor_value_info(n, T.INT32, ["b", "s"])  # noqa: E731
    model = _one_node("EmbedLayerNormalization", [vi("ids"), vi("segments"), "word", "pos", "seg", "gamma", "beta", vi("mask"), vi("position_ids")],
                      ["y", "mask_index", "embedding_sum"], inits, epsilon=1e-12)
    for b, s in [(1, 5), (2, 9)]:
        mask = np.ones((b, s), np.int32)
        mask[-1, s - 3:] = 0
        feeds = {"ids": rng.integers(0, vocab, (b, s)).astype(np.int32), "segments": rng.integers(0, 2, (b, s)).astype(np.int32), "mask": mask,
                 "position_ids": rng.integers(0, positions, (b, s)).astype(np.int32)}
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        assert len(expected) == 3
        assert_outputs_close(expected, run_openvino(irforge.convert_model(model), feeds), rtol=1e-4, atol=1e-5)


def test_skip_simplified_layer_normalization_extra_outputs(tmp_path):
    """T5/Llama's residual + RMSNorm with bias, its inv_std_var (2) and input_skip_bias_sum (3)."""
    rng = np.random.default_rng(9)
    c = 16
    inits = {"gamma": (rng.standard_normal(c) * 0.1 + 1).astype(np.float32), "bias": (rng.standard_normal(c) * 0.1).astype(np.float32)}
    vi = lambda n: h.make_tensor_value_info(n, T.FLOAT, ["b", "s", c])  # noqa: E731
    model = _one_node("SkipSimplifiedLayerNormalization", [vi("x"), vi("skip"), "gamma", "bias"], ["y", "", "inv_std", "sum"], inits, epsilon=1e-6)
    converted = irforge.convert_model(model)
    for b, s in [(1, 3), (2, 7)]:
        feeds = {"x": rng.standard_normal((b, s, c)).astype(np.float32), "skip": rng.standard_normal((b, s, c)).astype(np.float32)}
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        assert len(expected) == 3 and all(e.size for e in expected)
        assert_outputs_close(expected, run_openvino(converted, feeds), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("form", ["ends_and_starts", "ends_other_dim_name"])
def test_attention_mask_index_left_padding(form, tmp_path):
    """mask_index [2B] (ends, then starts: left-padded rows) and [B] under a dim name that is not
    the batch's (so which form it is is only known at run time)."""
    n, hd = 2, 8
    model = _attention(n, hd, past=False, mask=False, unidirectional=0)
    model.graph.input.append(h.make_tensor_value_info("mask", T.INT32, ["m"]))
    model.graph.node[0].input[3] = "mask"
    for b, s in [(1, 5), (3, 6)]:
        rng = np.random.default_rng(b * 7 + s)
        ends = np.array([s, s - 1, s][:b], np.int32)
        starts = np.array([0, 0, 2][:b], np.int32) if b > 1 else np.array([2], np.int32)
        mask = np.concatenate([ends, starts]) if form == "ends_and_starts" else ends
        (y,) = _compare(model, {"x": rng.standard_normal((b, s, n * hd)).astype(np.float32), "mask": mask}, tmp_path)
        assert y.shape == (b, s, n * hd)
