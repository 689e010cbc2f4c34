"""fuse-attention: MatMul-scale-mask-Softmax-MatMul (GQA, causal) → Attention.

Small models at opset 23 run as is in onnxruntime (Attention included); opset-17 models are
checked through the legalize expander (Attention back to MatMul/Softmax) in onnxruntime, and in
OpenVINO through the SDPA lowering. Real torch exports (slow) must fuse every block.
"""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge import _core
from irforge.testing import assert_outputs_close, check_pass, run_onnxruntime, run_openvino

B, HQ, S, E = 2, 4, 6, 8
LOWEST = float(np.finfo(np.float32).min)


def _c(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _attention_model(*, scale="div", mask=None, gqa=1, k_layout="bnsd", opset=23, softmax_axis=-1, extra_scores_output=False,
                     dynamic_seq=False):
    """Q [B,HQ,S,E]; K, V [B,HQ/gqa,S,E] (or K as [B,S,H,E] when k_layout == 'bshe')."""
    hkv = HQ // gqa
    seq = "s" if dynamic_seq else S
    inputs = [h.make_tensor_value_info("q", T.FLOAT, [B, HQ, seq, E]),
              h.make_tensor_value_info("v", T.FLOAT, [B, hkv, seq, E])]
    inits, nodes = [], []
    if k_layout == "bshe":
        inputs.append(h.make_tensor_value_info("k", T.FLOAT, [B, seq, hkv, E]))
        nodes.append(h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]))
    else:
        inputs.append(h.make_tensor_value_info("k", T.FLOAT, [B, hkv, seq, E]))
        nodes.append(h.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]))
    k_for_matmul, v_for_matmul = "kt", "v"
    if gqa > 1:
        # Llama's repeat_kv: x[:, :, None].expand(B, hkv, gqa, S, E).reshape(B, HQ, S, E), on K before its transpose.
        nodes = []
        inits += [_c("ax2", [2], np.int64), _c("rep", [1, 1, gqa, 1, 1], np.int64), _c("merged", [0, HQ, -1, E], np.int64)]
        for x in ("k", "v"):
            nodes += [h.make_node("Unsqueeze", [x, "ax2"], [f"{x}_u"]), h.make_node("Expand", [f"{x}_u", "rep"], [f"{x}_e"]),
                      h.make_node("Reshape", [f"{x}_e", "merged"], [f"{x}_r"])]
        nodes.append(h.make_node("Transpose", ["k_r"], ["kt"], perm=[0, 1, 3, 2]))
        v_for_matmul = "v_r"
    q_in = "q"
    if scale == "qk_sqrt":
        inits.append(_c("root", E ** -0.25))
        nodes += [h.make_node("Mul", ["q", "root"], ["qs"]), h.make_node("Mul", ["kt", "root"], ["kts"])]
        q_in, k_for_matmul = "qs", "kts"
    nodes.append(h.make_node("MatMul", [q_in, k_for_matmul], ["scores"]))
    x = "scores"
    if scale == "div":
        inits.append(_c("sqrt_e", np.sqrt(E)))
        nodes.append(h.make_node("Div", [x, "sqrt_e"], ["scaled"]))
        x = "scaled"
    elif scale == "mul":
        inits.append(_c("inv", [[[[0.3]]]]))
        nodes.append(h.make_node("Mul", ["inv", x], ["scaled"]))
        x = "scaled"
    elif scale == "input":  # not a constant: must not fire
        inputs.append(h.make_tensor_value_info("scale", T.FLOAT, []))
        nodes.append(h.make_node("Div", [x, "scale"], ["scaled"]))
        x = "scaled"
    if mask == "padding":  # BERT: [B, 1, S?, L] additive
        inputs.append(h.make_tensor_value_info("mask", T.FLOAT, [B, 1, seq, seq]))
        nodes.append(h.make_node("Add", [x, "mask"], ["masked"]))
        x = "masked"
    elif mask == "causal_const":  # dynamo: a folded triu(full(min), 1)
        inits.append(_c("triu", np.triu(np.full((S, S), LOWEST, np.float32), 1)))
        nodes.append(h.make_node("Add", [x, "triu"], ["masked"]))
        x = "masked"
    elif mask == "causal_trilu":  # torchscript Llama: triu(full((s, s), min), 1) from the runtime length
        inits += [_c("one", 1, np.int64), _c("i2", [2], np.int64), _c("zero_idx", 2, np.int64), _c("ax0", [0], np.int64)]
        nodes += [h.make_node("Shape", ["q"], ["qshape"]), h.make_node("Gather", ["qshape", "zero_idx"], ["len"], axis=0),
                  h.make_node("Unsqueeze", ["len", "ax0"], ["len1"]), h.make_node("Concat", ["len1", "len1"], ["ss"], axis=0),
                  h.make_node("ConstantOfShape", ["ss"], ["full"], value=h.make_tensor("v", T.FLOAT, [1], [LOWEST])),
                  h.make_node("Trilu", ["full", "one"], ["causal"], upper=1),
                  h.make_node("Add", ["causal", x], ["masked"])]
        x = "masked"
    elif mask == "causal_where_tril":  # torchscript GPT: masked_fill(~tril(ones(s, s, bool)), min)
        inits += [_c("zero_idx", 2, np.int64), _c("ax0", [0], np.int64), _c("fill", LOWEST)]
        nodes += [h.make_node("Shape", ["q"], ["qshape"]), h.make_node("Gather", ["qshape", "zero_idx"], ["len"], axis=0),
                  h.make_node("Unsqueeze", ["len", "ax0"], ["len1"]), h.make_node("Concat", ["len1", "len1"], ["ss"], axis=0),
                  h.make_node("ConstantOfShape", ["ss"], ["ones"], value=h.make_tensor("v", T.BOOL, [1], [True])),
                  h.make_node("Trilu", ["ones"], ["tril"], upper=0), h.make_node("Not", ["tril"], ["above"]),
                  h.make_node("Where", ["above", "fill", x], ["masked"])]
        x = "masked"
    elif mask == "causal_sdpa_export":  # torchscript F.scaled_dot_product_attention(is_causal=True)
        inits += [_c("zero_idx", 2, np.int64), _c("ax0", [0], np.int64), _c("onef", [1.0]), _c("zerof", [0.0]), _c("ninf", [-np.inf])]
        nodes += [h.make_node("Shape", ["q"], ["qshape"]), h.make_node("Gather", ["qshape", "zero_idx"], ["len"], axis=0),
                  h.make_node("Unsqueeze", ["len", "ax0"], ["len1"]), h.make_node("Concat", ["len1", "len1"], ["ss"], axis=0),
                  h.make_node("Expand", ["onef", "ss"], ["ones"]), h.make_node("Trilu", ["ones"], ["tril"], upper=0),
                  h.make_node("Equal", ["tril", "zerof"], ["above"]), h.make_node("Where", ["above", "ninf", "zerof"], ["bias"]),
                  h.make_node("Add", [x, "bias"], ["masked"])]
        x = "masked"
    elif mask == "causal_range":  # arange(L)[None, :] <= arange(S)[:, None], kept where true
        inits += [_c("zero", 0, np.int64), _c("one", 1, np.int64), _c("zero_idx", 2, np.int64), _c("ax1", [1], np.int64),
                  _c("fill", -np.inf)]
        nodes += [h.make_node("Shape", ["q"], ["qshape"]), h.make_node("Gather", ["qshape", "zero_idx"], ["len"], axis=0),
                  h.make_node("Range", ["zero", "len", "one"], ["pos"]), h.make_node("Unsqueeze", ["pos", "ax1"], ["rows"]),
                  h.make_node("LessOrEqual", ["pos", "rows"], ["keep"]), h.make_node("Where", ["keep", x, "fill"], ["masked"])]
        x = "masked"
    nodes.append(h.make_node("Softmax", [x], ["probs"], axis=softmax_axis))
    nodes.append(h.make_node("MatMul", ["probs", v_for_matmul], ["y"]))
    outputs = [h.make_tensor_value_info("y", T.FLOAT, None)]
    if extra_scores_output:
        outputs.append(h.make_tensor_value_info(x, T.FLOAT, None))
    g = h.make_graph(nodes, "attention", inputs, outputs, inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _feeds(model, seq=S, seed=0):
    rs = np.random.RandomState(seed)
    feeds = {}
    for i in model.graph.input:
        shape = [d.dim_value or seq for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = np.asarray(rs.randn(*shape), np.float32)
    if "mask" in feeds:  # a padding mask: 0 or the lowest value, never a fully masked row
        m = np.zeros(feeds["mask"].shape, np.float32)
        m[1, ..., -2:] = LOWEST
        feeds["mask"] = m
    if "scale" in feeds:
        feeds["scale"] = np.array(3.0, np.float32)
    return feeds


def _attention_attrs(model):
    g = onnx.load_from_string(model.to_onnx_bytes()).graph
    nodes = [n for n in g.node if n.op_type == "Attention"]
    assert len(nodes) == 1
    return {a.name: h.get_attribute_value(a) for a in nodes[0].attribute}, len(nodes[0].input)


@pytest.mark.parametrize("scale,expected", [("div", 8 ** -0.5), ("mul", 0.3), ("qk_sqrt", 8 ** -0.5)])
def test_fuses_plain_attention_with_each_scale_form(scale, expected):
    model = _attention_model(scale=scale)
    fused = check_pass(model, "infer-shapes,fuse-attention,dce", fires=True, feeds=_feeds(model), rtol=1e-4, atol=1e-5)
    assert fused.op_histogram == {"Attention": 1}
    attrs, n_inputs = _attention_attrs(fused)
    assert attrs["scale"] == pytest.approx(expected, rel=1e-6) and "is_causal" not in attrs and n_inputs == 3


def test_fuses_bshe_key_transpose_into_one_transpose():
    # torch's k.transpose(1, 2) then .transpose(-1, -2) arrives as one perm [0, 2, 3, 1].
    model = _attention_model(k_layout="bshe")
    fused = check_pass(model, "infer-shapes,fuse-attention,dce", fires=True, feeds=_feeds(model), rtol=1e-4, atol=1e-5)
    assert fused.op_histogram == {"Attention": 1, "Transpose": 1}


def test_fuses_padding_mask_as_attn_mask():
    model = _attention_model(mask="padding", dynamic_seq=True)
    fused = check_pass(model, "infer-shapes,fuse-attention,dce", fires=True, feeds=_feeds(model), rtol=1e-4, atol=1e-5)
    attrs, n_inputs = _attention_attrs(fused)
    assert n_inputs == 4 and "is_causal" not in attrs


@pytest.mark.parametrize("mask", ["causal_const", "causal_trilu", "causal_where_tril", "causal_range", "causal_sdpa_export"])
@pytest.mark.parametrize("gqa", [1, 2])
def test_fuses_causal_masks_and_gqa(mask, gqa):
    dynamic = mask != "causal_const"
    model = _attention_model(mask=mask, gqa=gqa, dynamic_seq=dynamic)
    fused = check_pass(model, "infer-shapes,fuse-attention,dce", fires=True, feeds=_feeds(model), rtol=1e-4, atol=1e-5)
    hist = fused.op_histogram
    assert hist["Attention"] == 1 and not {"Softmax", "MatMul", "Expand", "Where", "Trilu"} & set(hist), hist
    attrs, n_inputs = _attention_attrs(fused)
    assert attrs["is_causal"] == 1 and n_inputs == 3
    if gqa > 1:  # the kv heads go in unrepeated
        g = onnx.load_from_string(fused.to_onnx_bytes()).graph
        assert [n.input[1] for n in g.node if n.op_type == "Attention"] == ["k"]
    if dynamic:  # a different sequence length than the one traced
        feeds = _feeds(model, seq=3, seed=1)
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        assert_outputs_close(expected, run_onnxruntime(fused.to_onnx_bytes(), feeds), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_openvino(fused, feeds), rtol=1e-4, atol=1e-5)


def _with_shapes(model):
    """The model with inferred intermediate shapes, so only the fusion itself can report a change."""
    return onnx.load_from_string(irforge.convert_model(model, transform="infer-shapes").to_onnx_bytes())


@pytest.mark.parametrize("case", ["softmax_axis", "scale_input", "extra_consumer", "mask_broadcasts_scores"])
def test_must_not_fire(case):
    if case == "softmax_axis":
        model = _attention_model(softmax_axis=2)
    elif case == "scale_input":
        model = _attention_model(scale="input")
    elif case == "extra_consumer":
        model = _attention_model(mask="causal_const", extra_scores_output=True)
    else:
        # Scores [B, H, 1, L] against a mask with 3 query rows: the original broadcasts the query.
        model = _attention_model(mask="padding")
        for i in model.graph.input:
            if i.name == "q":
                i.type.tensor_type.shape.dim[2].dim_value = 1
            if i.name == "mask":
                i.type.tensor_type.shape.dim[2].dim_value = 3
        feeds = _feeds(model)
        feeds["q"] = feeds["q"][:, :, :1]
        feeds["mask"] = np.zeros((B, 1, 3, S), np.float32)
        check_pass(_with_shapes(model), "fuse-attention", fires=False, feeds=feeds)
        return
    check_pass(_with_shapes(model), "fuse-attention", fires=False, feeds=_feeds(model))


@pytest.mark.parametrize("mask,gqa", [(None, 1), ("padding", 1), ("causal_trilu", 2), ("causal_where_tril", 1)])
def test_expander_restores_opset17_onnx(mask, gqa):
    model = _attention_model(mask=mask, gqa=gqa, opset=17, dynamic_seq=True)
    feeds = _feeds(model, seq=5)
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    fused = irforge.convert_model(model, transform="infer-shapes,fuse-attention,dce", verify=True)
    assert fused.op_histogram.get("Attention") == 1
    assert_outputs_close(expected, run_openvino(fused, feeds), rtol=1e-4, atol=1e-5)
    assert _core.expand_fused_ops(fused._core, 17) == 1
    assert not fused.verify()
    assert "Attention" not in fused.op_histogram
    out = onnx.load_from_string(fused.to_onnx_bytes())
    onnx.checker.check_model(out, full_check=True)
    assert_outputs_close(expected, run_onnxruntime(out.SerializeToString(), feeds), rtol=1e-4, atol=1e-5)
    # At opset 23 nothing is expanded.
    again = irforge.convert_model(model, transform="infer-shapes,fuse-attention,dce")
    assert _core.expand_fused_ops(again._core, 23) == 0


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("arch", ["bert", "gpt", "vit", "llama"])
def test_real_exports_fuse_every_block(tmp_path, arch, dynamo):
    from torch_models.architectures import export

    path = str(tmp_path / f"{arch}.onnx")
    feeds = export(arch, path, dynamo)
    original = onnx.load(path)
    blocks = sum(n.op_type == "Softmax" for n in original.graph.node)
    assert blocks == 2
    reference = run_onnxruntime(path, feeds)

    model = irforge.convert_model(path, verify=True)
    hist = model.op_histogram
    assert hist.get("Attention") == blocks and "Softmax" not in hist, hist
    if arch == "llama":  # GQA: the kv-head repeat is absorbed
        assert "Expand" not in hist, hist
    ours = run_openvino(model, feeds)
    for r, o in zip(reference, ours):
        assert float(np.abs(o - r).max() / np.abs(r).max()) <= 1e-4

    # Other fused ops of the default pipeline (Gelu, LayerNormalization, ...) expand too.
    assert _core.expand_fused_ops(model._core, model.opset_imports[""]) >= blocks
    assert "Attention" not in model.op_histogram
    onnx_out = run_onnxruntime(model.to_onnx_bytes(), feeds)
    assert_outputs_close(reference, onnx_out, rtol=1e-4, atol=1e-5)


def test_openvino_lowering_is_one_sdpa_with_static_gqa_repeat(tmp_path):
    # Causal without other masks uses SDPA's own causal mode (no bias subgraph is built), and a
    # static kv-head repeat is Unsqueeze → Broadcast → Reshape with constant shapes.
    import collections
    import xml.etree.ElementTree as ET

    model = _attention_model(mask="causal_trilu", gqa=2, dynamic_seq=True)
    fused = irforge.convert_model(model, transform="infer-shapes,fuse-attention,dce")
    xml = str(tmp_path / "m.xml")
    irforge.save_model(fused, xml, compress_to_fp16=False)
    layers = collections.Counter(l.get("type") for l in ET.parse(xml).getroot().find("layers") if l.get("type") != "Const")
    assert layers == {"Parameter": 3, "ScaledDotProductAttention": 1, "Unsqueeze": 2, "Broadcast": 2, "Reshape": 2, "Result": 1}, layers
    sdpa = [l for l in ET.parse(xml).getroot().find("layers") if l.get("type") == "ScaledDotProductAttention"][0]
    assert sdpa.find("data").get("causal") == "true"


def test_fully_masked_rows_stay_as_in_the_source(tmp_path):
    # The decomposition gives NaN for a row whose mask is all -inf; the fused node is marked so the
    # OpenVINO lowering keeps that (plain SDPA, no 3-layer zeroing guard), and so does the expander.
    import collections
    import xml.etree.ElementTree as ET

    model = _attention_model(mask="padding", opset=17)
    feeds = _feeds(model)
    feeds["mask"][0, 0, 2, :] = -np.inf
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    assert np.isnan(expected[0][0, :, 2]).all() and not np.isnan(expected[0][1]).any()
    fused = irforge.convert_model(model, transform="infer-shapes,fuse-attention,dce", verify=True)
    assert_outputs_close(expected, run_openvino(fused, feeds), rtol=1e-4, atol=1e-5)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(fused, xml, compress_to_fp16=False)
    layers = collections.Counter(l.get("type") for l in ET.parse(xml).getroot().find("layers") if l.get("type") != "Const")
    assert layers == {"Parameter": 4, "ScaledDotProductAttention": 1, "Result": 1}, layers
    # The mark survives an ONNX round trip.
    again = irforge.convert_model(fused.to_onnx_bytes(), transform="none")
    assert_outputs_close(expected, run_openvino(again, feeds), rtol=1e-4, atol=1e-5)
    _core.expand_fused_ops(fused._core, 17)
    assert_outputs_close(expected, run_onnxruntime(fused.to_onnx_bytes(), feeds), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt", "llama"])
def test_dynamo_export_with_dynamic_sequence_fuses_causal(tmp_path, arch):
    # With dynamic shapes, dynamo builds the causal mask at run time (Trilu of an Expand-ed scalar).
    import torch
    from torch_models.architectures import ARCHITECTURES

    module, inputs, names, _ = ARCHITECTURES[arch]()
    path = str(tmp_path / f"{arch}.onnx")
    dims = {n: {0: torch.export.Dim("batch", min=1, max=8), 1: torch.export.Dim("seq", min=2, max=32)} for n in names}
    with torch.no_grad():
        torch.onnx.export(module, inputs, path, input_names=names, dynamo=True, external_data=False, dynamic_shapes=dims)
    model = irforge.convert_model(path, verify=True)
    assert model.op_histogram.get("Attention") == 2 and "Softmax" not in model.op_histogram
    g = onnx.load_from_string(model.to_onnx_bytes()).graph
    assert all(any(a.name == "is_causal" and a.i == 1 for a in n.attribute) for n in g.node if n.op_type == "Attention")
    feeds = {names[0]: np.random.RandomState(0).randint(0, 100, (3, 5)).astype(np.int64)}  # not the traced (2, 9/10)
    expected = run_onnxruntime(path, feeds)
    assert_outputs_close(expected, run_openvino(model, feeds), rtol=1e-4, atol=1e-5)
    _core.expand_fused_ops(model._core, model.opset_imports[""])
    assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), feeds), rtol=1e-4, atol=1e-5)


