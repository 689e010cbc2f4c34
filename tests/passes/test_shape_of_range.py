"""shape-of-range: Shape(Range(0, n, 1)) is [n] for a dim n (paddle2onnx's meshgrid in a YOLO
decode, tests/test_wild_paddle2onnx.py); it must not fire where the length is not n."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge.testing import check_pass


def _grid_model(limit_cast, start=0.0, delta=1.0, from_shape=True, opset=11):
    """gx, gy = meshgrid(arange(h), arange(w)) written as paddle2onnx does, h and w from the
    input's shape (or, with from_shape=False, from an int64 input that may be anything)."""
    f = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    i = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    if from_shape:
        dims = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "two"], ["hh"], axis=0),
                h.make_node("Gather", ["s", "three"], ["ww"], axis=0)]
    else:
        dims = [h.make_node("Gather", ["n", "zero"], ["hh"], axis=0), h.make_node("Gather", ["n", "one"], ["ww"], axis=0)]
    cast = [h.make_node("Cast", ["hh"], ["hf"], to=T.FLOAT), h.make_node("Cast", ["ww"], ["wf"], to=T.FLOAT)] if limit_cast else []
    hl, wl = ("hf", "wf") if limit_cast else ("hh", "ww")
    st, de = (f("start", start), f("delta", delta)) if limit_cast else (i("start", int(start)), i("delta", int(delta)))
    nodes = dims + cast + [
        h.make_node("Range", ["start", hl, "delta"], ["rh"]), h.make_node("Range", ["start", wl, "delta"], ["rw"]),
        h.make_node("Shape", ["rh"], ["sh"]), h.make_node("Shape", ["rw"], ["sw"]),
        h.make_node("Concat", ["sh", "sw"], ["grid_shape"], axis=0),
        h.make_node("Reshape", ["rh", "col"], ["rh2"]), h.make_node("Expand", ["rh2", "grid_shape"], ["gy"]),
        h.make_node("Reshape", ["rw", "row"], ["rw2"]), h.make_node("Expand", ["rw2", "grid_shape"], ["gx"]),
    ]
    inits = [st, de, i("two", 2), i("three", 3), i("zero", 0), i("one", 1), i("col", [-1, 1]), i("row", [1, -1])]
    ins = [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, "h", "w"])] + ([] if from_shape else [h.make_tensor_value_info("n", T.INT64, [2])])
    out_type = T.FLOAT if limit_cast else T.INT64
    g = h.make_graph(nodes, "g", ins, [h.make_tensor_value_info("gx", out_type, None), h.make_tensor_value_info("gy", out_type, None)], inits)
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    return onnx.load_from_string(irforge.convert_model(proto, transform="infer-shapes").to_onnx_bytes())


@pytest.mark.parametrize("limit_cast, opset", [(True, 11), (False, 11), (True, 17)])
def test_range_shape_is_its_dim_limit(limit_cast, opset):
    feeds = {"x": np.zeros((1, 3, 5, 7), np.float32)}
    model = check_pass(_grid_model(limit_cast, opset=opset), "shape-of-range,dce", fires=True, feeds=feeds)
    ops = [n.op_type for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node]
    assert ops.count("Shape") == 1, ops  # only the input's


@pytest.mark.parametrize("case", ["start_1", "delta_2", "limit_not_a_dim"])
def test_must_not_fire(case):
    """Range(1, n, 1) has n - 1 elements, Range(0, n, 2) ceil(n / 2); an int64 input may be negative."""
    feeds = {"x": np.zeros((1, 3, 5, 7), np.float32)}
    if case == "start_1":
        proto = _grid_model(True, start=1.0)
    elif case == "delta_2":
        proto = _grid_model(True, delta=2.0)
    else:
        proto = _grid_model(False, from_shape=False)
        feeds["n"] = np.array([4, 6], np.int64)
    check_pass(proto, "shape-of-range", fires=False, feeds=feeds, openvino=False)


def test_int32_limit_of_legacy_paddle():
    """The legacy Paddle program's limit: Cast(float, Squeeze(Slice(Cast(Shape(x), int32)))).
    shape-of-range gives Unsqueeze(Cast(int64, that int32 dim)), which remove-shape-cast-roundtrip
    then reads from the int64 Shape: one Shape, no int32 left."""
    i = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    f = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Cast", ["s"], ["s32"], to=T.INT32),
             h.make_node("Slice", ["s32", "two", "three"], ["h32"]), h.make_node("Squeeze", ["h32"], ["hs"], axes=[0]),
             h.make_node("Cast", ["hs"], ["hf"], to=T.FLOAT), h.make_node("Range", ["start", "hf", "delta"], ["r"]),
             h.make_node("Shape", ["r"], ["sr"]), h.make_node("Expand", ["r", "sr"], ["y"])]
    inits = [i("two", [2]), i("three", [3]), f("start", 0.0), f("delta", 1.0)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, "h", "w"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    proto = onnx.load_from_string(irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 11)]),
                                                        transform="infer-shapes").to_onnx_bytes())
    feeds = {"x": np.zeros((1, 3, 5, 7), np.float32)}
    model = check_pass(proto, "shape-of-range,remove-shape-cast-roundtrip,simplify-layout,dce", fires=True, feeds=feeds)
    nodes = onnx.load_from_string(model.to_onnx_bytes()).graph.node
    ops = [n.op_type for n in nodes]
    assert ops.count("Shape") == 1, ops
    assert not any(n.op_type == "Cast" and n.attribute[0].i == T.INT32 for n in nodes), ops
