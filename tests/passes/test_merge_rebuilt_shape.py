"""merge-rebuilt-shape: Concat(Shape(x)[0:2], Shape(lat)[2:]) is Shape(lat) when x and lat share
batch and channels (paddle2onnx's FPN Resize sizes, tests/test_wild_paddle2onnx.py)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge.testing import check_pass


def _model(x_shape, lat_shape):
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    nodes = [h.make_node("Shape", ["x"], ["sx"]), h.make_node("Slice", ["sx", "zero", "cut"], ["nc"]),
             h.make_node("Shape", ["lat"], ["sl"]), h.make_node("Slice", ["sl", "cut", "end"], ["hw"]),
             h.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             h.make_node("Resize", ["x", "empty", "empty", "sizes"], ["y"], mode="nearest")]
    inits = [i64("zero", [0]), i64("cut", [2]), i64("end", [2**31 - 1]), numpy_helper.from_array(np.zeros(0, np.float32), "empty")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, x_shape), h.make_tensor_value_info("lat", T.FLOAT, lat_shape)],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    # The pass reads the dims inference gave the Shape inputs (and the int64 types).
    return onnx.load_from_string(irforge.convert_model(proto, transform="infer-shapes").to_onnx_bytes())


def _feeds(x_shape, lat_shape):
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal(x_shape).astype(np.float32), "lat": rng.standard_normal(lat_shape).astype(np.float32)}


def test_sizes_become_the_laterals_shape():
    model = check_pass(_model(["n", 4, "h", "w"], ["n", 4, "H", "W"]), "merge-rebuilt-shape,dce", fires=True,
                       feeds=_feeds((2, 4, 3, 5), (2, 4, 6, 10)))
    ops = [n.op_type for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node]
    assert ops.count("Shape") == 1 and "Slice" not in ops and "Concat" not in ops, ops


@pytest.mark.parametrize("x_shape, lat_shape", [
    (["n", 4, "h", "w"], ["m", 4, "H", "W"]),   # batch dims of different names
    (["n", 4, "h", "w"], ["n", 8, "H", "W"]),   # other channels
    ([None, 4, "h", "w"], [None, 4, "H", "W"]),  # batch dims unknown
])
def test_must_not_fire(x_shape, lat_shape):
    x = tuple(d if isinstance(d, int) else 2 if d in ("n", "m", None) else 3 for d in x_shape)
    lat = tuple(d if isinstance(d, int) else 2 if d in ("n", "m", None) else 6 for d in lat_shape)
    check_pass(_model(x_shape, lat_shape), "merge-rebuilt-shape", fires=False, feeds=_feeds(x, lat))
