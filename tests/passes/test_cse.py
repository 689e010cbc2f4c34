import numpy as np
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass


def _model(nodes, outs=("y",), inits=(), opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_merges_duplicate_chains_and_commuted_inputs():
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    m = _model([
        helper.make_node("Relu", ["x"], ["a1"]),
        helper.make_node("Relu", ["x"], ["a2"]),
        helper.make_node("Add", ["a1", "w"], ["b1"]),
        helper.make_node("Add", ["w", "a2"], ["b2"]),  # same sum, inputs swapped
        helper.make_node("Softmax", ["b1"], ["c1"], axis=1),
        helper.make_node("Softmax", ["b2"], ["c2"], axis=1),
        helper.make_node("Sub", ["c1", "c2"], ["y"]),
    ], inits=[w])
    model = check_pass(m, "cse", fires=True)
    assert model.op_histogram == {"Relu": 1, "Add": 1, "Softmax": 1, "Sub": 1}


def test_duplicate_graph_output_keeps_its_name():
    m = _model([helper.make_node("Neg", ["x"], ["h"]), helper.make_node("Neg", ["x"], ["y"]),
                helper.make_node("Abs", ["h"], ["z"])], outs=("y", "z"))
    model = check_pass(m, "cse", fires=True)
    assert model.op_histogram == {"Neg": 1, "Abs": 1}
    assert [o.name for o in model.outputs] == ["y", "z"]


def test_must_not_fire():
    # Different attributes; non-commutative operand order; random ops; both duplicates are
    # graph outputs; a subgraph op.
    diff_attr = _model([helper.make_node("Softmax", ["x"], ["a"], axis=0), helper.make_node("Softmax", ["x"], ["b"], axis=1),
                        helper.make_node("Add", ["a", "b"], ["y"])])
    check_pass(diff_attr, "cse", fires=False)
    order = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sub", ["x", "r"], ["a"]),
                    helper.make_node("Sub", ["r", "x"], ["b"]), helper.make_node("Add", ["a", "b"], ["y"])])
    check_pass(order, "cse", fires=False)
    two_outputs = _model([helper.make_node("Neg", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["z"])], outs=("y", "z"))
    check_pass(two_outputs, "cse", fires=False)
    rnd = _model([helper.make_node("RandomUniformLike", ["x"], ["a"], seed=1.0),
                  helper.make_node("RandomUniformLike", ["x"], ["b"], seed=1.0),
                  helper.make_node("Sub", ["a", "b"], ["d"]), helper.make_node("Mul", ["d", "x"], ["y"])])
    model = irforge.convert_model(rnd, transform="cse", verify=True)
    assert not model.pass_log[0]["changed"] and model.op_histogram["RandomUniformLike"] == 2


def test_merges_inside_subgraphs_but_not_if_nodes():
    def branch(name):
        return helper.make_graph([helper.make_node("Neg", ["x"], [name + "_a"]), helper.make_node("Neg", ["x"], [name + "_b"]),
                                  helper.make_node("Add", [name + "_a", name + "_b"], [name])], name, [],
                                 [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 3])])
    m = _model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                helper.make_node("Greater", ["s", "zero"], ["cond"]),
                helper.make_node("If", ["cond"], ["i1"], then_branch=branch("t1"), else_branch=branch("e1")),
                helper.make_node("If", ["cond"], ["i2"], then_branch=branch("t2"), else_branch=branch("e2")),
                helper.make_node("Add", ["i1", "i2"], ["y"])],
               inits=[numpy_helper.from_array(np.array(0, np.float32), "zero")])
    model = check_pass(m, "cse", fires=True)
    assert model.op_histogram["If"] == 2  # the Ifs stay (bodies are not compared)
    assert model.op_histogram["Neg"] == 4  # one per branch instead of two
