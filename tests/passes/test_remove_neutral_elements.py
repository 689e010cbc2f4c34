"""remove-neutral-elements: x+0, x*1, x/1, x^1, constant Where, no-op Expand/Tile/Reshape/Slice/Concat."""

import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass

PASS = "remove-neutral-elements,dce"


def _model(nodes, inits=(), x_shape=(2, 3, 4), y_shape=None, x_type=TensorProto.FLOAT, extra_inputs=()):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", x_type, list(x_shape)), *extra_inputs],
        [helper.make_tensor_value_info("y", x_type, list(y_shape) if y_shape is not None else None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(m)


def _wrapped(op, const, swap=False, x_shape=(2, 3, 4)):
    # Relu before and Neg after, so the op under test is neither fed by a graph input nor a graph output.
    ins = ["c", "h"] if swap else ["h", "c"]
    return _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node(op, ins, ["z"]), helper.make_node("Neg", ["z"], ["y"])],
                  [("c", const)], x_shape=x_shape)


@pytest.mark.parametrize("op,const,swap", [
    ("Add", np.zeros(4, np.float32), False),
    ("Add", np.zeros((3, 1), np.float32), True),
    ("Sub", np.float32(0), False),
    ("Mul", np.ones((1, 3, 4), np.float32), True),
    ("Div", np.ones(1, np.float32), False),
    ("Pow", np.float32(1), False),
])
def test_drops_neutral_binary_ops(op, const, swap):
    model = check_pass(_wrapped(op, const, swap), PASS, fires=True)
    assert model.op_histogram == {"Relu": 1, "Neg": 1}


@pytest.mark.parametrize("op,const,swap", [
    ("Add", np.full(4, 1e-3, np.float32), False),      # not zero
    ("Mul", np.ones((5, 2, 3, 4), np.float32), False),  # broadcasting adds a dim
    ("Mul", np.ones((2, 1, 4), np.float32) * np.array([1, 1, 2, 1], np.float32), False),  # one element not 1
    ("Add", np.zeros((5, 1, 1, 1), np.float32), True),  # output rank grows
    ("Sub", np.float32(0), True),                       # 0 - x is -x
    ("Div", np.float32(1), True),                       # 1 / x
    ("Pow", np.float32(1), True),                       # 1 ^ x
])
def test_must_not_fire_when_not_neutral(op, const, swap):
    check_pass(_wrapped(op, const, swap), PASS, fires=False)


def test_broadcast_of_a_size_one_dim_is_kept():
    # x has a dim of 1 that the zero constant widens to 3: x + 0 would be the wrong shape.
    check_pass(_wrapped("Add", np.zeros((3, 1), np.float32), x_shape=(2, 1, 1)), PASS, fires=False)


def test_symbolic_dims_compared_by_name():
    # The constant's dims are 1 or x's static dims; x's batch/seq dims are symbols.
    model = check_pass(_wrapped("Add", np.zeros((1, 4), np.float32), x_shape=("batch", "seq", 4)), PASS, fires=True,
                       feeds={"x": np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)})
    assert model.op_histogram == {"Relu": 1, "Neg": 1}


def test_where_on_constant_condition():
    for cond, keep in ((np.ones((3, 4), bool), "a"), (np.zeros(4, bool), "b")):
        m = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
                    helper.make_node("Where", ["c", "a", "b"], ["z"]), helper.make_node("Sigmoid", ["z"], ["y"])], [("c", cond)])
        model = check_pass(m, PASS, fires=True)
        assert model.op_histogram == {"Relu" if keep == "a" else "Neg": 1, "Sigmoid": 1}
    mixed = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
                    helper.make_node("Where", ["c", "a", "b"], ["z"]), helper.make_node("Sigmoid", ["z"], ["y"])],
                   [("c", np.array([True, False, True, True]))])
    check_pass(mixed, PASS, fires=False)
    # The other branch broadcasts the kept one: dropping Where would lose a dim.
    wider = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Where", ["c", "a", "w"], ["z"]),
                    helper.make_node("Sigmoid", ["z"], ["y"])], [("c", np.array(True)), ("w", np.zeros((5, 1, 1, 1), np.float32))])
    check_pass(wider, PASS, fires=False)


