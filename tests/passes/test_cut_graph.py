"""Cutting (cpp/passes/edit/cut_graph.cc): `input` naming inner tensors, `output` naming tensors,
as Model Optimizer's --input / --output. References are the original model's own intermediate
results, exposed as extra outputs and run in onnxruntime."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

RNG = np.random.default_rng(7)


def _net():
    # x → Conv → relu1 ─┬→ Conv → relu2 ─┐
    #                    └→ MaxPool ───────┴→ Add(sum) → Mul(side) → GlobalAveragePool → out
    # `side` is a second model input read only at the end; `pooled` is a second branch.
    w1 = numpy_helper.from_array(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "w1")
    w2 = numpy_helper.from_array(RNG.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2, "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["conv1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv1"], ["relu1"]),
             helper.make_node("Conv", ["relu1", "w2"], ["conv2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv2"], ["relu2"]),
             helper.make_node("MaxPool", ["relu1"], ["pooled"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["relu2", "pooled"], ["sum"]),
             helper.make_node("Mul", ["sum", "side"], ["scaled"]),
             helper.make_node("GlobalAveragePool", ["scaled"], ["out"])]
    g = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16]),
                                         helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 8, 1, 1])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 1, 1])], [w1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _with_outputs(model, names):
    """The original with `names` as extra outputs: the reference for cut models."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    return m


def _reference(model, feeds, names):
    m = _with_outputs(model, names)
    outs = run_onnxruntime(m.SerializeToString(), feeds)
    all_names = [o.name for o in m.graph.output]
    return {n: outs[all_names.index(n)] for n in names}


def _feeds():
    return {"x": RNG.standard_normal((1, 3, 16, 16)).astype(np.float32),
            "side": RNG.standard_normal((1, 8, 1, 1)).astype(np.float32)}


def test_output_names_an_inner_tensor():
    src, feeds = _net(), _feeds()
    ref = _reference(src, feeds, ["relu2", "pooled"])
    m = irforge.convert_model(src, output="relu2,pooled")
    assert [o.name for o in m.outputs] == ["relu2", "pooled"]
    assert [i.name for i in m.inputs] == ["x"]  # `side` fed nothing the outputs need
    assert "GlobalAveragePool" not in m.op_histogram and "Mul" not in m.op_histogram
    got = run_onnxruntime(m.to_onnx_bytes(), {"x": feeds["x"]})
    assert_outputs_close([ref["relu2"], ref["pooled"]], got)
    assert_outputs_close([ref["relu2"], ref["pooled"]], run_openvino(m, {"x": feeds["x"]}), rtol=1e-4, atol=1e-5)


def test_input_naming_inner_tensors_cuts_there():
    src, feeds = _net(), _feeds()
    ref = _reference(src, feeds, ["relu1", "out"])
    # relu1 becomes an input: conv1 and relu1's producer are gone, x is dropped.
    m = irforge.convert_model(src, input="relu1,side")
    assert [i.name for i in m.inputs] == ["relu1", "side"]
    assert m.inputs[0].shape == (1, 8, 16, 16)
    assert m.op_histogram.get("Conv") == 1
    cut_feeds = {"relu1": ref["relu1"], "side": feeds["side"]}
    assert_outputs_close([ref["out"]], run_onnxruntime(m.to_onnx_bytes(), cut_feeds))
    assert_outputs_close([ref["out"]], run_openvino(m, cut_feeds), rtol=1e-4, atol=1e-5)


def test_cut_both_ends_and_input_order():
    src, feeds = _net(), _feeds()
    ref = _reference(src, feeds, ["relu1", "conv2", "sum"])
    m = irforge.convert_model(src, input=["conv2", "relu1"], output=["sum"])
    assert [i.name for i in m.inputs] == ["conv2", "relu1"]  # in the order given
    assert sorted(m.op_histogram) == ["Add", "MaxPool", "Relu"]
    got = run_onnxruntime(m.to_onnx_bytes(), {"conv2": ref["conv2"], "relu1": ref["relu1"]})
    assert_outputs_close([ref["sum"]], got)


