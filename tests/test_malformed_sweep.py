"""End-to-end sweep of op-level malformed models through `irforge convert`.

Every model here breaks one rule of an op (a zero stride, a perm out of range, shapes that cannot
be multiplied, ...). Each is converted by the CLI in a subprocess, to OpenVINO IR and to ONNX, in
an empty folder. The product rule checked: no signal and no hang; exit code 0 or 1; on 1 exactly
one stderr line, without a traceback, naming the node and leaving no file behind; on 0 the runtime
(OpenVINO CPU for .xml, onnxruntime for .onnx) loads the output and runs it once.

Models are built in code with onnx.helper (never checked with onnx.checker: they are invalid).

Run as a script (`python tests/test_malformed_sweep.py [--ovc]`) it prints the outcome per case,
and with --ovc the same for OpenVINO's own converter side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
vi = helper.make_tensor_value_info
TIMEOUT = 120  # seconds per subprocess; a hang shows as a timeout, not a stuck test run


def _package_root() -> str:
    import irforge

    return str(Path(irforge.__file__).parent.parent)


# ---- model builders ------------------------------------------------------------------------------


def _m(nodes, inputs, outputs, inits=(), opset=21) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "sweep", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _w(name, shape, dtype=np.float32, values=None):
    arr = np.asarray(values, dtype=dtype).reshape(shape) if values is not None else np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return numpy_helper.from_array(arr, name)


def _i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _x(shape, name="x", dtype=F32):
    return vi(name, dtype, shape)


def _y(name="y", dtype=F32):
    return vi(name, dtype, None)


def _one(op, inputs, attrs=None, x_shapes=((1, 3, 8, 8),), inits=(), opset=21, n_out=1, name=None):
    """One node named bad_<op> on inputs x, x1, ... (float, given static shapes) and initializers."""
    xs = [_x(list(s), "x" if i == 0 else f"x{i}") for i, s in enumerate(x_shapes)]
    outs = ["y"] + [f"y{k}" for k in range(1, n_out)]
    node = helper.make_node(op, inputs, outs, name=name or f"bad_{op.lower()}", **(attrs or {}))
    return _m([node], xs, [_y(o) for o in outs], inits, opset)


def _conv(attrs=None, x=(1, 3, 8, 8), w=(4, 3, 3, 3), op="Conv"):
    return _one(op, ["x", "w"], attrs, [x], [_w("w", w)], name="bad_conv")


def _pool(op="MaxPool", x=(1, 3, 8, 8), **attrs):
    attrs.setdefault("kernel_shape", [2, 2])
    return _one(op, ["x"], attrs, [x], name="bad_pool")


def _cycle():
    return _m(
        [
            helper.make_node("Relu", ["b"], ["a"], name="cyc_a"),
            helper.make_node("Neg", ["a"], ["b"], name="cyc_b"),
            helper.make_node("Add", ["a", "x"], ["y"], name="cyc_out"),
        ],
        [_x([2])],
        [_y()],
    )


def _if_output_counts():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t0"], name="t_relu")], "then", [], [_y("t0")])
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e0"], name="e_neg"), helper.make_node("Abs", ["x"], ["e1"], name="e_abs")],
        "else", [], [_y("e0"), _y("e1")],
    )
    node = helper.make_node("If", ["c"], ["y"], name="bad_if", then_branch=then_g, else_branch=else_g)
    return _m([node], [_x([2]), vi("c", TensorProto.BOOL, [])], [_y()])


def _if_shapes_mismatch():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t0"], name="t_relu")], "then", [], [_y("t0")])
    else_g = helper.make_graph([helper.make_node("Cast", ["x"], ["e0"], name="e_cast", to=I64)], "else", [], [vi("e0", I64, None)])
    node = helper.make_node("If", ["c"], ["y"], name="bad_if", then_branch=then_g, else_branch=else_g)
    return _m([node], [_x([2]), vi("c", TensorProto.BOOL, [])], [_y()])


def _loop_body_arity():
    # A Loop with one carried value needs a body of 2 + 1 inputs and 1 + 1 outputs; this body takes 1.
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="b_id")],
        "body", [vi("cond_in", TensorProto.BOOL, [])], [vi("cond_out", TensorProto.BOOL, [])],
    )
    node = helper.make_node("Loop", ["trip", "cond", "x"], ["y"], name="bad_loop", body=body)
    return _m(
        [node], [_x([2])], [_y()],
        [_i64("trip", 3), numpy_helper.from_array(np.array(True), "cond")],
    )


def _scan_body_arity():
    body = helper.make_graph(
        [helper.make_node("Identity", ["s_in"], ["s_out"], name="b_id")], "body", [_x([2], "s_in")], [_y("s_out")]
    )
    node = helper.make_node("Scan", ["x", "x1"], ["y", "y1"], name="bad_scan", body=body, num_scan_inputs=1)
    return _m([node], [_x([2]), _x([3, 2], "x1")], [_y(), _y("y1")])


def _no_outputs():
    return _m(
        [helper.make_node("Relu", ["x"], [], name="bad_relu"), helper.make_node("Neg", ["x"], ["y"], name="fine_neg")],
        [_x([2])], [_y()],
    )


def _undefined_input():
    return _m([helper.make_node("Add", ["x", "ghost"], ["y"], name="bad_add")], [_x([2])], [_y()])


def _duplicate_producer():
    return _m(
        [helper.make_node("Relu", ["x"], ["y"], name="bad_first"), helper.make_node("Neg", ["x"], ["y"], name="bad_second")],
        [_x([2])], [_y()],
    )


def _const_fold(op, inputs, inits, attrs=None, dtype=F32, n_out=1):
    """A node on constants only, so constant folding (not shape inference alone) meets it."""
    outs = ["y"] + [f"y{k}" for k in range(1, n_out)]
    node = helper.make_node(op, inputs, outs, name=f"bad_{op.lower()}", **(attrs or {}))
    tail = helper.make_node("Identity", ["y"], ["out"], name="tail")
    return _m([node, tail], [], [_y("out", dtype)] + [_y(o, dtype) for o in outs[1:]], inits)


# ---- the cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    make: Callable[[], onnx.ModelProto]
    nodes: Sequence[str]  # an error message must name one of these


def _c(name, make, *nodes):
    return Case(name, make, nodes)


CASES: List[Case] = [
    # Conv
    _c("conv_zero_strides", lambda: _conv({"strides": [0, 0]}), "bad_conv"),
    _c("conv_negative_strides", lambda: _conv({"strides": [-1, 1]}), "bad_conv"),
    _c("conv_group_zero", lambda: _conv({"group": 0}), "bad_conv"),
    _c("conv_group_negative", lambda: _conv({"group": -3}), "bad_conv"),
    _c("conv_group_not_dividing_channels", lambda: _conv({"group": 2}, x=(1, 3, 8, 8), w=(4, 1, 3, 3)), "bad_conv"),
    _c("conv_group_not_dividing_out_channels", lambda: _conv({"group": 3}, x=(1, 3, 8, 8), w=(4, 1, 3, 3)), "bad_conv"),
    _c("conv_weight_channels_mismatch", lambda: _conv(x=(1, 3, 8, 8), w=(4, 2, 3, 3)), "bad_conv"),
    _c("conv_zero_dilations", lambda: _conv({"dilations": [0, 0]}), "bad_conv"),
    _c("conv_zero_kernel_shape", lambda: _conv({"kernel_shape": [0, 0]}), "bad_conv"),
    _c("conv_kernel_shape_vs_weight", lambda: _conv({"kernel_shape": [5, 5]}), "bad_conv"),
    _c("conv_kernel_larger_than_input", lambda: _conv(x=(1, 3, 2, 2), w=(4, 3, 5, 5)), "bad_conv"),
    _c("conv_pads_wrong_length", lambda: _conv({"pads": [1, 1, 1]}), "bad_conv"),
    _c("conv_weight_rank_mismatch", lambda: _conv(w=(4, 3, 3)), "bad_conv"),
    _c("conv_strides_wrong_length", lambda: _conv({"strides": [1, 1, 1]}), "bad_conv"),
    _c("conv_bias_wrong_length", lambda: _one("Conv", ["x", "w", "b"], None, [(1, 3, 8, 8)], [_w("w", (4, 3, 3, 3)), _w("b", (5,))], name="bad_conv"), "bad_conv"),
    _c("conv_input_rank_2", lambda: _conv(x=(3, 8), w=(4, 3)), "bad_conv"),
    _c("conv_auto_pad_unknown", lambda: _conv({"auto_pad": "SIDEWAYS"}), "bad_conv"),
    _c("convtranspose_group_zero", lambda: _conv({"group": 0}, w=(3, 4, 3, 3), op="ConvTranspose"), "bad_conv"),
    _c("convtranspose_zero_strides", lambda: _conv({"strides": [0, 0]}, w=(3, 4, 3, 3), op="ConvTranspose"), "bad_conv"),
    _c("convtranspose_channels_mismatch", lambda: _conv(w=(5, 4, 3, 3), op="ConvTranspose"), "bad_conv"),
    # Pooling
    _c("maxpool_zero_strides", lambda: _pool(strides=[0, 0]), "bad_pool"),
    _c("maxpool_zero_kernel", lambda: _pool(kernel_shape=[0, 0]), "bad_pool"),
    _c("maxpool_kernel_rank_mismatch", lambda: _pool(kernel_shape=[2]), "bad_pool"),
    _c("maxpool_kernel_larger_than_input", lambda: _pool(x=(1, 1, 2, 2), kernel_shape=[5, 5]), "bad_pool"),
    _c("maxpool_zero_dilations", lambda: _pool(dilations=[0, 0]), "bad_pool"),
    _c("maxpool_pads_not_smaller_than_kernel", lambda: _pool(pads=[4, 4, 4, 4]), "bad_pool"),
    _c("avgpool_zero_strides", lambda: _pool("AveragePool", strides=[0, 0]), "bad_pool"),
    _c("avgpool_negative_kernel", lambda: _pool("AveragePool", kernel_shape=[-2, 2]), "bad_pool"),
    _c("lppool_zero_kernel", lambda: _pool("LpPool", kernel_shape=[0, 2]), "bad_pool"),
    _c("globalpool_rank_2", lambda: _one("GlobalAveragePool", ["x"], None, [(3, 8)]), "bad_globalaveragepool"),
    # Graph structure
    _c("node_without_outputs", _no_outputs, "bad_relu"),
    _c("graph_cycle", _cycle, "cyc_a", "cyc_b"),
    _c("undefined_input", _undefined_input, "bad_add", "ghost"),
    _c("two_producers_of_one_value", _duplicate_producer, "bad_first", "bad_second", "'y'"),
    _c("if_branch_output_counts", _if_output_counts, "bad_if"),
    _c("if_branch_types_differ", _if_shapes_mismatch, "bad_if"),
    _c("loop_body_wrong_arity", _loop_body_arity, "bad_loop"),
    _c("scan_body_wrong_arity", _scan_body_arity, "bad_scan"),
    # Axes and permutations
    _c("unsqueeze_duplicate_axes", lambda: _one("Unsqueeze", ["x", "ax"], None, [(2, 3)], [_i64("ax", [0, 0])]), "bad_unsqueeze"),
    _c("unsqueeze_axis_out_of_range", lambda: _one("Unsqueeze", ["x", "ax"], None, [(2, 3)], [_i64("ax", [5])]), "bad_unsqueeze"),
    _c("squeeze_axis_not_one", lambda: _one("Squeeze", ["x", "ax"], None, [(2, 3)], [_i64("ax", [0])]), "bad_squeeze"),
    _c("squeeze_axis_out_of_range", lambda: _one("Squeeze", ["x", "ax"], None, [(1, 3)], [_i64("ax", [4])]), "bad_squeeze"),
    _c("transpose_perm_out_of_range", lambda: _one("Transpose", ["x"], {"perm": [0, 3]}, [(2, 3)]), "bad_transpose"),
    _c("transpose_perm_duplicate", lambda: _one("Transpose", ["x"], {"perm": [0, 0]}, [(2, 3)]), "bad_transpose"),
    _c("transpose_perm_too_short", lambda: _one("Transpose", ["x"], {"perm": [0]}, [(2, 3)]), "bad_transpose"),
    _c("concat_axis_out_of_range", lambda: _one("Concat", ["x", "x1"], {"axis": 3}, [(2, 3), (2, 3)]), "bad_concat"),
    _c("softmax_axis_out_of_range", lambda: _one("Softmax", ["x"], {"axis": 5}, [(2, 3)]), "bad_softmax"),
    _c("logsoftmax_axis_too_negative", lambda: _one("LogSoftmax", ["x"], {"axis": -3}, [(2, 3)]), "bad_logsoftmax"),
    _c("gather_axis_out_of_range", lambda: _one("Gather", ["x", "ix"], {"axis": 2}, [(2, 3)], [_i64("ix", [0])]), "bad_gather"),
    _c("gather_index_out_of_range", lambda: _one("Gather", ["x", "ix"], {"axis": 1}, [(2, 3)], [_i64("ix", [0, 7])]), "bad_gather"),
    _c("gather_negative_index_out_of_range", lambda: _one("Gather", ["x", "ix"], None, [(2, 3)], [_i64("ix", [-3])]), "bad_gather"),
    _c("flatten_axis_out_of_range", lambda: _one("Flatten", ["x"], {"axis": 4}, [(2, 3)]), "bad_flatten"),
    _c("reduce_axis_out_of_range", lambda: _one("ReduceSum", ["x", "ax"], None, [(2, 3)], [_i64("ax", [2])]), "bad_reducesum"),
    _c("argmax_axis_out_of_range", lambda: _one("ArgMax", ["x"], {"axis": 2}, [(2, 3)]), "bad_argmax"),
    _c("cumsum_axis_out_of_range", lambda: _one("CumSum", ["x", "ax"], None, [(2, 3)], [_i64("ax", 3)]), "bad_cumsum"),
    _c("layernorm_axis_out_of_range", lambda: _one("LayerNormalization", ["x", "s"], {"axis": 2}, [(2, 3)], [_w("s", (3,))]), "bad_layernormalization"),
    _c("split_axis_out_of_range", lambda: _one("Split", ["x"], {"axis": 2, "num_outputs": 2}, [(2, 4)], n_out=2), "bad_split"),
    # Shape arithmetic
    _c("reshape_two_minus_one", lambda: _one("Reshape", ["x", "s"], None, [(2, 3)], [_i64("s", [-1, -1])]), "bad_reshape"),
    _c("reshape_wrong_count", lambda: _one("Reshape", ["x", "s"], None, [(2, 3)], [_i64("s", [4, 2])]), "bad_reshape"),
    _c("reshape_minus_one_not_dividing", lambda: _one("Reshape", ["x", "s"], None, [(2, 3)], [_i64("s", [4, -1])]), "bad_reshape"),
    _c("reshape_zero_beyond_rank", lambda: _one("Reshape", ["x", "s"], None, [(2, 3)], [_i64("s", [0, 0, 0])]), "bad_reshape"),
    _c("reshape_negative_dim", lambda: _one("Reshape", ["x", "s"], None, [(2, 3)], [_i64("s", [-2, -3])]), "bad_reshape"),
    _c("matmul_inner_mismatch", lambda: _one("MatMul", ["x", "x1"], None, [(2, 3), (4, 5)]), "bad_matmul"),
    _c("matmul_batch_mismatch", lambda: _one("MatMul", ["x", "x1"], None, [(2, 2, 3), (3, 3, 4)]), "bad_matmul"),
    _c("matmul_weight_mismatch", lambda: _one("MatMul", ["x", "w"], None, [(2, 3)], [_w("w", (5, 4))]), "bad_matmul"),
    _c("matmul_vectors_mismatch", lambda: _one("MatMul", ["x", "x1"], None, [(3,), (4,)]), "bad_matmul"),
    _c("conv_dynamic_batch_bad_channels", lambda: _m(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="bad_conv")], [_x(["batch", 3, 8, 8])], [_y()], [_w("w", (4, 2, 3, 3))]), "bad_conv"),
    _c("gemm_inner_mismatch", lambda: _one("Gemm", ["x", "w"], None, [(2, 3)], [_w("w", (4, 5))]), "bad_gemm"),
    _c("gemm_bias_not_broadcastable", lambda: _one("Gemm", ["x", "w", "b"], None, [(2, 3)], [_w("w", (3, 4)), _w("b", (3,))]), "bad_gemm"),
    _c("gemm_rank_3", lambda: _one("Gemm", ["x", "w"], None, [(2, 2, 3)], [_w("w", (3, 4))]), "bad_gemm"),
    _c("concat_mismatched_dims", lambda: _one("Concat", ["x", "x1"], {"axis": 0}, [(2, 3), (4, 5)]), "bad_concat"),
    _c("concat_rank_mismatch", lambda: _one("Concat", ["x", "x1"], {"axis": 0}, [(2, 3), (2, 3, 1)]), "bad_concat"),
    _c("expand_incompatible", lambda: _one("Expand", ["x", "s"], None, [(3,)], [_i64("s", [2, 4])]), "bad_expand"),
    _c("expand_negative_dim", lambda: _one("Expand", ["x", "s"], None, [(1,)], [_i64("s", [-4])]), "bad_expand"),
    _c("add_incompatible_broadcast", lambda: _one("Add", ["x", "x1"], None, [(2, 3), (4, 3)]), "bad_add"),
    _c("where_incompatible_broadcast", lambda: _m(
        [helper.make_node("Where", ["c", "x", "x1"], ["y"], name="bad_where")],
        [vi("c", TensorProto.BOOL, [2]), _x([3]), _x([3], "x1")], [_y()]), "bad_where"),
    _c("batchnorm_wrong_channels", lambda: _one(
        "BatchNormalization", ["x", "s", "b", "mu", "var"], None, [(1, 3, 4, 4)],
        [_w("s", (4,)), _w("b", (4,)), _w("mu", (4,)), _w("var", (4,), values=[1.0] * 4)]), "bad_batchnormalization"),
    _c("batchnorm_mean_wrong_length", lambda: _one(
        "BatchNormalization", ["x", "s", "b", "mu", "var"], None, [(1, 3, 4, 4)],
        [_w("s", (3,)), _w("b", (3,)), _w("mu", (2,)), _w("var", (3,), values=[1.0] * 3)]), "bad_batchnormalization"),
    _c("instancenorm_wrong_channels", lambda: _one(
        "InstanceNormalization", ["x", "s", "b"], None, [(1, 3, 4, 4)], [_w("s", (5,)), _w("b", (5,))]), "bad_instancenormalization"),
    _c("groupnorm_groups_not_dividing", lambda: _one(
        "GroupNormalization", ["x", "s", "b"], {"num_groups": 2}, [(1, 3, 4, 4)], [_w("s", (3,)), _w("b", (3,))]), "bad_groupnormalization"),
    _c("prelu_slope_not_broadcastable", lambda: _one("PRelu", ["x", "s"], None, [(1, 3, 4, 4)], [_w("s", (5,))]), "bad_prelu"),
    # Pad, Slice, Split, Tile
    _c("pad_wrong_length", lambda: _one("Pad", ["x", "p"], None, [(2, 3)], [_i64("p", [1, 1, 1])]), "bad_pad"),
    _c("pad_negative_result", lambda: _one("Pad", ["x", "p"], None, [(2, 3)], [_i64("p", [-5, 0, 0, 0])]), "bad_pad"),
    _c("pad_axes_out_of_range", lambda: _one("Pad", ["x", "p", "", "ax"], None, [(2, 3)], [_i64("p", [1, 1]), _i64("ax", [4])]), "bad_pad"),
    _c("slice_zero_step", lambda: _one("Slice", ["x", "b", "e", "a", "s"], None, [(4, 3)],
                                       [_i64("b", [0]), _i64("e", [4]), _i64("a", [0]), _i64("s", [0])]), "bad_slice"),
    _c("slice_lengths_differ", lambda: _one("Slice", ["x", "b", "e"], None, [(4, 3)], [_i64("b", [0, 0]), _i64("e", [2])]), "bad_slice"),
    _c("slice_axis_out_of_range", lambda: _one("Slice", ["x", "b", "e", "a"], None, [(4, 3)],
                                               [_i64("b", [0]), _i64("e", [2]), _i64("a", [2])]), "bad_slice"),
    _c("slice_duplicate_axes", lambda: _one("Slice", ["x", "b", "e", "a"], None, [(4, 3)],
                                            [_i64("b", [0, 1]), _i64("e", [2, 3]), _i64("a", [0, 0])]), "bad_slice"),
    _c("split_sizes_do_not_sum", lambda: _one("Split", ["x", "s"], {"axis": 0}, [(5, 3)], [_i64("s", [1, 1])], n_out=2), "bad_split"),
    _c("split_sizes_count_vs_outputs", lambda: _one("Split", ["x", "s"], {"axis": 0}, [(6, 3)], [_i64("s", [2, 2, 2])], n_out=2), "bad_split"),
    _c("split_negative_size", lambda: _one("Split", ["x", "s"], {"axis": 0}, [(4, 3)], [_i64("s", [6, -2])], n_out=2), "bad_split"),
    _c("split_more_outputs_than_elements", lambda: _one("Split", ["x"], {"axis": 0, "num_outputs": 5}, [(2, 3)], n_out=5), "bad_split"),
    _c("tile_repeats_wrong_length", lambda: _one("Tile", ["x", "r"], None, [(2, 3)], [_i64("r", [2])]), "bad_tile"),
    _c("tile_negative_repeats", lambda: _one("Tile", ["x", "r"], None, [(2, 3)], [_i64("r", [2, -1])]), "bad_tile"),
    # Other attribute and shape rules
    _c("cast_unknown_target", lambda: _one("Cast", ["x"], {"to": 99}, [(2, 3)]), "bad_cast"),
    _c("cast_to_undefined", lambda: _one("Cast", ["x"], {"to": 0}, [(2, 3)]), "bad_cast"),
    _c("depthtospace_blocksize_zero", lambda: _one("DepthToSpace", ["x"], {"blocksize": 0}, [(1, 4, 2, 2)]), "bad_depthtospace"),
    _c("depthtospace_channels_not_divisible", lambda: _one("DepthToSpace", ["x"], {"blocksize": 2}, [(1, 3, 2, 2)]), "bad_depthtospace"),
    _c("spacetodepth_blocksize_not_dividing", lambda: _one("SpaceToDepth", ["x"], {"blocksize": 3}, [(1, 1, 4, 4)]), "bad_spacetodepth"),
    _c("lrn_size_zero", lambda: _one("LRN", ["x"], {"size": 0}, [(1, 3, 4, 4)]), "bad_lrn"),
    _c("topk_k_larger_than_axis", lambda: _one("TopK", ["x", "k"], None, [(2, 3)], [_i64("k", [7])], n_out=2), "bad_topk"),
    _c("topk_negative_k", lambda: _one("TopK", ["x", "k"], None, [(2, 3)], [_i64("k", [-1])], n_out=2), "bad_topk"),
    _c("constantofshape_negative_dim", lambda: _one("ConstantOfShape", ["s"], None, [], [_i64("s", [2, -3])]), "bad_constantofshape"),
    _c("range_zero_delta", lambda: _m(
        [helper.make_node("Range", ["a", "b", "d"], ["r"], name="bad_range"), helper.make_node("Cast", ["r"], ["r32"], name="cast", to=F32),
         helper.make_node("Add", ["r32", "x"], ["y"], name="use")],
        [_x([1])], [_y()], [_i64("a", 0), _i64("b", 5), _i64("d", 0)]), "bad_range"),
    _c("onehot_depth_zero", lambda: _m(
        [helper.make_node("OneHot", ["i", "d", "v"], ["y"], name="bad_onehot")],
        [vi("i", I64, [3])], [_y()], [_i64("d", 0), _w("v", (2,), values=[0.0, 1.0])]), "bad_onehot"),
    _c("resize_scales_wrong_length", lambda: _one("Resize", ["x", "", "sc"], None, [(1, 3, 4, 4)], [_w("sc", (3,), values=[1, 1, 2])]), "bad_resize"),
    _c("einsum_bad_equation", lambda: _one("Einsum", ["x", "x1"], {"equation": "ij,jk->iq"}, [(2, 3), (3, 4)]), "bad_einsum"),
    _c("einsum_dim_mismatch", lambda: _one("Einsum", ["x", "x1"], {"equation": "ij,jk->ik"}, [(2, 3), (4, 4)]), "bad_einsum"),
    _c("gatherelements_rank_mismatch", lambda: _one("GatherElements", ["x", "ix"], None, [(2, 3)], [_i64("ix", [0, 1])]), "bad_gatherelements"),
    # Older opsets: the same rules on attributes instead of inputs
    _c("unsqueeze_v11_duplicate_axes", lambda: _one("Unsqueeze", ["x"], {"axes": [1, 1]}, [(2, 3)], opset=11), "bad_unsqueeze"),
    _c("squeeze_v11_axis_out_of_range", lambda: _one("Squeeze", ["x"], {"axes": [3]}, [(1, 3)], opset=11), "bad_squeeze"),
    _c("slice_v9_zero_length_lists", lambda: _one("Slice", ["x"], {"starts": [0, 0], "ends": [1]}, [(4, 3)], opset=9), "bad_slice"),
    _c("split_v11_sizes_do_not_sum", lambda: _one("Split", ["x"], {"axis": 0, "split": [1, 2]}, [(5, 3)], opset=11, n_out=2), "bad_split"),
    _c("split_num_outputs_vs_outputs", lambda: _one("Split", ["x"], {"axis": 0, "num_outputs": 3}, [(6, 3)], n_out=2), "bad_split"),
    _c("qlinearconv_group_zero", lambda: _m(
        [helper.make_node("QLinearConv", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["y"], name="bad_qconv", group=0)],
        [vi("xq", TensorProto.UINT8, [1, 2, 4, 4])], [vi("y", TensorProto.UINT8, None)],
        [numpy_helper.from_array(np.float32(0.1), "xs"), numpy_helper.from_array(np.uint8(0), "xz"),
         numpy_helper.from_array(np.ones((2, 2, 1, 1), np.uint8), "wq"), numpy_helper.from_array(np.float32(0.1), "ws"),
         numpy_helper.from_array(np.uint8(0), "wz"), numpy_helper.from_array(np.float32(0.2), "ys"),
         numpy_helper.from_array(np.uint8(0), "yz")]), "bad_qconv"),
    _c("deformconv_offset_group_zero", lambda: _one(
        "DeformConv", ["x", "w", "off"], {"offset_group": 0}, [(1, 2, 4, 4)],
        [_w("w", (2, 2, 2, 2)), _w("off", (1, 8, 3, 3))], opset=19, name="bad_deform"), "bad_deform"),
    # Folding kernels: the same faults on constant inputs
    _c("fold_gather_index_out_of_range", lambda: _const_fold("Gather", ["d", "ix"], [_w("d", (3,)), _i64("ix", [5])]), "bad_gather"),
    _c("fold_integer_div_by_zero", lambda: _const_fold("Div", ["a", "b"], [_i64("a", [4, 5]), _i64("b", [2, 0])], dtype=I64), "bad_div"),
    _c("fold_integer_mod_by_zero", lambda: _const_fold("Mod", ["a", "b"], [_i64("a", [4, 5]), _i64("b", [0, 2])], dtype=I64), "bad_mod"),
    _c("fold_int_min_div_minus_one", lambda: _const_fold("Div", ["a", "b"], [_i64("a", [-(2**63)]), _i64("b", [-1])], dtype=I64), "bad_div"),
    _c("fold_transpose_bad_perm", lambda: _const_fold("Transpose", ["d"], [_w("d", (2, 3))], {"perm": [1, 5]}), "bad_transpose"),
    _c("fold_slice_zero_step", lambda: _const_fold("Slice", ["d", "b", "e", "a", "s"],
                                                  [_w("d", (4,)), _i64("b", [0]), _i64("e", [4]), _i64("a", [0]), _i64("s", [0])]), "bad_slice"),
    _c("fold_reshape_wrong_count", lambda: _const_fold("Reshape", ["d", "s"], [_w("d", (2, 3)), _i64("s", [7])]), "bad_reshape"),
    _c("fold_concat_mismatch", lambda: _const_fold("Concat", ["a", "b"], [_w("a", (2, 3)), _w("b", (2, 4))], {"axis": 0}), "bad_concat"),
    _c("fold_expand_incompatible", lambda: _const_fold("Expand", ["d", "s"], [_w("d", (3,)), _i64("s", [4])]), "bad_expand"),
    _c("fold_tile_huge", lambda: _const_fold("Tile", ["d", "r"], [_w("d", (2,)), _i64("r", [2**40])]), "bad_tile"),
    _c("fold_range_huge", lambda: _const_fold("Range", ["a", "b", "d"], [_i64("a", 0), _i64("b", 2**62), _i64("d", 1)], dtype=I64), "bad_range"),
    _c("fold_constantofshape_huge", lambda: _const_fold("ConstantOfShape", ["s"], [_i64("s", [2**20, 2**20, 2**20])]), "bad_constantofshape"),
    _c("fold_gather_elements_oob", lambda: _const_fold("GatherElements", ["d", "ix"], [_w("d", (2, 2)), _i64("ix", [[0, 3], [1, 0]])]), "bad_gatherelements"),
    _c("fold_onehot_negative_depth", lambda: _const_fold("OneHot", ["i", "dp", "v"], [_i64("i", [1]), _i64("dp", -2), _w("v", (2,), values=[0, 1])]), "bad_onehot"),
]


# ---- running ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: Optional[int]  # None on timeout; negative for a signal
    stderr: str
    files: List[str]  # what the output folder holds afterwards
    runtime_error: Optional[str] = None  # on success: why the runtime refused the output, if it did


# Runs the converted model once on random inputs; prints nothing and exits 0 when it is accepted.
_RUNTIME_CHECK = r"""
import sys, numpy as np
path = sys.argv[1]
rng = np.random.default_rng(0)
def feed(shape, dtype):
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    if dtype == bool: return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer): return rng.integers(0, 2, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)
if path.endswith(".xml"):
    import openvino as ov
    compiled = ov.Core().compile_model(path, "CPU")
    inputs = {p.any_name: feed([d.get_length() if d.is_static else 1 for d in p.get_partial_shape()], p.get_element_type().to_dtype())
              for p in compiled.inputs}
    compiled(inputs)
