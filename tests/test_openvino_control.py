"""OpenVINO lowering of control-flow ops (If, Loop, Scan): irforge IR on OpenVINO CPU vs onnxruntime.

The onnx node cases cover little of these ops (most of them use sequences); these models cover
what they miss: run-time conditions and trip counts, outer-scope values read by bodies, nested
bodies, constants inside bodies, scan axes and directions, zero iterations.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import openvino as ov
import irforge
from irforge.testing import run_onnxruntime  # noqa: E402
from onnx_graphs import check_ir, vi


def _model(nodes, inputs, outputs, opset=17, initializers=()):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


# ---- If ----------------------------------------------------------------------------------------


def _if_model():
    # then: x * w (w an outer initializer), else: x - y (y an outer input); the two branches
    # also return differently shaped second outputs.
    then_g = h.make_graph(
        [
            h.make_node("Mul", ["x", "w"], ["t0"]),
            h.make_node("ReduceSum", ["x"], ["t1"], keepdims=1),
        ],
        "then",
        [],
        [vi("t0", T.FLOAT, None), vi("t1", T.FLOAT, None)],
    )
    else_g = h.make_graph(
        [h.make_node("Sub", ["x", "y"], ["e0"]), h.make_node("Identity", ["x"], ["e1"])],
        "else",
        [],
        [vi("e0", T.FLOAT, None), vi("e1", T.FLOAT, None)],
    )
    nodes = [
        h.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        h.make_node("Greater", ["s", "zero"], ["cond"]),
        h.make_node("If", ["cond"], ["o0", "o1"], then_branch=then_g, else_branch=else_g),
    ]
    inits = [
        h.make_tensor("w", T.FLOAT, [3], [2.0, 3.0, 4.0]),
        h.make_tensor("zero", T.FLOAT, [], [0.0]),
    ]
    return _model(nodes, [vi("x", T.FLOAT, [2, 3]), vi("y", T.FLOAT, [2, 3])], [vi("o0"), vi("o1")], initializers=inits)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_if_runtime_condition_and_outer_values(sign):
    x = (np.abs(np.random.RandomState(0).randn(2, 3)) * sign).astype(np.float32)
    y = np.random.RandomState(1).randn(2, 3).astype(np.float32)
    check_ir(_if_model(), {"x": x, "y": y})


def test_if_nested_with_constant_node_capture():
    # A Constant node of the main graph read two bodies deep; branches hold their own Constants.
    inner_then = h.make_graph([h.make_node("Add", ["x", "k"], ["it"])], "it", [], [vi("it")])
    inner_else = h.make_graph(
        [h.make_node("Constant", [], ["c5"], value_float=5.0), h.make_node("Mul", ["x", "c5"], ["ie"])], "ie", [], [vi("ie")]
    )
    outer_then = h.make_graph(
        [h.make_node("If", ["c2"], ["ot"], then_branch=inner_then, else_branch=inner_else)], "ot", [], [vi("ot")]
    )
    outer_else = h.make_graph([h.make_node("Neg", ["x"], ["oe"])], "oe", [], [vi("oe")])
    nodes = [
        h.make_node("Constant", [], ["k"], value_floats=[10.0, 20.0]),
        h.make_node("If", ["c1"], ["y"], then_branch=outer_then, else_branch=outer_else),
    ]
    m = _model(nodes, [vi("x", T.FLOAT, [2]), vi("c1", T.BOOL, []), vi("c2", T.BOOL, [])], [vi("y")])
    x = np.array([1.0, 2.0], np.float32)
    for c1 in (True, False):
        for c2 in (True, False):
            check_ir(m, {"x": x, "c1": np.array(c1), "c2": np.array(c2)})


# ---- Loop --------------------------------------------------------------------------------------


def _loop_body(scale_name="scale"):
    # acc' = acc * scale + i ; scan = acc' ; cond' = sum(acc') < limit
    return h.make_graph(
        [
            h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
            h.make_node("Mul", ["acc", scale_name], ["m"]),
            h.make_node("Add", ["m", "fi"], ["acc_out"]),
            h.make_node("ReduceSum", ["acc_out"], ["s"], keepdims=0),
            h.make_node("Less", ["s", "limit"], ["cond_out"]),
            h.make_node("Identity", ["acc_out"], ["scan_out"]),
        ],
        "body",
        [vi("i", T.INT64, []), vi("cond_in", T.BOOL, []), vi("acc", T.FLOAT, None)],
        [vi("cond_out", T.BOOL, []), vi("acc_out", T.FLOAT, None), vi("scan_out", T.FLOAT, None)],
    )


@pytest.mark.parametrize("trip,limit", [(5, 1000.0), (10, 30.0), (0, 10.0)])
def test_loop_trip_count_and_condition(tmp_path, trip, limit):
    nodes = [h.make_node("Loop", ["M", "c", "a0"], ["acc", "scans"], body=_loop_body())]
    m = _model(
        nodes,
        [vi("M", T.INT64, []), vi("c", T.BOOL, []), vi("a0", T.FLOAT, [3]), vi("scale", T.FLOAT, [3]), vi("limit", T.FLOAT, [])],
        [vi("acc"), vi("scans")],
    )
    feeds = {
        "M": np.array(trip, np.int64),
        "c": np.array(True),
        "a0": np.array([1.0, 2.0, 3.0], np.float32),
        "scale": np.array([1.5, 1.0, 0.5], np.float32),
        "limit": np.array(limit, np.float32),
    }
    if trip == 0:
        # Zero iterations: the carried value is the initial one, the scan output is empty.
        expected = run_onnxruntime(m.SerializeToString(), feeds)
        xml = tmp_path / "m.xml"
        irforge.save_model(irforge.convert_model(m), str(xml), compress_to_fp16=False)
        compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled.create_infer_request().infer(feeds)
        np.testing.assert_allclose(result[compiled.outputs[0]], expected[0])
        assert result[compiled.outputs[1]].shape[0] == 0
        return
    check_ir(m, feeds)


def test_loop_without_trip_count():
    # ("", cond): a while loop.
    nodes = [h.make_node("Loop", ["", "c", "a0"], ["acc", "scans"], body=_loop_body())]
    m = _model(
        nodes,
        [vi("c", T.BOOL, []), vi("a0", T.FLOAT, [3]), vi("scale", T.FLOAT, [3]), vi("limit", T.FLOAT, [])],
        [vi("acc"), vi("scans")],
    )
    feeds = {
        "c": np.array(True),
        "a0": np.array([1.0, 2.0, 3.0], np.float32),
        "scale": np.array([2.0, 1.0, 0.5], np.float32),
        "limit": np.array(100.0, np.float32),
    }
    check_ir(m, feeds)


def test_loop_without_condition_constant_in_body():
    # (M, ""): a for loop; the body multiplies by a body initializer and reads a Constant node.
    body = h.make_graph(
        [
            h.make_node("Constant", [], ["one"], value_float=1.0),
            h.make_node("Mul", ["acc", "k"], ["m"]),
            h.make_node("Add", ["m", "one"], ["acc_out"]),
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [vi("i", T.INT64, []), vi("cond_in", T.BOOL, []), vi("acc", T.FLOAT, None)],
        [vi("cond_out", T.BOOL, []), vi("acc_out", T.FLOAT, None)],
        initializer=[h.make_tensor("k", T.FLOAT, [2], [2.0, 0.5])],
    )
    m = _model(
        [h.make_node("Loop", ["M", "", "a0"], ["acc"], body=body)],
        [vi("a0", T.FLOAT, [2])],
        [vi("acc")],
        initializers=[h.make_tensor("M", T.INT64, [], [4])],
    )
    check_ir(m, {"a0": np.array([1.0, 3.0], np.float32)})


def test_loop_nested_if_reads_iteration():
    # Even iterations add, odd ones subtract; the If inside the body reads body and outer values.
    then_g = h.make_graph([h.make_node("Add", ["acc", "x"], ["t"])], "t", [], [vi("t")])
    else_g = h.make_graph([h.make_node("Sub", ["acc", "x"], ["e"])], "e", [], [vi("e")])
    body = h.make_graph(
        [
            h.make_node("Mod", ["i", "two"], ["r"]),
            h.make_node("Equal", ["r", "zero"], ["even"]),
            h.make_node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g),
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
            h.make_node("Cast", ["i"], ["scan_out"], to=T.FLOAT),
        ],
        "body",
        [vi("i", T.INT64, []), vi("cond_in", T.BOOL, []), vi("acc", T.FLOAT, None)],
        [vi("cond_out", T.BOOL, []), vi("acc_out", T.FLOAT, None), vi("scan_out", T.FLOAT, None)],
    )
    m = _model(
        [h.make_node("Loop", ["M", "", "a0"], ["acc", "its"], body=body)],
        [vi("M", T.INT64, []), vi("a0", T.FLOAT, [2, 2]), vi("x", T.FLOAT, [2, 2])],
        [vi("acc"), vi("its")],
        initializers=[h.make_tensor("two", T.INT64, [], [2]), h.make_tensor("zero", T.INT64, [], [0])],
    )
    rs = np.random.RandomState(0)
    feeds = {"M": np.array(5, np.int64), "a0": rs.randn(2, 2).astype(np.float32), "x": rs.randn(2, 2).astype(np.float32)}
    check_ir(m, feeds)


# ---- Scan --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "in_axis,in_dir,out_axis,out_dir",
    [(0, 0, 0, 0), (1, 1, 0, 0), (-1, 0, 1, 1), (0, 1, -1, 0)],
)
def test_scan_axes_and_directions(in_axis, in_dir, out_axis, out_dir):
    # state' = state + x_t ; out_t = state' * x_t
    body = h.make_graph(
        [h.make_node("Add", ["s", "xt"], ["s_out"]), h.make_node("Mul", ["s_out", "xt"], ["y_t"])],
        "body",
        [vi("s", T.FLOAT, [3]), vi("xt", T.FLOAT, [3])],
        [vi("s_out", T.FLOAT, [3]), vi("y_t", T.FLOAT, [3])],
    )
    shape = [4, 3] if in_axis == 0 else [3, 4]
    node = h.make_node(
        "Scan",
        ["s0", "x"],
        ["s_final", "y"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[in_axis],
        scan_input_directions=[in_dir],
        scan_output_axes=[out_axis],
        scan_output_directions=[out_dir],
    )
    m = _model([node], [vi("s0", T.FLOAT, [3]), vi("x", T.FLOAT, shape)], [vi("s_final"), vi("y")])
    rs = np.random.RandomState(0)
    check_ir(m, {"s0": rs.randn(3).astype(np.float32), "x": rs.randn(*shape).astype(np.float32)})


def test_scan_reads_outer_value():
    body = h.make_graph(
        [h.make_node("Mul", ["xt", "w"], ["p"]), h.make_node("Add", ["s", "p"], ["s_out"]), h.make_node("Identity", ["s_out"], ["y_t"])],
        "body",
        [vi("s", T.FLOAT, [2]), vi("xt", T.FLOAT, [2])],
        [vi("s_out", T.FLOAT, [2]), vi("y_t", T.FLOAT, [2])],
    )
    node = h.make_node("Scan", ["s0", "x"], ["s_final", "y"], body=body, num_scan_inputs=1)
    m = _model([node], [vi("s0", T.FLOAT, [2]), vi("x", T.FLOAT, ["n", 2]), vi("w", T.FLOAT, [2])], [vi("s_final"), vi("y")])
    rs = np.random.RandomState(0)
    feeds = {"s0": rs.randn(2).astype(np.float32), "x": rs.randn(5, 2).astype(np.float32), "w": rs.randn(2).astype(np.float32)}
    check_ir(m, feeds)


def test_scan8_batched_with_outer_value():
    # Scan-8: batch axis 0, sequence axis 1, one reversed scan input.
    body = h.make_graph(
        [h.make_node("Mul", ["xt", "w"], ["p"]), h.make_node("Add", ["s", "p"], ["s_out"]), h.make_node("Sub", ["s_out", "yt"], ["o_t"])],
        "body",
        [vi("s", T.FLOAT, [2]), vi("xt", T.FLOAT, [2]), vi("yt", T.FLOAT, [2])],
        [vi("s_out", T.FLOAT, [2]), vi("o_t", T.FLOAT, [2])],
    )
    node = h.make_node("Scan", ["", "s0", "x", "y"], ["s_final", "o"], body=body, num_scan_inputs=2, directions=[0, 1])
    m = _model(
        [node],
        [vi("s0", T.FLOAT, [3, 2]), vi("x", T.FLOAT, [3, 4, 2]), vi("y", T.FLOAT, [3, 4, 2]), vi("w", T.FLOAT, [2])],
        [vi("s_final"), vi("o")],
        opset=8,
    )
    rs = np.random.RandomState(0)
    feeds = {k: rs.randn(*s).astype(np.float32) for k, s in [("s0", (3, 2)), ("x", (3, 4, 2)), ("y", (3, 4, 2)), ("w", (2,))]}
    check_ir(m, feeds)


# ---- Optional ----------------------------------------------------------------------------------


def test_optional_of_tensor():
    nodes = [
        h.make_node("Optional", ["x"], ["opt"]),
        h.make_node("OptionalHasElement", ["opt"], ["has"]),
        h.make_node("OptionalGetElement", ["opt"], ["got"]),
        h.make_node("OptionalHasElement", [], ["empty"]),
        h.make_node("Cast", ["has"], ["fh"], to=T.FLOAT),
        h.make_node("Cast", ["empty"], ["fe"], to=T.FLOAT),
        h.make_node("Add", ["got", "fh"], ["y0"]),
        h.make_node("Add", ["y0", "fe"], ["y"]),
    ]
    m = _model(nodes, [vi("x", T.FLOAT, ["n"])], [vi("y")], opset=18)
    check_ir(m, {"x": np.arange(4, dtype=np.float32)})


def test_optional_tensor_graph_input_is_a_present_tensor(tmp_path):
    # An optional<tensor> graph input becomes a Parameter of the tensor type (OpenVINO has no
    # optional): the IR's input is always present, so OptionalHasElement on it is true.
    opt = h.make_value_info("x", h.make_optional_type_proto(h.make_tensor_type_proto(T.FLOAT, ["n", 3])))
    nodes = [
        h.make_node("OptionalHasElement", ["x"], ["has"]),
        h.make_node("OptionalGetElement", ["x"], ["got"]),
        h.make_node("Cast", ["has"], ["fh"], to=T.FLOAT),
        h.make_node("Add", ["got", "fh"], ["y"]),
    ]
    m = _model(nodes, [opt], [vi("y"), vi("has", T.BOOL)], opset=18)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(m), xml)
    compiled = ov.Core().compile_model(xml, "CPU")
    assert compiled.input(0).get_element_type() == ov.Type.f32
    assert "x" in compiled.input(0).get_names()
    check_ir(m, {"x": x})


def test_optional_sequence_graph_input_is_refused(tmp_path):
    seq = h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, [2]))
    opt = h.make_value_info("s", h.make_optional_type_proto(seq))
    m = _model([h.make_node("OptionalHasElement", ["s"], ["has"])], [opt], [vi("has", T.BOOL)], opset=18)
    with pytest.raises(irforge.ConversionError, match="graph input 's' is not a tensor"):
        irforge.save_model(irforge.convert_model(m), str(tmp_path / "m.xml"))


def test_loop_carried_value_grows():
    # The carried value changes shape every iteration (a concatenation), as in decoding loops.
    body = h.make_graph(
        [
            h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
            h.make_node("Unsqueeze", ["fi", "zero_axis"], ["fi1"]),
            h.make_node("Concat", ["acc", "fi1"], ["acc_out"], axis=0),
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [vi("i", T.INT64, []), vi("cond_in", T.BOOL, []), vi("acc", T.FLOAT, ["n"])],
        [vi("cond_out", T.BOOL, []), vi("acc_out", T.FLOAT, ["m"])],
    )
    m = _model(
        [h.make_node("Loop", ["M", "", "a0"], ["acc"], body=body)],
        [vi("M", T.INT64, []), vi("a0", T.FLOAT, ["k"])],
        [vi("acc")],
        initializers=[h.make_tensor("zero_axis", T.INT64, [1], [0])],
    )
    check_ir(m, {"M": np.array(4, np.int64), "a0": np.array([7.0, 8.0], np.float32)})
