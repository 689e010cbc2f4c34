"""remove-shape-cast-roundtrip: Cast(int64) of Cast(int32) of dims is the dims (paddle2onnx's
Resize sizes, tests/test_wild_paddle2onnx.py); it must not touch values that may not be dims."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge.testing import check_pass

PIPELINE = "remove-shape-cast-roundtrip,dce"


def _i64(name, v):
    return numpy_helper.from_array(np.asarray(v, np.int64), name)


def _typed(proto):
    """The model after infer-shapes, written back: the pass reads the int64 types inference found."""
    return onnx.load_from_string(irforge.convert_model(proto, transform="infer-shapes").to_onnx_bytes())


def _upsample_to_lateral(legacy):
    """x upsampled to lat's spatial size, the size rebuilt as paddle2onnx writes it: PIR form
    Cast(int64, Cast(int32, Slice(Shape))), legacy form Cast(int64, Slice(Cast(int32, Shape)))."""
    if legacy:
        size = [h.make_node("Cast", ["sl"], ["sl32"], to=T.INT32), h.make_node("Slice", ["sl32", "s2", "big"], ["hw32"]),
                h.make_node("Cast", ["hw32"], ["hw"], to=T.INT64)]
    else:
        size = [h.make_node("Slice", ["sl", "s2", "big"], ["hw64"]), h.make_node("Cast", ["hw64"], ["hw32"], to=T.INT32),
                h.make_node("Cast", ["hw32"], ["hw"], to=T.INT64)]
    nodes = [h.make_node("Shape", ["lat"], ["sl"]), *size, h.make_node("Shape", ["x"], ["sx"]),
             h.make_node("Slice", ["sx", "s0", "s2"], ["nc"]), h.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             h.make_node("Resize", ["x", "empty", "empty", "sizes"], ["up"], mode="nearest"), h.make_node("Add", ["up", "lat"], ["y"])]
    inits = [_i64("s0", [0]), _i64("s2", [2]), _i64("big", [2**31 - 1]), numpy_helper.from_array(np.zeros(0, np.float32), "empty")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 4, "h", "w"]),
                                  h.make_tensor_value_info("lat", T.FLOAT, ["n", 4, "H", "W"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 11)])


@pytest.mark.parametrize("legacy", [False, True], ids=["pir_form", "legacy_form"])
def test_cast_pair_on_rebuilt_sizes_goes(legacy):
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 4, 3, 5)).astype(np.float32), "lat": rng.standard_normal((2, 4, 6, 10)).astype(np.float32)}
    model = check_pass(_typed(_upsample_to_lateral(legacy)), PIPELINE, fires=True, feeds=feeds)
    ops = [n.op_type for n in onnx.load_from_string(model.to_onnx_bytes()).graph.node]
    assert "Cast" not in ops, ops


def _cast_pair_on(source_nodes, inner=T.INT32, inputs=()):
    nodes = source_nodes + [h.make_node("Cast", ["v"], ["v32"], to=inner), h.make_node("Cast", ["v32"], ["y"], to=T.INT64)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 4]), *inputs],
                     [h.make_tensor_value_info("y", T.INT64, None)], [_i64("neg", [-1])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("case", ["int64_data", "dims_minus_constant", "int16_between"])
def test_must_not_fire(case):
    """An int64 input may hold values past int32 (the pair wraps them); arithmetic on dims may be
    negative; a pair through int16 is not exact even for dims."""
    feeds = {"x": np.zeros((3, 4), np.float32)}
    if case == "int64_data":
        proto = _cast_pair_on([h.make_node("Identity", ["t"], ["v"])], inputs=[h.make_tensor_value_info("t", T.INT64, [2])])
        feeds["t"] = np.array([2**31 + 5, -7], np.int64)
    elif case == "dims_minus_constant":
        proto = _cast_pair_on([h.make_node("Shape", ["x"], ["s"]), h.make_node("Add", ["s", "neg"], ["v"])])
    else:
        proto = _cast_pair_on([h.make_node("Shape", ["x"], ["v"])], inner=T.INT16)
    check_pass(_typed(proto), "remove-shape-cast-roundtrip", fires=False, feeds=feeds, openvino=False)


def _legacy_grid_sizes(chain_op="Squeeze"):
    """The legacy Paddle YOLO decode's sizes (tests/test_wild_paddle2onnx.py): h from an int32
    Cast of the Shape, Slice -> Squeeze to a scalar -> Reshape back to [1] -> Cast(int64) for a
    Reshape target, and the same scalar under Cast(float) as a Range limit. chain_op="Abs" puts
    arithmetic (not a selection) in the chain."""
    i = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    f = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    scalar = (h.make_node("Squeeze", ["h32"], ["hs"], axes=[0]) if chain_op == "Squeeze"
              else h.make_node("Abs", ["h32"], ["hs"]))
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Cast", ["s"], ["s32"], to=T.INT32),
             h.make_node("Slice", ["s32", "two", "three"], ["h32"]), scalar,
             h.make_node("Reshape", ["hs", "one_shape"], ["h1"]), h.make_node("Cast", ["h1"], ["h64"], to=T.INT64),
             h.make_node("Concat", ["lead", "h64"], ["target"], axis=0), h.make_node("Reshape", ["x", "target"], ["y"]),
             h.make_node("Cast", ["hs"], ["hf"], to=T.FLOAT), h.make_node("Range", ["zero", "hf", "step"], ["r"])]
    inits = [i("two", [2]), i("three", [3]), i("one_shape", [1]), i("lead", [0, 3, 1]), f("zero", 0.0), f("step", 1.0)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, "h", 1])],
                     [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("r", T.FLOAT, None)], inits)
    return _typed(h.make_model(g, opset_imports=[h.make_opsetid("", 11)]))


def test_legacy_int32_selection_chain_reads_the_int64_shape():
    """Cast(int64) and Cast(float) of Reshape(Squeeze(Slice(Cast(Shape, int32)))): the Slice is
    taken from the int64 Shape, the Squeeze/Reshape back to [1] is not replayed, and no int32
    value is left."""
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 5, 1)).astype(np.float32)}
    model = check_pass(_legacy_grid_sizes(), PIPELINE, fires=True, feeds=feeds)
    nodes = onnx.load_from_string(model.to_onnx_bytes()).graph.node
    ops = [n.op_type for n in nodes]
    assert ops.count("Cast") == 1 and all(n.attribute[0].i == T.FLOAT for n in nodes if n.op_type == "Cast"), ops
    assert ops.count("Reshape") == 1, ops  # the data Reshape only


def test_legacy_chain_through_arithmetic_must_not_fire():
    """Abs is arithmetic, not a selection of dims (the pass does not reason about values): the
    Casts stay."""
    feeds = {"x": np.zeros((2, 3, 5, 1), np.float32)}
    check_pass(_legacy_grid_sizes("Abs"), "remove-shape-cast-roundtrip", fires=False, feeds=feeds, openvino=False)