else:
    import onnxruntime as ort
    types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": bool, "tensor(int32)": np.int32,
             "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    s.run(None, {i.name: feed(i.shape, types.get(i.type, np.float32)) for i in s.get_inputs()})
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_package_root(), env.get("PYTHONPATH", "")] if p)
    return env


def _runtime_check(path: Path) -> Optional[str]:
    try:
        r = subprocess.run([sys.executable, "-c", _RUNTIME_CHECK, str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "the runtime hung on the output"
    if r.returncode != 0:
        return f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}"
    return None


def convert_case(case: Case, ext: str, folder: Path) -> Outcome:
    src = folder / "in"
    out = folder / "out"
    src.mkdir(parents=True)
    out.mkdir()
    model_path = src / f"{case.name}.onnx"
    model_path.write_bytes(case.make().SerializeToString())
    target = out / f"model{ext}"
    cmd = [sys.executable, "-m", "irforge.cli", "convert", str(model_path), "--output_model", str(target)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=out, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return Outcome(None, "timeout", sorted(p.name for p in out.iterdir()))
    outcome = Outcome(r.returncode, r.stderr, sorted(p.name for p in out.iterdir()))
    if r.returncode == 0:
        outcome.runtime_error = _runtime_check(target)
    return outcome


# Conversions run two at a time in the background, in the order the tests ask for them.
_POOL = ThreadPoolExecutor(max_workers=2)
_FUTURES: Dict[Tuple[str, str], Future] = {}
_LOCK = threading.Lock()
_TMP = tempfile.TemporaryDirectory(prefix="irforge_sweep_")


def _outcome(case: Case, ext: str, wanted: List[Tuple[Case, str]]) -> Outcome:
    with _LOCK:
        for c, e in [(case, ext)] + wanted:
            key = (c.name, e)
            if key not in _FUTURES:
                _FUTURES[key] = _POOL.submit(convert_case, c, e, Path(_TMP.name) / f"{c.name}{e.replace('.', '_')}")
    return _FUTURES[(case.name, ext)].result()


PARAMS = [(c, ext) for c in CASES for ext in (".xml", ".onnx")]


@pytest.fixture
def selected(request) -> List[Tuple[Case, str]]:
    """The sweep cases this session will run, so that they can be converted ahead in parallel."""
    out = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs and item.originalname == "test_malformed_model_is_refused_cleanly":
            out.append((cs.params["case"], cs.params["ext"]))
    return out


def test_sweep_is_large_enough():
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case,ext", PARAMS, ids=[f"{c.name}{e}" for c, e in PARAMS])
def test_malformed_model_is_refused_cleanly(case, ext, selected):
    o = _outcome(case, ext, selected)
    assert o.code is not None, f"timed out after {TIMEOUT} s"
    assert o.code >= 0, f"killed by signal {-o.code}: {o.stderr[-2000:]}"
    assert o.code in (0, 1), f"exit code {o.code}: {o.stderr[-2000:]}"
    if o.code == 1:
        assert "Traceback" not in o.stderr, o.stderr[-2000:]
        lines = o.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line, got:\n{o.stderr}"
        assert any(n in lines[0] for n in case.nodes), f"the message names none of {list(case.nodes)}: {lines[0]}"
        assert o.files == [], f"a failed conversion left {o.files}"
    else:
        assert o.runtime_error is None, f"irforge said SUCCESS but the runtime refused the output: {o.runtime_error}"


# Defence in depth: with no passes at all (so shape inference never sees the node) the model is
# still refused cleanly, leaving nothing behind: by the reader's op validator, and without it by
# the OpenVINO lowering itself (which checks what it would divide by or write into an IR the CPU
# plugin rejects, for graphs that reach it from other frontends).
LOWERING_CASES = [
    "conv_group_zero", "conv_group_negative", "conv_zero_strides", "conv_zero_dilations", "conv_zero_kernel_shape",
    "convtranspose_group_zero", "maxpool_zero_strides", "maxpool_zero_kernel", "avgpool_zero_strides", "conv_auto_pad_unknown",
]


@pytest.mark.parametrize("name", LOWERING_CASES)
def test_lowering_refuses_without_any_pass(name, tmp_path):
    import irforge

    case = next(c for c in CASES if c.name == name)
    with pytest.raises(irforge.InvalidModelError) as e:
        model = irforge.convert_model(case.make(), transform="none")
        irforge.save_model(model, tmp_path / "m.xml")
    assert any(n in str(e.value) for n in case.nodes) and "\n" not in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []


# Rules only the OpenVINO lowering meets: ranks, axes and sizes it indexes or sizes vectors by,
# which the reader's validator cannot check (an input of unknown rank) or does not know (GridSample
# ranks, Col2Im's n-D decomposition). Each was a crash, UB or an out-of-memory in fuzz_pipeline
# (tests/fuzz/regressions/pipeline-*). Saved as ONNX they are written as they are (onnxruntime
# judges them), so only the .xml path is checked: refused with the node named, nothing written,
# with the default passes and with none.
LOWERING_FINDS: List[Case] = [
    _c("gridsample_rank_2", lambda: _one("GridSample", ["x", "x1"], None, [(1, 3), (1, 3)], opset=20), "bad_gridsample"),
    _c("gridsample_grid_rank_mismatch", lambda: _one("GridSample", ["x", "x1"], None, [(1, 1, 4, 4), (1, 2, 2)], opset=20), "bad_gridsample"),
    _c("col2im_empty_image_shape", lambda: _one("Col2Im", ["x", "im", "bl"], None, [(1, 4, 9)], [_i64("im", np.zeros(0)), _i64("bl", np.zeros(0))], opset=18), "bad_col2im"),
    _c("col2im_3d_zero_stride", lambda: _one("Col2Im", ["x", "im", "bl"], {"strides": [0, 1, 1]}, [(1, 8, 27)], [_i64("im", [4, 4, 4]), _i64("bl", [2, 2, 2])], opset=18), "bad_col2im"),
    _c("softmax_v11_axis_huge_unknown_rank", lambda: _m([helper.make_node("Softmax", ["x"], ["y"], name="bad_softmax", axis=10**12)], [_x(None)], [_y()], opset=11), "bad_softmax"),
    _c("hardmax_axis_int64_min_unknown_rank", lambda: _m([helper.make_node("Hardmax", ["x"], ["y"], name="bad_hardmax", axis=-(2**63))], [_x(None)], [_y()], opset=13), "bad_hardmax"),
    _c("layernorm_axis_huge_unknown_rank", lambda: _m([helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="bad_layernorm", axis=-(10**12))], [_x(None)], [_y()], [_w("s", (4,))], opset=17), "bad_layernorm"),
    _c("quantize_axis_huge_unknown_rank", lambda: _m([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="bad_quantize", axis=-(10**12))], [_x(None)], [_y("y", TensorProto.UINT8)],
                                                     [_w("s", (3,), values=[1, 1, 1]), numpy_helper.from_array(np.zeros(3, np.uint8), "z")]), "bad_quantize"),
    _c("det_matrix_too_large_to_unroll", lambda: _one("Det", ["x"], None, [(100000, 100000)]), "bad_det"),
]


