"""ONNX reader/writer: external data, typed fields, functions, subgraphs, determinism."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime


def _mlp(weights_dtype=np.float32, hidden=64, name="mlp"):
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, hidden)).astype(weights_dtype), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(hidden).astype(weights_dtype), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((hidden, 4)).astype(weights_dtype), "w2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
    ]
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w1, b1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _feeds():
    return {"x": np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)}


def test_model_introspection():
    model = irforge.convert_model(_mlp())
    assert [i.name for i in model.inputs] == ["x"]
    assert model.inputs[0].dtype == "float32"
    assert model.inputs[0].shape == ("batch", 16)
    assert [o.name for o in model.outputs] == ["y"]
    assert model.op_histogram == {"MatMul": 2, "Add": 1, "Relu": 1}
    assert model.weight_bytes == (16 * 64 + 64 + 64 * 4) * 4
    assert model.weight_count == 3
    assert model.verify() == []
    assert "MatMul" in model.dump()
    assert "x: float32[batch,16]" in model.summary()


@pytest.mark.parametrize("source", ["path", "bytes", "proto"])
def test_convert_model_accepts_path_bytes_and_proto(tmp_path, source):
    proto = _mlp()
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    arg = {"path": path, "bytes": proto.SerializeToString(), "proto": proto}[source]
    model = irforge.convert_model(arg)
    assert model.op_histogram["MatMul"] == 2


def test_convert_model_rejects_other_types():
    with pytest.raises(TypeError):
        irforge.convert_model(42)


def test_external_data_is_read_and_written(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    onnx.save(_mlp(), src / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    expected = run_onnxruntime(str(src / "m.onnx"), _feeds())
    model = irforge.convert_model(src / "m.onnx")
    assert model.weight_bytes > 0

    inline = tmp_path / "inline.onnx"
    irforge.save_model(model, inline)
    assert not (tmp_path / "inline.onnx.data").exists()
    assert_outputs_close(expected, run_onnxruntime(str(inline), _feeds()))

    ext = tmp_path / "ext.onnx"
    irforge.save_model(model, ext, external_data=True)
    data = tmp_path / "ext.onnx.data"
    assert data.exists()
    proto = onnx.load(ext, load_external_data=False)
    external = [t for t in proto.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    assert sorted(t.name for t in external) == ["w1", "w2"]  # b1 (256 bytes) stays inline
    for t in external:
        info = {e.key: e.value for e in t.external_data}
        assert info["location"] == "ext.onnx.data"
        assert int(info["offset"]) % 64 == 0
    onnx.checker.check_model(str(ext))
    assert_outputs_close(expected, run_onnxruntime(str(ext), _feeds()))


def test_typed_fields_become_equal_raw_data():
    # float_data / int32_data (fp16, int8, bool) / int64_data / double_data / uint64_data
    tensors = [
        helper.make_tensor("f32", TensorProto.FLOAT, [3], [1.5, -2.0, 3.25]),
        helper.make_tensor("f16", TensorProto.FLOAT16, [2], np.array([1.5, -2.0], np.float16).view(np.uint16).tolist()),
        helper.make_tensor("i8", TensorProto.INT8, [3], [-128, 0, 127]),
        helper.make_tensor("b", TensorProto.BOOL, [2], [True, False]),
        helper.make_tensor("i64", TensorProto.INT64, [2], [-(2**40), 7]),
        helper.make_tensor("f64", TensorProto.DOUBLE, [2], [1e300, -0.5]),
        helper.make_tensor("u32", TensorProto.UINT32, [2], [4000000000, 1]),
        helper.make_tensor("u64", TensorProto.UINT64, [1], [2**63 + 5]),
        helper.make_tensor("i4", TensorProto.INT4, [3], [-8, 7, 1]),
        helper.make_tensor("bf16", TensorProto.BFLOAT16, [2], [1.0, -3.0]),
    ]
    outputs = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in tensors]
    g = helper.make_graph([], "typed", [], outputs, tensors)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    written = onnx.load_from_string(irforge.convert_model(proto).to_onnx_bytes())
    for before, after in zip(proto.graph.initializer, written.graph.initializer):
        assert after.HasField("raw_data")
        np.testing.assert_array_equal(numpy_helper.to_array(after), numpy_helper.to_array(before), err_msg=before.name)


def test_functions_and_subgraphs_survive():
    fn = helper.make_function(
        "custom", "Scale2", ["a"], ["b"],
        [helper.make_node("Constant", [], ["two"], value_float=2.0), helper.make_node("Mul", ["a", "two"], ["b"])],
        opset_imports=[helper.make_opsetid("", 17)])
    then_g = helper.make_graph([helper.make_node("Scale2", ["x"], ["t"], domain="custom")], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    g = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)], "main",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(g, functions=[fn], opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    onnx.checker.check_model(proto)
    model = irforge.convert_model(proto)
    assert model.functions == ["custom::Scale2"]
    assert model.op_histogram == {"If": 1, "custom::Scale2": 1, "Neg": 1}
    written = model.to_onnx_bytes()
    onnx.checker.check_model(onnx.load_from_string(written))
    x = np.array([1.0, -3.0], np.float32)
    for cond, want in ((True, x * 2), (False, -x)):
        got = run_onnxruntime(written, {"cond": np.array(cond), "x": x})
        np.testing.assert_allclose(got[0], want)


def test_unsorted_graph_is_sorted_on_read():
    nodes = [helper.make_node("Relu", ["h"], ["y"], name="second"), helper.make_node("Neg", ["x"], ["h"], name="first")]
    g = helper.make_graph(nodes, "unsorted", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    written = onnx.load_from_string(irforge.convert_model(proto).to_onnx_bytes())
    assert [n.name for n in written.graph.node] == ["first", "second"]
    onnx.checker.check_model(written)


def test_same_input_gives_byte_identical_output(tmp_path):
    model = irforge.convert_model(_mlp())
    irforge.save_model(model, tmp_path / "a.onnx", external_data=True)
    irforge.save_model(irforge.convert_model(_mlp()), tmp_path / "b.onnx", external_data=True)
    assert (tmp_path / "a.onnx.data").read_bytes() == (tmp_path / "b.onnx.data").read_bytes()
    a = (tmp_path / "a.onnx").read_bytes().replace(b"a.onnx.data", b"X.onnx.data")
    b = (tmp_path / "b.onnx").read_bytes().replace(b"b.onnx.data", b"X.onnx.data")
    assert a == b


def test_overwriting_the_input_in_place_keeps_weights(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_mlp(), path)
    expected = run_onnxruntime(str(path), _feeds())
    model = irforge.convert_model(path)  # weights are views into the mapped file
    irforge.save_model(model, path)
    assert_outputs_close(expected, run_onnxruntime(str(path), _feeds()))
    assert [f for f in os.listdir(tmp_path)] == ["m.onnx"]


def test_negative_dim_value_is_read_as_a_dynamic_dim():
    # Some exporters write dim_value -1 for a dynamic dim; shapes with it used to reach the
    # passes as a static size (a LayerNorm over a -8 wide axis made fuse-layer-norm size a
    # vector by it: tests/fuzz/regressions/pipeline-layer-norm-negative-input-dim.onnx).
    proto = _mlp()
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    model = irforge.convert_model(proto)
    assert model.inputs[0].shape[0] not in (-1, 1) and model.inputs[0].shape[1] == 16
    assert not [d for d in onnx.load_from_string(model.to_onnx_bytes()).graph.input[0].type.tensor_type.shape.dim
                if d.HasField("dim_value") and d.dim_value < 0]
    feeds = {"x": np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)}
    assert_outputs_close(run_onnxruntime(model.to_onnx_bytes(), feeds), run_onnxruntime(_mlp().SerializeToString(), feeds))
