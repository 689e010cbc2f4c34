"""OpenVINO lowering of element-wise extras, quantization, signal, Det, NonMaxSuppression and
RoiAlign: irforge IR on OpenVINO CPU vs onnxruntime (or the onnx reference for ops newer than
onnxruntime).

The onnx node cases feed scales, zero points, window sizes and thresholds at run time. Quantized
and signal models hold them as initializers, which take other paths here (FakeQuantize for
constant quantization parameters, constant axes for RDFT), so these tests use initializers,
older opsets, symbolic dims and the corner cases the node cases leave out.
"""

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import openvino as ov
import irforge
from onnx_graphs import check_ir, onnx_model, vi

RNG = np.random.RandomState(0)


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


# ---- element-wise -----------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shift_constant_amounts(direction):
    x = RNG.randint(0, 256, size=(3, 4)).astype(np.uint8)
    model = onnx_model(
        [h.make_node("BitShift", ["x", "s"], ["y"], direction=direction)],
        [vi("x", T.UINT8, ["n", 4])],
        [vi("y", T.UINT8)],
        opset=11,
        initializers=[_const("s", np.array([0, 1, 3, 7], np.uint8))],
    )
    check_ir(model, {"x": x})


def test_bit_shift_signed_out_of_range_amounts():
    # BitShift-28: shifts < 0 or >= the bit width give the sign fill.
    x = np.array([-100, 100, -1, 7, -8, 64], np.int8)
    s = np.array([9, 8, -1, 1, 3, 1], np.int8)
    model = onnx_model([h.make_node("BitShift", ["x", "s"], ["y"], direction="RIGHT")], [vi("x", T.INT8, [6]), vi("s", T.INT8, [6])], [vi("y", T.INT8)], opset=28)
    check_ir(model, {"x": x, "s": s}, expected=[np.array([-1, 0, -1, 3, -1, 32], np.int8)])


