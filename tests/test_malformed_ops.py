"""Op-level malformed models (cpp/ir/validate_ops.cc): nodes whose protobuf is fine but whose op
makes no sense — zero strides, a group that does not divide the channels, axes out of range,
Reshape with two -1, a Loop body of the wrong arity, ... Each must be refused when read, as
irforge.InvalidModelError naming the node (name and op type) and the rule broken; through the
CLI it exits 1 with one line on stderr and leaves no file behind. Before the validator, some of
these crashed the process (SIGFPE, SIGSEGV) and others were written out "successfully" as
files the runtimes reject.

Models are built with onnx.helper and never passed through onnx.checker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge import InvalidModelError

PACKAGE_ROOT = str(Path(irforge.__file__).parent.parent)
F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
vi = helper.make_tensor_value_info


def _model(nodes, inputs, outputs, inits=(), opset=21, domains=()) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "main", inputs, outputs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=ops)


def _w(name, shape):
    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _one(op, inputs, attrs=None, in_shapes=None, inits=(), n_out=1, opset=21, name=None, out_type=F32):
    """One node named after its op (lower case) reading graph inputs `in_shapes` (name -> shape)."""
    name = name or op.lower()
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, inputs, outs, name=name, **(attrs or {}))
    ins = [vi(n, F32, s) for n, s in (in_shapes or {}).items()]
    return _model([node], ins, [vi(o, out_type, None) for o in outs], inits, opset=opset)


def _conv(attrs, x=(1, 4, 8, 8), w=(4, 4, 3, 3), b=None, op="Conv"):
    inits = [_w("w", w)] + ([_w("b", b)] if b else [])
    return _one(op, ["x", "w"] + (["b"] if b else []), attrs, {"x": list(x)}, inits)


def _branch(name, n_out):
    outs = [f"{name}_o{k}" for k in range(n_out)]
    nodes = [helper.make_node("Identity", ["x"], [o], name=f"{name}_id{k}") for k, o in enumerate(outs)]
    return helper.make_graph(nodes, name, [], [vi(o, F32, None) for o in outs])


def _if_output_mismatch():
    node = helper.make_node("If", ["c"], ["y0"], name="branchy", then_branch=_branch("then", 1), else_branch=_branch("else", 2))
    return _model([node], [vi("c", TensorProto.BOOL, []), vi("x", F32, [2])], [vi("y0", F32, None)])


def _loop_body_arity():
    # Node: M, cond, one carried value -> body needs 3 inputs; it declares 2.
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"], name="bc"), helper.make_node("Identity", ["v_in"], ["v_out"], name="bv")],
        "body",
        [vi("i", I64, []), vi("c_in", TensorProto.BOOL, [])],
        [vi("c_out", TensorProto.BOOL, []), vi("v_out", F32, None)],
    )
    node = helper.make_node("Loop", ["m", "c", "v"], ["y0"], name="looper", body=body)
    return _model([node], [vi("m", I64, []), vi("c", TensorProto.BOOL, []), vi("v", F32, [2]), vi("v_in", F32, [2])], [vi("y0", F32, None)])


def _loop_body_outputs():
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"], name="bc")],
        "body",
        [vi("i", I64, []), vi("c_in", TensorProto.BOOL, []), vi("v_in", F32, [2])],
        [vi("c_out", TensorProto.BOOL, [])],
    )
    node = helper.make_node("Loop", ["m", "c", "v"], ["y0"], name="looper", body=body)
    return _model([node], [vi("m", I64, []), vi("c", TensorProto.BOOL, []), vi("v", F32, [2])], [vi("y0", F32, None)])


def _scan_body_arity():
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_in"], ["s_out"], name="acc")],
        "body",
        [vi("s_in", F32, [2]), vi("x_in", F32, [2])],
        [vi("s_out", F32, [2])],
    )
    # Two outputs, but the body yields one.
    node = helper.make_node("Scan", ["s", "xs"], ["y0", "y1"], name="scanner", body=body, num_scan_inputs=1)
    return _model([node], [vi("s", F32, [2]), vi("xs", F32, [3, 2])], [vi("y0", F32, None), vi("y1", F32, None)])


def _no_outputs(domain=""):
    dead = helper.make_node("Relu" if not domain else "FusedThing", ["x"], [], name="sink", domain=domain)
    keep = helper.make_node("Identity", ["x"], ["y0"], name="keep")
    return _model([dead, keep], [vi("x", F32, [2])], [vi("y0", F32, None)], domains=[domain] if domain else [])


def _cycle():
    a = helper.make_node("Add", ["x", "b_out"], ["a_out"], name="ring_a")
    b = helper.make_node("Relu", ["a_out"], ["b_out"], name="ring_b")
    c = helper.make_node("Identity", ["a_out"], ["y0"], name="tail")
    return _model([a, b, c], [vi("x", F32, [2])], [vi("y0", F32, None)])


def _cast_in_subgraph():
    then = helper.make_graph([helper.make_node("Cast", ["x"], ["t0"], name="inner_cast", to=99)], "then_g", [], [vi("t0", F32, None)])
    other = _branch("else_g", 1)
    node = helper.make_node("If", ["c"], ["y0"], name="outer_if", then_branch=then, else_branch=other)
    return _model([node], [vi("c", TensorProto.BOOL, []), vi("x", F32, [2])], [vi("y0", F32, None)])


def _required_input_empty():
    return _one("Conv", ["", "w"], None, {}, [_w("w", (4, 4, 3, 3))])


def _constant_node_slice_steps():
    steps = helper.make_node("Constant", [], ["steps"], name="steps_c", value=_i64("v", [0]))
    sl = helper.make_node("Slice", ["x", "st", "en", "ax", "steps"], ["y0"], name="slice")
    return _model([steps, sl], [vi("x", F32, [4, 4])], [vi("y0", F32, None)], [_i64("st", [0]), _i64("en", [4]), _i64("ax", [0])])


@dataclass
class Case:
    name: str
    make: Callable[[], onnx.ModelProto]
    expect: List[str]  # substrings of the message: the node, the op type, the rule


X4 = {"x": [1, 4, 8, 8]}
CASES = [
    # Window ops: what the lowering divides by.
    Case("conv_zero_strides", lambda: _conv({"strides": [0, 0]}), ["'conv'", "Conv", "strides [0, 0] must all be >= 1"]),
    Case("conv_zero_dilations", lambda: _conv({"dilations": [1, 0]}), ["'conv'", "Conv", "dilations [1, 0] must all be >= 1"]),
    Case("conv_zero_kernel", lambda: _conv({"kernel_shape": [0, 3]}), ["'conv'", "Conv", "kernel_shape [0, 3] must all be >= 1"]),
    Case("conv_group_zero", lambda: _conv({"group": 0}), ["'conv'", "Conv", "group 0 must be >= 1"]),
    Case("conv_negative_group", lambda: _conv({"group": -2}), ["'conv'", "Conv", "group -2 must be >= 1"]),
    Case("conv_group_not_dividing_input", lambda: _conv({"group": 2}, x=(1, 3, 8, 8), w=(4, 1, 3, 3)),
         ["'conv'", "Conv", "group 2 does not divide the 3 input channels"]),
    Case("conv_group_not_dividing_output", lambda: _conv({"group": 2}, w=(3, 2, 3, 3)),
         ["'conv'", "Conv", "group 2 does not divide the weight's 3 output channels"]),
    Case("conv_channels_mismatch", lambda: _conv({}, w=(4, 5, 3, 3)), ["'conv'", "Conv", "input has 4 channels but weight expects 5 x group 1"]),
    Case("conv_weight_rank", lambda: _conv({}, w=(4, 4, 3)), ["'conv'", "Conv", "weight (input 1) has rank 3 but the data input has rank 4"]),
    Case("conv_kernel_shape_length", lambda: _conv({"kernel_shape": [3]}), ["'conv'", "Conv", "kernel_shape has 1 values but 2-D spatial input needs 2"]),
    Case("conv_kernel_shape_vs_weight", lambda: _conv({"kernel_shape": [5, 5]}), ["'conv'", "Conv", "kernel_shape [5, 5] does not match the weight"]),
    Case("conv_pads_length", lambda: _conv({"pads": [1, 1]}), ["'conv'", "Conv", "pads has 2 values but 2-D spatial input needs 4"]),
    Case("conv_bias_length", lambda: _conv({}, b=(5,)), ["'conv'", "Conv", "bias has 5 values but there are 4 output channels"]),
    Case("conv_input_rank_2", lambda: _conv({}, x=(4, 8), w=(4, 4, 3, 3)), ["'conv'", "Conv", "has rank 2 but needs N, C and a spatial dim"]),
    Case("conv_bad_auto_pad", lambda: _conv({"auto_pad": "SAME"}), ["'conv'", "Conv", "auto_pad 'SAME' is not one of"]),
    Case("conv_transpose_group_zero", lambda: _conv({"group": 0}, op="ConvTranspose"), ["'convtranspose'", "ConvTranspose", "group 0 must be >= 1"]),
    Case("conv_transpose_output_padding_length", lambda: _conv({"output_padding": [1, 1, 1]}, op="ConvTranspose"),
         ["'convtranspose'", "ConvTranspose", "output_padding has 3 values"]),
    Case("maxpool_zero_strides", lambda: _one("MaxPool", ["x"], {"kernel_shape": [2, 2], "strides": [0, 1]}, X4),
         ["'maxpool'", "MaxPool", "strides [0, 1] must all be >= 1"]),
    Case("averagepool_zero_kernel", lambda: _one("AveragePool", ["x"], {"kernel_shape": [2, 0]}, X4),
         ["'averagepool'", "AveragePool", "kernel_shape [2, 0] must all be >= 1"]),
    Case("maxpool_missing_kernel", lambda: _one("MaxPool", ["x"], {}, X4), ["'maxpool'", "MaxPool", "required attribute 'kernel_shape' is missing"]),
    Case("lppool_kernel_length", lambda: _one("LpPool", ["x"], {"kernel_shape": [2, 2, 2]}, X4), ["'lppool'", "LpPool", "kernel_shape has 3 values"]),
    # Normalizations.
    Case("batchnorm_scale_length", lambda: _one("BatchNormalization", ["x", "s", "b", "m", "v"], {}, X4, [_w("s", (3,)), _w("b", (4,)), _w("m", (4,)), _w("v", (4,))]),
         ["'batchnormalization'", "BatchNormalization", "input 1 ('s') has 3 values but the input has 4 channels"]),
    Case("batchnorm_2d_mean", lambda: _one("BatchNormalization", ["x", "s", "b", "m", "v"], {}, X4, [_w("s", (4,)), _w("b", (4,)), _w("m", (4, 1)), _w("v", (4,))]),
         ["'batchnormalization'", "BatchNormalization", "input 3 ('m') has rank 2 but must be 1-D"]),
    Case("instancenorm_bias_length", lambda: _one("InstanceNormalization", ["x", "s", "b"], {}, X4, [_w("s", (4,)), _w("b", (2,))]),
         ["'instancenormalization'", "InstanceNormalization", "input 2 ('b') has 2 values"]),
    Case("groupnorm_zero_groups", lambda: _one("GroupNormalization", ["x", "s", "b"], {"num_groups": 0}, X4, [_w("s", (4,)), _w("b", (4,))]),
         ["'groupnormalization'", "GroupNormalization", "num_groups 0 must be >= 1"]),
    Case("groupnorm_groups_not_dividing", lambda: _one("GroupNormalization", ["x", "s", "b"], {"num_groups": 3}, X4, [_w("s", (4,)), _w("b", (4,))]),
         ["'groupnormalization'", "GroupNormalization", "num_groups 3 does not divide the 4 channels"]),
    Case("layernorm_axis", lambda: _one("LayerNormalization", ["x", "s"], {"axis": 4}, X4, [_w("s", (8,))]),
         ["'layernormalization'", "LayerNormalization", "axis 4 is out of range for rank 4"]),
    Case("lrn_zero_size", lambda: _one("LRN", ["x"], {"size": 0}, X4), ["'lrn'", "LRN", "size 0 must be >= 1"]),
    # Axes and permutations.
    Case("unsqueeze_duplicate_axes", lambda: _one("Unsqueeze", ["x", "a"], None, {"x": [2, 3]}, [_i64("a", [1, 1])]),
         ["'unsqueeze'", "Unsqueeze", "axes [1, 1] name axis 1 twice"]),
    Case("unsqueeze_axis_range", lambda: _one("Unsqueeze", ["x", "a"], None, {"x": [2, 3]}, [_i64("a", [5])]),
         ["'unsqueeze'", "Unsqueeze", "axes value 5 is out of range for rank 3"]),
    Case("squeeze_dim_not_one", lambda: _one("Squeeze", ["x", "a"], None, {"x": [2, 3]}, [_i64("a", [0])]),
         ["'squeeze'", "Squeeze", "axis 0 has size 2, not 1"]),
    Case("transpose_not_permutation", lambda: _one("Transpose", ["x"], {"perm": [0, 0, 1]}, {"x": [2, 3, 4]}),
         ["'transpose'", "Transpose", "perm [0, 0, 1] is not a permutation"]),
    Case("transpose_perm_length", lambda: _one("Transpose", ["x"], {"perm": [1, 0]}, {"x": [2, 3, 4]}),
         ["'transpose'", "Transpose", "perm [1, 0] has 2 values but the input has rank 3"]),
    Case("transpose_perm_unknown_rank", lambda: _one("Transpose", ["x"], {"perm": [0, 2]}, {"x": None}),
         ["'transpose'", "Transpose", "perm [0, 2] is not a permutation of 0..1"]),
    Case("concat_axis_range", lambda: _one("Concat", ["x", "z"], {"axis": 2}, {"x": [2, 3], "z": [2, 3]}),
         ["'concat'", "Concat", "axis 2 is out of range for rank 2"]),
    Case("concat_rank_mismatch", lambda: _one("Concat", ["x", "z"], {"axis": 0}, {"x": [2, 3], "z": [2]}),
         ["'concat'", "Concat", "input 1 has rank 1"]),
    Case("concat_missing_axis", lambda: _one("Concat", ["x", "z"], {}, {"x": [2], "z": [2]}), ["'concat'", "Concat", "required attribute 'axis' is missing"]),
    Case("softmax_axis_range", lambda: _one("Softmax", ["x"], {"axis": -3}, {"x": [2, 3]}), ["'softmax'", "Softmax", "axis -3 is out of range for rank 2"]),
    Case("flatten_axis_range", lambda: _one("Flatten", ["x"], {"axis": 3}, {"x": [2, 3]}), ["'flatten'", "Flatten", "axis 3 is out of range for rank 2 (allowed -2..2)"]),
    Case("gather_axis_range", lambda: _one("Gather", ["x", "i"], {"axis": 2}, {"x": [2, 3]}, [_i64("i", [0])]),
         ["'gather'", "Gather", "axis 2 is out of range for rank 2"]),
    Case("gather_index_range", lambda: _one("Gather", ["x", "i"], {"axis": 1}, {"x": [2, 3]}, [_i64("i", [0, 3])]),
         ["'gather'", "Gather", "index 3 is out of range for axis 1 of size 3"]),
    Case("gather_elements_rank", lambda: _one("GatherElements", ["x", "i"], {}, {"x": [2, 3]}, [_i64("i", [0])]),
         ["'gatherelements'", "GatherElements", "indices have rank 1 but data has rank 2"]),
    Case("reduce_duplicate_axes", lambda: _one("ReduceSum", ["x", "a"], None, {"x": [2, 3]}, [_i64("a", [1, -1])]),
         ["'reducesum'", "ReduceSum", "name axis 1 twice"]),
    Case("reducemean_axis_range_attr", lambda: _one("ReduceMean", ["x"], {"axes": [2]}, {"x": [2, 3]}, opset=13),
         ["'reducemean'", "ReduceMean", "axes value 2 is out of range for rank 2"]),
    Case("argmax_axis_range", lambda: _one("ArgMax", ["x"], {"axis": 5}, {"x": [2, 3]}, out_type=I64), ["'argmax'", "ArgMax", "axis 5 is out of range"]),
    Case("onehot_axis_range", lambda: _one("OneHot", ["i", "d", "v"], {"axis": 3}, {"i": [2]}, [_i64("d", [4]), _w("v", (2,))]),
         ["'onehot'", "OneHot", "axis 3 is out of range for rank 2"]),
    Case("topk_negative_k", lambda: _one("TopK", ["x", "k"], {}, {"x": [4]}, [_i64("k", [-1])], n_out=2), ["'topk'", "TopK", "k -1 must be >= 0"]),
    # Shapes, pads, slices, splits.
    Case("reshape_two_minus_one", lambda: _one("Reshape", ["x", "s"], None, {"x": [2, 3]}, [_i64("s", [-1, -1])]),
         ["'reshape'", "Reshape", "shape [-1, -1] has more than one -1"]),
    Case("reshape_below_minus_one", lambda: _one("Reshape", ["x", "s"], None, {"x": [2, 3]}, [_i64("s", [-2, 3])]),
         ["'reshape'", "Reshape", "negative value -2"]),
    Case("reshape_zero_past_rank", lambda: _one("Reshape", ["x", "s"], None, {"x": [6]}, [_i64("s", [2, 0])]),
         ["'reshape'", "Reshape", "copies dim 1 (0) but the input has rank 1"]),
    Case("pad_pads_length", lambda: _one("Pad", ["x", "p"], None, {"x": [2, 3]}, [_i64("p", [1, 1, 1])]),
         ["'pad'", "Pad", "pads [1, 1, 1] has 3 values but 2 padded axes need 4"]),
    Case("pad_bad_mode", lambda: _one("Pad", ["x", "p"], {"mode": "mirror"}, {"x": [2, 3]}, [_i64("p", [1, 1, 1, 1])]),
         ["'pad'", "Pad", "mode 'mirror' is not one of"]),
    Case("split_sum", lambda: _one("Split", ["x", "s"], {"axis": 0}, {"x": [6, 2]}, [_i64("s", [2, 2])], n_out=2),
         ["'split'", "Split", "split [2, 2] sums to 4 but axis 0 has 6"]),
    Case("split_count", lambda: _one("Split", ["x", "s"], {"axis": 0}, {"x": [6, 2]}, [_i64("s", [2, 2, 2])], n_out=2),
         ["'split'", "Split", "split [2, 2, 2] has 3 lengths but the node has 2 outputs"]),
    Case("split_num_outputs", lambda: _one("Split", ["x"], {"axis": 0, "num_outputs": 3}, {"x": [6, 2]}, n_out=2),
         ["'split'", "Split", "num_outputs 3 but the node has 2 outputs"]),
    Case("slice_zero_step", lambda: _one("Slice", ["x", "b", "e", "a", "st"], None, {"x": [4, 4]}, [_i64("b", [0]), _i64("e", [4]), _i64("a", [0]), _i64("st", [0])]),
         ["'slice'", "Slice", "steps [0] contain 0"]),
    Case("slice_zero_step_constant_node", _constant_node_slice_steps, ["'slice'", "Slice", "steps [0] contain 0"]),
    Case("slice_lengths", lambda: _one("Slice", ["x", "b", "e"], None, {"x": [4, 4]}, [_i64("b", [0, 0]), _i64("e", [4])]),
         ["'slice'", "Slice", "ends has 1 values but starts has 2"]),
    Case("slice_axes_duplicate", lambda: _one("Slice", ["x", "b", "e", "a"], None, {"x": [4, 4]}, [_i64("b", [0, 0]), _i64("e", [4, 4]), _i64("a", [0, 0])]),
         ["'slice'", "Slice", "name axis 0 twice"]),
    Case("tile_repeats_length", lambda: _one("Tile", ["x", "r"], None, {"x": [2, 3]}, [_i64("r", [2])]),
         ["'tile'", "Tile", "repeats [2] has 1 values but the input has rank 2"]),
    Case("depth_to_space_zero_block", lambda: _one("DepthToSpace", ["x"], {"blocksize": 0}, X4), ["'depthtospace'", "DepthToSpace", "blocksize 0 must be >= 1"]),
    Case("space_to_depth_not_dividing", lambda: _one("SpaceToDepth", ["x"], {"blocksize": 3}, X4),
         ["'spacetodepth'", "SpaceToDepth", "blocksize 3 does not divide dim 2 (8)"]),
    # Types, matrices, heads, recurrences.
    Case("cast_unknown_type", lambda: _one("Cast", ["x"], {"to": 99}, {"x": [2]}), ["'cast'", "Cast", "to 99 is not a known ONNX data type"]),
    Case("cast_undefined_type", lambda: _one("Cast", ["x"], {"to": 0}, {"x": [2]}), ["'cast'", "Cast", "to 0 is not a known ONNX data type"]),
    Case("cast_in_subgraph", _cast_in_subgraph, ["'inner_cast'", "Cast", "graph 'then_g'", "to 99 is not a known ONNX data type"]),
    Case("random_normal_dtype", lambda: _one("RandomNormal", [], {"shape": [2], "dtype": 42}), ["'randomnormal'", "RandomNormal", "dtype 42 is not a known"]),
    Case("gemm_rank_3", lambda: _one("Gemm", ["a", "b"], None, {"a": [2, 3, 4], "b": [4, 5]}), ["'gemm'", "Gemm", "input 0 has rank 3 but Gemm needs matrices"]),
    Case("matmul_inner_dims", lambda: _one("MatMul", ["a", "b"], None, {"a": [2, 3], "b": [4, 5]}), ["'matmul'", "MatMul", "input 0 has 3 columns, input 1 has 4 rows"]),
    Case("attention_heads", lambda: _one("Attention", ["q", "k", "v"], {"q_num_heads": 3, "kv_num_heads": 2}, {"q": [1, 4, 12], "k": [1, 4, 8], "v": [1, 4, 8]}, opset=23),
         ["'attention'", "Attention", "q_num_heads 3 is not a multiple of kv_num_heads 2"]),
    Case("lstm_zero_hidden", lambda: _one("LSTM", ["x", "w", "r"], {"hidden_size": 0}, {"x": [3, 1, 2]}, [_w("w", (1, 0, 2)), _w("r", (1, 0, 0))]),
         ["'lstm'", "LSTM", "hidden_size 0 must be >= 1"]),
    Case("gru_bad_direction", lambda: _one("GRU", ["x", "w", "r"], {"hidden_size": 2, "direction": "sideways"}, {"x": [3, 1, 2]}, [_w("w", (1, 6, 2)), _w("r", (1, 6, 2))]),
         ["'gru'", "GRU", "direction 'sideways' is not one of"]),
    Case("lstm_activation_count", lambda: _one("LSTM", ["x", "w", "r"], {"hidden_size": 2, "activations": ["Sigmoid", "Tanh"]}, {"x": [3, 1, 2]}, [_w("w", (1, 8, 2)), _w("r", (1, 8, 2))]),
         ["'lstm'", "LSTM", "activations has 2 functions but needs 3"]),
    Case("lppool_p_zero", lambda: _one("LpPool", ["x"], {"kernel_shape": [2, 2], "p": 0}, X4), ["'lppool'", "LpPool", "p 0 must be >= 1"]),
    Case("gathernd_batch_dims", lambda: _one("GatherND", ["x", "i"], {"batch_dims": 2}, {"x": [2, 3]}, [_i64("i", [[0], [1]])]),
         ["'gathernd'", "GatherND", "batch_dims 2 must be >= 0 and below the ranks"]),
    Case("resize_sizes_length", lambda: _one("Resize", ["x", "", "", "s"], None, X4, [_i64("s", [1, 4, 16])]),
         ["'resize'", "Resize", "sizes [1, 4, 16] has 3 values but 4 resized dims need one each"]),
    # Control flow.
    Case("if_branch_outputs", _if_output_mismatch, ["'branchy'", "If", "else_branch has 2 outputs but the node has 1"]),
    Case("loop_body_inputs", _loop_body_arity, ["'looper'", "Loop", "body has 2 inputs but needs 3"]),
    Case("loop_body_outputs", _loop_body_outputs, ["'looper'", "Loop", "body has 1 outputs but needs 2"]),
    Case("scan_body_outputs", _scan_body_arity, ["'scanner'", "Scan", "body has 1 outputs but the node has 2"]),
    Case("graph_cycle", _cycle, ["cycle through node 'ring_a' (Add)"]),
    # The schema table: arity, attribute names and types.
    Case("node_without_outputs", _no_outputs, ["'sink'", "Relu", "has no outputs"]),
    Case("custom_node_without_outputs", lambda: _no_outputs("com.example"), ["'sink'", "com.example::FusedThing", "has no outputs"]),
    Case("relu_two_inputs", lambda: _one("Relu", ["x", "x"], None, {"x": [2]}), ["'relu'", "Relu", "has 2 inputs but opset 14 Relu takes 1"]),
    Case("relu_two_outputs", lambda: _one("Relu", ["x"], None, {"x": [2]}, n_out=2), ["'relu'", "Relu", "has 2 outputs but opset 14 Relu produces 1"]),
    Case("conv_required_input_empty", _required_input_empty, ["'conv'", "Conv", "required input 0 ('X') is empty"]),
    Case("unknown_attribute", lambda: _one("Relu", ["x"], {"alpha": 0.5}, {"x": [2]}), ["'relu'", "Relu", "has attribute 'alpha', which opset 14 Relu does not define"]),
    Case("attribute_wrong_type", lambda: _one("Conv", ["x", "w"], {"strides": 1.0}, X4, [_w("w", (4, 4, 3, 3))]),
         ["'conv'", "Conv", "attribute 'strides' is FLOAT but must be INTS"]),
    Case("constant_two_values", lambda: _one("Constant", [], {"value_float": 1.0, "value_int": 1}), ["'constant'", "Constant", "exactly one value attribute"]),
]


def _message(model: onnx.ModelProto) -> str:
    with pytest.raises(InvalidModelError) as info:
        irforge.convert_model(model.SerializeToString())
    return str(info.value)


def test_there_are_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_api_refuses_naming_node_op_and_rule(case):
    msg = _message(case.make())
    assert msg.startswith("<bytes>: "), msg
    for part in case.expect:
        assert part in msg, f"{part!r} not in: {msg}"


def test_op_problems_lists_every_problem_and_counts_the_rest():
    """Two broken nodes: the error names the first and counts the second."""
    a = helper.make_node("Cast", ["x"], ["a"], name="first_cast", to=77)
    b = helper.make_node("Cast", ["a"], ["y0"], name="second_cast", to=88)
    model = _model([a, b], [vi("x", F32, [2])], [vi("y0", F32, None)])
    msg = _message(model)
    assert "node 'first_cast' (Cast, #0 in graph 'main'): to 77" in msg and msg.endswith("(and 1 more)"), msg


def test_valid_twin_of_each_rule_family_reads():
    """The same shapes with sound attributes pass: the rules reject what is wrong, not the op."""
    good = [
        _conv({"strides": [1, 1], "group": 2, "kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, w=(4, 2, 3, 3), b=(4,)),
        _one("Unsqueeze", ["x", "a"], None, {"x": [2, 3]}, [_i64("a", [0, -1])]),
        _one("Transpose", ["x"], {"perm": [2, 0, 1]}, {"x": [2, 3, 4]}),
        _one("Reshape", ["x", "s"], None, {"x": [2, 3]}, [_i64("s", [0, -1])]),
        _one("Split", ["x", "s"], {"axis": 0}, {"x": [6, 2]}, [_i64("s", [2, 4])], n_out=2),
        _one("Gather", ["x", "i"], {"axis": 1}, {"x": [2, 3]}, [_i64("i", [-3, 2])]),
        _one("Slice", ["x", "b", "e", "a", "st"], None, {"x": [4, 4]}, [_i64("b", [3]), _i64("e", [0]), _i64("a", [-1]), _i64("st", [-1])]),
    ]
    for m in good:
        irforge.convert_model(m.SerializeToString(), transform="none")


def test_python_pass_output_is_validated():
    """A Python pass that hands back a broken model is refused like a broken input file."""

    def break_cast(m: onnx.ModelProto) -> None:
        for n in m.graph.node:
            if n.op_type == "Cast":
                n.attribute[0].i = 123

    irforge.register_pass("test-break-cast", break_cast)
    try:
        model = _one("Cast", ["x"], {"to": int(F32)}, {"x": [2]})
        with pytest.raises(InvalidModelError, match=r"<output of pass 'test-break-cast'>: node 'cast' \(Cast, #0 in graph 'main'\): to 123"):
            irforge.convert_model(model.SerializeToString(), transform="test-break-cast")
    finally:
        irforge.unregister_pass("test-break-cast")


def _run_cli(args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_ROOT, env.get("PYTHONPATH", "")] if p)
    return subprocess.run([sys.executable, "-m", "irforge.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("suffix", [".xml", ".onnx"])
def test_cli_exits_1_with_one_line_and_no_file(case, suffix, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    path = src / "m.onnx"
    path.write_bytes(case.make().SerializeToString())
    r = _run_cli(["convert", str(path), "--output_model", str(out / f"out{suffix}")], cwd=out)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"irforge: error: {path}: "), r.stderr
    for part in case.expect:
        assert part in r.stderr, f"{part!r} not in: {r.stderr}"
    assert list(out.iterdir()) == [], "a refused model left files behind"
