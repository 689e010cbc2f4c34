import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import irforge
from _fusion_models import check_pass

PIPE = "simplify-layout,dce"


def _model(nodes, in_shape, inits=(), outputs=("y",), opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], list(inits))
    # Shapes inferred up front (the pass reads ranks), so the pipeline under test is the pass.
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.load_from_string(irforge.convert_model(model, transform="infer-shapes").to_onnx_bytes())


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _relu_wrap(nodes, last):
    # A Relu on each side, so the chain sits between real ops (the usual case in exports).
    return [helper.make_node("Relu", ["x"], ["r"])] + nodes + [helper.make_node("Relu", [last], ["y"])]


def test_transposes_merge_into_one():
    nodes = _relu_wrap([helper.make_node("Transpose", ["r"], ["t1"], perm=[0, 2, 3, 1]),
                        helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1, 3])], "t2")
    model = check_pass(_model(nodes, [2, 3, 4, 5]), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2, "Transpose": 1}


def test_inverse_transposes_cancel():
    nodes = _relu_wrap([helper.make_node("Transpose", ["r"], ["t1"], perm=[0, 2, 3, 1]),
                        helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 3, 1, 2])], "t2")
    model = check_pass(_model(nodes, [2, 3, 4, 5]), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2}


def test_identity_transpose_removed_and_default_perm_pair_cancels():
    nodes = _relu_wrap([helper.make_node("Transpose", ["r"], ["t0"], perm=[0, 1, 2]),
                        helper.make_node("Transpose", ["t0"], ["t1"]),
                        helper.make_node("Transpose", ["t1"], ["t2"])], "t2")
    model = check_pass(_model(nodes, [2, 3, 4]), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2}


def test_reshapes_merge_and_zero_is_resolved_from_static_dims():
    nodes = _relu_wrap([helper.make_node("Reshape", ["r", "s1"], ["a"]),
                        helper.make_node("Reshape", ["a", "s2"], ["b"])], "b")
    # s2's 0 copies dim 0 of the intermediate [6, 20]: it must become an explicit 6.
    model = check_pass(_model(nodes, [2, 3, 4, 5], [_i64("s1", [6, 20]), _i64("s2", [0, 4, -1])]), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2, "Reshape": 1}


def test_squeeze_unsqueeze_pairs_cancel_both_ways_and_old_opset():
    nodes = _relu_wrap([helper.make_node("Unsqueeze", ["r", "ax"], ["u"]),
                        helper.make_node("Squeeze", ["u", "axn"], ["s"]),
                        helper.make_node("Squeeze", ["s", "ax0"], ["s2"]),
                        helper.make_node("Unsqueeze", ["s2", "ax0"], ["u2"])], "u2")
    inits = [_i64("ax", [1, 3]), _i64("axn", [-2, 1]), _i64("ax0", [0])]
    model = check_pass(_model(nodes, [1, 3, 4], inits), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2}
    old = _relu_wrap([helper.make_node("Unsqueeze", ["r"], ["u"], axes=[0]), helper.make_node("Squeeze", ["u"], ["s"], axes=[0])], "s")
    model = check_pass(_model(old, [3, 4], opset=11), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2}


def test_first_op_kept_when_read_elsewhere():
    nodes = _relu_wrap([helper.make_node("Transpose", ["r"], ["t1"], perm=[1, 0]),
                        helper.make_node("Transpose", ["t1"], ["t2"], perm=[1, 0])], "t2")
    nodes.append(helper.make_node("Neg", ["t1"], ["z"]))
    model = check_pass(_model(nodes, [3, 4], outputs=("y", "z")), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 2, "Transpose": 1, "Neg": 1}


def test_graph_output_keeps_its_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Transpose", ["r"], ["t1"], perm=[1, 0]),
             helper.make_node("Transpose", ["t1"], ["y"], perm=[1, 0])]
    model = check_pass(_model(nodes, [3, 4]), PIPE, fires=True)
    assert model.op_histogram == {"Relu": 1}
    assert [o.name for o in model.outputs] == ["y"]


def test_must_not_fire():
    cases = [
        # Squeeze and Unsqueeze on different axes
        ([helper.make_node("Unsqueeze", ["r", "a0"], ["u"]), helper.make_node("Squeeze", ["u", "a1"], ["s"])], "s", [1, 3], [_i64("a0", [0]), _i64("a1", [1])]),
        # Squeeze without axes depends on run-time dims
        ([helper.make_node("Unsqueeze", ["r", "a0"], ["u"]), helper.make_node("Squeeze", ["u"], ["s"])], "s", [2, 3], [_i64("a0", [0])]),
        # a non-identity single Transpose
        ([helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0])], "t", [2, 3], []),
        # a Reshape of a non-Reshape
        ([helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]), helper.make_node("Reshape", ["t", "s"], ["q"])], "q", [2, 3], [_i64("s", [6])]),
    ]
    for nodes, last, shape, inits in cases:
        check_pass(_model(_relu_wrap(nodes, last), shape, inits), PIPE, fires=False)


def test_reshape_zero_of_unknown_dim_does_not_fire():
    nodes = _relu_wrap([helper.make_node("Reshape", ["r", "s1"], ["a"]), helper.make_node("Reshape", ["a", "s2"], ["b"])], "b")
    check_pass(_model(nodes, ["n", 12], [_i64("s1", [-1, 3, 4]), _i64("s2", [0, 12])]), PIPE, fires=False,
               feeds={"x": np.random.default_rng(0).standard_normal((2, 12)).astype(np.float32)})


def test_transpose_moving_only_ones_after_a_reshape_becomes_part_of_it():
    # Keras squeeze-excite: [N, C] → Reshape [N, 1, 1, C] → Transpose to NCHW for the 1x1 conv.
    nodes = _relu_wrap([helper.make_node("Reshape", ["r", "s"], ["a"]),
                        helper.make_node("Transpose", ["a"], ["t"], perm=[0, 3, 1, 2])], "t")
    model = check_pass(_model(nodes, ["n", 6], [_i64("s", [-1, 1, 1, 6])]), PIPE, fires=True,
                       feeds={"x": np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)})
    assert model.op_histogram == {"Relu": 2, "Reshape": 1}


def test_transpose_after_a_reshape_must_not_fire():
    cases = [
        # swaps two dims that are not 1: elements move
        ([_i64("s", [1, 2, 3])], [0, 2, 1], [6]),
        # a 0 would copy another input dim once moved
        ([_i64("s", [0, 1, 3])], [1, 0, 2], [2, 3]),
        # a -1 may be any size: it cannot cross another non-1 dim
        ([_i64("s", [-1, 3])], [1, 0], [6]),
    ]
    for inits, perm, shape in cases:
        nodes = _relu_wrap([helper.make_node("Reshape", ["r", "s"], ["a"]),
                            helper.make_node("Transpose", ["a"], ["t"], perm=perm)], "t")
        check_pass(_model(nodes, shape, inits), PIPE, fires=False)
    # the Reshape's output is read elsewhere too
    nodes = _relu_wrap([helper.make_node("Reshape", ["r", "s"], ["a"]),
                        helper.make_node("Transpose", ["a"], ["t"], perm=[1, 0]), helper.make_node("Neg", ["a"], ["z"])], "t")
    check_pass(_model(nodes, [3], [_i64("s", [1, 3])], outputs=("y", "z")), PIPE, fires=False)