def test_same_shape_expand_tile_reshape_slice_concat():
    big = np.iinfo(np.int64).max
    cases = [
        ("Expand", [("s", np.array([3, 1], np.int64))]),
        ("Tile", [("s", np.array([1, 1, 1], np.int64))]),
        ("Reshape", [("s", np.array([0, -1, 4], np.int64))]),
        ("Reshape", [("s", np.array([2, 3, 4], np.int64))]),
        ("Slice", [("s", np.array([0, -7], np.int64)), ("e", np.array([big, 3], np.int64)), ("a", np.array([2, -2], np.int64))]),
    ]
    for op, inits in cases:
        m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node(op, ["h"] + [k for k, _ in inits], ["z"]),
                    helper.make_node("Neg", ["z"], ["y"])], inits)
        model = check_pass(m, PASS, fires=True)
        assert model.op_histogram == {"Relu": 1, "Neg": 1}, op
    m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Concat", ["h"], ["z"], axis=1), helper.make_node("Neg", ["z"], ["y"])])
    assert check_pass(m, PASS, fires=True).op_histogram == {"Relu": 1, "Neg": 1}


def test_must_not_fire_on_real_movement():
    cases = [
        ("Expand", [("s", np.array([5, 1, 1, 1], np.int64))]),              # adds a dim
        ("Tile", [("s", np.array([1, 2, 1], np.int64))]),
        ("Reshape", [("s", np.array([3, 2, 4], np.int64))]),                 # same size, other shape
        ("Reshape", [("s", np.array([0, -1], np.int64))]),                    # other rank
        ("Slice", [("s", np.array([1], np.int64)), ("e", np.array([big], np.int64)), ("a", np.array([1], np.int64))]),
        ("Slice", [("s", np.array([0], np.int64)), ("e", np.array([big], np.int64)), ("a", np.array([1], np.int64)),
                   ("t", np.array([2], np.int64))]),                          # every other element
        ("Slice", [("s", np.array([-1], np.int64)), ("e", np.array([-big], np.int64)), ("a", np.array([2], np.int64)),
                   ("t", np.array([-1], np.int64))]),                         # reversed
    ] if (big := np.iinfo(np.int64).max) else []
    for op, inits in cases:
        m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node(op, ["h"] + [k for k, _ in inits], ["z"]),
                    helper.make_node("Neg", ["z"], ["y"])], inits)
        check_pass(m, PASS, fires=False)


def test_whole_slice_of_a_symbolic_dim_needs_an_unbounded_end():
    big = np.iinfo(np.int64).max
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)}
    for end, fires in ((big, True), (5, False)):
        m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Slice", ["h", "s", "e", "a"], ["z"]),
                    helper.make_node("Neg", ["z"], ["y"])],
                   [("s", np.array([0], np.int64)), ("e", np.array([end], np.int64)), ("a", np.array([1], np.int64))],
                   x_shape=(2, "seq", 4))
        check_pass(m, PASS, fires=fires, feeds=feeds)


def test_graph_interface_names_survive():
    # The op's output is a graph output: its producer's value takes the name.
    m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Mul", ["h", "c"], ["y"])], [("c", np.float32(1))])
    model = check_pass(m, PASS, fires=True)
    assert model.op_histogram == {"Relu": 1} and [o.name for o in model.outputs] == ["y"]
    # Input straight to output: dropping the op would rename the interface, so it stays.
    direct = _model([helper.make_node("Add", ["x", "c"], ["y"])], [("c", np.float32(0))])
    check_pass(direct, PASS, fires=False)


def test_integer_and_subgraph():
    m = _model([helper.make_node("Abs", ["x"], ["h"]), helper.make_node("Mul", ["h", "c"], ["z"]), helper.make_node("Neg", ["z"], ["y"])],
               [("c", np.array([1], np.int64))], x_type=TensorProto.INT64)
    assert check_pass(m, PASS, fires=True, openvino=False).op_histogram == {"Abs": 1, "Neg": 1}
    # Inside an If branch (the pass sweeps subgraphs).
    branch = helper.make_graph([helper.make_node("Add", ["h", "zero"], ["a"]), helper.make_node("Neg", ["a"], ["b"])], "then", [],
                               [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3, 4])])
    other = helper.make_graph([helper.make_node("Neg", ["h"], ["o"])], "else", [], [helper.make_tensor_value_info("o", TensorProto.FLOAT, [2, 3, 4])])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=other)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]), helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])], [numpy_helper.from_array(np.zeros(4, np.float32), "zero")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    for c in (True, False):
        model = check_pass(m, "infer-shapes,remove-neutral-elements", fires=True, feeds={"x": x, "cond": np.array(c)}, openvino=False)
    assert model.pass_log[-1]["rewrites"] == 1


def test_zero_gemm_bias_dropped():
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32), "w"),
                           numpy_helper.from_array(np.zeros(5, np.float32), "c")])
    model = check_pass(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), PASS, fires=True)
    assert model.op_histogram == {"Gemm": 1}
    assert len(onnx.load_from_string(model.to_onnx_bytes()).graph.node[0].input) == 2
    nonzero = onnx.load_from_string(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    nonzero.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.full(5, 0.5, np.float32), "c"))
    check_pass(nonzero, PASS, fires=False)
    old = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])  # C is required before opset 11
    check_pass(old, PASS, fires=False)


