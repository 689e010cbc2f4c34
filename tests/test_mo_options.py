"""Model Optimizer's shape options and the options on PyTorch models: ranges keep their bounds
in OpenVINO IR, --batch, static shapes reach the IR; cutting and embedded preprocessing on a
torch model (the same passes run after the PyTorch frontend)."""

import re
import subprocess
import sys

import numpy as np
import onnx
import openvino as ov
import pytest
import torch
from onnx import TensorProto, helper

import irforge
from irforge.testing import assert_outputs_close, run_openvino


def _two_inputs():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "z"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_ranges_keep_their_bounds_in_the_ir(tmp_path):
    m = irforge.convert_model(_two_inputs(), input="x[1..8,3,?,2..16],z[1..8,3,?,2..16]")
    xml = str(tmp_path / "b.xml")
    irforge.save_model(m, xml)
    assert re.findall(r'type="Parameter"[^>]*>\s*<data shape="([^"]*)"', open(xml).read()) == ["1..8,3,?,2..16"] * 2
    shapes = [str(i.get_partial_shape()) for i in ov.Core().read_model(xml).inputs]
    assert shapes == ["[1..8,3,?,2..16]"] * 2
    # Two ranges alike are still two dims: nothing assumes x's batch equals z's.
    assert m.inputs[0].shape[0] != m.inputs[1].shape[0]
    # The recorded --input reproduces the same bounds.
    assert m.input == "x[1..8,3,?,2..16],z[1..8,3,?,2..16]"


def test_batch_sets_dim0_and_keeps_named_dims(tmp_path):
    m = irforge.convert_model(_two_inputs(), batch=4)
    assert [i.shape for i in m.inputs] == [(4, 3, "h", "w")] * 2
    assert m.outputs[0].shape == (4, 3, "h", "w")
    # A shape given in --input wins over --batch for that input.
    m = irforge.convert_model(_two_inputs(), batch=4, input="x[1,3,5,5]")
    assert m.inputs[0].shape == (1, 3, 5, 5) and m.inputs[1].shape == (4, 3, "h", "w")
    with pytest.raises(irforge.UsageError, match="batch must be within 1..1099511627776, not 0"):
        irforge.convert_model(_two_inputs(), batch=0)


def test_static_shapes_make_every_dim_static_in_the_ir(tmp_path):
    # Shape-computed Reshape: with static inputs every IR port becomes static.
    g = helper.make_graph([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["r"]),
                           helper.make_node("Relu", ["r"], ["t"]), helper.make_node("Add", ["t", "z"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    src = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m = irforge.convert_model(src, input="x[2,3,4,5],z[2,3,4,5]")
    xml = str(tmp_path / "s.xml")
    irforge.save_model(m, xml)
    text = open(xml).read()
    assert "<dim>-1</dim>" not in text and "?" not in re.sub(r"<\?xml[^>]*\?>", "", text)
    assert [str(o.get_partial_shape()) for o in ov.Core().read_model(xml).outputs] == ["[2,3,4,5]"]


def test_cli_batch_and_ranges(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_two_inputs(), path)
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--input", "x[1..4,3,8,8]", "--batch", "3",
                        "--output_model", str(tmp_path / "m.xml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shapes = [str(i.get_partial_shape()) for i in ov.Core().read_model(str(tmp_path / "m.xml")).inputs]
    assert shapes == ["[1..4,3,8,8]", "[3,3,?,?]"]


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(3, 8, 3)
        self.c2 = torch.nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.c2(torch.relu(self.c1(x))))


def test_pytorch_module_preprocessing_and_output_cut():
    net = _Net().eval()
    img = np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    mean, scale = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    x = torch.from_numpy(img.transpose(0, 3, 1, 2)[:, ::-1].astype(np.float32).copy())
    x = (x - torch.tensor(mean).reshape(1, 3, 1, 1)) / torch.tensor(scale).reshape(1, 3, 1, 1)
    with torch.no_grad():
        want = net(x).numpy()
        hidden = torch.relu(net.c1(x)).numpy()
    m = irforge.convert_model(net, example_input=torch.randn(1, 3, 16, 16), input="x{u8}", layout="nchw->nhwc",
                              reverse_input_channels=True, mean_values=mean, scale_values=scale)
    assert m.preprocess_log["folded"] == 1  # c1 has no padding: folded into its weights
    got = run_openvino(m, {"x": img})[0]
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    # Cutting after relu: the inner tensor becomes the output.
    m = irforge.convert_model(net, example_input=torch.randn(1, 3, 16, 16), output="relu:0")
    assert [o.name for o in m.outputs] == ["relu:0"] and "Sigmoid" not in m.op_histogram
    assert_outputs_close([torch.relu(net.c1(x)).detach().numpy()], run_openvino(m, {"x": x.numpy()}), rtol=1e-4, atol=1e-5)
    assert hidden.shape == (1, 8, 14, 14)


def test_pytorch_exported_program_input_cut():
    net = _Net().eval()
    ep = torch.export.export(net, (torch.randn(1, 3, 16, 16),))
    m = irforge.convert_model(ep, input="relu:0")
    assert [i.name for i in m.inputs] == ["relu:0"] and m.op_histogram.get("Conv") == 1
    h = np.random.default_rng(1).standard_normal((1, 8, 14, 14)).astype(np.float32)
    with torch.no_grad():
        want = torch.sigmoid(net.c2(torch.from_numpy(h))).numpy()
    assert_outputs_close([want], run_openvino(m, {"relu:0": h}), rtol=1e-4, atol=1e-5)


def test_pytorch_module_input_cut():
    # input= naming an inner tensor of a module: forward()'s arguments go to the export, the
    # rest cuts the converted graph.
    net = _Net().eval()
    m = irforge.convert_model(net, example_input=torch.randn(1, 3, 16, 16), input=["relu:0"])
    assert [i.name for i in m.inputs] == ["relu:0"] and m.op_histogram.get("Conv") == 1
    h = np.random.default_rng(2).standard_normal((1, 8, 14, 14)).astype(np.float32)
    with torch.no_grad():
        want = torch.sigmoid(net.c2(torch.from_numpy(h))).numpy()
    assert_outputs_close([want], run_openvino(m, {"relu:0": h}), rtol=1e-4, atol=1e-5)
    with pytest.raises(irforge.UsageError, match="input 'nothing': the model has no input 'nothing'"):
        irforge.convert_model(net, example_input=torch.randn(1, 3, 16, 16), input="nothing")


def test_options_are_recorded_in_rt_info(tmp_path):
    m = irforge.convert_model(_two_inputs(), output="r", batch=2, mean_values="x[1,2,3]", layout="x(nchw)")
    xml = str(tmp_path / "r.xml")
    irforge.save_model(m, xml)
    rt = ov.Core().read_model(xml).get_rt_info()
    got = {k: rt["conversion_parameters"][k].astype(str) for k in ("output", "batch", "mean_values", "layout")}
    assert got == {"output": "r", "batch": "2", "mean_values": "x[1,2,3]", "layout": "x(nchw)"}
