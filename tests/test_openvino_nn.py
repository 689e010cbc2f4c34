"""OpenVINO lowering of the nn family (convolutions, matrix products, normalizations, pooling,
softmax, dropout): irforge IR on OpenVINO CPU vs onnxruntime on the original model.

The onnx node cases use static shapes, constant attributes and mostly the latest opset; these
models cover what they miss: symbolic dims and unknown ranks (run-time axes and shapes), grouped
and depthwise weights computed at run time, asymmetric auto_pad and output_shape splits,
per-channel zero points, training-mode statistics, older opsets' semantics (Softmax coercion
to 2-D, GroupNormalization-18 per-group scale), optional outputs (MaxPool indices in column-major
order, LayerNormalization statistics, Dropout masks).
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import openvino as ov
import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino  # noqa: E402


def _run_ir(model, feeds, tmp_path):
    actual = run_openvino(irforge.convert_model(model), feeds)
    assert actual and all(np.asarray(a).size for a in actual)
    return actual


def _check(model, feeds, tmp_path, rtol=1e-5, atol=1e-5, expected=None):
    if expected is None:
        expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = _run_ir(model, feeds, tmp_path)
    assert_outputs_close(expected, actual, rtol=rtol, atol=atol)
    return actual


def _model(nodes, inputs, outputs, opset=21, initializers=()):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 10 if opset >= 21 else 8
    return m


def _vi(name, elem=T.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def _init(name, array):
    return onnx.numpy_helper.from_array(np.asarray(array), name)


def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _single(op, inputs, feeds, tmp_path, attrs=None, opset=21, initializers=(), n_out=1, shapes=None, out_elem=T.FLOAT,
            out_elems=(), **kw):
    """One node; graph inputs typed from `feeds` with all dims symbolic unless `shapes` says."""
    shapes = shapes or {}
    outs = [f"y{i}" for i in range(n_out)]
    node = h.make_node(op, inputs, outs, **(attrs or {}))
    elem = {np.float32: T.FLOAT, np.float16: T.FLOAT16, np.uint8: T.UINT8, np.int8: T.INT8, np.int64: T.INT64}
    gin = []
    for name, v in feeds.items():
        shape = shapes.get(name, [f"{name}_{d}" for d in range(v.ndim)])
        gin.append(_vi(name, elem[v.dtype.type], shape))
    elems = list(out_elems) or [out_elem] * n_out
    model = _model([node], gin, [_vi(o, e) for o, e in zip(outs, elems)], opset, initializers)
    return _check(model, feeds, tmp_path, **kw)


# ---- convolutions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [
        dict(group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1]),
        dict(group=4),  # depthwise
        dict(auto_pad="SAME_UPPER", strides=[2, 2], kernel_shape=[3, 3]),
        dict(auto_pad="SAME_LOWER", strides=[2, 2]),
        dict(auto_pad="VALID", strides=[1, 2]),
    ],
)
def test_conv_2d_dynamic_shapes_run_time_weights(attrs, tmp_path):
    # Weights and bias as graph inputs (the CPU plugin wants the weights' shape static).
    group = attrs.get("group", 1)
    m = 6 if group != 4 else 4
    feeds = {"x": _rand(2, 4, 7, 6), "w": _rand(m, 4 // group, 3, 3, seed=1), "b": _rand(m, seed=2)}
    shapes = {"w": list(feeds["w"].shape)}
    _single("Conv", ["x", "w", "b"], feeds, tmp_path, attrs, shapes=shapes, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dims,attrs", [(1, dict(auto_pad="SAME_UPPER", strides=[2])), (3, dict(pads=[1, 0, 1, 0, 1, 1], group=2))])
def test_conv_1d_3d_constant_weights(dims, attrs, tmp_path):
    group = attrs.get("group", 1)
    x = _rand(1, 4, *([5] * dims))
    w = _rand(4, 4 // group, *([3] * dims), seed=1)
    _single("Conv", ["x", "w"], {"x": x}, tmp_path, attrs, initializers=[_init("w", w)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "attrs",
    [
        dict(group=2, strides=[2, 2], output_padding=[1, 0], pads=[0, 1, 1, 0]),
        dict(strides=[3, 2], output_shape=[10, 8]),  # odd total padding: larger half first
        dict(strides=[2, 2], output_shape=[8, 7], auto_pad="SAME_UPPER"),
        dict(strides=[2, 2], auto_pad="SAME_UPPER"),
        dict(strides=[2, 3], auto_pad="SAME_LOWER", dilations=[2, 1]),
        dict(strides=[3, 2], output_shape=[8, 6], output_padding=[1, 1]),
        dict(strides=[2, 2], output_shape=[7, 8], output_padding=[1, 0], auto_pad="SAME_UPPER"),
        dict(strides=[2, 2], output_padding=[1, 1], auto_pad="SAME_LOWER"),
    ],
)
def test_conv_transpose(attrs, tmp_path):
    group = attrs.get("group", 1)
    feeds = {"x": _rand(1, 2, 3, 3), "w": _rand(2, 4 // group, 3, 3, seed=1), "b": _rand(4, seed=2)}
    shapes = {"w": [2, 4 // group, 3, 3]}
    _single("ConvTranspose", ["x", "w", "b"], feeds, tmp_path, attrs, shapes=shapes, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose"])
@pytest.mark.parametrize("fp16", [False, True])
def test_constant_grouped_weights_and_bias_need_no_reshape_layer(op, fp16, tmp_path):
    # Constant weights/bias are written in OpenVINO's layout ([G, ...] weights, [1, C, 1, 1]
    # bias) as they are, rather than reshaped by a layer at run time.
    import xml.etree.ElementTree as ET

    w = _rand(4, 3, 3, 3, seed=1)  # Conv: [M=4, C/G=3]; ConvTranspose: [C=4, M/G=3]
    cout = 4 if op == "Conv" else 6
    model = _model([h.make_node(op, ["x", "w", "b"], ["y"], group=2, pads=[1, 1, 1, 1])], [_vi("x", shape=["n", 4, 6, 6] if op == "ConvTranspose" else ["n", 6, 6, 6])],
                   [_vi("y")], initializers=[_init("w", w), _init("b", _rand(cout, seed=2))])
    feeds = {"x": _rand(2, 4 if op == "ConvTranspose" else 6, 6, 6)}
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model, transform="none"), xml, compress_to_fp16=fp16)
    types = [l.get("type") for l in ET.parse(xml).getroot().find("layers")]
    assert "Reshape" not in types, types
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    actual = [compiled.create_infer_request().infer(feeds)[compiled.outputs[0]]]
    tol = 1e-2 if fp16 else 1e-4
    assert_outputs_close(run_onnxruntime(model.SerializeToString(), feeds), actual, rtol=tol, atol=tol)


@pytest.mark.parametrize("per_channel", [False, True])
def test_conv_integer_zero_points(per_channel, tmp_path):
    from onnx.reference import ReferenceEvaluator

    x = np.random.default_rng(0).integers(0, 255, (1, 2, 5, 5), dtype=np.uint8)
    w = np.random.default_rng(1).integers(0, 255, (3, 2, 2, 2), dtype=np.uint8)
    wz = np.array([1, 128, 255], np.uint8) if per_channel else np.uint8(128)
    inits = [_init("w", w), _init("xz", np.uint8(7)), _init("wz", wz)]
    node = h.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 0, 0])
    model = _model([node], [_vi("x", T.UINT8, ["n", 2, "h", "w"])], [_vi("y", T.INT32)], 10, inits)
    # onnxruntime only takes a per-tensor weight zero point; the reference takes both.
    expected = ReferenceEvaluator(model).run(None, {"x": x}) if per_channel else None
    _check(model, {"x": x}, tmp_path, expected=expected)


def test_deform_conv(tmp_path):
    from onnx.reference import ReferenceEvaluator

    x = _rand(1, 4, 5, 5)
    w = _rand(2, 2, 2, 2, seed=1)
    offset = 1.5 * _rand(1, 2 * 2 * 2 * 2, 4, 4, seed=2)  # offset_group 2, 2x2 kernel, out 4x4
    mask = np.random.default_rng(3).random((1, 2 * 2 * 2, 4, 4)).astype(np.float32)
    b = _rand(2, seed=4)
    feeds = {"x": x, "w": w, "offset": offset, "b": b, "mask": mask}
    node = h.make_node("DeformConv", list(feeds), ["y"], group=2, offset_group=2, kernel_shape=[2, 2])
    model = _model([node], [_vi(k, T.FLOAT, v.shape) for k, v in feeds.items()], [_vi("y", T.FLOAT)], opset=19)
    expected = ReferenceEvaluator(model).run(None, feeds)
    _check(model, feeds, tmp_path, rtol=1e-4, atol=1e-4, expected=expected)


# ---- matrix products ----------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((1, 3, 4), (5, 4, 2))])
def test_matmul_1d_and_broadcast(a, b, tmp_path):
    _single("MatMul", ["a", "b"], {"a": _rand(*a), "b": _rand(*b, seed=1)}, tmp_path)


@pytest.mark.parametrize("per_row", [False, True])
def test_matmul_integer_zero_points(per_row, tmp_path):
    from onnx.reference import ReferenceEvaluator

    a = np.random.default_rng(0).integers(-128, 127, (3, 4), dtype=np.int8)
    b = np.random.default_rng(1).integers(0, 255, (4, 5), dtype=np.uint8)
    az = np.array([1, -2, 3], np.int8) if per_row else np.int8(-3)
    inits = [_init("az", az), _init("bz", np.arange(5, dtype=np.uint8))]
    node = h.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
    model = _model([node], [_vi("a", T.INT8, ["m", 4]), _vi("b", T.UINT8, [4, 5])], [_vi("y", T.INT32)], 10, inits)
    feeds = {"a": a, "b": b}
    # onnxruntime only takes a per-tensor zero point for A (and the reference none per row).
    expected = [(a.astype(np.int32) - az.astype(np.int32)[:, None]) @ (b.astype(np.int32) - np.arange(5))] if per_row else None
    _check(model, feeds, tmp_path, expected=expected)


@pytest.mark.parametrize("c_shape", [None, (), (5,), (3, 1)])
def test_gemm(c_shape, tmp_path):
    feeds = {"a": _rand(4, 3), "b": _rand(5, 4, seed=1)}
    if c_shape is not None:
        feeds["c"] = _rand(*c_shape, seed=2)
    attrs = dict(transA=1, transB=1, alpha=0.5, beta=2.0)
    _single("Gemm", list(feeds), feeds, tmp_path, attrs, opset=13)


def test_einsum_with_blanks(tmp_path):
    feeds = {"a": _rand(2, 3, 4), "b": _rand(2, 4, 5, seed=1)}
    _single("Einsum", ["a", "b"], feeds, tmp_path, dict(equation="bij, bjk -> bik"))


# ---- normalizations -----------------------------------------------------------------------------


def _bn_inits(c, seed=5):
    rng = np.random.default_rng(seed)
    return [_init("s", rng.random(c).astype(np.float32) + 0.5), _init("bias", _rand(c, seed=6)),
            _init("mean", _rand(c, seed=7)), _init("var", rng.random(c).astype(np.float32) + 0.5)]


@pytest.mark.parametrize("opset,shape", [(7, (2, 3, 4, 5)), (9, (2, 3, 4)), (15, (2, 3))])
def test_batch_norm_inference(opset, shape, tmp_path):
    _single("BatchNormalization", ["x", "s", "bias", "mean", "var"], {"x": _rand(*shape)}, tmp_path,
            dict(epsilon=1e-3), opset=opset, initializers=_bn_inits(shape[1]))


def test_batch_norm_per_activation_opset7(tmp_path):
    # spatial=0 (before opset 9): statistics and affine parameters per (C, H, W) activation.
    rng = np.random.default_rng(5)
    shape = (3, 2, 4)
    inits = [_init("s", rng.random(shape).astype(np.float32) + 0.5), _init("bias", _rand(*shape, seed=6)),
             _init("mean", _rand(*shape, seed=7)), _init("var", rng.random(shape).astype(np.float32) + 0.5)]
    _single("BatchNormalization", ["x", "s", "bias", "mean", "var"], {"x": _rand(2, *shape)}, tmp_path,
            dict(spatial=0), opset=7, initializers=inits, rtol=1e-4)


def test_batch_norm_training_mode_outputs(tmp_path):
    x = _rand(2, 3, 4, 5)
    node = h.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y", "rm", "rv"], training_mode=1, momentum=0.8)
    outs = [_vi("y", T.FLOAT), _vi("rm", T.FLOAT), _vi("rv", T.FLOAT)]
    model = _model([node], [_vi("x", T.FLOAT, ["n", 3, "h", "w"])], outs, 15, _bn_inits(3))
    _check(model, {"x": x}, tmp_path, rtol=1e-4, atol=1e-5)


def _relu_first(node, rank):
    # The Relu's output has no value_info, so the node sees an input of unknown rank and builds
    # its axes and per-channel reshapes at run time (the CPU plugin itself needs known ranks).
    node.input[0] = "r"
    x = _vi("x", T.FLOAT, [f"d{i}" for i in range(rank)])
    return [h.make_node("Relu", ["x"], ["r"]), node], [x]


def test_instance_norm_unknown_rank(tmp_path):
    nodes, gin = _relu_first(h.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3), 4)
    inits = [_init("s", _rand(3, seed=1)), _init("b", _rand(3, seed=2))]
    model = _model(nodes, gin, [_vi("y", T.FLOAT)], 17, inits)
    _check(model, {"x": _rand(2, 3, 4, 5)}, tmp_path, rtol=1e-4, atol=1e-5)


def test_layer_norm_statistics_outputs(tmp_path):
    node = h.make_node("LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=1, epsilon=1e-3)
    inits = [_init("s", _rand(4, 5, seed=1)), _init("b", _rand(4, 5, seed=2))]
    outs = [_vi("y", T.FLOAT), _vi("mean", T.FLOAT), _vi("inv", T.FLOAT)]
    model = _model([node], [_vi("x", T.FLOAT, ["n", 4, 5])], outs, 17, inits)
    _check(model, {"x": _rand(3, 4, 5)}, tmp_path, rtol=1e-4, atol=1e-5)


def test_layer_norm_unknown_rank_positive_axis(tmp_path):
    nodes, gin = _relu_first(h.make_node("LayerNormalization", ["x", "s"], ["y"], axis=2), 3)
    model = _model(nodes, gin, [_vi("y", T.FLOAT)], 17, [_init("s", _rand(5, seed=1))])
    _check(model, {"x": _rand(2, 3, 5)}, tmp_path, rtol=1e-4, atol=1e-5)


def test_layer_norm_fp16_stash_float(tmp_path):
    x = (100 + _rand(2, 8)).astype(np.float16)
    inits = [_init("s", np.ones(8, np.float16)), _init("b", np.zeros(8, np.float16))]
    _single("LayerNormalization", ["x", "s", "b"], {"x": x}, tmp_path, opset=17, initializers=inits, out_elem=T.FLOAT16,
            rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_norm_scale_per_group_or_channel(opset, tmp_path):
    c = 2 if opset == 18 else 6  # opset 18: one scale per group; 21: per channel
    inits = [_init("s", _rand(c, seed=1)), _init("b", _rand(c, seed=2))]
    _single("GroupNormalization", ["x", "s", "b"], {"x": _rand(2, 6, 3, 4)}, tmp_path, dict(num_groups=2, epsilon=1e-3),
            opset=opset, initializers=inits, shapes={"x": ["n", 6, "h", "w"]}, rtol=1e-4, atol=1e-4)


def test_rms_norm_dynamic(tmp_path):
    _single("RMSNormalization", ["x", "s"], {"x": _rand(2, 3, 8)}, tmp_path, dict(axis=-2), opset=23,
            initializers=[_init("s", _rand(3, 8, seed=1))], rtol=1e-4, atol=1e-5)


def test_mvn_axes(tmp_path):
    _single("MeanVarianceNormalization", ["x"], {"x": _rand(2, 3, 4, 5)}, tmp_path, dict(axes=[1, 3]), opset=13, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p,axis", [(1, 0), (2, -1)])
def test_lp_norm_with_zero_vector(p, axis, tmp_path):
    x = _rand(3, 4)
    x[:, 0] = 0
    x[1, :] = 0
    _single("LpNormalization", ["x"], {"x": x}, tmp_path, dict(p=p, axis=axis), opset=13)


def test_lrn(tmp_path):
    _single("LRN", ["x"], {"x": _rand(1, 7, 3, 3)}, tmp_path, dict(size=5, alpha=1e-3, beta=0.6, bias=1.5), opset=13, rtol=1e-4)


# ---- pooling -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [
        dict(kernel_shape=[2, 3], storage_order=1, pads=[1, 1, 0, 1]),
        dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 0, 1, 1]),
        dict(kernel_shape=[3, 2], auto_pad="SAME_UPPER", strides=[2, 2]),
        dict(kernel_shape=[2, 2], dilations=[2, 1], storage_order=0),
        # Stride 1: the SAME pads do not depend on the input size, so dynamic dims lower too.
        dict(kernel_shape=[2, 3], auto_pad="SAME_LOWER"),
    ],
)
@pytest.mark.parametrize("static", [False, True])
def test_max_pool_with_indices(attrs, static, tmp_path):
    x = np.random.default_rng(0).permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7).astype(np.float32)
    shapes = {"x": list(x.shape)} if static else None
    _single("MaxPool", ["x"], {"x": x}, tmp_path, attrs, opset=12, n_out=2, out_elems=[T.FLOAT, T.INT64], shapes=shapes)


def test_max_pool_with_indices_same_lower_strided(tmp_path):
    # With a stride, SAME_LOWER's pads depend on the input size; the CPU plugin pads dynamic
    # shapes as SAME_UPPER (wrong values and indices), so only static dims are lowered.
    attrs = dict(kernel_shape=[3, 2], auto_pad="SAME_LOWER", strides=[2, 2])
    x = np.random.default_rng(0).permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7).astype(np.float32)
    _single("MaxPool", ["x"], {"x": x}, tmp_path, attrs, opset=12, n_out=2, out_elems=[T.FLOAT, T.INT64],
            shapes={"x": list(x.shape)})
    node = h.make_node("MaxPool", ["x"], ["y", "i"], name="pool7", **attrs)
    model = _model([node], [_vi("x", T.FLOAT, ["n", "c", "h", "w"])], [_vi("y"), _vi("i", T.INT64)], opset=12)
    with pytest.raises(irforge.UnsupportedError, match=r"pool7.*MaxPool.*SAME_LOWER.*static"):
        run_openvino(irforge.convert_model(model), {"x": x})
    # Without the indices output the plugin pads SAME_LOWER right, and it stays dynamic.
    model.graph.node[0].output[1] = ""
    del model.graph.output[1]
    _check(model, {"x": x}, tmp_path)


@pytest.mark.parametrize(
    "attrs",
    [
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
        dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 0, 1, 0]),
        dict(kernel_shape=[3, 2], auto_pad="SAME_UPPER", strides=[2, 2], count_include_pad=1),
        dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER", strides=[2, 2]),
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 0, 1], ceil_mode=1),
    ],
)
def test_average_pool(attrs, tmp_path):
    _single("AveragePool", ["x"], {"x": _rand(1, 2, 7, 6)}, tmp_path, attrs, opset=19, rtol=1e-4)


def test_average_pool_ceil_count_pad_last_window_in_end_pad(tmp_path):
    # pads_end >= kernel - stride + 1: ceil mode's last window may start in the end padding,
    # which ONNX drops; a static shape lets the lowering slice it off.
    attrs = dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)
    for hw in [(5, 6), (6, 5)]:
        x = _rand(1, 2, *hw)
        _single("AveragePool", ["x"], {"x": x}, tmp_path, attrs, opset=19, shapes={"x": list(x.shape)}, rtol=1e-4)


@pytest.mark.parametrize(
    "attrs,shapes",
    [
        (dict(kernel_shape=[2, 2], p=3, pads=[1, 0, 1, 1], strides=[2, 1]), None),
        (dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, p=2), {"x": [1, 2, 6, 6]}),
    ],
)
def test_lp_pool(attrs, shapes, tmp_path):
    _single("LpPool", ["x"], {"x": _rand(1, 2, 6, 6)}, tmp_path, attrs, opset=18, shapes=shapes, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,attrs", [("GlobalAveragePool", {}), ("GlobalMaxPool", {}), ("GlobalLpPool", dict(p=3))])
def test_global_pools_unknown_rank(op, attrs, tmp_path):
    nodes, gin = _relu_first(h.make_node(op, ["x"], ["y"], **attrs), 4)
    model = _model(nodes, gin, [_vi("y", T.FLOAT)], 13)
    _check(model, {"x": _rand(2, 3, 4, 5)}, tmp_path, rtol=1e-4)


@pytest.mark.parametrize("with_shape", [False, True])
def test_max_unpool_of_max_pool(with_shape, tmp_path):
    pool = h.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2])
    inputs = ["p", "i"] + (["shape"] if with_shape else [])
    unpool = h.make_node("MaxUnpool", inputs, ["y"], kernel_shape=[2, 2], strides=[2, 2])
    gin = [_vi("x", T.FLOAT, ["n", 2, "h", "w"])] + ([_vi("shape", T.INT64, [4])] if with_shape else [])
    model = _model([pool, unpool], gin, [_vi("y", T.FLOAT)], 13)
    feeds = {"x": _rand(2, 2, 5, 7) if with_shape else _rand(2, 2, 4, 6)}
    if with_shape:
        feeds["shape"] = np.array([2, 2, 5, 7], np.int64)  # a run-time output shape
    _check(model, feeds, tmp_path)


# ---- softmax family, dropout -------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, -2), (11, 0), (11, 2), (13, 1), (13, -3)])
def test_softmax_family_opsets(op, opset, axis, tmp_path):
    x = _rand(2, 3, 4)
    x[0, 0, :2] = 5.0  # ties for Hardmax: the first maximum wins
    _single(op, ["x"], {"x": x}, tmp_path, dict(axis=axis), opset=opset, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [7, 10, 13])
def test_dropout_inference_with_mask(opset, tmp_path):
    node_inputs = ["x"]
    inits = []
    if opset >= 12:
        node_inputs += ["ratio", "training"]
        inits = [_init("ratio", np.float32(0.3)), _init("training", np.bool_(False))]
    node = h.make_node("Dropout", node_inputs, ["y", "mask"])
    mask_type = T.FLOAT if opset < 10 else T.BOOL
    model = _model([node, h.make_node("Identity", ["y"], ["z"])], [_vi("x", T.FLOAT, ["n", 3])],
                   [_vi("z", T.FLOAT), _vi("mask", mask_type)], opset, inits)
    feeds = {"x": _rand(4, 3)}
    expected = [feeds["x"], np.ones((4, 3), bool if opset >= 10 else np.float32)]
    _check(model, feeds, tmp_path, expected=expected)


def test_dropout_training_mode_at_run_time(tmp_path):
    # Training mode drops each element with probability `ratio` and scales the rest by
    # 1 / (1 - ratio); random draws can't equal onnxruntime's, so the statistics are checked.
    # training_mode false and a ratio of 0 (both fed at run time) give x exactly.
    node = h.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"], seed=7)
    model = _model([node], [_vi("x", T.FLOAT, ["n", 100]), _vi("ratio", T.FLOAT, []), _vi("training", T.BOOL, [])],
                   [_vi("y", T.FLOAT), _vi("mask", T.BOOL)], 13)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model), xml)
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = _rand(100, 100) + 3.0  # no zeros in x: a zero in y means dropped
    y, mask = compiled({"x": x, "ratio": np.float32(0.3), "training": np.bool_(True)}).values()
    assert 0.25 < 1 - mask.mean() < 0.35
    np.testing.assert_allclose(y[mask], x[mask] / 0.7, rtol=1e-6)
    assert not y[~mask].any()
    for ratio, training in [(0.3, False), (0.0, True)]:
        y, mask = compiled({"x": x, "ratio": np.float32(ratio), "training": np.bool_(training)}).values()
        np.testing.assert_array_equal(y, x)
        assert mask.all()
