"""sink-transposes: NHWC models written as "Transpose → NCHW op → Transpose" per layer keep only
the Transposes at their boundaries."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass

PASS = "sink-transposes,simplify-layout,dce"
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
RNG = np.random.default_rng(0)


class Builder:
    """Small NHWC graph builder: each NCHW op gets wrapped in Transposes, like a TF/TFLite frontend does."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def const(self, value):
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def op(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv_nhwc(self, x, cin, cout):
        t = self.op("Transpose", [x], perm=TO_NCHW)
        w = self.const(RNG.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.3)
        c = self.op("Conv", [t, w], pads=[1, 1, 1, 1])
        return self.op("Transpose", [c], perm=TO_NHWC)

    def model(self, out, x_shape=(1, 6, 6, 3), out_shape=None):
        self.nodes.append(helper.make_node("Identity", [out], ["y"]))
        g = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], self.inits)
        return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def transposes(model):
    return model.op_histogram.get("Transpose", 0)


def test_nhwc_cnn_keeps_only_boundary_transposes():
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    h = b.op("Add", [h, b.const(RNG.standard_normal(4).astype(np.float32))])          # NHWC bias
    h = b.op("Relu", [h])
    skip = h
    h = b.conv_nhwc(h, 4, 4)
    h = b.op("Mul", [h, b.const(RNG.standard_normal((1, 1, 1, 4)).astype(np.float32))])
    h = b.op("Add", [h, skip])                                                       # residual
    h = b.op("Clip", [h, b.const(np.float32(0)), b.const(np.float32(6))])
    other = b.conv_nhwc(h, 4, 2)
    h = b.op("Concat", [h, other, b.const(np.ones((1, 6, 6, 1), np.float32))], axis=3)  # channels, NHWC
    h = b.op("Pad", [h, b.const(np.array([0, 1, 0, 0, 0, 0, 2, 0], np.int64))])
    h = b.op("Softmax", [h], axis=-1)
    h = b.conv_nhwc(h, 7, 3)
    h = b.op("ReduceMean", [h], axes=[1, 2], keepdims=0)                             # global pool → [N, C]
    m = b.model(h)
    before = irforge.convert_model(m, transform="none")
    assert transposes(before) == 8
    model = check_pass(m, PASS, fires=True, rtol=1e-5, atol=1e-5)
    # The input's NHWC→NCHW Transpose stays; the one before the pooled output is gone with the
    # pooled axes (a [N, C] result needs no Transpose).
    assert transposes(model) == 1, model.op_histogram
    assert model.op_histogram["Conv"] == 4


@pytest.mark.parametrize("keepdims,axes", [(1, [1, 2]), (0, [1]), (0, [2, 3]), (1, [-1])])
def test_reduce_axes_remapped(keepdims, axes):
    b = Builder()
    h = b.conv_nhwc("x", 3, 5)
    h = b.op("ReduceSum", [h, b.const(np.array(axes, np.int64))], keepdims=keepdims)
    h = b.op("Neg", [h])
    check_pass(b.model(h), PASS, fires=True, rtol=1e-5, atol=1e-5)


def test_transpose_at_the_output_stays():
    # A model ending in NHWC: the last Transpose is the output's layout.
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    h = b.op("Sigmoid", [h])
    model = check_pass(b.model(h), PASS, fires=True)
    assert transposes(model) == 2
    order = [n.op_type for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node]
    assert order[-3:] == ["Sigmoid", "Transpose", "Identity"], order


def test_must_not_fire():
    # The transposed value has two users; the other operand is a non-constant of another layout;
    # a constant operand of higher rank; a Reshape (not elementwise).
    b = Builder()
    t = b.op("Transpose", ["x"], perm=TO_NCHW)
    s = b.op("Sigmoid", [t])
    r = b.op("Relu", [t])
    h = b.op("Add", [s, r])
    check_pass(b.model(h), "sink-transposes", fires=False)
    b = Builder()
    t = b.op("Transpose", ["x"], perm=TO_NCHW)
    h = b.op("Add", [t, b.op("Transpose", ["x"], perm=[0, 3, 2, 1])])
    check_pass(b.model(h, x_shape=(1, 3, 3, 3)), "sink-transposes", fires=False)
    b = Builder()
    t = b.op("Transpose", ["x"], perm=TO_NCHW)
    h = b.op("Mul", [t, b.const(RNG.standard_normal((2, 1, 3, 1, 1)).astype(np.float32))])
    check_pass(b.model(h), "sink-transposes", fires=False)
    b = Builder()
    t = b.op("Transpose", ["x"], perm=TO_NCHW)
    h = b.op("Reshape", [t, b.const(np.array([1, -1], np.int64))])
    check_pass(b.model(h), "sink-transposes", fires=False)


