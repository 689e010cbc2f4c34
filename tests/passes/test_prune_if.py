import numpy as np
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass


def _vi(name, shape=(2, 3)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None if shape is None else list(shape))


def _model(nodes, outs=("y",), inits=(), inputs=("x",)):
    g = helper.make_graph(nodes, "g", [_vi(i) for i in inputs], [_vi(o, None) for o in outs], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _branches(tag=""):
    # then: uses its own initializer; else: something else entirely. Inner names repeat in
    # every pair of branches made here, so inlining one must rename what the other still uses.
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["h"]), helper.make_node("Add", ["h", "h_outer"], ["t"])],
                               "then" + tag, [], [_vi("t")], [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else" + tag, [], [_vi("e")])
    return then_g, else_g


def test_inlines_the_taken_branch():
    # Histograms count the remaining If's branches too (one Mul/Add in then2, one Neg in else2).
    for value, expect in ((True, {"Mul": 2, "Add": 3, "Neg": 1}), (False, {"Mul": 1, "Add": 2, "Neg": 2})):
        then_g, else_g = _branches()
        then2, else2 = _branches("2")
        m = _model([
            helper.make_node("Relu", ["x"], ["h_outer"]),
            helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
            helper.make_node("Greater", ["s", "zero"], ["rc"]),
            helper.make_node("If", ["c"], ["i"], then_branch=then_g, else_branch=else_g),
            helper.make_node("If", ["rc"], ["j"], then_branch=then2, else_branch=else2),  # same inner names, stays
            helper.make_node("Add", ["i", "j"], ["y"]),
        ], inits=[numpy_helper.from_array(np.array(value), "c"), numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
        model = check_pass(m, "prune-if", fires=True)
        assert model.op_histogram == {**expect, "Relu": 1, "ReduceSum": 1, "Greater": 1, "If": 1}, model.op_histogram


def test_if_output_is_a_graph_output_and_branch_yields_an_initializer():
    # The then-branch yields its own initializer (no node); the If's output name must survive.
    then_g = helper.make_graph([], "then", [], [_vi("k")], [numpy_helper.from_array(np.full((2, 3), 7.0, np.float32), "k")])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e")])
    m = _model([helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
               inits=[numpy_helper.from_array(np.array([True]), "c")])  # a 1-element tensor, not only a scalar
    model = check_pass(m, "prune-if", fires=True)
    assert [o.name for o in model.outputs] == ["y"]
    assert model.op_histogram == {"Identity": 1}


def test_nested_if_on_a_runtime_condition_moves_with_its_branch():
    inner_then = helper.make_graph([helper.make_node("Abs", ["x"], ["a"])], "it", [], [_vi("a")])
    inner_else = helper.make_graph([helper.make_node("Neg", ["x"], ["b"])], "ie", [], [_vi("b")])
    outer_then = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                                    helper.make_node("Greater", ["s", "zero"], ["rc"]),
                                    helper.make_node("If", ["rc"], ["r"], then_branch=inner_then, else_branch=inner_else)],
                                   "ot", [], [_vi("r")])
    outer_else = helper.make_graph([helper.make_node("Relu", ["x"], ["z"])], "oe", [], [_vi("z")])
    m = _model([helper.make_node("If", ["c"], ["y"], then_branch=outer_then, else_branch=outer_else)],
               inits=[numpy_helper.from_array(np.array(True), "c"), numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    model = check_pass(m, "prune-if", fires=True)
    assert model.op_histogram == {"ReduceSum": 1, "Greater": 1, "If": 1, "Abs": 1, "Neg": 1}


def test_folded_condition_after_freezing_pipeline():
    # The condition only becomes constant after folding: Greater(Size(x), 3) on a static shape.
    then_g, else_g = _branches()
    m = _model([helper.make_node("Relu", ["x"], ["h_outer"]),
                helper.make_node("Size", ["x"], ["n"]),
                helper.make_node("Greater", ["n", "three"], ["c"]),
                helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
               inits=[numpy_helper.from_array(np.array(3, np.int64), "three")])
    model = check_pass(m, "(fold,prune-if,dce)*3", fires=True)
    assert "If" not in model.op_histogram and "Neg" not in model.op_histogram


def test_must_not_fire():
    then_g, else_g = _branches()
    m = _model([helper.make_node("Relu", ["x"], ["h_outer"]),
                helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                helper.make_node("Greater", ["s", "zero"], ["c"]),
                helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
               inits=[numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    check_pass(m, "prune-if", fires=False)
    # A graph input with a default is not a constant: the user may feed it.
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["h_outer"]),
                           helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
                          [_vi("x"), helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [_vi("y", None)],
                          [numpy_helper.from_array(np.array(True), "c")])
    model = irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), transform="prune-if", verify=True)
    assert not model.pass_log[0]["changed"]