@pytest.mark.parametrize("transform", ["default", "none"])
@pytest.mark.parametrize("case", LOWERING_FINDS, ids=[c.name for c in LOWERING_FINDS])
def test_openvino_lowering_refuses_cleanly(case, transform, tmp_path):
    import irforge

    kwargs = {} if transform == "default" else {"transform": "none"}
    with pytest.raises((irforge.InvalidModelError, irforge.UnsupportedError)) as e:
        irforge.save_model(irforge.convert_model(case.make(), **kwargs), tmp_path / "m.xml")
    message = str(e.value)
    assert any(n in message for n in case.nodes) and "\n" not in message, message
    assert list(tmp_path.iterdir()) == []


def test_onnx_legalize_refuses_huge_layernorm_axis(tmp_path):
    """Saved as ONNX below opset 17, LayerNormalization is expanded over axes [axis, rank): an
    axis of -1e12 on an input of unknown rank looped a trillion times (fuzz_pipeline timeout)."""
    import irforge

    node = helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="bad_layernorm", axis=-(10**12))
    model = _m([node], [_x(None)], [_y()], [_w("s", (4,))], opset=10)
    with pytest.raises(irforge.InvalidModelError) as e:
        irforge.save_model(irforge.convert_model(model, transform="none"), tmp_path / "m.onnx")
    assert "bad_layernorm" in str(e.value) and "axis" in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_stated_dims_merged_with_inferred_ones_past_the_element_limit_are_refused(tmp_path):
    """Y is stated [2^40, ?] and computes [3, 4]; shape inference keeps stated dims and fills the
    rest, [2^40, 4], which the reader refuses (more than 2^40 elements): the ONNX written for such
    a model did not re-read (fuzz_pipeline). Refused when inferred, naming the node."""
    import irforge

    node = helper.make_node("Relu", ["x"], ["y"], name="bad_relu")
    model = _m([node], [_x([3, 4])], [vi("y", F32, [2**40, None])])
    with pytest.raises(irforge.ResourceLimitError) as e:
        irforge.save_model(irforge.convert_model(model), tmp_path / "m.onnx")
    assert "bad_relu" in str(e.value) and "2^40" in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("in_if_body", [False, True])
