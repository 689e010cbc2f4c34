"""Pass-through custom ops (irforge.register_custom_op): kept through every pass, written to
OpenVINO IR as a layer of their own extension opset and run there by an `openvino.Op` subclass
added with core.add_extension; written to ONNX in their own domain and run in onnxruntime by an
onnxruntime-extensions Python custom op."""

import xml.etree.ElementTree as ET

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper

import irforge
from irforge.testing import assert_outputs_close

RNG = np.random.default_rng(3)
DOMAIN = "ai.onnx.contrib"  # onnxruntime-extensions' domain for Python custom ops


class GatedTanh(ov.Op):
    """OpenVINO's side of the custom op: y = tanh(x) * sigmoid(x), shape and type of x."""

    class_type_info = ov.DiscreteTypeInfo("GatedTanh", "irforge_test_ops")

    def __init__(self, inputs=None):
        super().__init__(self, inputs)
        if inputs is not None:
            self.constructor_validate_and_infer_types()

    def validate_and_infer_types(self):
        self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

    def clone_with_new_inputs(self, new_inputs):
        return GatedTanh(new_inputs)

    def get_type_info(self):
        return GatedTanh.class_type_info

    def visit_attributes(self, visitor):
        return True

    def has_evaluate(self):
        return True

    def evaluate(self, outputs, inputs):
        x = inputs[0].data
        outputs[0].shape = inputs[0].shape
        outputs[0].data[:] = np.tanh(x) / (1 + np.exp(-x))
        return True


def _gated(x):
    return np.tanh(x) / (1 + np.exp(-x))


def _model(attrs=None):
    # x → Relu → GatedTanh → Mul(2) → Add(Relu) → y: passes run on both sides of the custom op.
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("GatedTanh", ["r"], ["g"], domain=DOMAIN, **(attrs or {})),
             helper.make_node("Mul", ["g", "two"], ["m"]),
             helper.make_node("Add", ["m", "r"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [onnx.numpy_helper.from_array(np.array(2, np.float32), "two")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])


def _expected(x):
    r = np.maximum(x, 0)
    return _gated(r) * 2 + r


@pytest.fixture
def registered():
    irforge.register_custom_op("GatedTanh", domain=DOMAIN, version="irforge_test_ops")
    yield
    irforge.unregister_custom_op("GatedTanh", domain=DOMAIN)


def test_runs_in_openvino_with_a_python_op(tmp_path, registered):
    m = irforge.convert_model(_model())
    assert m.op_histogram[f"{DOMAIN}::GatedTanh"] == 1
    assert m.outputs[0].shape == (None, 6)  # typed through the custom op (its default inference)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(m, xml, compress_to_fp16=False)
    layer = [layer for layer in ET.parse(xml).getroot().iter("layer") if layer.get("type") == "GatedTanh"]
    assert len(layer) == 1 and layer[0].get("version") == "irforge_test_ops"
    core = ov.Core()
    core.add_extension(ov.OpExtension(GatedTanh))
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = RNG.standard_normal((3, 6)).astype(np.float32)
    assert_outputs_close([_expected(x)], [compiled({"x": x})[0]], rtol=1e-5, atol=1e-6)


def test_runs_in_onnxruntime_with_a_python_custom_op(registered):
    import onnxruntime as ort
    from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op

    @onnx_op(op_type="GatedTanh", inputs=[PyCustomOpDef.dt_float], outputs=[PyCustomOpDef.dt_float])
    def gated_tanh(x):
        return _gated(x).astype(np.float32)

    m = irforge.convert_model(_model())
    so = ort.SessionOptions()
    so.register_custom_ops_library(get_library_path())
    sess = ort.InferenceSession(m.to_onnx_bytes(), so, providers=["CPUExecutionProvider"])
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    assert_outputs_close([_expected(x)], sess.run(None, {"x": x}), rtol=1e-5, atol=1e-6)
    onnx.checker.check_model(onnx.load_from_string(m.to_onnx_bytes()))


def test_shape_inference_and_attributes_reach_the_ir(tmp_path):
    # An op that halves the last dim and returns int32: the user's inference decides.
    def infer(ctx):
        (dtype, shape), = ctx.input_types
        assert dtype == "float32" and ctx.attrs == {"mode": "fast", "k": 3, "alpha": 0.5, "axes": [1, 2]}
        return "int32", shape[:-1] + [shape[-1] // 2]

    irforge.register_custom_op("Halve", infer, domain="my.ops", version="my_ops_v1")
    try:
        g = helper.make_graph([helper.make_node("Halve", ["x"], ["h"], domain="my.ops", mode="fast", k=3, alpha=0.5, axes=[1, 2]),
                               helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        m = irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)]))
        assert (m.outputs[0].dtype, m.outputs[0].shape) == ("float32", (2, 4))
        xml = str(tmp_path / "h.xml")
        irforge.save_model(m, xml)
        (layer,) = [layer for layer in ET.parse(xml).getroot().iter("layer") if layer.get("type") == "Halve"]
        assert layer.get("version") == "my_ops_v1"
        assert layer.find("data").attrib == {"mode": "fast", "k": "3", "alpha": "0.5", "axes": "1,2"}
        port = layer.find("output").find("port")
        assert port.get("precision") == "I32" and [d.text for d in port.iter("dim")] == ["2", "4"]
    finally:
        irforge.unregister_custom_op("Halve", domain="my.ops")


def test_registration_errors():
    with pytest.raises(irforge.UsageError, match="give the op's own domain"):
        irforge.register_custom_op("GatedTanh", domain="")
    with pytest.raises(irforge.UsageError, match="version must name the extension opset"):
        irforge.register_custom_op("GatedTanh", domain="my.ops", version="opset8")
    with pytest.raises(TypeError, match="infer must be a function"):
        irforge.register_custom_op("GatedTanh", 5, domain="my.ops")
    irforge.register_custom_op("Bad", lambda ctx: [("float32", [1]), ("float32", [1])], domain="my.ops")
    try:
        g = helper.make_graph([helper.make_node("Bad", ["x"], ["t"], domain="my.ops"), helper.make_node("Relu", ["t"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        with pytest.raises(irforge.UsageError, match=r"custom op my.ops::Bad \(node ''\): its shape inference returned"):
            irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)]))
    finally:
        irforge.unregister_custom_op("Bad", domain="my.ops")