def test_bitwise_ops_broadcast():
    a = RNG.randint(-1000, 1000, size=(2, 3, 4)).astype(np.int32)
    b = RNG.randint(-1000, 1000, size=(4,)).astype(np.int32)
    nodes = [h.make_node(op, ["a", "b"], [op]) for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor")] + [h.make_node("BitwiseNot", ["a"], ["not"])]
    outs = [vi(n, T.INT32) for n in ("BitwiseAnd", "BitwiseOr", "BitwiseXor", "not")]
    model = onnx_model(nodes, [vi("a", T.INT32, ["n", 3, 4]), vi("b", T.INT32, [4])], outs, opset=18)
    check_ir(model, {"a": a, "b": b})


def test_shrink_swish_swiglu():
    a = RNG.randn(2, 6).astype(np.float32) * 2
    b = RNG.randn(2, 6).astype(np.float32)
    model = onnx_model(
        [
            h.make_node("Shrink", ["a"], ["shrink"], lambd=0.7, bias=0.2),
            h.make_node("Swish", ["a"], ["swish"], alpha=1.5),
            h.make_node("SwiGLU", ["a", "b"], ["swiglu"], alpha=0.5),
        ],
        [vi("a", T.FLOAT, ["n", 6]), vi("b", T.FLOAT, ["n", 6])],
        [vi("shrink"), vi("swish"), vi("swiglu")],
        opset=28,
    )
    check_ir(model, {"a": a, "b": b}, reference=True)


def test_pow_integer_base_float_exponent():
    x = np.array([4, 9, 2, 27], np.int32)
    e = np.array([0.5, 0.5, 3.0, 1.0 / 3], np.float32)
    model = onnx_model([h.make_node("Pow", ["x", "e"], ["y"])], [vi("x", T.INT32, [4]), vi("e", T.FLOAT, [4])], [vi("y", T.INT32)], opset=15)
    check_ir(model, {"x": x, "e": e})


def test_mod_float_by_infinity():
    x = np.array([-3, 3, -1, 1, 0, 2.5], np.float32)
    y = np.array([np.inf, np.inf, -np.inf, -np.inf, np.inf, -1.5], np.float32)
    model = onnx_model([h.make_node("Mod", ["x", "y"], ["z"])], [vi("x", T.FLOAT, [6]), vi("y", T.FLOAT, [6])], [vi("z")], opset=13)
    check_ir(model, {"x": x, "y": y}, expected=[np.mod(x, y)])


def test_cast_to_float8_saturates_and_keeps_nan():
    x = np.array([0.3, 1e6, -1e6, np.inf, -np.inf, np.nan, 300.0], np.float32)
    model = onnx_model(
        [h.make_node("Cast", ["x"], ["q"], to=T.FLOAT8E4M3FN), h.make_node("Cast", ["q"], ["y"], to=T.FLOAT)], [vi("x", T.FLOAT, [7])], [vi("y")], opset=19
    )
    check_ir(model, {"x": x})


# ---- quantization -----------------------------------------------------------------------------


@pytest.mark.parametrize("qtype,zp", [(T.UINT8, 128), (T.INT8, 0), (T.UINT8, 37)])
def test_quantize_dequantize_constant_per_axis(qtype, zp):
    npt = np.uint8 if qtype == T.UINT8 else np.int8
    x = RNG.randn(2, 3, 4, 4).astype(np.float32) * 3
    scale = np.array([0.02, 0.05, 0.1], np.float32)
    model = onnx_model(
        [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1), h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
        [vi("x", T.FLOAT, ["n", 3, 4, 4])],
        [vi("q", qtype), vi("y")],
        opset=13,
        initializers=[_const("s", scale), _const("z", np.full(3, zp, npt))],
    )
    check_ir(model, {"x": x})


def test_quantize_per_tensor_no_zero_point_opset10():
    x = RNG.randn(5, 7).astype(np.float32)
    model = onnx_model(
        [h.make_node("QuantizeLinear", ["x", "s"], ["q"]), h.make_node("DequantizeLinear", ["q", "s"], ["y"])],
        [vi("x", T.FLOAT, ["n", 7])],
        [vi("q", T.UINT8), vi("y")],
        opset=10,
        initializers=[_const("s", np.array(0.01, np.float32))],
    )
    check_ir(model, {"x": x})


def test_dequantize_blocked_int4_weights():
    # The int4 weight-compression form: weights [K, N] with scales per block of 4 along K (the
    # grouped form the CPU plugin's compressed MatMul recognises), then MatMul.
    w = RNG.randint(-8, 8, size=(8, 6)).astype(np.int8)
    scale = (RNG.rand(2, 6) * 0.1 + 0.01).astype(np.float32)
    wt = h.make_tensor("w", T.INT4, [8, 6], w.flatten().tolist())
    model = onnx_model(
        [h.make_node("DequantizeLinear", ["w", "s"], ["wf"], axis=0, block_size=4), h.make_node("MatMul", ["x", "wf"], ["y"])],
        [vi("x", T.FLOAT, ["n", 8])],
        [vi("y")],
        opset=21,
        initializers=[wt, _const("s", scale)],
    )
    check_ir(model, {"x": RNG.randn(3, 8).astype(np.float32)}, rtol=1e-4, atol=1e-5)


def test_dequantize_blocked_partial_last_block():
    # 10 elements in blocks of 4: the last block is partial, scales are gathered per element.
    x = RNG.randint(0, 256, size=(3, 10)).astype(np.uint8)
    model = onnx_model(
        [h.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=1, block_size=4)],
        [vi("x", T.UINT8, ["n", 10])],
        [vi("y")],
        opset=21,
        initializers=[_const("s", (RNG.rand(3, 3) * 0.1).astype(np.float32)), _const("z", RNG.randint(0, 256, size=(3, 3)).astype(np.uint8))],
    )
    check_ir(model, {"x": x})


def test_dynamic_quantize_linear():
    x = RNG.randn(4, 5).astype(np.float32)
    model = onnx_model(
        [h.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])], [vi("x", T.FLOAT, ["n", 5])], [vi("y", T.UINT8), vi("s"), vi("z", T.UINT8)], opset=11
    )
    check_ir(model, {"x": x})


