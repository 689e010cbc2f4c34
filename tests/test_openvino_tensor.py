"""OpenVINO lowering of shape, indexing and resampling ops: irforge IR on OpenVINO CPU vs onnxruntime.

The onnx node cases feed most shape-like inputs at run time with static data shapes and the
newest opset. These models cover the rest: constant (initializer) shape inputs, symbolic dims,
unknown ranks, attribute forms of older opsets, and the Resize variants that are decomposed.
"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import openvino as ov
import irforge
from onnx_graphs import check_ir, i64, onnx_model, vi

RNG = np.random.RandomState(0)


def _f32(shape):
    return RNG.randn(*shape).astype(np.float32)


def _unary(op, x_shape, tmp_path, x=None, opset=18, inits=(), extra_inputs=(), feeds=None, rtol=1e-5, **attrs):
    """One node `op(x, *extra_inputs)`; x has shape x_shape (symbolic dims allowed)."""
    x_val = x if x is not None else _f32([d if isinstance(d, int) else 3 for d in x_shape])
    inputs = ["x", *extra_inputs]
    model = onnx_model(
        [h.make_node(op, inputs, ["y"], **attrs)],
        [vi("x", T.FLOAT, x_shape)] + [vi(n, T.INT64, None) for n in (feeds or {})],
        [vi("y")],
        opset=opset,
        initializers=inits,
    )
    check_ir(model, {"x": x_val, **(feeds or {})}, rtol=rtol)


# ---- shape ops ----------------------------------------------------------------------------------


@pytest.mark.parametrize("allowzero,shape", [(0, [0, -1, 2]), (1, [-1, 4])])
def test_reshape_constant_shape_symbolic_dims(tmp_path, allowzero, shape):
    _unary("Reshape", ["n", 8], tmp_path, x=_f32([2, 8]), opset=14, inits=[i64("s", shape)], extra_inputs=["s"], allowzero=allowzero)


def test_transpose_default_after_runtime_reshape():
    # The Reshape output's rank is not recorded in the model: Transpose reverses at run time.
    model = onnx_model(
        [h.make_node("Reshape", ["x", "s"], ["r"]), h.make_node("Transpose", ["r"], ["y"])],
        [vi("x", T.FLOAT, [24]), vi("s", T.INT64, [3])],
        [vi("y")],
    )
    check_ir(model, {"x": _f32([24]), "s": np.array([2, 3, 4], np.int64)})


def test_flatten_negative_axis_symbolic(tmp_path):
    _unary("Flatten", ["a", "b", 4], tmp_path, x=_f32([2, 3, 4]), axis=-2)


def test_squeeze_unsqueeze_attribute_axes():
    model = onnx_model(
        [h.make_node("Unsqueeze", ["x"], ["u"], axes=[0, -1]), h.make_node("Squeeze", ["u"], ["y"], axes=[0])],
        [vi("x", T.FLOAT, ["n", 3])],
        [vi("y")],
        opset=11,
    )
    check_ir(model, {"x": _f32([2, 3])})


def test_squeeze_without_axes(tmp_path):
    _unary("Squeeze", [1, 3, 1, 2], tmp_path)


def test_unsqueeze_runtime_axes_of_scalar():
    model = onnx_model([h.make_node("Unsqueeze", ["x", "axes"], ["y"])], [vi("x", T.FLOAT, []), vi("axes", T.INT64, [2])], [vi("y")], opset=13)
    check_ir(model, {"x": np.array(3.5, np.float32), "axes": np.array([1, -2], np.int64)})


def test_shape_window_and_size():
    model = onnx_model(
        [h.make_node("Shape", ["x"], ["s"], start=1, end=-1), h.make_node("Size", ["x"], ["n"])],
        [vi("x", T.FLOAT, ["a", 3, 4, "b"])],
        [vi("s", T.INT64), vi("n", T.INT64)],
        opset=15,
    )
    check_ir(model, {"x": _f32([2, 3, 4, 5])})


def test_constant_of_shape_int_value_and_expand_tile():
    value = h.make_tensor("v", T.INT32, [1], [7])
    model = onnx_model(
        [
            h.make_node("Shape", ["x"], ["s"]),
            h.make_node("ConstantOfShape", ["s"], ["c"], value=value),
            h.make_node("Expand", ["x", "e"], ["ex"]),
            h.make_node("Tile", ["x", "reps"], ["t"]),
        ],
        [vi("x", T.FLOAT, ["n", 1]), vi("reps", T.INT64, [2])],
        [vi("c", T.INT32), vi("ex"), vi("t")],
        initializers=[i64("e", [2, 1, 4])],
    )
    check_ir(model, {"x": _f32([3, 1]), "reps": np.array([2, 3], np.int64)})


def test_range_constant_inputs():
    inits = [h.make_tensor("a", T.FLOAT, [], [1.0]), h.make_tensor("b", T.FLOAT, [], [2.5]), h.make_tensor("d", T.FLOAT, [], [0.25])]
    model = onnx_model([h.make_node("Range", ["a", "b", "d"], ["r"]), h.make_node("Add", ["r", "x"], ["y"])], [vi("x", T.FLOAT, [1])], [vi("y")], initializers=inits)
    check_ir(model, {"x": _f32([1])})


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu_runtime_k_symbolic_dims(upper):
    model = onnx_model([h.make_node("Trilu", ["x", "k"], ["y"], upper=upper)], [vi("x", T.FLOAT, ["b", "r", "c"]), vi("k", T.INT64, [])], [vi("y")])
    check_ir(model, {"x": _f32([2, 4, 5]), "k": np.array(-1, np.int64)})


def test_eye_like_dtype_and_k():
    model = onnx_model([h.make_node("EyeLike", ["x"], ["y"], dtype=T.INT32, k=1)], [vi("x", T.FLOAT, ["r", "c"])], [vi("y", T.INT32)])
    check_ir(model, {"x": _f32([3, 5])})


def test_depth_to_space_crd_and_space_to_depth():
    model = onnx_model(
        [h.make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode="CRD"), h.make_node("SpaceToDepth", ["d"], ["y"], blocksize=2)],
        [vi("x", T.FLOAT, [1, 8, 2, 3])],
        [vi("y")],
        opset=13,
    )
    check_ir(model, {"x": _f32([1, 8, 2, 3])})


# ---- Pad ----------------------------------------------------------------------------------------


def test_pad_opset2_attributes(tmp_path):
    _unary("Pad", [2, 5], tmp_path, opset=2, mode="reflect", pads=[0, 2, 1, 1])


def test_pad_constant_value_and_negative_pads(tmp_path):
    inits = [i64("p", [1, -1, 0, 2]), h.make_tensor("v", T.FLOAT, [], [1.5])]
    _unary("Pad", ["n", 5], tmp_path, opset=13, inits=inits, extra_inputs=["p", "v"])


def test_pad_constant_pads_need_no_split_layer(tmp_path):
    # Constant pads are split into begins/ends at lowering, as ovc does (Keras ZeroPadding2D).
    model = onnx_model([h.make_node("Pad", ["x", "p"], ["y"])], [vi("x", T.FLOAT, ["n", 3, 4, 5])], [vi("y")],
                   opset=13, initializers=[i64("p", [0, 0, 1, 2, 0, 0, 3, 1])])
    irforge.save_model(irforge.convert_model(model), str(tmp_path / "pad.xml"))
    types = [layer.get("type") for layer in ET.parse(tmp_path / "pad.xml").getroot().find("layers")]
    assert sorted(t for t in types if t != "Const") == ["Pad", "Parameter", "Result"]
    check_ir(model, {"x": _f32([2, 3, 4, 5])})


@pytest.mark.parametrize("mode", ["edge", "reflect", "constant", "wrap"])
def test_pad_runtime_pads_with_axes(mode):
    model = onnx_model(
        [h.make_node("Pad", ["x", "p", "", "axes"], ["y"], mode=mode)],
        [vi("x", T.FLOAT, [2, 3, 4]), vi("p", T.INT64, [4])],
        [vi("y")],
        opset=19,
        initializers=[i64("axes", [-1, 1])],
    )
    x = _f32([2, 3, 4])
    p = np.array([1, 2, 3, 1], np.int64)  # axis -1: begin 1 end 3; axis 1: begin 2 end 1
    if mode == "wrap":  # onnxruntime has no wrap mode
        expected = [np.pad(x, [(0, 0), (2, 1), (1, 3)], mode="wrap")]
        check_ir(model, {"x": x, "p": p}, expected=expected)
    else:
        check_ir(model, {"x": x, "p": p})


def test_center_crop_pad_runtime_shape():
    model = onnx_model(
        [h.make_node("CenterCropPad", ["x", "s"], ["y"], axes=[0, -1])],
        [vi("x", T.FLOAT, ["h", 3, "w"]), vi("s", T.INT64, [2])],
        [vi("y")],
    )
    check_ir(model, {"x": _f32([7, 3, 4]), "s": np.array([4, 7], np.int64)})


# ---- indexing -----------------------------------------------------------------------------------


def test_gather_family_negative_indices():
    inits = [i64("gi", [-1, 0], [2]), i64("ei", [-1, 0, 1, -2], [2, 2]), i64("ni", [1, -1, 0, 0], [2, 1, 2])]
    model = onnx_model(
        [
            h.make_node("Gather", ["x", "gi"], ["g"], axis=-1),
            h.make_node("GatherElements", ["x2", "ei"], ["e"], axis=1),
            h.make_node("GatherND", ["x3", "ni"], ["n"], batch_dims=1),
        ],
        [vi("x", T.FLOAT, ["a", 3]), vi("x2", T.FLOAT, [2, 3]), vi("x3", T.FLOAT, [2, 2, 3])],
        [vi("g"), vi("e"), vi("n")],
        initializers=inits,
    )
    check_ir(model, {"x": _f32([4, 3]), "x2": _f32([2, 3]), "x3": _f32([2, 2, 3])})


def test_gather_elements_runtime_negative_indices():
    model = onnx_model([h.make_node("GatherElements", ["x", "i"], ["y"], axis=0)], [vi("x", T.FLOAT, [3, 2]), vi("i", T.INT64, [2, 2])], [vi("y")])
    check_ir(model, {"x": _f32([3, 2]), "i": np.array([[-1, 0], [2, -3]], np.int64)})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_and_nd_reductions(reduction):
    inits = [i64("ei", [0, -1, 1, 0], [2, 2]), i64("ni", [2, 0], [2, 1])]
    model = onnx_model(
        [
            h.make_node("ScatterElements", ["x", "ei", "u"], ["e"], axis=1, reduction=reduction),
            h.make_node("ScatterND", ["x2", "ni", "u2"], ["n"], reduction=reduction),
        ],
        [vi("x", T.FLOAT, [2, 3]), vi("u", T.FLOAT, [2, 2]), vi("x2", T.FLOAT, [3, 2]), vi("u2", T.FLOAT, [2, 2])],
        [vi("e"), vi("n")],
        initializers=inits,
    )
    check_ir(model, {"x": _f32([2, 3]), "u": _f32([2, 2]), "x2": _f32([3, 2]), "u2": _f32([2, 2])})


def test_scatter_deprecated():
    model = onnx_model(
        [h.make_node("Scatter", ["x", "i", "u"], ["y"], axis=1)],
        [vi("x", T.FLOAT, [2, 3]), vi("u", T.FLOAT, [2, 1])],
        [vi("y")],
        opset=9,
        initializers=[i64("i", [2, 0], [2, 1])],
    )
    check_ir(model, {"x": _f32([2, 3]), "u": _f32([2, 1])})


def test_tensor_scatter_circular_without_reference_runtime():
    model = onnx_model(
        [h.make_node("TensorScatter", ["past", "upd", "w"], ["y"], mode="circular", axis=1)],
        [vi("past", T.FLOAT, [2, 4, 3]), vi("upd", T.FLOAT, [2, 2, 3]), vi("w", T.INT64, [2])],
        [vi("y")],
        opset=24,
    )
    past, upd, w = _f32([2, 4, 3]), _f32([2, 2, 3]), np.array([3, 1], np.int64)
    expected = past.copy()
    for b in range(2):
        for s in range(2):
            expected[b, (w[b] + s) % 4] = upd[b, s]
    check_ir(model, {"past": past, "upd": upd, "w": w}, expected=[expected])


def test_slice_opset9_attributes(tmp_path):
    _unary("Slice", [4, 5], tmp_path, opset=9, starts=[1, -3], ends=[1000, -1], axes=[0, 1])


def test_slice_runtime_inputs_negative_steps():
    model = onnx_model(
        [h.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
        [vi("x", T.FLOAT, ["n", 6]), vi("s", T.INT64, [2]), vi("e", T.INT64, [2]), vi("a", T.INT64, [2]), vi("st", T.INT64, [2])],
        [vi("y")],
    )
    feeds = {
        "x": _f32([5, 6]),
        "s": np.array([-1, 0], np.int64),
        "e": np.array([np.iinfo(np.int64).min, 100], np.int64),
        "a": np.array([1, 0], np.int64),
        "st": np.array([-2, 2], np.int64),
    }
    check_ir(model, feeds)


def test_slice_constant_inputs_default_steps(tmp_path):
    inits = [i64("s", [1]), i64("e", [-1])]
    _unary("Slice", ["n", 5], tmp_path, opset=13, inits=inits, extra_inputs=["s", "e"])


def _split_model(opset, n, attrs, extra=(), inits=(), x_shape=("n",)):
    outs = [f"y{i}" for i in range(n)]
    return onnx_model([h.make_node("Split", ["x", *extra], outs, axis=0, **attrs)], [vi("x", T.FLOAT, list(x_shape))], [vi(o) for o in outs], opset=opset, initializers=inits)


def test_split_attribute_opset11():
    check_ir(_split_model(11, 2, {"split": [1, 4]}), {"x": _f32([5])})


def test_split_constant_input_opset13():
    check_ir(_split_model(13, 3, {}, ["s"], [i64("s", [2, 0, 3])]), {"x": _f32([5])})


@pytest.mark.parametrize("length", [7, 8])
def test_split_num_outputs_dynamic_dim(length):
    check_ir(_split_model(18, 3, {"num_outputs": 3}), {"x": _f32([length])})


def test_compress_with_and_without_axis():
    cond = h.make_tensor("c", T.BOOL, [3], [True, False, True])
    model = onnx_model(
        [h.make_node("Compress", ["x", "c"], ["a"], axis=-1), h.make_node("Compress", ["x", "c"], ["f"])],
        [vi("x", T.FLOAT, ["n", 4])],
        [vi("a"), vi("f")],
        initializers=[cond],
    )
    check_ir(model, {"x": _f32([2, 4])})


def test_one_hot_negative_indices_constant_depth():
    inits = [h.make_tensor("d", T.FLOAT, [1], [5.0]), h.make_tensor("v", T.FLOAT, [2], [-1.0, 2.0])]
    model = onnx_model([h.make_node("OneHot", ["i", "d", "v"], ["y"], axis=0)], [vi("i", T.INT64, [4])], [vi("y")], opset=11, initializers=inits)
    check_ir(model, {"i": np.array([0, -1, 7, -5], np.int64)})


def test_nonzero_unique_reverse_sequence():
    model = onnx_model(
        [
            h.make_node("NonZero", ["x"], ["nz"]),
            h.make_node("Unique", ["x"], ["u", "ui", "uinv", "uc"], axis=0, sorted=1),
            h.make_node("ReverseSequence", ["x", "lens"], ["r"], batch_axis=0, time_axis=1),
        ],
        [vi("x", T.FLOAT, [3, 4])],
        [vi("nz", T.INT64), vi("u"), vi("ui", T.INT64), vi("uinv", T.INT64), vi("uc", T.INT64), vi("r")],
        initializers=[i64("lens", [1, 4, 2])],
    )
    x = np.array([[0, 1, 2, 0], [3, 0, 0, 1], [0, 1, 2, 0]], np.float32)
    check_ir(model, {"x": x})


# ---- resampling ---------------------------------------------------------------------------------


def _resize(tmp_path, x, scales=None, sizes=None, opset=19, dynamic=False, runtime=False, reference=False, **attrs):
    names = ["x", "", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
    while names[-1] == "":
        names.pop()
    shape = ["n", "c", "h", "w"] if dynamic else list(x.shape)
    inputs, inits, feeds = [vi("x", T.FLOAT, shape)], [], {"x": x}
    for name, val, elem in (("scales", scales, T.FLOAT), ("sizes", sizes, T.INT64)):
        if val is None:
            continue
        arr = np.array(val, np.float32 if elem == T.FLOAT else np.int64)
        if runtime:
            inputs.append(vi(name, elem, [len(val)]))
            feeds[name] = arr
        else:
            inits.append(h.make_tensor(name, elem, [len(val)], arr.tolist()))
    model = onnx_model([h.make_node("Resize", names, ["y"], **attrs)], inputs, [vi("y")], opset=opset, initializers=inits)
    expected = None
    if reference:
        from onnx.reference import ReferenceEvaluator

        expected = ReferenceEvaluator(model).run(None, feeds)
    check_ir(model, feeds, expected=expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "attrs",
    [
        {"mode": "linear"},
        {"mode": "cubic", "coordinate_transformation_mode": "align_corners"},
        {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
        {"mode": "linear", "antialias": 1},
        {"mode": "cubic", "antialias": 1, "exclude_outside": 1, "cubic_coeff_a": -0.5},
        {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
        {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
    ],
)
def test_resize_constant_fractional_scales(tmp_path, attrs):
    # With a fractional output width (5 * 0.7, 7 * 1.3) onnxruntime's align_corners divides by
    # the integer size; the ONNX reference (and irforge) by the real-valued one.
    reference = attrs.get("coordinate_transformation_mode") == "align_corners"
    _resize(tmp_path, _f32([1, 2, 5, 7]), scales=[1.0, 1.0, 0.7, 1.3], reference=reference, **attrs)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio_dynamic_shape(tmp_path, policy):
    _resize(tmp_path, _f32([1, 2, 5, 7]), sizes=[4, 4], dynamic=True, axes=[2, 3], keep_aspect_ratio_policy=policy, mode="linear")


def test_resize_runtime_sizes_dynamic_shape(tmp_path):
    _resize(tmp_path, _f32([2, 1, 4, 6]), sizes=[2, 1, 7, 3], dynamic=True, runtime=True, mode="cubic")


def test_resize_tf_crop_and_resize_constant_roi():
    x = _f32([1, 1, 5, 5])
    roi = h.make_tensor("roi", T.FLOAT, [4], [0.2, 0.4, 1.2, 0.9])
    sizes = i64("sizes", [3, 4])
    node = h.make_node(
        "Resize", ["x", "roi", "", "sizes"], ["y"], mode="linear", coordinate_transformation_mode="tf_crop_and_resize", axes=[2, 3], extrapolation_value=-2.0
    )
    model = onnx_model([node], [vi("x", T.FLOAT, [1, 1, 5, 5])], [vi("y")], opset=19, initializers=[roi, sizes])
    check_ir(model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_resize_opset10_and_upsample_nearest():
    scales = h.make_tensor("s", T.FLOAT, [4], [1.0, 1.0, 2.0, 3.0])
    model = onnx_model([h.make_node("Resize", ["x", "s"], ["y"], mode="nearest")], [vi("x", T.FLOAT, [1, 1, 2, 3])], [vi("y")], opset=10, initializers=[scales])
    check_ir(model, {"x": _f32([1, 1, 2, 3])})
    model = onnx_model([h.make_node("Upsample", ["x", "s"], ["y"], mode="linear")], [vi("x", T.FLOAT, [1, 1, 2, 3])], [vi("y")], opset=9, initializers=[scales])
    check_ir(model, {"x": _f32([1, 1, 2, 3])})


def test_affine_grid_constant_size():
    model = onnx_model(
        [h.make_node("AffineGrid", ["theta", "size"], ["y"], align_corners=0)],
        [vi("theta", T.FLOAT, ["n", 2, 3])],
        [vi("y")],
        opset=20,
        initializers=[i64("size", [2, 1, 3, 4])],
    )
    check_ir(model, {"theta": _f32([2, 2, 3])})


def test_col2im_constant_shapes():
    inits = [i64("img", [4, 5]), i64("blk", [2, 2])]
    model = onnx_model([h.make_node("Col2Im", ["x", "img", "blk"], ["y"], strides=[1, 1], pads=[1, 0, 1, 0])], [vi("x", T.FLOAT, [1, 8, 20])], [vi("y")], opset=18, initializers=inits)
    check_ir(model, {"x": _f32([1, 8, 20])})


def _col2im_columns(image, block, strides, dilations, pads):
    positions = 1
    for i, (d, b) in enumerate(zip(image, block)):
        padded = d + pads[i] + pads[len(image) + i]
        positions *= (padded - (dilations[i] * (b - 1) + 1)) // strides[i] + 1
    return int(np.prod(block)), positions


@pytest.mark.parametrize(
    "image,block,strides,dilations,pads,runtime",
    [
        ([3, 4, 5], [1, 2, 2], [1, 1, 2], [1, 1, 1], [0, 1, 0, 0, 0, 1], False),  # 3-D, strides and pads
        ([5, 4, 3], [2, 2, 1], [1, 2, 1], [2, 1, 1], [0, 0, 0, 0, 0, 0], True),  # dilations; shapes fed at run time
        ([7], [3], [2], [1], [1, 1], True),  # 1-D
    ],
)
def test_col2im_other_than_2d(image, block, strides, dilations, pads, runtime):
    # OpenVINO's Col2Im is 2-D only; other ranks are a scatter-add into the padded image.
    from onnx.reference import ReferenceEvaluator

    k, l = _col2im_columns(image, block, strides, dilations, pads)
    n = len(image)
    node = h.make_node("Col2Im", ["x", "img", "blk"], ["y"], strides=strides, dilations=dilations, pads=pads)
    shapes = [vi("img", T.INT64, [n]), vi("blk", T.INT64, [n])] if runtime else []
    inits = [] if runtime else [i64("img", image), i64("blk", block)]
    model = onnx_model([node], [vi("x", T.FLOAT, ["b", 2 * k, l])] + shapes, [vi("y")], opset=18, initializers=inits)
    feeds = {"x": _f32([2, 2 * k, l])}
    if runtime:
        feeds.update(img=np.array(image, np.int64), blk=np.array(block, np.int64))
    expected = ReferenceEvaluator(model).run(None, feeds)
    assert expected[0].shape == (2, 2, *image)
    check_ir(model, feeds, expected=expected)


# ---- BitCast ------------------------------------------------------------------------------------


def _bitcast_values():
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -2.5, 2.0**-126, 2.0**-149, -(2.0**-140), 3.4028235e38, 2.0**100, 1.0 - 2.0**-24, 0.1]
    powers = [2.0**k * s for k in range(-130, 128, 7) for s in (1.0, -1.5)]
    rand = RNG.randn(64).astype(np.float32) * np.float32(1e3)
    return np.concatenate([np.array(specials + powers, np.float32), rand]).astype(np.float32)


@pytest.mark.parametrize("src,dst", [(np.float32, np.int32), (np.float32, np.uint32), (np.float16, np.int16), (np.float16, np.uint16)])
def test_bitcast_float_round_trip(src, dst):
    to_int = {np.int32: T.INT32, np.uint32: T.UINT32, np.int16: T.INT16, np.uint16: T.UINT16}[dst]
    elem = T.FLOAT if src == np.float32 else T.FLOAT16
    with np.errstate(over="ignore"):  # large values become inf in f16, which is wanted
        x = _bitcast_values().astype(src)
    model = onnx_model(
        [h.make_node("BitCast", ["x"], ["b"], to=to_int), h.make_node("BitCast", ["b"], ["y"], to=elem)],
        [vi("x", elem, [len(x)])],
        [vi("b", to_int), vi("y", elem)],
        opset=26,
    )
    check_ir(model, {"x": x}, expected=[x.view(dst), x], rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_volumetric(mode, padding, align):
    model = onnx_model(
        [h.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding, align_corners=align)],
        [vi("x", T.FLOAT, [2, 3, 3, 4, 5]), vi("g", T.FLOAT, [2, 2, 3, 4, 3])],
        [vi("y")],
        opset=20,
    )
    grid = (RNG.rand(2, 2, 3, 4, 3).astype(np.float32) - 0.5) * 3.3  # many points outside [-1, 1]
    check_ir(model, {"x": _f32([2, 3, 3, 4, 5]), "g": grid}, rtol=1e-4, atol=1e-5)
