"""Shapes after a recurrent layer and exporter-named output dims (issue 20 item 2, tf2onnx).

tf2onnx's Keras Dense on an LSTM's sequence is Reshape(y, [-1, 16]) → MatMul → Reshape(back to
Shape(y)[0:2] + [3]), and it names every graph-output dim afresh ("unk__88"). Without an
LSTM/GRU/RNN shape rule nothing after the recurrent layer had a shape; without reading the
target's content, the exporter's output dim names hid that the last Reshape restores y's own
leading dims. Both together leave one MatMul.
"""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from wild_shape_util import check_at_shapes, i64, node

HIDDEN = 16


def _model(op, computed_flatten=False):
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((1, gates * HIDDEN, 8)) * 0.3).astype(np.float32), "w")
    r = numpy_helper.from_array((rng.standard_normal((1, gates * HIDDEN, HIDDEN)) * 0.3).astype(np.float32), "r")
    dense = numpy_helper.from_array(rng.standard_normal((HIDDEN, 3)).astype(np.float32), "dense")
    nodes = [node(op, ["x", "w", "r"], ["seq_out"], hidden_size=HIDDEN),
             node("Squeeze", ["seq_out", "one"], ["h"]),                       # [seq, batch, 16]
             node("Shape", ["h"], ["h_shape"]),
             node("Cast", ["h_shape"], ["h_shape32"], to=TensorProto.INT32),  # tf2onnx's int32 round trip
             node("Gather", ["h_shape32", "lead"], ["lead_dims"], axis=0),
             node("Concat", ["lead_dims", "three"], ["target32"], axis=0),
             node("Cast", ["target32"], ["target"], to=TensorProto.INT64),
             node("Reshape", ["h", "flat_target" if computed_flatten else "flat"], ["rows"]),
             node("MatMul", ["rows", "dense"], ["rows_out"]),
             node("Reshape", ["rows_out", "target"], ["y"])]
    if computed_flatten:  # tf2onnx's Tensordot: [prod(leading dims), 16] computed from the shape
        nodes[7:7] = [node("ReduceProd", ["lead_dims"], ["rows_n"], keepdims=0, axes=[0]),
                      node("Unsqueeze", ["rows_n", "zero"], ["rows_n1"]),
                      node("Concat", ["rows_n1", "sixteen"], ["flat_target32"], axis=0),
                      node("Cast", ["flat_target32"], ["flat_target"], to=TensorProto.INT64)]
    inits = [i64("zero", [0]), numpy_helper.from_array(np.array([HIDDEN], np.int32), "sixteen"), w, r, dense, i64("one", [1]), i64("flat", [-1, HIDDEN]),
             numpy_helper.from_array(np.array([0, 1], np.int32), "lead"), numpy_helper.from_array(np.array([3], np.int32), "three")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", "unk__2", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["unk__88", "unk__89", 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op, computed_flatten", [("LSTM", False), ("GRU", False), ("RNN", False), ("LSTM", True)])
def test_dense_after_recurrent_layer_is_one_matmul(op, computed_flatten):
    # computed_flatten: the row count comes from ReduceProd of the leading dims, whose content
    # (one unknown element) still lets the target become [-1, 16].
    result = check_at_shapes(_model(op, computed_flatten), "default", True, [(5, 2, 8), (9, 3, 8)])
    hist = result.op_histogram
    assert hist == {op: 1, "Squeeze": 1, "MatMul": 1}, hist
