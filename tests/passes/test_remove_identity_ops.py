import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass


def _model(nodes, out="y", inits=(), opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, [2, 3])], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_bypasses_identity_dropout_and_same_type_cast():
    m = _model([
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Identity", ["a"], ["b"]),
        helper.make_node("Dropout", ["b"], ["c"]),
        helper.make_node("Cast", ["c"], ["d"], to=TensorProto.FLOAT),
        helper.make_node("Neg", ["d"], ["y"]),
    ])
    m = onnx.shape_inference.infer_shapes(m)  # Cast needs to know its input type
    model = check_pass(m, "remove-identity,dce", fires=True)
    assert model.op_histogram == {"Relu": 1, "Neg": 1}


def test_keeps_graph_output_names():
    m = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["y"])])
    model = check_pass(m, "remove-identity", fires=True)
    assert model.op_histogram == {"Relu": 1}
    assert [o.name for o in model.outputs] == ["y"]


def test_must_not_fire():
    # Identity from input to output (renaming would change the interface); a real Cast;
    # Dropout whose mask is used; Dropout in training mode.
    io = _model([helper.make_node("Identity", ["x"], ["y"])])
    check_pass(io, "remove-identity", fires=False)
    cast = _model([helper.make_node("Cast", ["x"], ["h"], to=TensorProto.INT32), helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)])
    check_pass(onnx.shape_inference.infer_shapes(cast), "remove-identity", fires=False)
    g = helper.make_graph([helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                          [numpy_helper.from_array(np.array(0.5, np.float32), "r"), numpy_helper.from_array(np.array(True), "t")])
    training = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model = irforge.convert_model(training, transform="remove-identity", verify=True)
    assert not model.pass_log[0]["changed"]
