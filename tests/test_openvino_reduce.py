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
from onnx_graphs import check_ir, i64, onnx_model, vi

RNG = np.random.RandomState(0)


X = RNG.randn(2, 3, 4).astype(np.float32)


# ---- Reduce* ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceProd", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_attribute_old_opset(op, keepdims):
    model = onnx_model([h.make_node(op, ["x"], ["y"], axes=[0, -1], keepdims=keepdims)], [vi("x", T.FLOAT, ["n", 3, 4])], [vi("y")], opset=11)
    check_ir(model, {"x": X})


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMin", "ReduceL1", "ReduceLogSum"])
def test_reduce_no_axes_reduces_all_of_runtime_rank(op):
    # The Reshape output's rank is not recorded in the model: all axes come from Range at run time.
    x = np.abs(X) + 0.5
    model = onnx_model(
        [h.make_node("Reshape", ["x", "s"], ["r"]), h.make_node(op, ["r"], ["y"], keepdims=0)],
        [vi("x", T.FLOAT, [2, 3, 4]), vi("s", T.INT64, [2])],
        [vi("y")],
        opset=18,
    )
    check_ir(model, {"x": x, "s": np.array([6, 4], np.int64)})


@pytest.mark.parametrize("op,opset", [("ReduceSum", 13), ("ReduceMax", 18), ("ReduceLogSumExp", 18)])
def test_reduce_constant_axes_input(op, opset):
    model = onnx_model(
        [h.make_node(op, ["x", "axes"], ["y"], keepdims=0)], [vi("x", T.FLOAT, ["a", "b", 4])], [vi("y")], opset=opset, initializers=[i64("axes", [1])]
    )
    check_ir(model, {"x": X})


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_runtime_axes_keeps_static_rank(keepdims):
    # keepdims=0 over run-time axes: OpenVINO cannot infer the rank, the lowering pins it.
    model = onnx_model(
        [h.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims), h.make_node("Relu", ["y"], ["z"])],
        [vi("x", T.FLOAT, [2, 3, 4]), vi("axes", T.INT64, [2])],
        [vi("z")],
    )
    for axes in ([0, 2], [-1, 1]):
        check_ir(model, {"x": X, "axes": np.array(axes, np.int64)})


@pytest.mark.parametrize("op,opset", [("ReduceSum", 13), ("ReduceLogSumExp", 18), ("ReduceMax", 18)])
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_runtime_axes_of_unknown_length(op, opset, noop):
    # Empty run-time axes: all axes (noop_with_empty_axes=0) or none (1).
    model = onnx_model(
        [h.make_node(op, ["x", "axes"], ["y"], keepdims=1, noop_with_empty_axes=noop)],
        [vi("x", T.FLOAT, [2, 3, 4]), vi("axes", T.INT64, ["k"])],
        [vi("y")],
        opset=opset,
    )
    for axes in ([], [1], [-1, 0]):
        check_ir(model, {"x": X, "axes": np.array(axes, np.int64)})


def test_reduce_sum_square_noop_is_elementwise():
    model = onnx_model(
        [h.make_node("ReduceSumSquare", ["x", "axes"], ["y"], noop_with_empty_axes=1)], [vi("x", T.FLOAT, [2, 3, 4])], [vi("y")], initializers=[i64("axes", [])]
    )
    check_ir(model, {"x": X})


def test_reduce_log_sum_exp_large_values():
    x = (RNG.randn(3, 5) * 50 + 200).astype(np.float32)
    model = onnx_model([h.make_node("ReduceLogSumExp", ["x"], ["y"], axes=[1], keepdims=0)], [vi("x", T.FLOAT, [3, 5])], [vi("y")], opset=13)
    expected = [np.log(np.sum(np.exp(x.astype(np.float64) - x.max(1, keepdims=True)), 1)) + x.max(1)]
    check_ir(model, {"x": x}, expected=[expected[0].astype(np.float32)], rtol=1e-6)


# ---- ArgMax / ArgMin / TopK -------------------------------------------------------------------


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_arg_ties(op, last, keepdims):
    x = RNG.randint(0, 3, size=(3, 6)).astype(np.float32)
    model = onnx_model(
        [h.make_node(op, ["x"], ["y"], axis=-1, keepdims=keepdims, select_last_index=last)], [vi("x", T.FLOAT, ["n", 6])], [vi("y", T.INT64)], opset=13
    )
    check_ir(model, {"x": x})


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_constant_k_with_ties(largest):
    x = RNG.randint(0, 4, size=(2, 8)).astype(np.float32)
    model = onnx_model(
        [h.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=largest)],
        [vi("x", T.FLOAT, ["n", 8])],
        [vi("v"), vi("i", T.INT64)],
        opset=11,
        initializers=[i64("k", [3])],
    )
    check_ir(model, {"x": x})


def test_top_k_attribute_k_opset1():
    model = onnx_model([h.make_node("TopK", ["x"], ["v", "i"], k=2, axis=0)], [vi("x", T.FLOAT, [2, 3, 4])], [vi("v"), vi("i", T.INT64)], opset=1)
    check_ir(model, {"x": X})


# ---- CumSum / CumProd -------------------------------------------------------------------------


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cum_sum_runtime_axis(exclusive, reverse):
    model = onnx_model(
        [h.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)],
        [vi("x", T.FLOAT, ["a", 3, 4]), vi("axis", T.INT32, [])],
        [vi("y")],
        opset=14,
    )
    check_ir(model, {"x": X, "axis": np.array(-2, np.int32)})


def _cumprod_reference(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cum_prod_constant_axis(exclusive, reverse):
    # onnxruntime has no CumProd (opset 26) yet: the onnx reference gives the expected values.
    x = (RNG.rand(2, 7, 3) + 0.5).astype(np.float32)
    model = onnx_model(
        [h.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)],
        [vi("x", T.FLOAT, ["n", 7, 3])],
        [vi("y")],
        opset=26,
        initializers=[i64("axis", [1], dims=[])],
    )
    check_ir(model, {"x": x}, expected=_cumprod_reference(model, {"x": x}))


def test_cum_prod_runtime_axis_integers():
    x = RNG.randint(-3, 4, size=(4, 5)).astype(np.int64)
    model = onnx_model(
        [h.make_node("CumProd", ["x", "axis"], ["y"], reverse=1)], [vi("x", T.INT64, [4, 5]), vi("axis", T.INT64, [])], [vi("y", T.INT64)], opset=26
    )
    for axis in (0, -1):
        feeds = {"x": x, "axis": np.array(axis, np.int64)}
        check_ir(model, feeds, expected=_cumprod_reference(model, feeds))
