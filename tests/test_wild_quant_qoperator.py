"""QOperator chains (issue 20 item 5): where one QLinear op reads another's requantized result,
the requantize → dequantize chain is one FakeQuantize onto the dequantized range (what a QDQ
model's QuantizeLinear → DequantizeLinear pair gets); readers with their own scale and zero point
get their own; a scale only known at run time keeps the Convert → Subtract → Multiply chain.
Small QLinearMatMul chains built with onnx.helper, irforge's IR vs onnxruntime on two batch sizes.
"""

import collections
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import irforge
from irforge.testing import run_onnxruntime, run_openvino


def _chain(second_scale, runtime_scale=False):
    rng = np.random.default_rng(3)
    c = lambda name, v: nh.from_array(np.asarray(v), name)  # noqa: E731
    inits = [c("s0", np.float32(0.02)), c("z0", np.uint8(128)), c("w1", rng.integers(-100, 100, (16, 12)).astype(np.int8)),
             c("ws", np.float32(0.01)), c("wz", np.int8(0)), c("s1", np.float32(0.05)), c("z1", np.uint8(120)),
             c("w2", rng.integers(-100, 100, (12, 8)).astype(np.int8)), c("s2", np.float32(0.04)), c("z2", np.uint8(125))]
    if not runtime_scale:
        inits.append(c("s1b", np.float32(second_scale)))
    nodes = [h.make_node("QuantizeLinear", ["x", "s0", "z0"], ["xq"]),
             h.make_node("QLinearMatMul", ["xq", "s0", "z0", "w1", "ws", "wz", "s1", "z1"], ["y1"]),
             # Two readers of y1: one with y1's own parameters, one with s1b (a constant or an input).
             h.make_node("QLinearMatMul", ["y1", "s1", "z1", "w2", "ws", "wz", "s2", "z2"], ["y2"]),
             h.make_node("QLinearMatMul", ["y1", "s1b", "z1", "w2", "ws", "wz", "s2", "z2"], ["y3"]),
             h.make_node("DequantizeLinear", ["y2", "s2", "z2"], ["out2"]),
             h.make_node("DequantizeLinear", ["y3", "s2", "z2"], ["out3"])]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["b", 16])]
    if runtime_scale:
        inputs.append(h.make_tensor_value_info("s1b", T.FLOAT, []))
    g = h.make_graph(nodes, "g", inputs, [h.make_tensor_value_info(o, T.FLOAT, None) for o in ("out2", "out3")], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _types(model, tmp_path):
    xml = str(tmp_path / "m.xml")
    irforge.save_model(model, xml, compress_to_fp16=False)
    return collections.Counter(l.get("type") for l in ET.parse(xml).getroot().find("layers") if l.get("type") != "Const")


@pytest.mark.parametrize("case", ["same_scale", "other_scale", "runtime_scale"])
def test_requantize_dequantize_chain(case, tmp_path):
    proto = _chain(0.05 if case == "same_scale" else 0.07, runtime_scale=case == "runtime_scale")
    model = irforge.convert_model(proto)
    types = _types(model, tmp_path)
    merged = case != "runtime_scale"
    # The input's QuantizeLinear, y1's requantization, one FakeQuantize per distinct dequantization
    # of y1 (same_scale: the two readers are one node after CSE; other_scale: two), and per
    # output the requantization dequantized by the DequantizeLinear, also one FakeQuantize.
    if merged:
        assert types["FakeQuantize"] == (3 if case == "same_scale" else 5), types
        assert types["Subtract"] == 0 and types["MatMul"] == (2 if case == "same_scale" else 3), types
    else:
        assert types["Subtract"] >= 1, types  # the run-time scale keeps the generic chain
    for b in (1, 3):
        rng = np.random.default_rng(b)
        feeds = {"x": rng.standard_normal((b, 16)).astype(np.float32)}
        if case == "runtime_scale":
            feeds["s1b"] = np.array(0.07, np.float32)
        expected = run_onnxruntime(proto.SerializeToString(), feeds)
        actual = run_openvino(model, feeds)
        assert len(actual) == 2 and all(a.size for a in actual)
        for e, a in zip(expected, actual):
            # One output quantization step (0.04) where a value lands on a rounding boundary.
            np.testing.assert_allclose(a, e, rtol=0, atol=0.04 + 1e-6)
