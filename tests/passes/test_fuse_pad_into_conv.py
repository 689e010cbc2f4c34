import onnx
import numpy as np
from onnx import helper

from _fusion_models import check_pass, f32, i64, model

PIPE = "fuse-pad-into-conv,dce"
N = helper.make_node


def test_pad_into_conv():
    nodes = [N("Pad", ["x", "p"], ["xp"]), N("Conv", ["xp", "w"], ["y"], pads=[1, 0, 0, 1])]
    m = check_pass(model(nodes, {"x": [1, 3, 7, 7]}, [i64("p", [0, 0, 2, 1, 0, 0, 1, 3]), f32("w", (4, 3, 3, 3))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}
    assert onnx.load_from_string(m.to_onnx_bytes()).graph.node[0].attribute[0].ints == [3, 1, 1, 4]


def test_pad_with_axes_into_valid_conv_and_old_opset_pad():
    nodes = [N("Pad", ["x", "p", "", "ax"], ["xp"]), N("Conv", ["xp", "w"], ["y"], auto_pad="VALID")]
    inits = [i64("p", [1, 2, 1, 2]), i64("ax", [-2, -1]), f32("w", (4, 3, 3, 3))]
    m = check_pass(model(nodes, {"x": [1, 3, 6, 6]}, inits, opset=18), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}
    nodes = [N("Pad", ["x"], ["xp"], pads=[0, 0, 1, 1, 0, 0, 1, 1]), N("Conv", ["xp", "w"], ["y"])]
    m = check_pass(model(nodes, {"x": [1, 3, 6, 6]}, [f32("w", (4, 3, 3, 3))], opset=10), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}


def test_pad_into_pools():
    nodes = [N("Pad", ["x", "p"], ["xp"]), N("AveragePool", ["xp"], ["y"], kernel_shape=[3, 3], count_include_pad=1, pads=[1, 0, 0, 0])]
    m = check_pass(model(nodes, {"x": [1, 2, 7, 7]}, [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])]), PIPE, fires=True)
    assert m.op_histogram == {"AveragePool": 1}
    nodes = [N("Pad", ["x", "p", "v"], ["xp"]), N("MaxPool", ["xp"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    inits = [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), f32("v", np.array(-np.inf))]
    m = check_pass(model(nodes, {"x": [1, 2, 7, 7]}, inits), PIPE, fires=True)
    assert m.op_histogram == {"MaxPool": 1}


def test_must_not_fire():
    w = f32("w", (4, 3, 3, 3))
    conv = N("Conv", ["xp", "w"], ["y"])
    cases = [
        ([N("Pad", ["x", "p", "v"], ["xp"]), conv], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), f32("v", np.array(1.0)), w]),  # non-zero value
        ([N("Pad", ["x", "p"], ["xp"], mode="reflect"), conv], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), w]),
        ([N("Pad", ["x", "p"], ["xp"]), conv], [i64("p", [0, 0, 1, -1, 0, 0, 1, 1]), w]),  # negative (crop)
        ([N("Pad", ["x", "p"], ["xp"]), N("Conv", ["xp", "w2"], ["y"])], [i64("p", [0, 1, 1, 1, 0, 0, 1, 1]), f32("w2", (4, 4, 3, 3))]),  # channels
        ([N("Pad", ["x", "p"], ["xp"]), N("Conv", ["xp", "w"], ["y"], auto_pad="SAME_UPPER")], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), w]),
        ([N("Pad", ["x", "p"], ["xp"]), N("AveragePool", ["xp"], ["y"], kernel_shape=[3, 3])], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])]),  # excludes pad
        ([N("Pad", ["x", "p"], ["xp"]), N("MaxPool", ["xp"], ["y"], kernel_shape=[3, 3])], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])]),  # zeros win maxes
        ([N("Pad", ["x", "p", "v"], ["xp"]), N("MaxPool", ["xp"], ["y"], kernel_shape=[2, 2])], [i64("p", [0, 0, 2, 0, 0, 0, 0, 0]), f32("v", np.array(-np.inf))]),  # pad >= kernel
    ]
    for nodes, inits in cases:
        check_pass(model(nodes, {"x": [1, 3, 6, 6]}, inits), PIPE, fires=False, openvino=False)
    # the padded tensor is read elsewhere
    check_pass(model([N("Pad", ["x", "p"], ["xp"]), conv], {"x": [1, 3, 6, 6]}, [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), w], outputs=("y", "xp")), PIPE, fires=False)


def test_nhwc_pad_through_transpose():
    # Keras ZeroPadding2D before a stride-2 depthwise conv, as TF/TFLite export it: NHWC Pad of H by
    # (0, 1) and W by (2, 1), then the Transpose to NCHW. The pads move with the axes.
    nodes = [N("Pad", ["x", "p"], ["xp"]), N("Transpose", ["xp"], ["xt"], perm=[0, 3, 1, 2]),
             N("Conv", ["xt", "w"], ["y"], strides=[2, 2], group=3)]
    inits = [i64("p", [0, 0, 2, 0, 0, 1, 1, 0]), f32("w", (3, 1, 3, 3))]
    m = check_pass(model(nodes, {"x": [1, 7, 6, 3]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Transpose": 1, "Conv": 1}
    conv = [n for n in onnx.load_from_string(m.to_onnx_bytes()).graph.node if n.op_type == "Conv"][0]
    assert [a.ints for a in conv.attribute if a.name == "pads"] == [[0, 2, 1, 1]]


def test_nhwc_pad_through_transpose_must_not_fire():
    w = f32("w", (3, 1, 3, 3))
    conv = N("Conv", ["xt", "w"], ["y"], group=3)
    # The NHWC channel pad lands on NCHW's channel axis.
    nodes = [N("Pad", ["x", "p"], ["xp"]), N("Transpose", ["xp"], ["xt"], perm=[0, 3, 1, 2]), conv]
    check_pass(model(nodes, {"x": [1, 5, 5, 2]}, [i64("p", [0, 0, 0, 0, 0, 0, 0, 1]), w]), PIPE, fires=False)
    # The transposed tensor has a second reader, which still needs the padding.
    nodes = [N("Pad", ["x", "p"], ["xp"]), N("Transpose", ["xp"], ["xt"], perm=[0, 3, 1, 2]), conv,
             N("Relu", ["xt"], ["z"])]
    check_pass(model(nodes, {"x": [1, 5, 5, 3]}, [i64("p", [0, 1, 1, 0, 0, 1, 1, 0]), w], outputs=("y", "z")), PIPE, fires=False)
