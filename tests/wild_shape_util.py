"""Helpers of the dynamic-shape pass tests (issue 20 item 2): small ONNX graphs with named dims,
checked with irforge.testing.check_pass at one input shape and in onnxruntime at more."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import assert_outputs_close, check_pass, run_onnxruntime


def i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


def model(nodes, inits, x_shape=("batch", "seq", 64), opset=18, outputs=("y",)):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def feeds(shape, seed=0):
    return {"x": np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def check_at_shapes(m, pipeline, fires, shapes, openvino=True):
    """check_pass at the first shape (ORT and OpenVINO), then the same outputs in onnxruntime at
    every other shape: the rewrites must hold for any value of the named dims."""
    result = check_pass(m, pipeline, fires=fires, feeds=feeds(shapes[0]), openvino=openvino)
    optimized = result.to_onnx_bytes()
    for k, shape in enumerate(shapes[1:], 1):
        f = feeds(shape, seed=k)
        expected = run_onnxruntime(m.SerializeToString(), f)
        assert expected, "nothing to compare"
        assert_outputs_close(expected, run_onnxruntime(optimized, f))
    return result
