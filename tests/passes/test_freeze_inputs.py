"""--input / convert_model(input=...): fixing shapes, changing types, freezing inputs to values."""

import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.inputs import InputSpec, parse_input_text
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino


def _reshape_model():
    # y = Relu(x).reshape(x.shape[0], -1) @ w + float(x.shape[0]), with a dynamic batch: the
    # batch size only becomes a constant once the batch is fixed.
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((48, 5)).astype(np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
             helper.make_node("Concat", ["b1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["r", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["mm"]),
             helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["mm", "bf"], ["y"])]
    inits = [w, numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _flag_model():
    # y = If(use_scale) { x * scale } else { x + offset }: freezing the flag leaves one branch.
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "scale"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    # The else branch adds an int64 offset cast to float (so freezing an int input is exercised).
    else_g = helper.make_graph([helper.make_node("Cast", ["offset"], ["offset_f"], to=TensorProto.FLOAT),
                                helper.make_node("Add", ["x", "offset_f"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("If", ["use_scale"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4]),
                           helper.make_tensor_value_info("use_scale", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("scale", TensorProto.FLOAT, [4]),
                           helper.make_tensor_value_info("offset", TensorProto.INT64, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_parse_text_forms():
    assert parse_input_text("x[1,3,224,224]") == [InputSpec("x", [1, 3, 224, 224])]
    specs = parse_input_text("x[?,3,1..10,-1],ids{i64}->[1,2],flag->False,[1 2]")
    assert specs[0] == InputSpec("x", [-1, 3, -1, -1], bounds={2: (1, 10)})  # the range keeps its bounds
    assert specs[1].name == "ids" and specs[1].type == "int64" and specs[1].value.tolist() == [1, 2]
    assert specs[2].name == "flag" and specs[2].value.item() is False
    assert specs[3] == InputSpec(None, [1, 2])
    s = parse_input_text("n:0[2]{i32}->[20,15]")[0]
    assert (s.name, s.shape, s.type, s.value.tolist()) == ("n:0", [2], "int32", [20, 15])
    for bad, why in [("x[1,a]", "bad dimension 'a'"), ("x->[1,2", "unbalanced"), ("x{q9}", "unknown element type"),
                     ("->3", "needs the input's name"), ("x[1]->1->2", "more than one"), ("x[10..1]", "bad dimension range"),
                     ("x[1],,y[2]", "empty entry")]:
        with pytest.raises(ValueError, match=why):
            parse_input_text(bad)


@pytest.mark.parametrize("spec", ["x[2,3,4,4]", [2, 3, 4, 4], {"x": [2, 3, 4, 4]}, [("x", [2, 3, 4, 4], np.float32)],
                                  ("x", [2, 3, 4, 4]), ["x[2,3,4,4]"]],
                         ids=["text", "shape", "dict", "list-of-tuples", "tuple", "list-of-text"])
def test_fixing_the_batch_folds_the_shape_subgraph(spec):
    m = _reshape_model()
    dynamic = irforge.convert_model(m)
    assert "Shape" in dynamic.op_histogram
    model = irforge.convert_model(m, input=spec, verify=True)
    assert list(model.inputs[0].shape) == [2, 3, 4, 4]
    assert model.op_histogram == {"Relu": 1, "Reshape": 1, "MatMul": 1, "Add": 1}
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)}
    expected = run_onnxruntime(m.SerializeToString(), feeds)
    assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), feeds))
    assert_outputs_close(expected, run_openvino(model, feeds), rtol=1e-4, atol=1e-5)


def test_a_different_static_shape_reshapes_the_model():
    # The model states [1,3,4,4] everywhere (as shape-inferred files do); [3,3,4,4] must win.
    import onnx

    m = _reshape_model()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    m = onnx.shape_inference.infer_shapes(m)
    model = irforge.convert_model(m, input="x[3,3,4,4]", verify=True)
    feeds = {"x": np.random.default_rng(2).standard_normal((3, 3, 4, 4)).astype(np.float32)}
    out = run_onnxruntime(model.to_onnx_bytes(), feeds)
    assert out[0].shape == (3, 5)
    ref = np.maximum(feeds["x"], 0).reshape(3, -1) @ numpy_helper.to_array(m.graph.initializer[0]) + 3.0
    np.testing.assert_allclose(out[0], ref, rtol=1e-5, atol=1e-5)
    assert_outputs_close(out, run_openvino(model, feeds), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("flag", [True, False])
def test_freezing_a_flag_prunes_the_if(flag):
    m = _flag_model()
    scale = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    model = irforge.convert_model(m, input=f"use_scale->{flag},scale->[1 2 3 4],offset{{i64}}->[7]", verify=True)
    assert [i.name for i in model.inputs] == ["x"]
    assert "If" not in model.op_histogram
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    expected = run_onnxruntime(m.SerializeToString(), {"x": x, "use_scale": np.array(flag), "scale": scale,
                                                       "offset": np.array([7], np.int64)})
    assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), {"x": x}))
    assert_outputs_close(expected, run_openvino(model, {"x": x}), rtol=1e-4, atol=1e-5)


def test_freezing_with_a_numpy_value_and_changing_a_type():
    m = _flag_model()
    model = irforge.convert_model(m, input={"use_scale": np.array(False), "offset": np.array([2], np.int64), "x": "f16"},
                                  verify=True)
    assert {i.name: i.dtype for i in model.inputs} == {"x": "float16", "scale": "float32"}
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float16)
    got = run_onnxruntime(model.to_onnx_bytes(), {"x": x, "scale": np.ones(4, np.float32)})
    np.testing.assert_allclose(got[0], x.astype(np.float32) + 2.0, rtol=1e-6)


def test_clear_errors():
    m = _flag_model()
    with pytest.raises(ValueError, match=r"no input 'nope'.*x, use_scale, scale, offset"):
        irforge.convert_model(m, input="nope[1]")
    with pytest.raises(irforge.ConversionError, match=r"input 'x'.*rank 3"):
        irforge.convert_model(m, input="x[1,2,3]")
    with pytest.raises(ValueError, match=r"shape \[3\] holds 3 values, 4 given"):
        irforge.convert_model(m, input="scale[3]->[1,2,3,4]")
    with pytest.raises(ValueError, match="not integral"):
        irforge.convert_model(m, input="offset->[1.5]")
    with pytest.raises(ValueError, match="dynamic shape"):
        irforge.convert_model(m, input="scale[?]->[1,2,3,4]")


def test_cli(tmp_path):
    src = str(tmp_path / "m.onnx")
    with open(src, "wb") as f:
        f.write(_reshape_model().SerializeToString())
    out = str(tmp_path / "m.xml")
    env = dict(os.environ)
    run = lambda *a: subprocess.run([sys.executable, "-m", "irforge", "convert", src, "--output_model", out, *a],
                                    capture_output=True, text=True, env=env)
    r = run("--input", "x[2,3,4,4]")
    assert r.returncode == 0, r.stderr
    import openvino as ov

    params = ov.Core().read_model(out).inputs
    assert [str(p.get_partial_shape()) for p in params] == ["[2,3,4,4]"]
    r = run("--input", "y[1]")
    assert r.returncode == 1 and "no input 'y'" in r.stderr
    r = run("--input", "x[2,3")
    assert r.returncode == 1 and "unbalanced" in r.stderr
