"""merge-reshape-transpose-reshape: the dynamo exporter's key transpose inside its SDPA
decomposition, k.reshape(-1, s, 64).transpose(1, 2).reshape(b, h, 64, s) with targets computed
from k's Shape, becomes Transpose(k, [0, 1, 3, 2])."""

import onnx
import pytest

import irforge
from wild_shape_util import check_at_shapes, i64, model, node

PIPE = "infer-shapes,merge-reshape-transpose-reshape,dce"
SHAPES = [(2, 4, 3, 8), (3, 4, 7, 8)]  # [batch, heads, seq, 8]


def _key_transpose(perm=(0, 2, 1), back=("lead", "c8", "s"), extra_use=False):
    nodes = [node("Relu", ["x"], ["k"]),
             node("Shape", ["k"], ["k_shape"]),
             node("Slice", ["k_shape", "zero", "two"], ["lead"]),           # [b, h]
             node("Shape", ["k"], ["s"], start=2, end=3),                   # [s]
             node("Concat", ["minus1", "s", "c8"], ["t1"], axis=0),         # [-1, s, 8]
             node("Reshape", ["k", "t1"], ["merged"]),
             node("Transpose", ["merged"], ["mt"], perm=list(perm)),
             node("Concat", list(back), ["t2"], axis=0),
             node("Reshape", ["mt", "t2"], ["kt"]),
             node("Softmax", ["kt"], ["y"], axis=-1)]
    outputs = ["y"]
    if extra_use:
        nodes.append(node("Neg", ["merged"], ["z"]))
        outputs.append("z")
    inits = [i64("zero", [0]), i64("two", [2]), i64("minus1", [-1]), i64("c8", [8])]
    return model(nodes, inits, x_shape=("batch", 4, "seq", 8), outputs=outputs)


def _transposes(result):
    return [list(a.ints) for n in onnx.load_from_string(result.to_onnx_bytes()).graph.node if n.op_type == "Transpose"
            for a in n.attribute if a.name == "perm"]


def test_key_transpose_becomes_one_transpose():
    result = check_at_shapes(_key_transpose(), PIPE, True, SHAPES)
    assert result.op_histogram == {"Relu": 1, "Transpose": 1, "Softmax": 1}, result.op_histogram
    assert _transposes(result) == [[0, 1, 3, 2]]


def test_in_the_default_pipeline_no_shape_arithmetic_is_left():
    result = check_at_shapes(_key_transpose(), "default", True, SHAPES)
    assert not {"Shape", "Slice", "Concat", "Reshape"} & set(result.op_histogram), result.op_histogram


def _not_fired(m):
    result = irforge.convert_model(m.SerializeToString(), transform=PIPE, verify=True)
    assert result.pass_log[1]["name"] == "merge-reshape-transpose-reshape" and not result.pass_log[1]["changed"]
    return result


def test_merged_axis_moving_must_not_fire():
    # perm [1, 0, 2] moves the merged b*h axis: the split back does not restore b, h.
    m = _key_transpose(perm=(1, 0, 2), back=("s", "lead", "c8"))
    _not_fired(m)


def test_middle_value_with_other_users_must_not_fire():
    _not_fired(_key_transpose(extra_use=True))


def test_split_into_other_dims_must_not_fire():
    # Back to [h, b, 8, s]-like dims (here [4, -1, 8, s]): not x's leading dims.
    m = _key_transpose(back=("c4", "minus1", "c8", "s"))
    m.graph.initializer.append(i64("c4", [4]))
    _not_fired(m)
