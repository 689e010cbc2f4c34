import numpy as np
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass

PIPE = "infer-shapes,simplify-shapes,dce"


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _model(nodes, inits, x_shape=("batch", "seq", 64), x_type=TensorProto.FLOAT):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", x_type, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _dim(src, index, out):
    """Unsqueeze(Gather(Shape(src), index)): one dim of `src` as a 1-element tensor."""
    return [helper.make_node("Shape", [src], [out + "_shape"]),
            helper.make_node("Gather", [out + "_shape", f"i{index}"], [out + "_s"], axis=0),
            helper.make_node("Unsqueeze", [out + "_s", "zero"], [out])]


INDEX = [_i64(f"i{i}", i) for i in range(3)] + [_i64("zero", [0])]


def _feeds(batch=2, seq=3, width=64):
    return {"x": np.random.default_rng(0).standard_normal((batch, seq, width)).astype(np.float32)}


def test_split_heads_reshapes_become_constant():
    # q.view(b, s, 4, 16).transpose(1, 2) ... .transpose(1, 2).reshape(b, s, 64), as TorchScript exports it.
    w = numpy_helper.from_array(np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["q"])]
    nodes += _dim("q", 0, "b") + _dim("q", 1, "s")
    nodes += [helper.make_node("Concat", ["b", "s", "heads", "hdim"], ["split_shape"], axis=0),
              helper.make_node("Reshape", ["q", "split_shape"], ["q4"]),
              helper.make_node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
              helper.make_node("Softmax", ["qt"], ["p"], axis=-1),
              helper.make_node("Transpose", ["p"], ["pt"], perm=[0, 2, 1, 3])]
    nodes += _dim("pt", 0, "b2") + _dim("pt", 1, "s2")
    nodes += [helper.make_node("Concat", ["b2", "s2", "width"], ["merge_shape"], axis=0),
              helper.make_node("Reshape", ["pt", "merge_shape"], ["y"])]
    m = _model(nodes, INDEX + [w, _i64("heads", [4]), _i64("hdim", [16]), _i64("width", [64])])
    model = check_pass(m, PIPE, fires=True, feeds=_feeds())
    hist = model.op_histogram
    assert not {"Shape", "Gather", "Concat", "Unsqueeze"} & set(hist), hist
    assert hist["Reshape"] == 2


