import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass

RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _fvi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _fold_log(model):
    return next(r for r in model.pass_log if r["name"] == "fold")


def _shape_subgraph(x_shape):
    # x → Shape → Gather(1) → Unsqueeze → Concat(·, [-1]) → Reshape(x, ·): what exporters emit
    # for `x.view(x.size(1), -1)`.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Constant", [], ["one"], value=_init("", np.array(1, np.int64))),
        helper.make_node("Gather", ["s", "one"], ["d"], axis=0),
        helper.make_node("Unsqueeze", ["d", "zero_axis"], ["du"]),
        helper.make_node("Concat", ["du", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = [_init("zero_axis", np.array([0], np.int64)), _init("minus_one", np.array([-1], np.int64))]
    return _model(nodes, [_fvi("x", x_shape)], [_fvi("y", None)], inits)


def test_shape_subgraph_collapses_to_a_constant_shape():
    model = check_pass(_shape_subgraph([2, 3, 4]), "fold,dce", fires=True, openvino=False)
    assert model.op_histogram == {"Reshape": 1}
    assert _fold_log(model)["rewrites"] == 5  # Shape, Constant, Gather, Unsqueeze, Concat
    folded = onnx.load_from_string(model.to_onnx_bytes())
    (shape,) = [numpy_helper.to_array(t) for t in folded.graph.initializer]
    assert shape.tolist() == [3, -1]


def test_shape_with_start_folds_when_only_the_batch_dim_is_symbolic():
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=1),
             helper.make_node("Concat", ["minus_one", "s"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    m = _model(nodes, [_fvi("x", ["batch", 3, 4])], [_fvi("y", None)], [_init("minus_one", np.array([-1], np.int64))], opset=17)
    model = check_pass(m, "fold,dce", fires=True, openvino=False, feeds={"x": RNG.standard_normal((5, 3, 4)).astype(np.float32)})
    assert model.op_histogram == {"Reshape": 1}


def test_must_not_fire_on_a_symbolic_shape():
    m = _shape_subgraph(["batch", 3, 4])
    nodes = [n for n in m.graph.node if n.op_type != "Constant"]  # Constant nodes would fold
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.append(_init("one", np.array(1, np.int64)))
    model = check_pass(m, "fold", fires=False, openvino=False, feeds={"x": RNG.standard_normal((2, 3, 4)).astype(np.float32)})
    assert model.op_histogram["Shape"] == 1


def test_must_not_fire_on_non_constant_inputs():
    m = _model([helper.make_node("Add", ["x", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
               [_fvi("x", [2, 3])], [_fvi("y", [2, 3])], [_init("b", RNG.standard_normal(3).astype(np.float32))])
    check_pass(m, "fold", fires=False, openvino=False)


def test_must_not_fire_on_graph_inputs_with_a_default():
    # An initializer that is also a graph input can be overridden by the caller: not a constant.
    m = _model([helper.make_node("Neg", ["b"], ["nb"]), helper.make_node("Add", ["x", "nb"], ["y"])],
               [_fvi("x", [3]), _fvi("b", [3])], [_fvi("y", [3])], [_init("b", np.ones(3, np.float32))])
    check_pass(m, "fold", fires=False, openvino=False)


def test_constant_chain_folds_in_one_sweep_and_keeps_output_names():
    # y is computed from constants only and is a graph output: it becomes an initializer named y
    # with its declared type; z still depends on x.
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("Mul", ["wt", "two"], ["w2"]),
        helper.make_node("ReduceSum", ["w2", "axes"], ["y"], keepdims=1),
        helper.make_node("MatMul", ["x", "w2"], ["z"]),
    ]
    m = _model(nodes, [_fvi("x", [2, 4])], [_fvi("y", [1, "any"]), _fvi("z", [2, 3])],
               [_init("w", w), _init("two", np.array(2, np.float32)), _init("axes", np.array([0], np.int64))])
    model = check_pass(m, "fold,dce", fires=True, openvino=False)
    assert [o.name for o in model.outputs] == ["y", "z"]
    assert model.op_histogram == {"MatMul": 1}
    assert _fold_log(model)["rewrites"] == 3
    out = onnx.load_from_string(model.to_onnx_bytes()).graph
    assert [d.dim_param or d.dim_value for d in out.output[0].type.tensor_type.shape.dim] == [1, "any"]
    inits = {t.name: numpy_helper.to_array(t) for t in out.initializer}
    np.testing.assert_allclose(inits["y"], (w.T * 2).sum(axis=0, keepdims=True), rtol=1e-6)


def test_size_limit_keeps_a_64_mib_constant_of_shape():
    # ConstantOfShape([4096, 4096]) would be a 64 MiB float constant made from an 16-byte input.
    nodes = [helper.make_node("ConstantOfShape", ["big_shape"], ["big"], value=_init("", np.array([0.5], np.float32))),
             helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
             helper.make_node("Add", ["x", "total"], ["y"])]
    m = _model(nodes, [_fvi("x", [2])], [_fvi("y", [2])], [_init("big_shape", np.array([4096, 4096], np.int64))])
    model = check_pass(m, "fold,dce", fires=False, openvino=False)
    assert model.op_histogram == {"ConstantOfShape": 1, "ReduceSum": 1, "Add": 1}
    assert model.weight_bytes < 1024
    # The limit is configurable: allowed 64 MiB, the whole chain folds and only a scalar is left.
    model = irforge.convert_model(m, transform="fold,dce", verify=True, fold_size_limit=64 << 20)
    assert _fold_log(model)["rewrites"] == 2
    assert model.op_histogram == {"Add": 1}
    assert model.weight_bytes == 4


def test_size_limit_lets_an_output_as_large_as_its_inputs_fold():
    # A 2 MiB weight transposed is over the 1 MiB limit but no larger than its input: it folds.
    # The same weight stored in float16 and cast to float32 would double: it stays.
    w = RNG.standard_normal((1024, 512)).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"]), helper.make_node("MatMul", ["x", "wt"], ["y"])]
    m = _model(nodes, [_fvi("x", [1, 512])], [_fvi("y", [1, 1024])], [_init("w", w)])
    model = check_pass(m, "fold,dce", fires=True, openvino=False, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"MatMul": 1}
    assert model.weight_bytes == w.nbytes

    w16 = RNG.standard_normal((1024, 1024)).astype(np.float16)  # 2 MiB → 4 MiB
    nodes = [helper.make_node("Cast", ["w16"], ["w32"], to=TensorProto.FLOAT), helper.make_node("MatMul", ["x", "w32"], ["y"])]
    m = _model(nodes, [_fvi("x", [1, 1024])], [_fvi("y", [1, 1024])], [_init("w16", w16)])
    model = check_pass(m, "fold,dce", fires=False, openvino=False)
    assert model.op_histogram == {"Cast": 1, "MatMul": 1}


def test_folds_inside_subgraphs_using_outer_constants():
    then_g = helper.make_graph([helper.make_node("Mul", ["c", "c"], ["c2"]), helper.make_node("Add", ["x", "c2"], ["t"])],
                               "then", [], [_fvi("t", [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["c"], ["e"])], "else", [], [_fvi("e", [3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    m = _model(nodes, [_fvi("x", [3])], [_fvi("y", [3])],
               [_init("c", np.array([1, 2, 3], np.float32)), _init("zero", np.array(0, np.float32))])
    model = check_pass(m, "fold,dce", fires=True, openvino=False, feeds={"x": np.array([1, 2, 3], np.float32)})
    assert _fold_log(model)["rewrites"] == 2  # the Mul in one branch, the Neg (a branch output) in the other
    check_pass(m, "fold,dce", fires=True, openvino=False, feeds={"x": np.array([-1, -2, -3], np.float32)})


def test_constant_nodes_become_initializers():
    nodes = [helper.make_node("Constant", [], ["a"], value_floats=[1.0, 2.0, 3.0]),
             helper.make_node("Constant", [], ["k"], value_int=2),
             helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["a", "kf"], ["ak"]),
             helper.make_node("Add", ["x", "ak"], ["y"])]
    m = _model(nodes, [_fvi("x", [3])], [_fvi("y", [3])])
    model = check_pass(m, "fold,dce", fires=True, openvino=False)
    assert model.op_histogram == {"Add": 1}


def test_must_not_fold_random_ops():
    nodes = [helper.make_node("RandomUniformLike", ["c"], ["r"], seed=1.0), helper.make_node("Add", ["x", "r"], ["y"])]
    m = _model(nodes, [_fvi("x", [3])], [_fvi("y", [3])], [_init("c", np.zeros(3, np.float32))])
    model = irforge.convert_model(m, transform="fold", verify=True)
    assert not _fold_log(model)["changed"]
    assert model.op_histogram == {"RandomUniformLike": 1, "Add": 1}


def test_undefined_cases_are_left_alone():
    # Integer division by zero and a float → int cast out of range have no defined result.
    nodes = [helper.make_node("Div", ["a", "zero"], ["q"]),
             helper.make_node("Cast", ["huge"], ["hi"], to=TensorProto.INT32),
             helper.make_node("Add", ["x", "q"], ["y"]),
             helper.make_node("Add", ["x", "hi"], ["z"])]
    i32 = lambda name: helper.make_tensor_value_info(name, TensorProto.INT32, [2])  # noqa: E731
    m = _model(nodes, [i32("x")], [i32("y"), i32("z")],
               [_init("a", np.array([4, 5], np.int32)), _init("zero", np.array([0, 1], np.int32)),
                _init("huge", np.array([1e10, 1], np.float32))])
    model = irforge.convert_model(m, transform="fold", verify=True)
    assert not _fold_log(model)["changed"]


def _one_op(op, inputs, opset, outputs=1, **attrs):
    """A model computing `op` on constant inputs only; its outputs have no declared type."""
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(inputs)]
    inits = [_init(n, a) for n, a in zip(names, inputs) if a is not None]
    outs = [f"y{k}" for k in range(outputs)]
    node = helper.make_node(op, names, outs, **attrs)
    return _model([node], [], [helper.make_empty_tensor_value_info(o) for o in outs], inits, opset=opset)


X = RNG.standard_normal((2, 3, 4)).astype(np.float32)
I64 = lambda *v: np.array(v, np.int64)  # noqa: E731

# Older opset forms (attributes where newer opsets take inputs) and types beyond the node cases,
# each checked against onnxruntime.
OLD_FORMS = {
    "slice_opset9_attrs": ("Slice", [X], 9, dict(starts=[1, -3], ends=[2, 100], axes=[1, 2])),
    "slice_opset13_neg_steps": ("Slice", [X, I64(-1, 3), I64(-100, 0), I64(-1, 1), I64(-1, -2)], 13, {}),
    "squeeze_opset11_attr": ("Squeeze", [X[:, :1]], 11, dict(axes=[1])),
    "unsqueeze_opset11_attr": ("Unsqueeze", [X], 11, dict(axes=[0, -1])),
    "split_opset11_attr": ("Split", [X], 11, dict(axis=2, split=[1, 3], outputs=2)),
    "reduce_sum_opset11_attr": ("ReduceSum", [X], 11, dict(axes=[0, 2], keepdims=0)),
    "reduce_mean_opset13_attr": ("ReduceMean", [X], 13, dict(axes=[-1])),
    "reduce_max_int32": ("ReduceMax", [np.arange(24, dtype=np.int32).reshape(2, 3, 4)], 13, dict(axes=[1])),
    "reduce_prod_int64_opset18": ("ReduceProd", [np.arange(1, 7, dtype=np.int64).reshape(2, 3), I64(1)], 18, {}),
    "gather_axis1_int32_indices": ("Gather", [X, np.array([[2, -1]], np.int32)], 13, dict(axis=1)),
    "tile": ("Tile", [X, I64(2, 1, 3)], 13, {}),
    "expand": ("Expand", [X[:, :1], I64(3, 2, 3, 1)], 13, {}),
    "transpose_int8": ("Transpose", [np.arange(24, dtype=np.int8).reshape(2, 3, 4)], 13, dict(perm=[2, 0, 1])),
    "mul_int64_wraps": ("Mul", [np.array([2**62, 3], np.int64), np.array([4, -5], np.int64)], 13, {}),
    "div_float16": ("Div", [X.astype(np.float16), np.float16(3)], 13, {}),
    "where_bool_broadcast": ("Where", [X > 0, X, np.float32(0)], 13, {}),
    "cast_float_to_uint8": ("Cast", [np.array([0.0, 1.9, 255.5], np.float32)], 13, dict(to=TensorProto.UINT8)),
    "cast_int64_to_float16": ("Cast", [np.array([1, 2049, -70000], np.int64)], 13, dict(to=TensorProto.FLOAT16)),
    "range_int64": ("Range", [np.int64(10), np.int64(-3), np.int64(-4)], 13, {}),
    "range_float_count_in_float32": ("Range", [np.float32(0), np.float32(0.3), np.float32(0.1)], 13, {}),
    "flatten_axis0": ("Flatten", [X], 13, dict(axis=0)),
    "nonzero_bool": ("NonZero", [X > 0.5], 13, {}),
    "mod_fmod_float": ("Mod", [X, np.float32(0.7)], 13, dict(fmod=1)),
    "pow_float_int": ("Pow", [X, np.int32(3)], 15, {}),
    "sum_three": ("Sum", [X, X[0], X[0, 0]], 13, {}),
}


@pytest.mark.parametrize("case", sorted(OLD_FORMS))
def test_folds_older_opset_forms_like_onnxruntime(case):
    op, inputs, opset, attrs = OLD_FORMS[case]
    m = _one_op(op, inputs, opset, **attrs)
    model = check_pass(m, "fold,dce", fires=True, openvino=False)
    assert model.node_count == 0, model.op_histogram


def test_default_pipeline_folds():
    model = irforge.convert_model(_shape_subgraph([2, 3, 4]), verify=True)
    assert _fold_log(model)["changed"]
    assert model.op_histogram == {"Reshape": 1}


BIG = np.iinfo(np.int64).max
# Inputs that are invalid, undefined or whose output size overflows: the kernels refuse them (no
# fold) before allocating anything, even with no size limit to speak of (checked under
# ASan/UBSan too).
REFUSED = {
    "gather_index_out_of_range": ("Gather", [X, I64(2)], 13, dict(axis=0)),
    "reshape_wrong_count": ("Reshape", [X, I64(5, -1)], 13, {}),
    "reshape_two_minus_one": ("Reshape", [X, I64(-1, -1)], 13, {}),
    "tile_huge": ("Tile", [X, I64(BIG, 1, 1)], 13, {}),
    "expand_overflow": ("Expand", [X, I64(BIG, 2, 3, 4)], 13, {}),
    "constant_of_shape_negative": ("ConstantOfShape", [I64(2, -3)], 13, {}),
    "constant_of_shape_overflow": ("ConstantOfShape", [I64(BIG, BIG, BIG)], 13, {}),
    "range_huge": ("Range", [np.int64(-BIG), np.int64(BIG), np.int64(1)], 13, {}),
    "range_zero_delta": ("Range", [np.float32(0), np.float32(1), np.float32(0)], 13, {}),
    "transpose_bad_perm": ("Transpose", [X], 13, dict(perm=[0, 0, 1])),
    "concat_mismatch": ("Concat", [X, X[:, :1, :2]], 13, dict(axis=1)),
    "unsqueeze_duplicate_axes": ("Unsqueeze", [X, I64(0, -5)], 13, {}),
    "squeeze_non_one_axis": ("Squeeze", [X, I64(1)], 13, {}),
    "split_sizes_do_not_add_up": ("Split", [X, I64(1, 1)], 13, dict(axis=1, outputs=2)),
    "slice_zero_step": ("Slice", [X, I64(0), I64(1), I64(0), I64(0)], 13, {}),
    "reduce_axis_out_of_range": ("ReduceSum", [X, I64(3)], 13, {}),
    "mod_int_by_zero": ("Mod", [I64(3, 4), I64(0, 1)], 13, {}),
    "pow_int_negative_exponent": ("Pow", [I64(2), I64(-1)], 15, {}),
    "cast_nan_to_int": ("Cast", [np.array([np.nan], np.float32)], 13, dict(to=TensorProto.INT64)),
    "add_incompatible_shapes": ("Add", [X, X[:, :2]], 13, {}),
    "where_not_bool": ("Where", [X, X, X], 13, {}),
}


# Invalid at the op level: the reader's op validator (ir/validate_ops.cc) refuses these before
# any pass runs, and so does freezing inputs to such values; folding keeps its own checks as a
# second line of defence for values computed inside the pipeline.
REFUSED_AT_READ = {
    "gather_index_out_of_range": r"\(Gather, #0 in graph 'g'\): index 2 is out of range for axis 0 of size 2",
    "reduce_axis_out_of_range": r"\(ReduceSum, #0 in graph 'g'\): axes value 3 is out of range for rank 3",
    "reshape_two_minus_one": r"\(Reshape, #0 in graph 'g'\): shape \[-1, -1\] has more than one -1",
    "slice_zero_step": r"\(Slice, #0 in graph 'g'\): steps \[0\] contain 0",
    "split_sizes_do_not_add_up": r"\(Split, #0 in graph 'g'\): split \[1, 1\] sums to 2 but axis 1 has 3",
    "squeeze_non_one_axis": r"\(Squeeze, #0 in graph 'g'\): axis 1 has size 3, not 1",
    "transpose_bad_perm": r"\(Transpose, #0 in graph 'g'\): perm \[0, 0, 1\] is not a permutation",
    "unsqueeze_duplicate_axes": r"\(Unsqueeze, #0 in graph 'g'\): axes \[0, -5\] name axis 0 twice",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refuses_invalid_and_huge_inputs(case):
    op, inputs, opset, attrs = REFUSED[case]
    m = _one_op(op, inputs, opset, **attrs)
    if case in REFUSED_AT_READ:
        with pytest.raises(irforge.InvalidModelError, match=REFUSED_AT_READ[case]):
            irforge.convert_model(m.SerializeToString(), transform="none")
        return
    model = irforge.convert_model(m.SerializeToString(), transform="fold", verify=True, fold_size_limit=1 << 62)
    assert not _fold_log(model)["changed"]
    assert model.node_count == 1


def test_the_budget_is_checked_before_allocating():
    # 2^40 x 24 floats: refused from the shape alone under the default 1 MiB limit.
    m = _one_op("Expand", [X, I64(1 << 40, 2, 3, 4)], 13)
    model = irforge.convert_model(m.SerializeToString(), transform="fold", verify=True)
    assert not _fold_log(model)["changed"]


def _tied_embedding(tied: bool):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "wte")
    nodes = [helper.make_node("Transpose", ["wte"], ["wte_t"]), helper.make_node("MatMul", ["x", "wte_t"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if tied:  # the embedding lookup reads the same weight
        nodes.append(helper.make_node("Gather", ["wte", "ids"], ["emb"]))
        outputs.append(helper.make_tensor_value_info("emb", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64]),
                                       helper.make_tensor_value_info("ids", TensorProto.INT64, [3])], outputs, [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_does_not_store_a_tied_weight_twice():
    model = check_pass(_tied_embedding(tied=True), "fold,dce", fires=False, openvino=False)
    assert model.weight_bytes == 64 * 64 * 4


def test_folds_a_transposed_weight_nothing_else_reads():
    model = check_pass(_tied_embedding(tied=False), "fold,dce", fires=True, openvino=False)
    assert model.weight_bytes == 64 * 64 * 4
    assert "Transpose" not in model.op_histogram


def _keras_batchnorm(channels: int):
    # Keras' inference BatchNorm: y = x * s + (beta - mean * s), s read by both products.
    rng = np.random.default_rng(1)
    inits = [_init(n, rng.standard_normal((1, 1, 1, channels)).astype(np.float32)) for n in ("s", "mean", "beta")]
    nodes = [helper.make_node("Mul", ["x", "s"], ["xs"]), helper.make_node("Mul", ["mean", "s"], ["ms"]),
             helper.make_node("Sub", ["beta", "ms"], ["shift"]), helper.make_node("Add", ["xs", "shift"], ["y"])]
    return _model(nodes, [_fvi("x", [2, 3, 3, channels])], [_fvi("y", None)], inits)


def test_folds_a_shared_weight_into_a_result_no_larger_than_what_it_frees():
    # 2048 channels: s is 8 KiB and read twice; mean * s replaces mean, beta - (mean * s) replaces beta.
    model = check_pass(_keras_batchnorm(2048), "fold,dce", fires=True, openvino=False)
    assert model.op_histogram == {"Mul": 1, "Add": 1}
    assert model.weight_bytes == 2 * 2048 * 4


def test_a_shared_weight_still_limits_a_result_larger_than_what_it_frees():
    # Expand(s) to 4 rows frees nothing (s stays for x * s) and would add 32 KiB.
    s = _init("s", np.random.default_rng(2).standard_normal((1, 2048)).astype(np.float32))
    nodes = [helper.make_node("Mul", ["x", "s"], ["y"]), helper.make_node("Expand", ["s", "shape"], ["z"])]
    m = _model(nodes, [_fvi("x", [4, 2048])], [_fvi("y", None), _fvi("z", None)], [s, _init("shape", np.array([4, 2048], np.int64))])
    model = check_pass(m, "fold,dce", fires=False, openvino=False)
    assert model.weight_bytes == 2048 * 4 + 2 * 8