def test_qlinear_matmul_per_column_weights():
    a = RNG.randint(0, 256, size=(2, 3, 8)).astype(np.uint8)
    b = RNG.randint(-128, 128, size=(8, 5)).astype(np.int8)
    inits = [
        _const("as", np.array(0.02, np.float32)),
        _const("az", np.array(120, np.uint8)),
        _const("b", b),
        _const("bs", (RNG.rand(5) * 0.01 + 0.005).astype(np.float32)),
        _const("bz", np.zeros(5, np.int8)),
        _const("ys", np.array(0.05, np.float32)),
        _const("yz", np.array(128, np.uint8)),
    ]
    model = onnx_model(
        [h.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
        [vi("a", T.UINT8, ["n", 3, 8])],
        [vi("y", T.UINT8)],
        opset=21,
        initializers=inits,
    )
    # Requantization rounds x / s; FakeQuantize may land an exact tie one step away.
    check_ir(model, {"a": a}, atol=1)


@pytest.mark.parametrize("group", [1, 2])
def test_qlinear_conv_per_channel_with_bias(group):
    x = RNG.randint(0, 256, size=(1, 4, 6, 6)).astype(np.uint8)
    w = RNG.randint(-128, 128, size=(6, 4 // group, 3, 3)).astype(np.int8)
    inits = [
        _const("xs", np.array(0.01, np.float32)),
        _const("xz", np.array(100, np.uint8)),
        _const("w", w),
        _const("ws", (RNG.rand(6) * 0.01 + 0.002).astype(np.float32)),
        _const("wz", np.zeros(6, np.int8)),
        _const("ys", np.array(0.2, np.float32)),
        _const("yz", np.array(90, np.uint8)),
        _const("b", RNG.randint(-500, 500, size=6).astype(np.int32)),
    ]
    model = onnx_model(
        [h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1], group=group)],
        [vi("x", T.UINT8, ["n", 4, 6, 6])],
        [vi("y", T.UINT8)],
        opset=10,
        initializers=inits,
    )
    check_ir(model, {"x": x}, atol=1)


# ---- signal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("onesided,inverse", [(0, 0), (1, 0), (0, 1)])
def test_dft_opset17_with_length(onesided, inverse):
    last = 2 if inverse else 1
    x = RNG.randn(2, 8, last).astype(np.float32)
    model = onnx_model(
        [h.make_node("DFT", ["x", "n"], ["y"], axis=1, onesided=onesided, inverse=inverse)],
        [vi("x", T.FLOAT, ["b", 8, last])],
        [vi("y")],
        opset=17,
        initializers=[_const("n", np.array(6, np.int64))],
    )
    check_ir(model, {"x": x}, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows_constant_size(op, periodic):
    model = onnx_model([h.make_node(op, ["n"], ["y"], periodic=periodic)], [], [vi("y")], opset=17, initializers=[_const("n", np.array(16, np.int64))])
    check_ir(model, {}, atol=1e-6)


def test_stft_constant_window():
    x = RNG.randn(2, 64, 1).astype(np.float32)
    window = np.hanning(16).astype(np.float32)
    model = onnx_model(
        [h.make_node("STFT", ["x", "step", "w"], ["y"])],
        [vi("x", T.FLOAT, ["b", 64, 1])],
        [vi("y")],
        opset=17,
        initializers=[_const("step", np.array(4, np.int64)), _const("w", window)],
    )
    check_ir(model, {"x": x}, rtol=1e-4, atol=1e-4)


def test_mel_weight_matrix_constant():
    inits = [
        _const("m", np.array(10, np.int64)),
        _const("d", np.array(64, np.int64)),
        _const("r", np.array(16000, np.int64)),
        _const("lo", np.array(20.0, np.float32)),
        _const("hi", np.array(8000.0, np.float32)),
    ]
    model = onnx_model([h.make_node("MelWeightMatrix", ["m", "d", "r", "lo", "hi"], ["y"])], [], [vi("y")], opset=17, initializers=inits)
    check_ir(model, {}, reference=True)


# ---- Det, NonMaxSuppression, RoiAlign ---------------------------------------------------------


def test_det_batched_with_pivoting_and_singular():
    x = RNG.randn(4, 4, 4).astype(np.float32)
    x[1] = [[0, 1, 2, 3], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]  # needs a row swap
    x[2, 3] = x[2, 0] * 2  # singular
    model = onnx_model([h.make_node("Det", ["x"], ["y"])], [vi("x", T.FLOAT, ["n", 4, 4])], [vi("y")], opset=22)
    check_ir(model, {"x": x}, expected=[np.linalg.det(x.astype(np.float64)).astype(np.float32)], rtol=1e-4, atol=1e-5)


def test_non_max_suppression_constant_thresholds():
    boxes = np.array(
        [[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11], [0, 10.1, 1, 11.1], [0, 100, 1, 101]]], np.float32
    )
    scores = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5, 0.3], [0.1, 0.8, 0.7, 0.2, 0.9, 0.4]]], np.float32)
    inits = [_const("m", np.array([2], np.int64)), _const("iou", np.array([0.5], np.float32)), _const("st", np.array([0.25], np.float32))]
    model = onnx_model(
        [h.make_node("NonMaxSuppression", ["boxes", "scores", "m", "iou", "st"], ["sel"])],
        [vi("boxes", T.FLOAT, [1, 6, 4]), vi("scores", T.FLOAT, [1, 2, 6])],
        [vi("sel", T.INT64)],
        opset=11,
        initializers=inits,
    )
    check_ir(model, {"boxes": boxes, "scores": scores})


