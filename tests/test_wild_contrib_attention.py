"""onnxruntime's com.microsoft attention ops (issue 20 item 5, transformers family):
MultiHeadAttention, GroupQueryAttention and RotaryEmbedding in one-node models with symbolic
batch / sequence dims, irforge's IR on the CPU plugin vs onnxruntime 1.32's CPU kernels on two
input shapes each; what the lowering does not cover is refused naming the node and attribute.
"""

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from wild_contrib_decoders import rotary_steps  # noqa: E402

F, I32, I64 = T.FLOAT, T.INT32, T.INT64


def _model(op, inputs, outputs, consts=None, **attrs):
    """inputs: list of (name, elem type, symbolic shape) or None for an absent optional input."""
    consts = consts or {}
    names = [i[0] if i else "" for i in inputs] + list(consts)
    graph_inputs = [h.make_tensor_value_info(n, t, s) for n, t, s in (i for i in inputs if i)]
    node = h.make_node(op, names, outputs, domain="com.microsoft", **attrs)
    inits = [onnx.numpy_helper.from_array(v, k) for k, v in consts.items()]
    g = h.make_graph([node], "g", graph_inputs, [h.make_tensor_value_info(o, F, None) for o in outputs if o], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def _check(model, feed_sets, rtol=1e-4, atol=1e-5):
    converted = irforge.convert_model(model)
    compared = 0
    for feeds in feed_sets:
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        actual = run_openvino(converted, feeds)
        assert len(actual) == len(expected)
        for e, a in zip(expected, actual):
            assert np.asarray(a).size and np.asarray(a).shape == np.asarray(e).shape
        assert_outputs_close(expected, actual, rtol=rtol, atol=atol)
        compared += 1
    assert compared == len(feed_sets) >= 2
    return converted


def _f(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- MultiHeadAttention ----

def _mha(case):
    n, hd = 2, 4
    d = n * hd
    ins = [("q", F, ["b", "s", d])]
    consts, outs, attrs = {}, ["y"], {"num_heads": n}
    kv_seq = "t" if case == "cross" else "s"
    if case == "bnsh_kv":
        ins += [("k", F, ["b", n, "t", hd]), ("v", F, ["b", n, "t", hd])]
    else:
        ins += [("k", F, ["b", kv_seq, d]), ("v", F, ["b", kv_seq, d])]
    bias = [("bias", F, [3 * d])] if case in ("bias_mask", "past") else [None]
    ins += bias
    if case == "bias_mask":
        ins += [("mask", I32, ["b", "s"])]
    elif case == "cross":
        ins += [("mask", I32, ["b"])]
    elif case in ("attn_bias", "past"):
        ins += [None]
    if case == "attn_bias":
        ins += [("ab", F, [1, n, "s", "s"])]
    if case == "past":
        ins += [None, ("pk", F, ["b", n, "p", hd]), ("pv", F, ["b", n, "p", hd])]
        outs += ["present_k", "present_v"]
        attrs["unidirectional"] = 1
    if case == "causal":
        attrs["unidirectional"] = 1
    return _model("MultiHeadAttention", ins, outs, consts, **attrs), n, hd


@pytest.mark.parametrize("case", ["plain", "bias_mask", "cross", "attn_bias", "past", "causal", "bnsh_kv"])
def test_multi_head_attention(case):
    model, n, hd = _mha(case)
    d = n * hd
    sets = []
    for b, s, t, p in [(1, 3, 5, 2), (2, 6, 4, 3)]:
        rng = np.random.default_rng(b * 100 + s)
        kv = t if case in ("cross", "bnsh_kv") else s
        f = {"q": _f(rng, b, s, d)}
        if case == "bnsh_kv":
            f.update(k=_f(rng, b, n, kv, hd), v=_f(rng, b, n, kv, hd))
        else:
            f.update(k=_f(rng, b, kv, d), v=_f(rng, b, kv, d))
        if case in ("bias_mask", "past"):
            f["bias"] = _f(rng, 3 * d) * 0.3
        if case == "bias_mask":
            m = np.ones((b, s), np.int32)
            m[-1, -2:] = 0
            f["mask"] = m
        if case == "cross":
            f["mask"] = np.array([t, t - 2][:b], np.int32)
        if case == "attn_bias":
            f["ab"] = _f(rng, 1, n, s, s)
        if case == "past":
            f.update(pk=_f(rng, b, n, p, hd), pv=_f(rng, b, n, p, hd))
        sets.append(f)
    _check(model, sets)


def test_multi_head_attention_refuses_packed_qkv(tmp_path):
    model = _model("MultiHeadAttention", [("qkv", F, ["b", "s", 2, 3, 4])], ["y"], num_heads=2)
    with pytest.raises(irforge.ConversionError, match=r"MultiHeadAttention.*packed 5-D QKV"):
        irforge.save_model(irforge.convert_model(model), str(tmp_path / "m.xml"))
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---- GroupQueryAttention ----

def _gqa_model(n, nk, hd, *, past, rotary, packed=False, window=-1, interleaved=0, max_pos=32):
    ins = [("q", F, ["b", "s", (n + 2 * nk) * hd if packed else n * hd])]
    ins += [None, None] if packed else [("k", F, ["b", "s", nk * hd]), ("v", F, ["b", "s", nk * hd])]
    ins += [("pk", F, ["b", nk, "p", hd]), ("pv", F, ["b", nk, "p", hd])] if past else [None, None]
    ins += [("seqlens_k", I32, ["b"]), ("total", I32, [])]
    consts = {}
    attrs = {"num_heads": n, "kv_num_heads": nk, "local_window_size": window}
    if rotary:
        angles = np.arange(max_pos)[:, None] * (1.0 / 10000 ** (np.arange(hd // 2) / (hd // 2)))[None, :]
        consts = {"cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
        attrs.update(do_rotary=1, rotary_interleaved=interleaved)
    return _model("GroupQueryAttention", ins, ["y", "present_k", "present_v"], consts, **attrs)


def _gqa_feeds(n, nk, hd, b, s, p, *, packed=False, padded=False):
    rng = np.random.default_rng(b * 10 + s + p)
    f = {"q": _f(rng, b, s, (n + 2 * nk) * hd if packed else n * hd)}
    if not packed:
        f.update(k=_f(rng, b, s, nk * hd), v=_f(rng, b, s, nk * hd))
    if p:
        f.update(pk=_f(rng, b, nk, p, hd), pv=_f(rng, b, nk, p, hd))
    lens = np.full(b, p + s - 1, np.int32)
    if padded:
        lens[-1] = s - 3  # a right-padded row of the first prompt
    f.update(seqlens_k=lens, total=np.array(p + s, np.int32))
    return f


@pytest.mark.parametrize("case", ["prompt", "prompt_padded", "past_rotary", "past_rotary_interleaved", "packed_window"])
def test_group_query_attention(case):
    n, nk, hd = 4, 2, 16  # onnxruntime's rotary kernel wants head sizes of multiples of 16
    past = case.startswith("past")
    model = _gqa_model(n, nk, hd, past=past, rotary="rotary" in case, packed=case == "packed_window",
                       window=2 if case == "packed_window" else -1, interleaved=int(case.endswith("interleaved")))
    # onnxruntime runs several new tokens over a past only for batch 1.
    shapes = [(1, 1, 5), (2, 1, 4), (1, 3, 4)] if past else [(1, 4, 0), (2, 6, 0)]
    sets = [_gqa_feeds(n, nk, hd, b, s, p, packed=case == "packed_window", padded=case == "prompt_padded" and b > 1) for b, s, p in shapes]
    _check(model, sets)


def test_group_query_attention_refuses_softcap(tmp_path):
    model = _gqa_model(4, 2, 8, past=False, rotary=False)
    model.graph.node[0].attribute.append(h.make_attribute("softcap", 30.0))
    model.graph.node[0].name = "gqa_0"
    with pytest.raises(irforge.ConversionError, match=r"gqa_0.*softcap"):
        irforge.save_model(irforge.convert_model(model), str(tmp_path / "m.xml"))
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---- RotaryEmbedding ----

@pytest.mark.parametrize("layout,interleaved,partial", [("3d", 0, False), ("3d", 1, False), ("4d", 0, False), ("3d", 0, True), ("4d", 1, True)])
def test_rotary_embedding(layout, interleaved, partial):
    n, hd, max_pos = 2, 8, 32
    rot = 4 if partial else hd
    angles = np.arange(max_pos)[:, None] * (1.0 / 10000 ** (np.arange(rot // 2) / (rot // 2)))[None, :]
    consts = {"cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
    shape = ["b", "s", n * hd] if layout == "3d" else ["b", n, "s", hd]
    offset = layout == "4d"  # position_ids as one offset [1]; else [b, s]
    ins = [("x", F, shape), ("pos", I64, [1] if offset else ["b", "s"])]
    attrs = {"interleaved": interleaved}
    if layout == "3d" or partial:
        attrs["num_heads"] = n
    if partial:
        attrs["rotary_embedding_dim"] = rot
    model = _model("RotaryEmbedding", ins, ["y"], consts, **attrs)
    sets = []
    for b, s in [(1, 3), (2, 7)]:
        rng = np.random.default_rng(b * 10 + s)
        x = _f(rng, b, s, n * hd) if layout == "3d" else _f(rng, b, n, s, hd)
        pos = np.array([b + 1], np.int64) if offset else rng.integers(0, max_pos, (b, s)).astype(np.int64)
        sets.append({"x": x, "pos": pos})
    _check(model, sets)


# onnxruntime's CPU kernel reads `scale` but only a regenerated cache would use it (it refuses
# sequences longer than the cache), so the output is that of scale 1; a scalar position_ids is an
# offset like [1]; without num_heads a 3-D input's head size is the cache's rotated width.
@pytest.mark.parametrize("case", ["scale", "scale_partial_interleaved", "scalar_offset", "3d_no_num_heads"])
def test_rotary_embedding_variants(case):
    n, hd, max_pos = 2, 8, 32
    rot = 4 if "partial" in case else hd
    angles = np.arange(max_pos)[:, None] * (1.0 / 10000 ** (np.arange(rot // 2) / (rot // 2)))[None, :]
    consts = {"cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
    attrs = {"interleaved": int("interleaved" in case)}
    if case != "3d_no_num_heads":
        attrs["num_heads"] = n
    if case.startswith("scale"):
        attrs["scale"] = 0.5
    if "partial" in case:
        attrs["rotary_embedding_dim"] = rot
    scalar = case == "scalar_offset"
    model = _model("RotaryEmbedding", [("x", F, ["b", "s", n * hd]), ("pos", I64, [] if scalar else ["b", "s"])], ["y"], consts, **attrs)
    sets = []
    for b, s in [(1, 3), (2, 7)]:
        rng = np.random.default_rng(b * 10 + s)
        pos = np.array(b + 4, np.int64) if scalar else rng.integers(0, max_pos, (b, s)).astype(np.int64)
        sets.append({"x": _f(rng, b, s, n * hd), "pos": pos})
    if case.startswith("scale"):  # the attribute really is what the test claims it is
        unscaled = onnx.ModelProto()
        unscaled.CopyFrom(model)
        del unscaled.graph.node[0].attribute[[a.name for a in unscaled.graph.node[0].attribute].index("scale")]
        for f in sets:
            assert_outputs_close(run_onnxruntime(unscaled.SerializeToString(), f), run_onnxruntime(model.SerializeToString(), f))
    _check(model, sets)


@pytest.mark.parametrize("b,prompt", [(2, 5), (3, 2)])
def test_rotary_decoder_prefill_and_decode(b, prompt, tmp_path):
    """Phi-style partial RotaryEmbedding (one layer interleaved with a scale) in front of
    MultiHeadAttention with a KV cache (bench/wild_contrib_decoders.py): the prefill, then a decode
    step on onnxruntime's present."""
    model, feeds = rotary_steps(b, prompt, steps=1)
    converted = irforge.convert_model(model)
    out = str(tmp_path / "irforge.onnx")
    irforge.save_model(converted, out)
    assert sum(nd.op_type == "RotaryEmbedding" for nd in onnx.load(out).graph.node) == 4
    for f in feeds:
        expected = run_onnxruntime(model.SerializeToString(), f)
        assert len(expected) == 5 and all(e.size for e in expected)
        assert_outputs_close(expected, run_openvino(converted, f), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_onnxruntime(out, f), rtol=1e-5, atol=1e-6)
