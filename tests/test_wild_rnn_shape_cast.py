"""A Shape cast to int32, as tf2onnx writes one per dynamic dim (the zero initial state of a
Keras LSTM is built from it): lowered to one ShapeOf with an i32 output, not ShapeOf + Convert."""

import collections
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino


def _model(to, shape_users):
    # Shape → Cast, and Concat with a constant as tf2onnx's zero-state shapes do.
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Cast", ["s"], ["s_cast"], to=to),
             h.make_node("Concat", ["s_cast", "extra"], ["y"], axis=0)]
    outputs = [h.make_tensor_value_info("y", to, None)]
    if shape_users:  # the int64 shape is read elsewhere too
        outputs.append(h.make_tensor_value_info("s", T.INT64, None))
    extra = onnx.numpy_helper.from_array(np.array([7], onnx.helper.tensor_dtype_to_np_dtype(to)), "extra")
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["b", 3])], outputs, initializer=[extra])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _layers(model, tmp_path):
    xml = str(tmp_path / "m.xml")
    irforge.save_model(model, xml, compress_to_fp16=False)
    root = ET.parse(xml).getroot()
    shape_ofs = [l.find("data").get("output_type") for l in root.iter("layer") if l.get("type") == "ShapeOf"]
    return collections.Counter(l.get("type") for l in root.iter("layer") if l.get("type") != "Const"), shape_ofs


def _check(model, converted):
    for batch in (2, 5):
        feeds = {"x": np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)}
        expected = run_onnxruntime(model.SerializeToString(), feeds)
        actual = run_openvino(converted, feeds)
        assert expected[0].size and len(actual) == len(expected)
        assert_outputs_close(expected, actual, rtol=0, atol=0)


def test_shape_cast_to_int32_is_one_shape_of(tmp_path):
    model = _model(T.INT32, False)
    converted = irforge.convert_model(model)
    _check(model, converted)
    counts, shape_ofs = _layers(converted, tmp_path)
    assert shape_ofs == ["i32"] and counts["Convert"] == 0, (counts, shape_ofs)


def test_shape_read_elsewhere_keeps_its_int64_shape_of(tmp_path):
    model = _model(T.INT32, True)
    converted = irforge.convert_model(model)
    _check(model, converted)
    _, shape_ofs = _layers(converted, tmp_path)
    assert sorted(shape_ofs) == ["i32", "i64"], shape_ofs


def test_shape_cast_to_another_type_is_a_convert(tmp_path):
    model = _model(T.FLOAT, False)
    converted = irforge.convert_model(model)
    _check(model, converted)
    counts, shape_ofs = _layers(converted, tmp_path)
    assert shape_ofs == ["i64"] and counts["Convert"] == 1, (counts, shape_ofs)