def test_near_causal_constant_mask_stays_an_explicit_mask():
    # triu(min, 2) lets each query also see the next key: not causal, so it stays attn_mask.
    model = _attention_model(mask="causal_const")
    for init in model.graph.initializer:
        if init.name == "triu":
            init.CopyFrom(_c("triu", np.triu(np.full((S, S), LOWEST, np.float32), 2)))
    fused = check_pass(model, "infer-shapes,fuse-attention,dce", fires=True, feeds=_feeds(model), rtol=1e-4, atol=1e-5)
    attrs, n_inputs = _attention_attrs(fused)
    assert "is_causal" not in attrs and n_inputs == 4


def test_must_not_fire_on_near_causal_where_condition():
    # masked_fill(~tril(ones, 1)): keeps j <= i + 1, not the causal pattern; Where needs one.
    model = _attention_model(mask="causal_where_tril", dynamic_seq=True)
    for node in model.graph.node:
        if node.op_type == "Trilu":
            node.input.append("k_one")
    model.graph.initializer.append(_c("k_one", 1, np.int64))
    check_pass(_with_shapes(model), "fuse-attention", fires=False, feeds=_feeds(model))


def test_must_not_fire_when_probabilities_are_an_output():
    model = _attention_model()
    model.graph.output.append(h.make_tensor_value_info("probs", T.FLOAT, None))
    check_pass(_with_shapes(model), "fuse-attention", fires=False, feeds=_feeds(model))


def test_infer_shapes_types_attention_outputs():
    g = h.make_graph([h.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1)], "g",
                     [h.make_tensor_value_info("q", T.FLOAT, ["b", 4, "s", 8]), h.make_tensor_value_info("k", T.FLOAT, ["b", 2, "s", 8]),
                      h.make_tensor_value_info("v", T.FLOAT, ["b", 2, "s", 6])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    model = irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 23)]), transform="infer-shapes", verify=True)
    assert model.outputs[0].shape == ("b", 4, "s", 6)
