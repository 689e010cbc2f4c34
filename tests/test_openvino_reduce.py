"""OpenVINO lowering of reductions and scans: irforge IR on OpenVINO CPU vs onnxruntime.

The onnx node cases use the newest opset with static shapes and mostly run-time axes. These
models cover the rest: the axes attribute of older opsets, constant axes, symbolic dims and
unknown ranks, keepdims=0 with run-time axes, empty run-time axes, and stability of
ReduceLogSumExp; ArgMax/ArgMin ties, TopK's k forms, CumSum/CumProd with constant and run-time
axes.
"""

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import openvino as ov
import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino  # noqa: E402

RNG = np.random.RandomState(0)


def _run_openvino(model, feeds, tmp_path):
    return run_openvino(irforge.convert_model(model), feeds)


def _check(model, feeds, tmp_path, expected=None, rtol=1e-5, atol=1e-6):
    if expected is None:
        expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = _run_openvino(model, feeds, tmp_path)
    assert actual and all(np.asarray(e).size for e in expected)
    assert_outputs_close(expected, actual, rtol=rtol, atol=atol)


def _model(nodes, inputs, outputs, opset=18, initializers=()):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _vi(name, elem=T.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def _i64(name, values, dims=None):
    values = list(values)
    return h.make_tensor(name, T.INT64, [len(values)] if dims is None else dims, values)


X = RNG.randn(2, 3, 4).astype(np.float32)


# ---- Reduce* ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceProd", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_attribute_old_opset(tmp_path, op, keepdims):
    model = _model([h.make_node(op, ["x"], ["y"], axes=[0, -1], keepdims=keepdims)], [_vi("x", T.FLOAT, ["n", 3, 4])], [_vi("y")], opset=11)
    _check(model, {"x": X}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMin", "ReduceL1", "ReduceLogSum"])
def test_reduce_no_axes_reduces_all_of_runtime_rank(tmp_path, op):
    # The Reshape output's rank is not recorded in the model: all axes come from Range at run time.
    x = np.abs(X) + 0.5
    model = _model(
        [h.make_node("Reshape", ["x", "s"], ["r"]), h.make_node(op, ["r"], ["y"], keepdims=0)],
        [_vi("x", T.FLOAT, [2, 3, 4]), _vi("s", T.INT64, [2])],
        [_vi("y")],
        opset=18,
    )
    _check(model, {"x": x, "s": np.array([6, 4], np.int64)}, tmp_path)


@pytest.mark.parametrize("op,opset", [("ReduceSum", 13), ("ReduceMax", 18), ("ReduceLogSumExp", 18)])
def test_reduce_constant_axes_input(tmp_path, op, opset):
    model = _model(
        [h.make_node(op, ["x", "axes"], ["y"], keepdims=0)], [_vi("x", T.FLOAT, ["a", "b", 4])], [_vi("y")], opset=opset, initializers=[_i64("axes", [1])]
    )
    _check(model, {"x": X}, tmp_path)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_runtime_axes_keeps_static_rank(tmp_path, keepdims):
    # keepdims=0 over run-time axes: OpenVINO cannot infer the rank, the lowering pins it.
    model = _model(
        [h.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims), h.make_node("Relu", ["y"], ["z"])],
        [_vi("x", T.FLOAT, [2, 3, 4]), _vi("axes", T.INT64, [2])],
        [_vi("z")],
    )
    for axes in ([0, 2], [-1, 1]):
        _check(model, {"x": X, "axes": np.array(axes, np.int64)}, tmp_path)


@pytest.mark.parametrize("op,opset", [("ReduceSum", 13), ("ReduceLogSumExp", 18), ("ReduceMax", 18)])
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_runtime_axes_of_unknown_length(tmp_path, op, opset, noop):
    # Empty run-time axes: all axes (noop_with_empty_axes=0) or none (1).
    model = _model(
        [h.make_node(op, ["x", "axes"], ["y"], keepdims=1, noop_with_empty_axes=noop)],
        [_vi("x", T.FLOAT, [2, 3, 4]), _vi("axes", T.INT64, ["k"])],
        [_vi("y")],
        opset=opset,
    )
    for axes in ([], [1], [-1, 0]):
        _check(model, {"x": X, "axes": np.array(axes, np.int64)}, tmp_path)


def test_reduce_sum_square_noop_is_elementwise(tmp_path):
    model = _model(
        [h.make_node("ReduceSumSquare", ["x", "axes"], ["y"], noop_with_empty_axes=1)], [_vi("x", T.FLOAT, [2, 3, 4])], [_vi("y")], initializers=[_i64("axes", [])]
    )
    _check(model, {"x": X}, tmp_path)


def test_reduce_log_sum_exp_large_values(tmp_path):
    x = (RNG.randn(3, 5) * 50 + 200).astype(np.float32)
    model = _model([h.make_node("ReduceLogSumExp", ["x"], ["y"], axes=[1], keepdims=0)], [_vi("x", T.FLOAT, [3, 5])], [_vi("y")], opset=13)
    expected = [np.log(np.sum(np.exp(x.astype(np.float64) - x.max(1, keepdims=True)), 1)) + x.max(1)]
    _check(model, {"x": x}, tmp_path, expected=[expected[0].astype(np.float32)], rtol=1e-6)


# ---- ArgMax / ArgMin / TopK -------------------------------------------------------------------


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_arg_ties(tmp_path, op, last, keepdims):
    x = RNG.randint(0, 3, size=(3, 6)).astype(np.float32)
    model = _model(
        [h.make_node(op, ["x"], ["y"], axis=-1, keepdims=keepdims, select_last_index=last)], [_vi("x", T.FLOAT, ["n", 6])], [_vi("y", T.INT64)], opset=13
    )
    _check(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_constant_k_with_ties(tmp_path, largest):
    x = RNG.randint(0, 4, size=(2, 8)).astype(np.float32)
    model = _model(
        [h.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=largest)],
        [_vi("x", T.FLOAT, ["n", 8])],
        [_vi("v"), _vi("i", T.INT64)],
        opset=11,
        initializers=[_i64("k", [3])],
    )
    _check(model, {"x": x}, tmp_path)


def test_top_k_attribute_k_opset1(tmp_path):
    model = _model([h.make_node("TopK", ["x"], ["v", "i"], k=2, axis=0)], [_vi("x", T.FLOAT, [2, 3, 4])], [_vi("v"), _vi("i", T.INT64)], opset=1)
    _check(model, {"x": X}, tmp_path)


# ---- CumSum / CumProd -------------------------------------------------------------------------


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cum_sum_runtime_axis(tmp_path, exclusive, reverse):
    model = _model(
        [h.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)],
        [_vi("x", T.FLOAT, ["a", 3, 4]), _vi("axis", T.INT32, [])],
        [_vi("y")],
        opset=14,
    )
    _check(model, {"x": X, "axis": np.array(-2, np.int32)}, tmp_path)


def _cumprod_reference(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cum_prod_constant_axis(tmp_path, exclusive, reverse):
    # onnxruntime has no CumProd (opset 26) yet: the onnx reference gives the expected values.
    x = (RNG.rand(2, 7, 3) + 0.5).astype(np.float32)
    model = _model(
        [h.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)],
        [_vi("x", T.FLOAT, ["n", 7, 3])],
        [_vi("y")],
        opset=26,
        initializers=[_i64("axis", [1], dims=[])],
    )
    _check(model, {"x": x}, tmp_path, expected=_cumprod_reference(model, {"x": x}))


def test_cum_prod_runtime_axis_integers(tmp_path):
    x = RNG.randint(-3, 4, size=(4, 5)).astype(np.int64)
    model = _model(
        [h.make_node("CumProd", ["x", "axis"], ["y"], reverse=1)], [_vi("x", T.INT64, [4, 5]), _vi("axis", T.INT64, [])], [_vi("y", T.INT64)], opset=26
    )
    for axis in (0, -1):
        feeds = {"x": x, "axis": np.array(axis, np.int64)}
        _check(model, feeds, tmp_path, expected=_cumprod_reference(model, feeds))