def test_flatten_before_opset_5_is_not_rewritten_to_a_reshape_it_cannot_have(tmp_path, in_if_body):
    """simplify-shapes turned Flatten into Reshape(x, constant shape), a form Reshape has from
    opset 5 on: the ONNX written for an opset-1 model (the Flatten in an If body, fuzz_pipeline)
    did not read back. Below opset 5 the Flatten stays."""
    import irforge

    flatten = helper.make_node("Flatten", ["x"], ["y"], name="flat", axis=1)
    if in_if_body:
        branch = lambda name: helper.make_graph([helper.make_node("Flatten", ["x"], [f"{name}_y"], name=f"{name}_flat", axis=1)], name, [], [_y(f"{name}_y")])
        node = helper.make_node("If", ["c"], ["y"], name="branchy", then_branch=branch("then"), else_branch=branch("else"))
        model = _m([node], [_x([2, 3, 4]), vi("c", TensorProto.BOOL, [])], [_y()], opset=1)
    else:
        model = _m([flatten], [_x([2, 3, 4])], [_y()], opset=4)
    irforge.save_model(irforge.convert_model(model), tmp_path / "m.onnx")
    reread = irforge.convert_model(str(tmp_path / "m.onnx"), transform="none")
    assert reread is not None


# ---- script mode: a table per case, optionally side by side with OpenVINO's converter --------------