def test_cut_input_takes_shape_and_type_specs():
    src, feeds = _net(), _feeds()
    ref = _reference(src, feeds, ["pooled", "relu2", "out"])
    # An inner tensor with a new shape spec and a type change, like any input.
    m = irforge.convert_model(src, input="pooled[1,8,16,16],relu2{f16},side")
    assert m.inputs[1].dtype == "float16"
    got = run_onnxruntime(m.to_onnx_bytes(), {"pooled": ref["pooled"], "relu2": ref["relu2"].astype(np.float16), "side": feeds["side"]})
    assert_outputs_close([ref["out"]], got, rtol=2e-3, atol=1e-3)


def test_unknown_tensor_types_are_inferred():
    src = _net()
    del src.graph.value_info[:]  # nothing declares relu1's type: shape inference finds it
    m = irforge.convert_model(src, input="relu1,side", transform="none")
    assert m.inputs[0].dtype == "float32"


@pytest.mark.parametrize("kwargs,message", [
    (dict(input="nope"), r"input 'nope': the model has no input 'nope' and no tensor of that name"),
    (dict(output="relu1,missing"), r"output 'missing': the model has no output 'missing'"),
    (dict(input="relu1"), r"input relu1 does not separate the graph: the outputs still need the model input 'side'"),
    (dict(input="conv1,relu1,side"), r"input 'conv1': no output depends on it"),
    (dict(input="w1"), r"input 'w1': is a constant"),
    (dict(output="w2"), r"output 'w2': is a constant"),
    (dict(input="out,side"), r"input 'out': the model has no input 'out'; it is an output"),
    (dict(output="sum", input="x,side"), r"input 'side': no output depends on it after the cut"),
    (dict(input="[1,3,16,16],relu1"), r"name every input when cutting"),
    (dict(output="relu1,relu1"), r"named twice"),
    (dict(output=""), r"empty tensor name"),
])
def test_errors_name_the_tensor_and_change_nothing(kwargs, message):
    src = _net()
    with pytest.raises(irforge.UsageError, match=message):
        irforge.convert_model(src, **kwargs)
    # A failed cut leaves a Model untouched.
    m = irforge.convert_model(src, transform="none")
    before = m.to_onnx_bytes()
    with pytest.raises(irforge.UsageError):
        irforge.convert_model(m, transform="none", **kwargs)
    assert m.to_onnx_bytes() == before


def test_output_of_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="output must be"):
        irforge.convert_model(_net(), output=3)


def test_cli_input_and_output_cut(tmp_path):
    src, feeds = _net(), _feeds()
    path = tmp_path / "net.onnx"
    onnx.save(src, path)
    ref = _reference(src, feeds, ["relu1", "sum"])
    out = tmp_path / "cut.onnx"
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--input", "relu1", "--output", "sum",
                        "--output_model", str(out)], capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    got = run_onnxruntime(str(out), {"relu1": ref["relu1"]})
    assert_outputs_close([ref["sum"]], got)
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", str(path), "--output", "nothing_here",
                        "--output_model", str(tmp_path / "bad.onnx")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "output 'nothing_here'" in r.stderr
    assert not (tmp_path / "bad.onnx").exists()


def test_cut_through_a_subgraph_capture():
    # relu1 is read inside an If branch: cutting at relu1 keeps the If, fed by the new input.
    then_g = helper.make_graph([helper.make_node("Neg", ["relu1"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Abs", ["relu1"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("Sin", ["x"], ["s"]), helper.make_node("Relu", ["s"], ["relu1"]),
                           helper.make_node("If", ["flag"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                           helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    src = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m = irforge.convert_model(src, input="relu1,flag")
    assert "Sin" not in m.op_histogram
    r = np.array([0.5, 0, 2, 3], np.float32)
    assert_outputs_close([-r], run_onnxruntime(m.to_onnx_bytes(), {"relu1": r, "flag": np.array(True)}))
