"""Custom layers (irforge.register_converter, --extension / extension=): converters that build
an op the frontends do not know from known ops, for ONNX (by domain + op type) and PyTorch (by
the op name torch.export shows); the unsupported-ops error lists every op and how to write one.
Also the ovc-compatible spellings of convert (--output_model folder, bare --compress_to_fp16)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import irforge
from irforge.testing import assert_outputs_close, run_openvino

RNG = np.random.default_rng(5)


def _model():
    # y = Relu(MySwish(x; beta)) + Clamp2(x): two ops of domain com.example nobody lowers.
    g = helper.make_graph([helper.make_node("MySwish", ["x"], ["s"], domain="com.example", beta=1.5),
                           helper.make_node("Relu", ["s"], ["r"]),
                           helper.make_node("Clamp2", ["x"], ["c"], domain="com.example"),
                           helper.make_node("Add", ["r", "c"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])


def _expected(x):
    return np.maximum(x / (1 + np.exp(-1.5 * x)), 0) + np.clip(x, -2, 2)


EXTENSION = textwrap.dedent('''
    import numpy as np
    import irforge

    def my_swish(ctx):
        beta = ctx.constant(np.float32(ctx.attrs["beta"]))
        return ctx.node("Mul", [ctx.inputs[0], ctx.node("Sigmoid", [ctx.node("Mul", [ctx.inputs[0], beta])])])

    def clamp2(ctx):
        return ctx.node("Clip", [ctx.inputs[0], ctx.constant(np.float32(-2)), ctx.constant(np.float32(2))])

    irforge.register_converter("MySwish", my_swish, domain="com.example")
    irforge.register_converter("Clamp2", clamp2, domain="com.example")
''')


@pytest.fixture
def clean_registry():
    yield
    for op in ("MySwish", "Clamp2"):
        irforge.unregister_converter(op, domain="com.example")
    irforge.unregister_converter("irforge_test.scaled_tanh.default", framework="pytorch")


def test_unsupported_ops_error_lists_all_and_shows_how(tmp_path, clean_registry):
    m = irforge.convert_model(_model())
    with pytest.raises(irforge.UnsupportedError) as e:
        irforge.save_model(m, str(tmp_path / "m.xml"))
    text = str(e.value)
    assert "2 op(s) have no OpenVINO lowering: com.example::Clamp2 (1 node), com.example::MySwish (1 node)" in text
    assert "irforge.register_converter('Clamp2'" in text and "domain='com.example'" in text and "--extension" in text
    assert not os.listdir(tmp_path)


def test_converter_from_python_file_and_function(tmp_path, clean_registry):
    ext = tmp_path / "ext.py"
    ext.write_text(EXTENSION)
    x = RNG.standard_normal((2, 5)).astype(np.float32) * 3
    m = irforge.convert_model(_model(), extension=str(ext))
    assert not any(k.startswith("com.example") for k in m.op_histogram)
    assert_outputs_close([_expected(x)], run_openvino(m, {"x": x}), rtol=1e-5, atol=1e-6)
    # ONNX output carries the converted ops too.
    from irforge.testing import run_onnxruntime

    assert_outputs_close([_expected(x)], run_onnxruntime(m.to_onnx_bytes(), {"x": x}), rtol=1e-5, atol=1e-6)
    # extension= also takes a function that registers.
    clean = irforge.unregister_converter("MySwish", domain="com.example")
    assert clean
    calls = []

    def register():
        calls.append(1)
        irforge.register_converter("MySwish", lambda ctx: ctx.node("Mul", [ctx.inputs[0], ctx.node("Sigmoid", [ctx.inputs[0]])]),
                                   domain="com.example")

    m = irforge.convert_model(_model(), extension=[register])
    assert calls == [1]
    want = np.maximum(x / (1 + np.exp(-x)), 0) + np.clip(x, -2, 2)
    assert_outputs_close([want], run_openvino(m, {"x": x}), rtol=1e-5, atol=1e-6)


def test_converter_from_the_cli(tmp_path):
    ext = tmp_path / "ext.py"
    ext.write_text(EXTENSION)
    src = tmp_path / "custom.onnx"
    onnx.save(_model(), src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(src), "--extension", str(ext), "--output_model",
                        str(out_dir), "--compress_to_fp16"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    xml = out_dir / "custom.xml"  # a folder as --output_model keeps the model's stem, as ovc
    assert xml.exists() and (out_dir / "custom.bin").exists()
    import openvino as ov

    x = RNG.standard_normal((2, 5)).astype(np.float32) * 3
    got = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})({"x": x})[0]
    np.testing.assert_allclose(got, _expected(x), rtol=2e-3, atol=2e-3)  # fp16 weights (the bare flag means True)
    # Without the extension: one line naming both ops.
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(src), "--output_model", str(tmp_path / "x.xml")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "com.example::Clamp2" in r.stderr and "com.example::MySwish" in r.stderr
    # A broken extension file: the user's own exception, one line.
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('my extension is broken')\n")
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(src), "--extension", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "my extension is broken" in r.stderr and "Traceback" not in r.stderr


def test_converter_errors(clean_registry):
    irforge.register_converter("MySwish", lambda ctx: [ctx.inputs[0], ctx.inputs[0]], domain="com.example")
    with pytest.raises(irforge.UsageError, match=r"converter of com.example::MySwish .* returned 2 value\(s\) for 1 output"):
        irforge.convert_model(_model())
    with pytest.raises(TypeError, match="fn must be a function"):
        irforge.register_converter("MySwish", 3, domain="com.example")
    with pytest.raises(irforge.UsageError, match="framework must be one of"):
        irforge.register_converter("MySwish", len, framework="keras")
    with pytest.raises(irforge.ModelFileError, match="extension file not found"):
        irforge.convert_model(_model(), extension="/nonexistent/ext.py")
    with pytest.raises(irforge.UsageError, match="verbose must be True or False"):
        irforge.convert_model(_model(), verbose="yes")


def test_pytorch_custom_op_converter(clean_registry):
    import torch

    @torch.library.custom_op("irforge_test::scaled_tanh", mutates_args=())
    def scaled_tanh(x: torch.Tensor, scale: float) -> torch.Tensor:
        return torch.tanh(x) * scale

    @scaled_tanh.register_fake
    def _(x, scale):
        return torch.empty_like(x)

    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.relu(scaled_tanh(x, 2.5))

    x = torch.randn(3, 4)
    with pytest.raises(irforge.UnsupportedError, match=r"(?s)irforge_test.scaled_tanh.default.*register_converter\('irforge_test.scaled_tanh.default'"):
        irforge.convert_model(Net(), example_input=x)

    def convert(ctx):
        x_value, scale = ctx.args
        return ctx.node("Mul", [ctx.node("Tanh", [x_value]), ctx.constant(np.float32(scale))])

    irforge.register_converter("irforge_test.scaled_tanh.default", convert, framework="pytorch")
    m = irforge.convert_model(Net(), example_input=x)
    want = Net()(x).numpy()
    assert_outputs_close([want], run_openvino(m, {"x": x.numpy()}), rtol=1e-5, atol=1e-6)


def test_convert_model_accepts_ovc_parameters():
    m = irforge.convert_model(_model(), share_weights=True, verbose=False, input="x[2,5]", output="s")
    assert [o.name for o in m.outputs] == ["s"]
