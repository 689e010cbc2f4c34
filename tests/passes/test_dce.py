import numpy as np
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import check_pass


def _model(nodes, inits=()):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_removes_unused_nodes_and_initializers():
    unused_w = numpy_helper.from_array(np.ones((3,), np.float32), "unused_w")
    m = _model([
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Add", ["x", "unused_w"], ["dead1"]),
        helper.make_node("Neg", ["dead1"], ["dead2"]),
    ], [unused_w])
    model = check_pass(m, "dce", fires=True)
    assert model.op_histogram == {"Relu": 1}
    assert model.weight_count == 0


def test_keeps_a_live_graph():
    m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["h"], ["y"])])
    model = check_pass(m, "dce", fires=False)
    assert model.op_histogram == {"Relu": 1, "Neg": 1}


def test_keeps_values_captured_by_subgraphs():
    then_g = helper.make_graph([helper.make_node("Neg", ["h"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"]), helper.make_node("Abs", ["x"], ["dead_in_branch"])],
                               "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3])])
    m = _model([
        helper.make_node("Relu", ["x"], ["h"]),  # used only inside the then-branch
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
    ], [numpy_helper.from_array(np.array(0, np.float32), "zero")])
    model = check_pass(m, "dce", fires=True, openvino=False)
    assert model.op_histogram["Relu"] == 1
    assert "Abs" not in model.op_histogram
