"""What the OpenVINO IR holds: each weight once, and no layers or constants that OpenVINO would
fold away on loading (which `ovc` folds before writing). Each mechanism is checked for firing,
for not firing where it would be wrong, and for giving onnxruntime's outputs on the CPU plugin.

The end-to-end criterion, an fp16 .bin no larger than ovc's for the same model, is checked on
the PyTorch exports in test_torch_architectures.py.
"""

import collections
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import openvino as ov
import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime  # noqa: E402

RNG = np.random.RandomState(0)


def _model(nodes, inputs, outputs, initializers=(), opset=18):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=[numpy_helper.from_array(a, n) for n, a in initializers])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _vi(name, elem=T.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def _f32(*shape):
    return RNG.randn(*shape).astype(np.float32)


def _convert(model, feeds, tmp_path, compress_to_fp16=True, rtol=1e-5, atol=1e-6):
    """Writes the IR, checks it against onnxruntime; returns (layer types, Const layers, .bin size, layers).

    fp16 weights cost ~1e-3 relative: a miswired operand would be off by O(1).
    """
    if compress_to_fp16:
        rtol, atol = max(rtol, 1e-2), max(atol, 1e-2)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model), xml, compress_to_fp16=compress_to_fp16)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer(feeds)
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    assert expected and all(np.asarray(e).size for e in expected)
    assert_outputs_close(expected, [result[o] for o in compiled.outputs], rtol=rtol, atol=atol)
    layers = ET.parse(xml).getroot().find("layers")
    types = collections.Counter(l.get("type") for l in layers)
    consts = [l.find("data").attrib for l in layers if l.get("type") == "Const"]
    return types, consts, os.path.getsize(xml[:-4] + ".bin"), layers


# ---- weights stored once -------------------------------------------------------------------------


def _tied_lm(head_weight):
    """Embedding W [V, H] read by Gather; the LM head MatMul reads `head_weight(W)` [H, V]."""
    V, Hd = 40, 24
    w = _f32(V, Hd)
    nodes = [h.make_node("Gather", ["W", "ids"], ["e"]), h.make_node("MatMul", ["e", "Wh"], ["logits"])]
    shape = [2, 5]
    model = _model(nodes, [_vi("ids", T.INT64, shape)], [_vi("logits")], [("W", w), ("Wh", head_weight(w))])
    feeds = {"ids": RNG.randint(0, V, shape).astype(np.int64)}
    return model, feeds, V * Hd


@pytest.mark.parametrize("compress", [True, False], ids=["fp16", "fp32"])
def test_pre_transposed_tied_weight_is_stored_once(tmp_path, compress):
    model, feeds, n = _tied_lm(lambda w: np.ascontiguousarray(w.T))
    _, consts, size, layers = _convert(model, feeds, tmp_path, compress_to_fp16=compress)
    elem = 2 if compress else 4
    assert n * elem <= size < n * elem + 64, f".bin holds {size} bytes for one {n}-element weight"
    (matmul,) = [l for l in layers if l.get("type") == "MatMul"]
    assert matmul.find("data").get("transpose_b") == "true"


def test_gemm_and_matmul_read_one_copy(tmp_path):
    # Gemm(transB=1) reads W [V, H]; a MatMul reads its transposed copy WT [H, V]: one is stored.
    V, Hd = 40, 24
    w = _f32(V, Hd)
    nodes = [h.make_node("Gemm", ["x", "W"], ["y"], transB=1), h.make_node("MatMul", ["x", "WT"], ["z"])]
    model = _model(nodes, [_vi("x", T.FLOAT, [5, Hd])], [_vi("y"), _vi("z")], [("W", w), ("WT", np.ascontiguousarray(w.T))])
    _, _, size, layers = _convert(model, {"x": _f32(5, Hd)}, tmp_path)
    assert V * Hd * 2 <= size < V * Hd * 2 + 64
    flags = sorted(l.find("data").get("transpose_b") for l in layers if l.get("type") == "MatMul")
    assert flags == ["true", "true"]


def test_nearly_transposed_weight_is_stored_twice(tmp_path):
    def almost(w):
        t = np.ascontiguousarray(w.T)
        t[-1, -1] += 1.0  # one value differs: not a transpose
        return t

    model, feeds, n = _tied_lm(almost)
    _, _, size, layers = _convert(model, feeds, tmp_path)
    assert size >= 2 * n * 2
    (matmul,) = [l for l in layers if l.get("type") == "MatMul"]
    assert matmul.find("data").get("transpose_b") == "false"


# ---- Transpose folded into MatMul ------------------------------------------------------------------


