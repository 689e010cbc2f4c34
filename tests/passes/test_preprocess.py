"""Embedded preprocessing (cpp/passes/edit/preprocess.cc, irforge.preprocessing): mean/scale
values, reversed channels, layouts and u8 inputs, as Model Optimizer had them. The reference is
the preprocessing applied by hand (numpy) before the original model; the converted model runs in
OpenVINO."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import run_onnxruntime, run_openvino

RNG = np.random.default_rng(11)
MEAN = [123.675, 116.28, 103.53]
SCALE = [58.395, 57.12, 57.375]


def _net(pads, group_conv=False):
    # Conv (3 -> 6) → Relu → Conv → output; `pads` decides whether folding is exact.
    w = numpy_helper.from_array((RNG.standard_normal((6, 3, 3, 3)) * 0.2).astype(np.float32), "w")
    b = numpy_helper.from_array(RNG.standard_normal(6).astype(np.float32), "b")
    w2 = numpy_helper.from_array((RNG.standard_normal((4, 6, 1, 1)) * 0.3).astype(np.float32), "w2")
    g = helper.make_graph([helper.make_node("Conv", ["image", "w", "b"], ["c1"], pads=pads),
                          helper.make_node("Relu", ["c1"], ["r1"]),
                          helper.make_node("Conv", ["r1", "w2"], ["y"])], "net",
                         [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 12, 10])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _by_hand(x_nchw, mean=MEAN, scale=SCALE, reverse=False):
    x = x_nchw[:, ::-1] if reverse else x_nchw
    return ((x - np.array(mean).reshape(1, -1, 1, 1)) / np.array(scale).reshape(1, -1, 1, 1)).astype(np.float32)


def _close(expected, actual, rtol=1e-5):
    # fp32 within 1e-5 relative to the output's scale.
    err = np.abs(expected.astype(np.float64) - actual).max()
    assert err <= rtol * np.abs(expected).max(), (err, np.abs(expected).max())


def _layers(model, tmp_path, name):
    xml = str(tmp_path / f"{name}.xml")
    irforge.save_model(model, xml, compress_to_fp16=False)
    return [layer.get("type") for layer in ET.parse(xml).getroot().iter("layer")]


def test_folded_into_first_conv_adds_no_layers(tmp_path):
    src = _net([0, 0, 0, 0])
    x = RNG.uniform(0, 255, (1, 3, 12, 10)).astype(np.float32)
    ref = run_onnxruntime(src.SerializeToString(), {"image": _by_hand(x, reverse=True)})[0]
    m = irforge.convert_model(src, mean_values=f"image[{','.join(map(str, MEAN))}]", scale_values=SCALE,
                              reverse_input_channels=True)
    assert m.preprocess_log == {"folded": 1, "inserted": 0}
    _close(ref, run_openvino(m, {"image": x})[0])
    assert sorted(_layers(m, tmp_path, "pre")) == sorted(_layers(irforge.convert_model(src), tmp_path, "plain"))


def test_padded_conv_keeps_layers_and_matches(tmp_path):
    # Zero padding: folding the mean would be wrong at the borders, so Sub/Div stay as layers.
    src = _net([1, 1, 1, 1])
    x = RNG.uniform(0, 255, (1, 3, 12, 10)).astype(np.float32)
    ref = run_onnxruntime(src.SerializeToString(), {"image": _by_hand(x, reverse=True)})[0]
    m = irforge.convert_model(src, mean_values=MEAN, scale_values=SCALE, reverse_input_channels=True)
    assert m.preprocess_log["folded"] == 0 and m.preprocess_log["inserted"] == 3
    _close(ref, run_openvino(m, {"image": x})[0])
    assert len(_layers(m, tmp_path, "pre")) > len(_layers(irforge.convert_model(src), tmp_path, "plain"))


@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1]])
@pytest.mark.parametrize("layout_kwargs", [dict(layout="nchw->nhwc"), dict(layout="image([n,c,h,w]->[n,h,w,c])"),
                                           dict(source_layout="nchw", target_layout="image(nhwc)")])
def test_u8_nhwc_images(pads, layout_kwargs):
    # The IR takes u8 NHWC BGR images; the model wants normalized float NCHW RGB.
    src = _net(pads)
    img = RNG.integers(0, 256, (1, 12, 10, 3), dtype=np.uint8)
    ref = run_onnxruntime(src.SerializeToString(), {"image": _by_hand(img.transpose(0, 3, 1, 2).astype(np.float32), reverse=True)})[0]
    m = irforge.convert_model(src, input="image{u8}", mean_values=MEAN, scale_values=SCALE, reverse_input_channels=True,
                              **layout_kwargs)
    assert (m.inputs[0].dtype, m.inputs[0].shape) == ("uint8", (1, 12, 10, 3))
    _close(ref, run_openvino(m, {"image": img})[0])


def test_one_value_for_every_channel_and_layout_only():
    src = _net([1, 1, 1, 1])
    x = RNG.uniform(0, 255, (1, 12, 10, 3)).astype(np.float32)
    ref = run_onnxruntime(src.SerializeToString(), {"image": _by_hand(x.transpose(0, 3, 1, 2), [127.5] * 3, [127.5] * 3)})[0]
    m = irforge.convert_model(src, mean_values="[127.5]", scale_values={"image": [127.5]}, layout="nchw->nhwc")
    _close(ref, run_openvino(m, {"image": x})[0])
    # A layout alone only transposes.
    m = irforge.convert_model(src, target_layout="nhwc", source_layout="nchw")
    ref = run_onnxruntime(src.SerializeToString(), {"image": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    _close(ref, run_openvino(m, {"image": x})[0])


def test_cli_flags(tmp_path):
    src = _net([0, 0, 0, 0])
    path = tmp_path / "net.onnx"
    onnx.save(src, path)
    out = tmp_path / "net.xml"
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--output_model", str(out), "--input", "image{u8}",
                        "--mean_values", "image[123.675,116.28,103.53]", "--scale_values", "[58.395,57.12,57.375]",
                        "--reverse_input_channels", "--layout", "image(nchw->nhwc)", "--compress_to_fp16", "False"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import openvino as ov

    img = RNG.integers(0, 256, (1, 12, 10, 3), dtype=np.uint8)
    ref = run_onnxruntime(src.SerializeToString(), {"image": _by_hand(img.transpose(0, 3, 1, 2).astype(np.float32), reverse=True)})[0]
    compiled = ov.Core().compile_model(str(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    _close(ref, compiled({"image": img})[0])


def _two_inputs():
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 2, 2]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 2, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("kwargs,message", [
    (dict(mean_values=[1, 2]), r"mean has 2 values but the input has 3 channels"),
    (dict(scale_values="[1,0,1]"), r"scale value 0.000000 is 0"),
    (dict(mean_values="nope[1,2,3]"), r"mean_values: the model has no input 'nope'"),
    (dict(mean_values="image[1,x,3]"), r"mean_values: 'x' is not a number"),
    (dict(mean_values="image[1,nan,3]"), r"mean_values: nan is not a finite number"),
    (dict(mean_values="image1,2,3"), r"mean_values: cannot read"),
    (dict(layout="nchw->nhwd"), r"not a permutation"),
    (dict(layout="nc"), r"source layout 'nc' of input 'image' has 2 dims but the input has rank 4"),
    (dict(layout="n1hw"), r"layout: layout 'n1hw' is not letters"),
    (dict(layout="nnhw"), r"names a dim twice"),
    (dict(target_layout="nhwc"), r"needs the model's layout too"),
    (dict(source_layout="nchw->nhwc"), r"only --layout takes"),
    (dict(layout="nhw?", mean_values=[1]), r"has no channel dim 'c'"),
    (dict(reverse_input_channels="yes"), r"reverse_input_channels must be True or False"),
])
def test_bad_options_are_usage_errors(kwargs, message):
    with pytest.raises(irforge.UsageError, match=message):
        irforge.convert_model(_net([0, 0, 0, 0]), **kwargs)


def test_errors_with_several_inputs_and_no_channels():
    with pytest.raises(irforge.UsageError, match=r"mean_values: the model has 2 inputs \(a, b\); name the input"):
        irforge.convert_model(_two_inputs(), mean_values=[1, 2, 3])
    m = irforge.convert_model(_two_inputs(), mean_values="b[1,2,3]")
    a, b = RNG.standard_normal((2, 1, 3, 2, 2)).astype(np.float32)
    _close(a + b - np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1), run_openvino(m, {"a": a, "b": b})[0])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(irforge.UsageError, match="reverse_input_channels: no input has 3 channels"):
        irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), reverse_input_channels=True)


def test_cli_bad_value_is_one_line(tmp_path):
    path = tmp_path / "net.onnx"
    onnx.save(_net([0, 0, 0, 0]), path)
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--mean_values", "[1,2]",
                        "--output_model", str(tmp_path / "o.xml")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "mean has 2 values" in r.stderr
    assert not (tmp_path / "o.xml").exists()


def test_cli_check_refuses_preprocessing(tmp_path):
    # irforge check feeds the original and the converted model the same data: not comparable.
    path = tmp_path / "net.onnx"
    onnx.save(_net([0, 0, 0, 0]), path)
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--mean_values", "[1,2,3]", "--check",
                        "--output_model", str(tmp_path / "o.xml")], capture_output=True, text=True)
    assert r.returncode == 1 and "--check cannot compare" in r.stderr and not (tmp_path / "o.xml").exists()
