"""clear-reshape-allowzero: the dynamo exporter's Reshape(x, Concat(x.shape[i]..., -1, 64),
allowzero=1) loses allowzero where no entry can be a 0 it reads differently, so simplify-shapes
makes the target constant."""

import onnx
import pytest
from onnx import TensorProto, helper

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime
from wild_shape_util import check_at_shapes, feeds, i64, model, node

PIPE = "infer-shapes,clear-reshape-allowzero,simplify-shapes,dce"


def _dims(*index):
    """Shape(x, start=i, end=i+1) per index, as the dynamo exporter writes x.shape[i]."""
    return [node("Shape", ["x"], [f"d{i}"], start=i, end=i + 1) for i in index]


def _reshape(entries, inits, allowzero=1):
    nodes = _dims(0, 1) + [node("Concat", entries, ["t"], axis=0), node("Reshape", ["x", "t"], ["r"], allowzero=allowzero),
                           node("Relu", ["r"], ["y"])]
    return model(nodes, inits)


def _allowzero(result):
    proto = onnx.load_from_string(result.to_onnx_bytes())
    return [a.i for n in proto.graph.node if n.op_type == "Reshape" for a in n.attribute if a.name == "allowzero"]


@pytest.mark.parametrize("entries, inits, shapes", [
    # view(x.shape[0], x.shape[1], -1, 16): a -1 forbids a run-time 0 in the original already.
    (["d0", "d1", "minus1", "c16"], [i64("minus1", [-1]), i64("c16", [16])], [(2, 3, 64), (3, 7, 64)]),
    # view(x.shape[0], x.shape[1], 4, 16): a zero batch is a copy of 0 or a size 0, the same.
    (["d0", "d1", "c4", "c16"], [i64("c4", [4]), i64("c16", [16])], [(2, 3, 64), (3, 7, 64), (0, 5, 64)]),
])
def test_view_by_own_leading_dims_gets_a_constant_target(entries, inits, shapes):
    result = check_at_shapes(_reshape(entries, inits), PIPE, True, shapes)
    assert result.op_histogram == {"Reshape": 1, "Relu": 1}, result.op_histogram
    assert result.pass_log[1]["name"] == "clear-reshape-allowzero" and result.pass_log[1]["changed"]
    assert _allowzero(result) in ([], [0])


def test_constant_target_without_zero_drops_the_attribute():
    m = model([node("Reshape", ["x", "t"], ["r"], allowzero=1), node("Relu", ["r"], ["y"])], [i64("t", [-1, 16])])
    result = check_at_shapes(m, "clear-reshape-allowzero", True, [(2, 3, 64), (3, 7, 64)])
    assert _allowzero(result) in ([], [0])


def _must_not_fire(m, shapes):
    result = irforge.convert_model(m.SerializeToString(), transform="infer-shapes,clear-reshape-allowzero", verify=True)
    assert result.pass_log[1]["name"] == "clear-reshape-allowzero" and not result.pass_log[1]["changed"]
    assert _allowzero(result) == [1]
    for k, shape in enumerate(shapes):
        expected = run_onnxruntime(m.SerializeToString(), feeds(shape, k))
        assert expected
        assert_outputs_close(expected, run_onnxruntime(result.to_onnx_bytes(), feeds(shape, k)))


def test_dims_at_other_indices_must_not_fire():
    # x[b, s, 64].view(s, b, 64): a run-time 0 batch would be copied from x's seq instead.
    _must_not_fire(_reshape(["d1", "d0", "c64"], [i64("c64", [64])]), [(2, 3, 64), (3, 2, 64)])


def test_static_zero_must_not_fire():
    # A static 0 under allowzero=1 is a size: x[0, s, 64].view(b, 0, 64) is empty, not a copy.
    _must_not_fire(_reshape(["d0", "zero", "c64"], [i64("zero", [0]), i64("c64", [64])]), [(0, 3, 64), (0, 5, 64)])


def test_unknown_content_must_not_fire():
    # The target is a graph input's value: nothing is known about its entries.
    m = model([node("Reshape", ["x", "t_in"], ["r"], allowzero=1), node("Relu", ["r"], ["y"])], [])
    m.graph.input.append(helper.make_tensor_value_info("t_in", TensorProto.INT64, [3]))
    result = irforge.convert_model(m.SerializeToString(), transform="infer-shapes,clear-reshape-allowzero", verify=True)
    assert not result.pass_log[1]["changed"]
    assert _allowzero(result) == [1]