def _conv_with_bias(bias_nodes, bias_inits, op="Conv", bias_name="b"):
    # A Conv (or ConvTranspose) whose bias comes from `bias_nodes` over `bias_inits`.
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 3, 3) if op == "ConvTranspose" else (4, 3, 3, 3)).astype(np.float32)
    out_c = 3 if op == "ConvTranspose" else 4
    g = helper.make_graph(
        [*bias_nodes, helper.make_node(op, ["x", "w", bias_name], ["y"], pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_c, 6, 6])],
        [numpy_helper.from_array(w, "w"), *[numpy_helper.from_array(np.asarray(v), k) for k, v in bias_inits]])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _conv_inputs(model):
    return [len(n.input) for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node if n.op_type in ("Conv", "ConvTranspose")]


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose"])
def test_zero_conv_bias_dropped(op, tmp_path):
    c = 3 if op == "ConvTranspose" else 4
    model = check_pass(_conv_with_bias([], [("b", np.zeros(c, np.float32))], op), PASS, fires=True)
    assert model.op_histogram == {op: 1}
    assert _conv_inputs(model) == [2]
    # The OpenVINO IR then has no bias Add layer.
    irforge.save_model(model, str(tmp_path / "m.xml"))
    layers = [l.get("type") for l in ET.parse(tmp_path / "m.xml").getroot().iter("layer")]
    assert "Add" not in layers and op.replace("Conv", "Convolution").replace("ConvolutionTranspose", "ConvolutionBackpropData") in layers
    check_pass(_conv_with_bias([], [("b", np.array([0, 0, 1e-7, 0][:c], np.float32))], op), PASS, fires=False)


def test_zero_conv_bias_behind_cast_and_dequantize():
    # A TFLite/QDQ export: int32 bias equal to its zero point, dequantized with a finite scale.
    dq = helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["b"])
    model = check_pass(_conv_with_bias([dq], [("bq", np.zeros(4, np.int32)), ("bs", np.float32(0.02)), ("bz", np.int32(0))]),
                       PASS, fires=True)
    assert model.op_histogram == {"Conv": 1}
    # uint8 bias at its zero point 128: (128 - 128) * s = 0.
    model = check_pass(_conv_with_bias([dq], [("bq", np.full(4, 128, np.uint8)), ("bs", np.float32(0.5)), ("bz", np.uint8(128))]),
                       PASS, fires=True)
    assert model.op_histogram == {"Conv": 1}
    cast = helper.make_node("Cast", ["b16"], ["b"], to=TensorProto.FLOAT)
    model = check_pass(_conv_with_bias([cast], [("b16", np.zeros(4, np.float16))]), PASS, fires=True)
    assert model.op_histogram == {"Conv": 1}


@pytest.mark.parametrize("bq,bs,bz", [
    (np.array([0, 0, 1, 0], np.int32), np.float32(0.02), np.int32(0)),   # one element off the zero point
    (np.zeros(4, np.uint8), np.float32(0.5), np.uint8(128)),             # zeros, but the zero point is 128
])
def test_nonzero_dequantized_bias_kept(bq, bs, bz):
    dq = helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["b"])
    model = check_pass(_conv_with_bias([dq], [("bq", bq), ("bs", bs), ("bz", bz)]), PASS, fires=False)
    assert _conv_inputs(model) == [3]


def test_dequantized_bias_with_infinite_scale_kept():
    # 0 * inf is NaN, not 0: the bias is not neutral.
    dq = helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["b"])
    m = _conv_with_bias([dq], [("bq", np.zeros(4, np.int32)), ("bs", np.float32(np.inf)), ("bz", np.int32(0))])
    model = irforge.convert_model(m.SerializeToString(), transform=PASS, verify=True)
    assert not any(r["changed"] for r in model.pass_log)
    assert _conv_inputs(model) == [3]