def test_static_dims_of_dynamic_tensors_become_constants():
    # x.view(-1, x.shape[2]): the last dim is static although the others are not.
    nodes = _dim("x", 2, "w") + [helper.make_node("Concat", ["minus1", "w"], ["shape"], axis=0),
                                  helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = check_pass(_model(nodes, INDEX + [_i64("minus1", [-1])]), PIPE, fires=True, feeds=_feeds())
    assert model.op_histogram == {"Reshape": 1}


def test_expand_and_equal_where_on_shape_values():
    # cls.expand(x.shape[0], -1, -1) as TorchScript writes it: Where(Equal(shape, -1), 1, shape).
    cls = numpy_helper.from_array(np.random.default_rng(2).standard_normal((1, 1, 64)).astype(np.float32), "cls")
    nodes = _dim("x", 0, "b") + [
        helper.make_node("Concat", ["b", "minus1", "minus1"], ["want"], axis=0),
        helper.make_node("Equal", ["want", "minus1"], ["is_neg"]),
        helper.make_node("Where", ["is_neg", "ones3", "want"], ["target"]),
        helper.make_node("Expand", ["cls", "target"], ["c"]),
        helper.make_node("Concat", ["c", "x"], ["y"], axis=1)]
    m = _model(nodes, INDEX + [cls, _i64("minus1", [-1]), _i64("ones3", [1, 1, 1])])
    model = check_pass(m, PIPE, fires=True, feeds=_feeds())
    assert "Equal" not in model.op_histogram  # became a constant: a named dim is never -1
    # Expand of a tensor whose dims already match keeps only static entries (1 = keep).
    nodes = _dim("x", 0, "b") + _dim("x", 1, "s") + [
        helper.make_node("Concat", ["b", "s", "width"], ["target"], axis=0),
        helper.make_node("Expand", ["x", "target"], ["y"])]
    model = check_pass(_model(nodes, INDEX + [_i64("width", [64])]), PIPE, fires=True, feeds=_feeds())
    assert model.op_histogram == {"Expand": 1}


def test_same_shape_values_are_shared():
    # Two layers compute the [seq, seq] mask shape from different tensors of the same shape.
    nodes = [helper.make_node("Relu", ["x"], ["h"])] + _dim("x", 1, "s1") + _dim("h", 1, "s2") + [
        helper.make_node("Concat", ["s1", "s1"], ["m1"], axis=0),
        helper.make_node("Concat", ["s2", "s2"], ["m2"], axis=0),
        helper.make_node("ConstantOfShape", ["m1"], ["z1"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("ConstantOfShape", ["m2"], ["z2"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("Trilu", ["z1"], ["t1"]), helper.make_node("Trilu", ["z2"], ["t2"]),
        helper.make_node("Add", ["x", "t1"], ["a"]), helper.make_node("Add", ["h", "t2"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["y"])]
    m = _model(nodes, INDEX, x_shape=("batch", "seq", "seq"))
    feeds = {"x": np.random.default_rng(3).standard_normal((2, 5, 5)).astype(np.float32)}
    check_pass(m, PIPE, fires=True, feeds=feeds)
    model = irforge.convert_model(m, transform=PIPE + ",cse,dce", verify=True)
    hist = model.op_histogram
    assert hist["Shape"] == 1 and hist["ConstantOfShape"] == 1 and hist["Trilu"] == 1, hist


def _inferred(m):
    import onnx

    return onnx.load_from_string(irforge.convert_model(m, transform="infer-shapes").to_onnx_bytes())


def test_must_not_fire():
    # Dims from different tensors that are not the reshaped tensor's own dims at that index
    # (two would need -1); allowzero=1; an unknown dim (NonZero).
    nodes = _dim("x", 1, "s") + [helper.make_node("Concat", ["s", "s", "minus1"], ["shape"], axis=0),
                                 helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
                                 helper.make_node("Reshape", ["xt", "shape"], ["r"]),
                                 helper.make_node("ReduceSum", ["r"], ["y"], keepdims=0)]
    m = _model(nodes, INDEX + [_i64("minus1", [-1])], x_shape=("batch", "seq", 64))
    check_pass(_inferred(m), "simplify-shapes", fires=False, feeds=_feeds(batch=3, seq=3))
    nodes = _dim("x", 0, "b") + [helper.make_node("Gather", ["b_shape", "i1"], ["s_s"], axis=0),
                                 helper.make_node("Unsqueeze", ["s_s", "zero"], ["s"]),
                                 helper.make_node("Concat", ["b", "s", "eight", "eight"], ["shape"], axis=0),
                                 helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)]
    check_pass(_inferred(_model(nodes, INDEX + [_i64("eight", [8])])), "simplify-shapes", fires=False, feeds=_feeds())
    nodes = [helper.make_node("NonZero", ["x"], ["nz"])] + _dim("nz", 1, "n") + [
        helper.make_node("Concat", ["n", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"])]
    check_pass(_inferred(_model(nodes, INDEX + [_i64("minus1", [-1])], x_shape=(2, 3, 4))), "simplify-shapes", fires=False,
               feeds={"x": np.ones((2, 3, 4), np.float32)}, openvino=False)


def test_flatten_becomes_a_constant_reshape():
    for axis, _ in ((1, "copy the batch"), (2, "static tail"), (0, "all")):
        m = _model([helper.make_node("Flatten", ["x"], ["f"], axis=axis), helper.make_node("Relu", ["f"], ["y"])], [])
        model = check_pass(m, PIPE, fires=True, feeds=_feeds())
        assert model.op_histogram == {"Reshape": 1, "Relu": 1}
    # Neither side static beyond axis 1: stays a Flatten.
    m = _model([helper.make_node("Flatten", ["x"], ["f"], axis=2), helper.make_node("Relu", ["f"], ["y"])], [],
               x_shape=("batch", "seq", "width"))
    check_pass(_inferred(m), "simplify-shapes", fires=False, feeds=_feeds())


def test_rotary_table_sliced_to_the_sequence_keeps_the_sequence_dim():
    # cos[:seq] * x, then x.reshape(b, s, 4, 16) from Shape(x*cos): the product's dims must
    # stay [batch, seq, 64] (min(seq, 128) broadcast with seq is seq) for the Reshape to fold.
    cos = numpy_helper.from_array(np.random.default_rng(5).standard_normal((128, 64)).astype(np.float32), "cos")
    nodes = _dim("x", 1, "s") + [helper.make_node("Slice", ["cos", "zero", "s", "zero"], ["c"]),
                                 helper.make_node("Mul", ["x", "c"], ["xc"])]
    nodes += _dim("xc", 0, "b2") + _dim("xc", 1, "s2")
    nodes += [helper.make_node("Concat", ["b2", "s2", "heads", "hdim"], ["shape"], axis=0),
              helper.make_node("Reshape", ["xc", "shape"], ["y"])]
    m = _model(nodes, INDEX + [cos, _i64("heads", [4]), _i64("hdim", [16])])
    model = check_pass(m, PIPE, fires=True, feeds=_feeds(batch=2, seq=5))
    assert model.op_histogram == {"Shape": 1, "Gather": 1, "Unsqueeze": 1, "Slice": 1, "Mul": 1, "Reshape": 1}, model.op_histogram
