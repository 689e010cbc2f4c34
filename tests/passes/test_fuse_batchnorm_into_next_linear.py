"""fuse-batchnorm-into-next-linear: BatchNormalization folded into the Conv/Gemm/MatMul that reads it."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import check_pass

PASS = "fuse-batchnorm-into-next-linear,dce"
RNG = np.random.default_rng(0)


def _bn_params(c):
    return [numpy_helper.from_array(RNG.uniform(0.5, 2, c).astype(np.float32), "scale"),
            numpy_helper.from_array(RNG.standard_normal(c).astype(np.float32), "B"),
            numpy_helper.from_array(RNG.standard_normal(c).astype(np.float32), "mean"),
            numpy_helper.from_array(RNG.uniform(0.1, 3, c).astype(np.float32), "var")]


def _model(after, x_shape, inits, out="y"):
    # Relu first: the BN input is an inner value, as in a real network.
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "scale", "B", "mean", "var"], ["n"], epsilon=1e-3), *after]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def _w(*shape):
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32), "w")


@pytest.mark.parametrize("bias", [True, False])
def test_conv_without_padding(bias):
    inputs = ["n", "w", "b"] if bias else ["n", "w"]
    inits = _bn_params(3) + [_w(5, 3, 3, 3)] + ([numpy_helper.from_array(RNG.standard_normal(5).astype(np.float32), "b")] if bias else [])
    m = _model([helper.make_node("Conv", inputs, ["y"], kernel_shape=[3, 3])], ("batch", 3, 8, 8), inits)
    model = check_pass(m, PASS, fires=True, rtol=1e-4, atol=1e-4, feeds={"x": RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)})
    assert model.op_histogram == {"Relu": 1, "Conv": 1}


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm(trans_b):
    inits = _bn_params(4) + [_w(6, 4) if trans_b else _w(4, 6), numpy_helper.from_array(RNG.standard_normal(6).astype(np.float32), "c")]
    m = _model([helper.make_node("Gemm", ["n", "w", "c"], ["y"], transB=trans_b, beta=0.5)], (3, 4), inits)
    model = check_pass(m, PASS, fires=True, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"Relu": 1, "Gemm": 1}


def test_matmul_with_bias_add():
    inits = _bn_params(4) + [_w(4, 6), numpy_helper.from_array(RNG.standard_normal(6).astype(np.float32), "b")]
    m = _model([helper.make_node("MatMul", ["n", "w"], ["mm"]), helper.make_node("Add", ["b", "mm"], ["y"])], (3, 4), inits)
    model = check_pass(m, PASS, fires=True, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"Relu": 1, "MatMul": 1, "Add": 1}


def test_must_not_fire():
    conv_inits = _bn_params(3) + [_w(5, 3, 3, 3)]
    cases = [
        # Padding: the border would see 0 instead of BN's shift.
        _model([helper.make_node("Conv", ["n", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], (1, 3, 8, 8), conv_inits),
        _model([helper.make_node("Conv", ["n", "w"], ["y"], kernel_shape=[3, 3], auto_pad="SAME_UPPER")], (1, 3, 8, 8), conv_inits),
        # Groups; BN output read twice; a bare MatMul (no layer to save); a rank-3 MatMul input.
        _model([helper.make_node("Conv", ["n", "wg"], ["y"], kernel_shape=[1, 1], group=3)], (1, 3, 8, 8),
               _bn_params(3) + [numpy_helper.from_array(RNG.standard_normal((3, 1, 1, 1)).astype(np.float32), "wg")]),
        _model([helper.make_node("Conv", ["n", "w"], ["c"], kernel_shape=[3, 3]), helper.make_node("ReduceSum", ["n"], ["s"], keepdims=0),
                helper.make_node("Add", ["c", "s"], ["y"])], (1, 3, 8, 8), conv_inits),
        _model([helper.make_node("MatMul", ["n", "w"], ["y"])], (3, 4), _bn_params(4) + [_w(4, 6)]),
        _model([helper.make_node("MatMul", ["n", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])], (2, 4, 5),
               _bn_params(4) + [_w(5, 6), numpy_helper.from_array(np.zeros(6, np.float32), "b")]),
    ]
    for m in cases:
        check_pass(m, "fuse-batchnorm-into-next-linear", fires=False, rtol=1e-4, atol=1e-4)
