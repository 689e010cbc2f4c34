import numpy as np
from onnx import helper

from _fusion_models import check_pass, f32, model

PIPE = "fuse-mul-add-into-linear,dce"
N = helper.make_node


def test_conv_then_mul_then_add_fold_into_weights_and_bias():
    nodes = [N("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), N("Mul", ["c", "s"], ["m"]), N("Add", ["t", "m"], ["y"])]
    inits = [f32("w", (6, 4, 3, 3)), f32("b", (6,)), f32("s", (1, 6, 1, 1)), f32("t", (6, 1, 1))]
    m = check_pass(model(nodes, {"x": [1, 4, 8, 8]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}
    assert [o.name for o in m.outputs] == ["y"]


def test_conv_without_bias_div_and_sub():
    nodes = [N("Conv", ["x", "w"], ["c"], group=2), N("Div", ["c", "d"], ["m"]), N("Sub", ["m", "t"], ["y"])]
    inits = [f32("w", (6, 2, 3, 3)), f32("d", np.array(1.7)), f32("t", (1, 6, 1, 1))]
    m = check_pass(model(nodes, {"x": [2, 4, 8, 8]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}


def test_matmul_bias_chain():
    nodes = [N("MatMul", ["x", "w"], ["a"]), N("Add", ["a", "b"], ["ab"]), N("Mul", ["ab", "s"], ["m"]), N("Add", ["m", "t"], ["y"])]
    inits = [f32("w", (8, 6)), f32("b", (6,)), f32("s", (6,)), f32("t", (1, 1, 6))]
    m = check_pass(model(nodes, {"x": [2, 5, 8]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"MatMul": 1, "Add": 1}


def test_gemm_with_alpha_beta_transb():
    nodes = [N("Gemm", ["x", "w", "c"], ["g"], transB=1, alpha=2.0, beta=0.5), N("Mul", ["g", "s"], ["m"]), N("Add", ["m", "t"], ["y"])]
    inits = [f32("w", (6, 8)), f32("c", (1, 6)), f32("s", (1, 6)), f32("t", (6,))]
    m = check_pass(model(nodes, {"x": [3, 8]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Gemm": 1}


def test_mul_before_grouped_conv_matmul_and_conv_transpose():
    nodes = [N("Mul", ["x", "s1"], ["p1"]), N("Mul", ["s2", "p1"], ["p2"]), N("Conv", ["p2", "w", "b"], ["y"], group=2)]
    inits = [f32("s1", (1, 4, 1, 1)), f32("s2", (4, 1, 1)), f32("w", (6, 2, 3, 3)), f32("b", (6,))]
    m = check_pass(model(nodes, {"x": [1, 4, 8, 8]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}
    nodes = [N("Div", ["x", "d"], ["p"]), N("MatMul", ["p", "w"], ["y"])]
    m = check_pass(model(nodes, {"x": [2, 3, 8]}, [f32("d", (8,), low=0.5, high=2), f32("w", (8, 5))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"MatMul": 1}
    nodes = [N("Mul", ["x", "s"], ["p"]), N("ConvTranspose", ["p", "w"], ["c"], group=2), N("Mul", ["c", "s2"], ["y"])]
    inits = [f32("s", (1, 4, 1, 1)), f32("w", (4, 3, 3, 3)), f32("s2", (1, 6, 1, 1))]
    m = check_pass(model(nodes, {"x": [1, 4, 5, 5]}, inits), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"ConvTranspose": 1}


def test_gemm_transa_before():
    nodes = [N("Mul", ["x", "s"], ["p"]), N("Gemm", ["p", "w"], ["y"], transA=1)]
    m = check_pass(model(nodes, {"x": [8, 3]}, [f32("s", (8, 1)), f32("w", (8, 5))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Gemm": 1}


def _no_fire(nodes, inputs, inits, outputs=("y",), openvino=True):
    check_pass(model(nodes, inputs, inits, outputs), PIPE, fires=False, openvino=openvino)


def test_must_not_fire_on_non_channel_constants():
    conv = N("Conv", ["x", "w"], ["c"])
    _no_fire([conv, N("Mul", ["c", "s"], ["y"])], {"x": [1, 4, 6, 6]}, [f32("w", (6, 4, 1, 1)), f32("s", (1, 6, 6, 1))])  # varies along H
    mm = N("MatMul", ["x", "w"], ["a"])
    _no_fire([mm, N("Mul", ["a", "s"], ["y"])], {"x": [3, 8]}, [f32("w", (8, 6)), f32("s", (1, 1, 6))])  # would raise the rank
    _no_fire([mm, N("Add", ["a", "s"], ["y"])], {"x": [3, 8]}, [f32("w", (8, 6)), f32("s", (6,))])  # already the bias form
    _no_fire([conv, N("Div", ["c", "s"], ["y"])], {"x": [1, 4, 6, 6]}, [f32("w", (6, 4, 1, 1)), f32("s", np.array([1, 2, 0, 1, 1, 1]).reshape(1, 6, 1, 1))],
             openvino=False)  # division by zero: the runtimes disagree on inf/nan, irrelevant here
    _no_fire([conv, N("Mul", ["c", "s"], ["y"])], {"x": [1, 4, 6, 6]}, [f32("w", np.zeros((6, 4, 1, 1))), f32("s", np.full((1, 6, 1, 1), np.inf))],
             openvino=False)  # 0 * inf: nan in a folded weight, inf/nan from the original
    # x has one channel; the constant is what broadcasts it to the conv's four
    # (OpenVINO's own MultiplyConvolutionFusion makes exactly this mistake and fails to compile it)
    _no_fire([N("Mul", ["x", "s"], ["p"]), N("Conv", ["p", "w"], ["y"])], {"x": [1, 1, 6, 6]}, [f32("s", (1, 4, 1, 1)), f32("w", (2, 4, 1, 1))],
             openvino=False)


def test_must_not_fire_on_shared_values():
    inits = [f32("w", (6, 4, 1, 1)), f32("s", (1, 6, 1, 1))]
    # the weight is read by a second conv
    _no_fire([N("Conv", ["x", "w"], ["c"]), N("Mul", ["c", "s"], ["y"]), N("Conv", ["x", "w"], ["z"])], {"x": [1, 4, 6, 6]}, inits, ("y", "z"))
    # the conv output is also a graph output
    _no_fire([N("Conv", ["x", "w"], ["c"]), N("Mul", ["c", "s"], ["y"])], {"x": [1, 4, 6, 6]}, inits, ("y", "c"))
    # a runtime scale
    _no_fire([N("Conv", ["x", "w"], ["c"]), N("Mul", ["c", "r"], ["y"])], {"x": [1, 4, 6, 6], "r": [1, 6, 1, 1]}, inits[:1])


def test_must_not_fire_from_inside_a_subgraph():
    # The Mul is in an If branch and reads a Conv output of the enclosing graph: rewriting the
    # outer Conv from inside the branch would edit the wrong graph.
    from onnx import TensorProto
    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, None)
    then_g = helper.make_graph([N("Mul", ["c", "s"], ["o"])], "then", [], [out])
    else_g = helper.make_graph([N("Mul", ["c2", "s"], ["o"])], "else", [], [out])
    nodes = [N("Conv", ["x", "w"], ["c"]), N("Conv", ["x", "w2"], ["c2"]), N("ReduceMax", ["x"], ["mx"], keepdims=0),
             N("Greater", ["mx", "zero"], ["cond"]), N("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [f32("w", (6, 4, 1, 1)), f32("w2", (6, 4, 1, 1)), f32("s", (1, 6, 1, 1)), f32("zero", np.array(0.0))]
    check_pass(model(nodes, {"x": [1, 4, 6, 6]}, inits), PIPE, fires=False)


def test_add_after_a_shared_weight_gets_its_own_bias():
    # An Add/Sub only adds a new bias: a weight and bias read by another Gemm too stay shared.
    nodes = [N("Gemm", ["x", "w", "b"], ["g"], transB=1), N("Sub", ["g", "t"], ["y"]), N("Gemm", ["x", "w", "b"], ["z"], transB=1)]
    inits = [f32("w", (6, 8)), f32("b", (6,)), f32("t", np.array(1.0))]
    m = check_pass(model(nodes, {"x": [3, 8]}, inits, ("y", "z")), PIPE, fires=True, rtol=1e-5, atol=1e-6)
    assert m.op_histogram == {"Gemm": 2}


def test_sub_inside_both_branches_of_an_if_on_a_captured_gemm_weight():
    # torch.cond(pred, lambda x: relu(lin(x)) * 3, lambda x: lin(x) - 1) as the dynamo exporter
    # writes it: each branch has a Gemm of the captured lin.weight / lin.bias.
    from onnx import TensorProto
    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, None)
    then_g = helper.make_graph([N("Gemm", ["x", "w", "b"], ["g1"], transB=1), N("Relu", ["g1"], ["r"]), N("Mul", ["r", "three"], ["o"])],
                               "then", [], [out])
    else_g = helper.make_graph([N("Gemm", ["x", "w", "b"], ["g2"], transB=1), N("Sub", ["g2", "one"], ["o"])], "else", [], [out])
    nodes = [N("ReduceMax", ["x"], ["mx"], keepdims=0), N("Greater", ["mx", "zero"], ["cond"]),
             N("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [f32("w", (6, 8)), f32("b", (6,)), f32("three", np.array(3.0)), f32("one", np.array(1.0)), f32("zero", np.array(0.0))]
    m = check_pass(model(nodes, {"x": [3, 8]}, inits), PIPE, fires=True, rtol=1e-5, atol=1e-6)
    import onnx
    (if_node,) = [n for n in onnx.load_from_string(m.to_onnx_bytes()).graph.node if n.op_type == "If"]
    branches = {a.name: [n.op_type for n in a.g.node] for a in if_node.attribute}
    assert branches == {"then_branch": ["Gemm", "Relu", "Mul"], "else_branch": ["Gemm"]}, branches