def test_count_never_grows_and_dynamic_batch():
    # Two NCHW convs on dynamic-batch NHWC input joined by Add and Concat: every inner pair cancels.
    b = Builder()
    h1 = b.conv_nhwc("x", 3, 4)
    h2 = b.conv_nhwc("x", 3, 4)
    h = b.op("Add", [h1, h2])
    h = b.op("Concat", [h, h1], axis=-1)
    h = b.op("LeakyRelu", [h], alpha=0.1)
    h = b.conv_nhwc(h, 8, 2)
    m = b.model(h, x_shape=("n", 6, 6, 3))
    before = transposes(irforge.convert_model(m, transform="none"))
    for n in (1, 3):
        model = check_pass(m, PASS, fires=True, feeds={"x": RNG.standard_normal((n, 6, 6, 3)).astype(np.float32)}, rtol=1e-5, atol=1e-5)
    assert transposes(model) < before and transposes(model) == 3, model.op_histogram  # 2 at the input (one per branch) + 1 at the output


def test_default_pipeline_on_nhwc_layers():
    # Conv → (back to NHWC) → bias Add → Relu → (to NCHW) → Conv ...: in the default pipeline the
    # inner pairs cancel and the NHWC bias reaches the Conv it belongs to.
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    h = b.op("Add", [h, b.const(RNG.standard_normal(4).astype(np.float32))])
    h = b.op("Relu", [h])
    h = b.conv_nhwc(h, 4, 4)
    h = b.op("Add", [h, b.const(RNG.standard_normal(4).astype(np.float32))])
    h = b.op("Sigmoid", [h])
    h = b.conv_nhwc(h, 4, 2)
    model = check_pass(b.model(h), "default", fires=True, rtol=1e-5, atol=1e-5)
    assert transposes(model) == 2, model.op_histogram  # the input's and the output's
    assert "Add" not in model.op_histogram, model.op_histogram  # biases folded into the Convs


def test_default_pipeline_gated_activation_between_nhwc_layers():
    # x * sigmoid(x) reads the back-Transpose twice; fuse-swish makes it one op first, which the
    # Transpose then sinks through.
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    h = b.op("Mul", [h, b.op("Sigmoid", [h])])
    h = b.conv_nhwc(h, 4, 2)
    model = check_pass(b.model(h), "default", fires=True, rtol=1e-5, atol=1e-5)
    assert transposes(model) == 2, model.op_histogram


def test_split_between_nhwc_layers():
    # Conv → NHWC → Split on channels → each half back to NCHW for its Conv: all four Transposes
    # around the Split go.
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    b.nodes.append(helper.make_node("Split", [h, b.const(np.array([1, 3], np.int64))], ["s0", "s1"], axis=3))
    outs = []
    for s, cin in (("s0", 1), ("s1", 3)):
        outs.append(b.conv_nhwc(s, cin, 2))
    h = b.op("Add", outs)
    model = check_pass(b.model(h), PASS, fires=True, rtol=1e-5, atol=1e-5)
    assert transposes(model) == 2, model.op_histogram  # the input's and the output's
    # A half read by something else than a back-Transpose keeps the Split as it is.
    b = Builder()
    h = b.conv_nhwc("x", 3, 4)
    b.nodes.append(helper.make_node("Split", [h, b.const(np.array([2, 2], np.int64))], ["s0", "s1"], axis=3))
    h = b.op("Add", [b.conv_nhwc("s0", 2, 2), b.op("Relu", ["s1"])])
    model = check_pass(b.model(h), "sink-transposes", fires=False)