def test_roi_align_opset10_output_half_pixel():
    x = RNG.randn(2, 3, 8, 8).astype(np.float32)
    rois = np.array([[0, 0, 4, 4], [1, 1, 7, 6], [2.5, 0.5, 5, 7]], np.float32)
    model = onnx_model(
        [h.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], output_height=3, output_width=2, sampling_ratio=2, spatial_scale=0.5)],
        [vi("x", T.FLOAT, ["n", 3, 8, 8]), vi("rois", T.FLOAT, ["r", 4])],
        [vi("y")],
        opset=10,
        initializers=[_const("idx", np.array([0, 1, 1], np.int64))],
    )
    check_ir(model, {"x": x, "rois": rois}, rtol=1e-4, atol=1e-5)


# ---- ai.onnx.ml -------------------------------------------------------------------------------


def _ml_model(node, inputs, outputs):
    g = h.make_graph([node], "g", inputs, outputs)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 18), h.make_opsetid("ai.onnx.ml", 3)])


def test_binarizer():
    node = h.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.25)
    model = _ml_model(node, [vi("x", T.FLOAT, ["n", 5])], [vi("y", T.FLOAT)])
    x = RNG.randn(3, 5).astype(np.float32)
    x[0, 0] = 0.25  # not above the threshold
    check_ir(model, {"x": x})


@pytest.mark.parametrize("shape,indices", [([3, 4], [0, 3, 1]), ([2, 3, 5], [[4], [0]]), ([6], [5, 0, 2])])
def test_array_feature_extractor(shape, indices):
    node = h.make_node("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")
    model = _ml_model(node, [vi("x", T.FLOAT, shape), vi("i", T.INT64, list(np.shape(indices)))], [vi("y", T.FLOAT)])
    check_ir(model, {"x": RNG.randn(*shape).astype(np.float32), "i": np.array(indices, np.int64)})


# ---- ai.onnx.preview.training optimizers (checked against the onnx reference) --------------------


def _optimizer_model(op, groups, attrs):
    """`op` over two tensors of shapes [3] and [2, 2]: inputs R, T, then `groups` of X, G, state..."""
    shapes = [[3], [2, 2]]
    names = [[f"{g}{i}" for i in range(2)] for g in groups]
    inputs = [vi("R", T.FLOAT, []), vi("T", T.INT64, [])]
    inputs += [vi(n, T.FLOAT, shapes[i]) for group in names for i, n in enumerate(group)]
    outs = [[f"{g}{i}_new" for i in range(2)] for g in [groups[0]] + list(groups[2:])]
    node = h.make_node(op, ["R", "T"] + sum(names, []), sum(outs, []), domain="ai.onnx.preview.training", **attrs)
    g = h.make_graph([node], "g", inputs, [vi(n, T.FLOAT, None) for n in sum(outs, [])])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 18), h.make_opsetid("ai.onnx.preview.training", 1)])
    return model, {n: RNG.rand(*shapes[i]).astype(np.float32) for group in names for i, n in enumerate(group)}


@pytest.mark.parametrize("t", [0, 3])
@pytest.mark.parametrize(
    "op,groups,attrs",
    [
        ("Adagrad", "XGH", dict(decay_factor=0.1, epsilon=1e-5, norm_coefficient=0.01)),
        ("Momentum", "XGV", dict(alpha=0.9, beta=0.5, mode="standard", norm_coefficient=0.02)),
        ("Momentum", "XGV", dict(alpha=0.8, beta=0.6, mode="nesterov", norm_coefficient=0.0)),
        ("Adam", "XGVH", dict(alpha=0.85, beta=0.95, epsilon=1e-4, norm_coefficient=0.01, norm_coefficient_post=0.02)),
    ],
)
def test_training_optimizers(op, groups, attrs, t):
    model, feeds = _optimizer_model(op, groups, attrs)
    feeds.update(R=np.array(0.1, np.float32), T=np.array(t, np.int64))
    check_ir(model, feeds, reference=True, rtol=1e-5, atol=1e-6)


def test_sparse_initializer_is_refused_by_the_openvino_writer(tmp_path):
    """OpenVINO IR has no sparse constants: a node reading a sparse initializer is refused naming
    the node and the initializer (found by fuzz_pipeline; it was an InternalError)."""
    values = numpy_helper.from_array(np.array([1.5, -2.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([1, 4], np.int64), "sp_idx")
    g = h.make_graph(
        [h.make_node("Add", ["x", "sp"], ["y"], name="add_sparse")],
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
        sparse_initializer=[h.make_sparse_tensor(values, indices, [2, 3])],
    )
    model = irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 18)]))
    with pytest.raises(irforge.UnsupportedError, match="add_sparse.*sparse initializer 'sp'"):
        irforge.save_model(model, str(tmp_path / "m.xml"))
    assert list(tmp_path.iterdir()) == []