def test_transpose_of_last_two_axes_becomes_matmul_flag(tmp_path):
    # Attention-style q @ k^T with k [B, H, S, D] transposed by perm [0, 1, 3, 2].
    nodes = [
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q", "kt"], ["s"]),
        h.make_node("Transpose", ["a"], ["at"], perm=[1, 0]),
        h.make_node("MatMul", ["at", "b"], ["y"]),
    ]
    model = _model(
        nodes,
        [_vi("q", T.FLOAT, [2, 3, 5, 4]), _vi("k", T.FLOAT, ["b", 3, 6, 4]), _vi("a", T.FLOAT, [7, 5]), _vi("b", T.FLOAT, [7, 2])],
        [_vi("s"), _vi("y")],
    )
    feeds = {"q": _f32(2, 3, 5, 4), "k": _f32(2, 3, 6, 4), "a": _f32(7, 5), "b": _f32(7, 2)}
    types, _, _, layers = _convert(model, feeds, tmp_path)
    assert types["Transpose"] == 0
    flags = sorted((l.find("data").get("transpose_a"), l.find("data").get("transpose_b")) for l in layers if l.get("type") == "MatMul")
    assert flags == [("false", "true"), ("true", "false")]


def test_other_transposes_stay(tmp_path):
    # A permutation that is not a swap of the last two axes, and a swap whose result is also a
    # graph output, keep their Transpose layer.
    nodes = [
        h.make_node("Transpose", ["k"], ["kt"], perm=[1, 0, 2]),
        h.make_node("MatMul", ["kt", "w"], ["s"]),
        h.make_node("Transpose", ["a"], ["at"], perm=[1, 0]),
        h.make_node("MatMul", ["at", "b"], ["y"]),
    ]
    model = _model(
        nodes,
        [_vi("k", T.FLOAT, [3, 2, 4]), _vi("w", T.FLOAT, [4, 5]), _vi("a", T.FLOAT, [7, 5]), _vi("b", T.FLOAT, [7, 2])],
        [_vi("s"), _vi("y"), _vi("at")],
    )
    feeds = {"k": _f32(3, 2, 4), "w": _f32(4, 5), "a": _f32(7, 5), "b": _f32(7, 2)}
    types, _, _, _ = _convert(model, feeds, tmp_path)
    assert types["Transpose"] == 2


# ---- identity scale and bias of normalizations ---------------------------------------------------


@pytest.mark.parametrize("trained", [False, True], ids=["ones_zeros", "trained"])
def test_layer_norm_identity_affine_is_left_out(tmp_path, trained):
    C = 16
    scale = _f32(C) if trained else np.ones(C, np.float32)
    bias = _f32(C) if trained else np.zeros(C, np.float32)
    nodes = [h.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1, epsilon=1e-5)]
    model = _model(nodes, [_vi("x", T.FLOAT, ["n", 3, C])], [_vi("y")], [("s", scale), ("b", bias)], opset=17)
    types, consts, _, _ = _convert(model, {"x": _f32(2, 3, C)}, tmp_path, compress_to_fp16=False, rtol=1e-4, atol=1e-5)
    assert types["MVN"] == 1
    assert (types["Multiply"], types["Add"]) == ((1, 1) if trained else (0, 0))
    assert any(c["shape"] == str(C) for c in consts) == trained


def test_rms_norm_scale_of_ones_is_left_out(tmp_path):
    C = 8
    nodes = [h.make_node("RMSNormalization", ["x", "s"], ["y"], axis=-1)]
    model = _model(nodes, [_vi("x", T.FLOAT, [2, 3, C])], [_vi("y")], [("s", np.ones(C, np.float32))], opset=23)
    x = _f32(2, 3, C)
    expected = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model), xml)
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert_outputs_close([expected], [compiled({"x": x})[0]], rtol=1e-5, atol=1e-6)
    types = collections.Counter(l.get("type") for l in ET.parse(xml).getroot().find("layers"))
    assert types["Multiply"] == 0 and types["Divide"] == 1


# ---- constants in their final shape --------------------------------------------------------------


@pytest.mark.parametrize("group", [1, 2])
def test_conv_bias_and_group_weights_are_constants_of_the_final_shape(tmp_path, group):
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], group=group)]
    model = _model(nodes, [_vi("x", T.FLOAT, ["n", 4, 5, 5])], [_vi("y")], [("w", _f32(6, 4 // group, 3, 3)), ("b", _f32(6))])
    types, consts, _, _ = _convert(model, {"x": _f32(2, 4, 5, 5)}, tmp_path, compress_to_fp16=False, rtol=1e-4, atol=1e-5)
    assert types["Reshape"] == 0
    shapes = sorted(c["shape"] for c in consts)
    assert shapes == sorted(["1,6,1,1", "6,4,3,3" if group == 1 else "2,3,2,3,3"])


@pytest.mark.parametrize(
    "shape,axis,static_target",
    [
        (["n", 3, 4, 5], 1, True),  # [-1, 60]
        ([2, 3, "h", "w"], 2, True),  # [6, -1]
        (["n", 3, 4, 5], -2, True),  # [-1, 20]
        (["n", 3, "w"], 1, True),  # neither side known: simplify-shapes writes [0, -1]
    ],
)
def test_flatten_with_known_dims_is_one_reshape(tmp_path, shape, axis, static_target):
    model = _model([h.make_node("Flatten", ["x"], ["y"], axis=axis)], [_vi("x", T.FLOAT, shape)], [_vi("y")])
    x = _f32(*[d if isinstance(d, int) else 2 for d in shape])
    types, _, _, _ = _convert(model, {"x": x}, tmp_path)
    assert types["Reshape"] == 1
    assert (types["ShapeOf"] == 0) == static_target
