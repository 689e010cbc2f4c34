"""merge-concat-constants: adjacent constant inputs of a Concat become one constant."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import check_pass

PASS = "merge-concat-constants,dce"


def _model(inputs, inits, axis, x_shape, out_type=TensorProto.INT64):
    nodes = [helper.make_node("Shape" if out_type == TensorProto.INT64 else "Relu", ["x"], ["h"]),
             helper.make_node("Concat", inputs, ["c"], axis=axis), helper.make_node("Neg", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", out_type, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _concat_inputs(model):
    node = [n for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node if n.op_type == "Concat"][0]
    return len(node.input)


def test_merges_shape_pieces():
    # A Reshape-target-like vector: x's shape, then [12], [64], then x's shape again, then [1], [2], [3].
    inits = {"a": np.array([12], np.int64), "b": np.array([64], np.int64), "c1": np.array([1], np.int64), "c2": np.array([2, 3], np.int64)}
    m = _model(["h", "a", "b", "h", "c1", "c2"], inits, 0, (2, 5))
    model = check_pass(m, PASS, fires=True, openvino=False)
    assert _concat_inputs(model) == 4


def test_merges_along_an_inner_axis():
    rng = np.random.default_rng(0)
    inits = {"a": rng.standard_normal((2, 1, 4)).astype(np.float32), "b": rng.standard_normal((2, 3, 4)).astype(np.float32),
             "z": rng.standard_normal((2, 2, 4)).astype(np.float32)}
    m = _model(["a", "b", "h", "z"], inits, 1, (2, 5, 4), TensorProto.FLOAT)
    model = check_pass(m, PASS, fires=True)
    assert _concat_inputs(model) == 3


def test_must_not_fire():
    inits = {"a": np.array([12], np.int64), "b": np.array([64], np.int64)}
    # Constants not adjacent; a single constant.
    check_pass(_model(["a", "h", "b"], inits, 0, (2, 5)), "merge-concat-constants", fires=False, openvino=False)
    check_pass(_model(["h", "a"], inits, 0, (2, 5)), "merge-concat-constants", fires=False, openvino=False)