_OVC = r"""
import sys, openvino as ov
m = ov.convert_model(sys.argv[1])
ov.save_model(m, sys.argv[2])
"""


def ovc_case(case: Case, folder: Path) -> str:
    """OpenVINO's own converter on the same model: 'error' (clean), 'crash', 'timeout',
    'accepted' (the runtime then runs it) or 'bad output' (written, then refused by the runtime)."""
    folder.mkdir(parents=True)
    src = folder / f"{case.name}.onnx"
    src.write_bytes(case.make().SerializeToString())
    xml = folder / "ovc.xml"
    try:
        r = subprocess.run([sys.executable, "-c", _OVC, str(src), str(xml)], capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timeout"
    if r.returncode < 0:
        return f"crash (signal {-r.returncode})"
    if r.returncode != 0:
        return "error"  # an exception from the Python API: the way ovc refuses
    return "accepted" if _runtime_check(xml) is None else "bad output"


def _irforge_verdict(o: Outcome) -> str:
    if o.code is None:
        return "timeout"
    if o.code < 0:
        return f"crash (signal {-o.code})"
    if o.code == 1:
        clean = "Traceback" not in o.stderr and len(o.stderr.strip().splitlines()) == 1 and not o.files
        return "error" if clean else "unclean error"
    if o.code == 0:
        return "accepted" if o.runtime_error is None else "bad output"
    return f"exit {o.code}"


def main(argv: List[str]) -> int:
    with_ovc = "--ovc" in argv
    tally: Dict[str, Dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="irforge_sweep_") as tmp:
        for case in CASES:
            row = {}
            for ext in (".xml", ".onnx"):
                row[f"irforge{ext}"] = _irforge_verdict(convert_case(case, ext, Path(tmp) / f"{case.name}{ext[1:]}"))
            if with_ovc:
                row["ovc"] = ovc_case(case, Path(tmp) / f"{case.name}_ovc")
            for k, v in row.items():
                tally.setdefault(k, {}).setdefault(v.split(" (")[0], 0)
                tally[k][v.split(" (")[0]] += 1
            print(f"{case.name:<42} " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print()
    for k, counts in tally.items():
        print(f"{k:<14} " + ", ".join(f"{v} {n}" for n, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
