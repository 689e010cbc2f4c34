"""onnxruntime transformers-optimizer contrib ops (com.microsoft; issue 20 item 5, transformer
family) lowered to OpenVINO: each op in a one-node model with symbolic batch and sequence dims,
irforge's IR on the CPU plugin vs onnxruntime (which runs these ops), on two input shapes; the
ONNX output keeps the op as it is.

Attention (packed QKV, no past state) is checked with each mask_index form and unidirectional,
EmbedLayerNormalization with and without segments and mask. MultiHeadAttention,
GroupQueryAttention and RotaryEmbedding: tests/test_wild_contrib_attention.py.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

C = 16


def _model(op, inputs, consts, n_out=1, domain="com.microsoft", **attrs):
    """`inputs`: names of [batch, seq, C] graph inputs; `consts`: name → array initializers."""
    outs = [f"y{i}" for i in range(n_out)]
    names = [n if n is not None else "" for n in inputs]
    node = h.make_node(op, names, outs, domain=domain, **attrs)
    graph_inputs = [h.make_tensor_value_info(n, T.FLOAT, ["b", "s", C]) for n in inputs if n and n not in consts]
    inits = [onnx.numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()]
    g = h.make_graph([node], "g", graph_inputs, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def _vec(seed, scale=1.0, offset=0.0):
    return np.random.default_rng(seed).standard_normal(C) * scale + offset


CASES = {
    "Gelu": (["x"], {}, 1, {}),
    "BiasGelu": (["x", "bias"], {"bias": _vec(1)}, 1, {}),
    "FastGelu": (["x", "bias"], {"bias": _vec(2)}, 1, {}),
    "FastGelu-nobias": (["x"], {}, 1, {}),
    "QuickGelu": (["x"], {}, 1, {"alpha": 1.5}),
    "BiasAdd": (["x", "bias", "skip"], {"bias": _vec(3)}, 1, {}),
    "SkipLayerNormalization": (["x", "skip", "gamma", "beta", "bias"], {"gamma": _vec(4, 0.1, 1.0), "beta": _vec(5), "bias": _vec(6)},
                               4, {"epsilon": 1e-5}),
    "SkipLayerNormalization-nobias": (["x", "skip", "gamma"], {"gamma": _vec(4, 0.1, 1.0)}, 1, {"epsilon": 1e-12}),
    "SkipSimplifiedLayerNormalization": (["x", "skip", "gamma", "bias"], {"gamma": _vec(7, 0.1, 1.0), "bias": _vec(8)}, 1,
                                         {"epsilon": 1e-6}),
    # onnxruntime has this one in the default domain (where its optimizer writes it).
    "SimplifiedLayerNormalization": (["x", "scale"], {"scale": _vec(9, 0.1, 1.0)}, 2, {"epsilon": 1e-6, "axis": -1, "domain": ""}),
}


def _reference(case, model, feeds, consts):
    if case == "BiasAdd":  # onnxruntime has a CUDA kernel only
        return [feeds["x"] + consts["bias"].astype(np.float32) + feeds["skip"]]
    return run_onnxruntime(model.SerializeToString(), feeds)


@pytest.mark.parametrize("case", sorted(CASES))
def test_contrib_op_matches_onnxruntime(case, tmp_path):
    inputs, consts, n_out, attrs = CASES[case]
    model = _model(case.split("-")[0], inputs, consts, n_out, **attrs)
    converted = irforge.convert_model(model)
    for b, s in [(1, 3), (2, 7)]:
        rng = np.random.default_rng(b * 10 + s)
        feeds = {n: rng.standard_normal((b, s, C)).astype(np.float32) for n in inputs if n and n not in consts}
        expected = _reference(case, model, feeds, consts)
        actual = run_openvino(converted, feeds)
        assert len(actual) == len(expected) and all(np.asarray(a).size for a in actual)
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)
    # The ONNX output keeps the contrib op, and onnxruntime still runs it.
    out = tmp_path / "m.onnx"
    irforge.save_model(converted, str(out))
    written = onnx.load(str(out))
    assert [(n.op_type, n.domain) for n in written.graph.node] == [(n.op_type, n.domain) for n in model.graph.node]
    if case != "BiasAdd":
        assert_outputs_close(run_onnxruntime(str(out), feeds), expected, rtol=1e-6, atol=1e-7)


def _attention_model(mask_rank, unidirectional, heads=2, hidden=8, inp=6):
    rng = np.random.default_rng(11)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((inp, 3 * hidden)).astype(np.float32) * 0.5, "w"),
             onnx.numpy_helper.from_array(rng.standard_normal(3 * hidden).astype(np.float32) * 0.1, "bias")]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", inp])]
    names = ["x", "w", "bias"]
    if mask_rank == 1:
        inputs.append(h.make_tensor_value_info("mask", T.INT32, ["b"]))
        names.append("mask")
    elif mask_rank == 2:
        inputs.append(h.make_tensor_value_info("mask", T.INT32, ["b", "s"]))
        names.append("mask")
    node = h.make_node("Attention", names, ["y"], domain="com.microsoft", num_heads=heads, unidirectional=unidirectional)
    g = h.make_graph([node], "g", inputs, [h.make_tensor_value_info("y", T.FLOAT, None)], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m, inp


@pytest.mark.parametrize("mask_rank,unidirectional", [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1)])
def test_attention_matches_onnxruntime(mask_rank, unidirectional):
    model, inp = _attention_model(mask_rank, unidirectional)
    converted = irforge.convert_model(model)
    for b, s in [(1, 4), (2, 7)]:
        rng = np.random.default_rng(b * 10 + s)
        feeds = {"x": rng.standard_normal((b, s, inp)).astype(np.float32)}
        if mask_rank == 1:
            feeds["mask"] = np.array([s, s - 2][:b], np.int32)
        elif mask_rank == 2:
            mask = np.ones((b, s), np.int32)
            mask[-1, s - 2:] = 0
            feeds["mask"] = mask
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        actual = run_openvino(converted, feeds)
        assert actual[0].size and actual[0].shape == expected[0].shape
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("with_segments,with_mask", [(True, True), (False, False)])
def test_embed_layer_normalization_matches_onnxruntime(with_segments, with_mask):
    rng = np.random.default_rng(5)
    vocab, positions, hidden = 30, 16, 8
    inits = {"word": rng.standard_normal((vocab, hidden)), "pos": rng.standard_normal((positions, hidden)),
             "seg": rng.standard_normal((2, hidden)), "gamma": rng.standard_normal(hidden) * 0.1 + 1, "beta": rng.standard_normal(hidden)}
    names = ["ids", "segments" if with_segments else "", "word", "pos", "seg" if with_segments else "", "gamma", "beta",
             "mask" if with_mask else ""]
    inputs = [h.make_tensor_value_info(n, T.INT32, ["b", "s"]) for n in ("ids", "segments", "mask") if n in names]
    node = h.make_node("EmbedLayerNormalization", names, ["y", "mask_index"], domain="com.microsoft", epsilon=1e-12)
    g = h.make_graph([node], "g", inputs, [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("mask_index", T.INT32, None)],
                     initializer=[onnx.numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items() if k in names])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    converted = irforge.convert_model(model)
    for b, s in [(1, 5), (2, 9)]:
        feeds = {"ids": rng.integers(0, vocab, (b, s)).astype(np.int32)}
        if with_segments:
            feeds["segments"] = rng.integers(0, 2, (b, s)).astype(np.int32)
        if with_mask:
            mask = np.ones((b, s), np.int32)
            mask[-1, s - 3:] = 0
            feeds["mask"] = mask
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        actual = run_openvino(converted, feeds)
        assert len(actual) == 2 and actual[0].size
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)
