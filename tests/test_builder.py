"""The graph builder (irforge.Builder): what every frontend builds through.

Built models must run like ONNX models (onnxruntime on the ONNX output, OpenVINO on the IR),
constants must view the caller's memory (no copy) and keep it alive, and every misuse must be a
ConversionError naming what is wrong, never a crash or a half-made model.
"""

import gc

import numpy as np
import pytest

import irforge
from irforge import _core
from irforge.testing import run_onnxruntime, run_openvino


def _mlp(rng):
    w = rng.standard_normal((8, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    b = irforge.Builder("<test mlp>")
    x = b.input("x", "float32", ["batch", 8])
    wv = b.constant("w", w)
    bv = b.constant("bias", bias)
    (y,) = b.node("MatMul", [x, wv])
    (y,) = b.node("Add", [y, bv])
    (y,) = b.node("Relu", [y])
    b.output(y, "y")
    return b.finish(), w, bias


def _reference(x, w, bias):
    return np.maximum(x @ w + bias, 0)


def test_built_model_runs_in_onnxruntime_and_openvino_at_two_batch_sizes():
    rng = np.random.default_rng(0)
    model, w, bias = _mlp(rng)
    assert [i.name for i in model.inputs] == ["x"] and model.inputs[0].shape == ("batch", 8)
    assert [o.name for o in model.outputs] == ["y"]
    for batch in (1, 5):
        x = rng.standard_normal((batch, 8)).astype(np.float32)
        expected = _reference(x, w, bias)
        (ort,) = run_onnxruntime(model.to_onnx_bytes(), {"x": x})
        (ov,) = run_openvino(model, {"x": x})
        assert expected.size > 0
        np.testing.assert_allclose(ort, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ov, expected, rtol=1e-5, atol=1e-6)


def test_constants_view_the_array_and_keep_it_alive():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    b = irforge.Builder()
    x = b.input("x", "float32", [2, 8])
    (y,) = b.node("MatMul", [x, b.constant("w", w)])
    b.output(y, "y")
    model = b.finish()
    # The constant's bytes are the array's own memory: nothing was copied.
    assert _core.constant_data_address(model._core, "w") == w.ctypes.data
    expected_w = w.copy()
    address = w.ctypes.data
    del w
    gc.collect()
    # The Model holds the buffer: the memory is still the array's and still valid.
    assert _core.constant_data_address(model._core, "w") == address
    x = rng.standard_normal((2, 8)).astype(np.float32)
    (out,) = run_onnxruntime(model.to_onnx_bytes(), {"x": x})
    np.testing.assert_allclose(out, x @ expected_w, rtol=1e-5)


def test_constant_from_a_byte_range_of_a_file(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * 100 + w.tobytes() + b"\0" * 7)
    b = irforge.Builder()
    x = b.input("x", "float32", [1, 3])
    (y,) = b.node("MatMul", [x, b.constant_from_file("w", path, 100, "float32", [3, 4])])
    b.output(y, "y")
    model = b.finish()
    x = np.ones((1, 3), np.float32)
    (out,) = run_onnxruntime(model.to_onnx_bytes(), {"x": x})
    np.testing.assert_array_equal(out, x @ w)
    small = tmp_path / "small.bin"
    small.write_bytes(b"\0" * 120)
    with pytest.raises(irforge.InvalidModelError, match=r"constant 'w2' needs bytes \[100, 148\) but its storage holds 120"):
        irforge.Builder().constant_from_file("w2", small, 100, "float32", [3, 4])
    with pytest.raises(irforge.ModelFileError, match="missing.bin"):
        irforge.Builder().constant_from_file("w3", tmp_path / "missing.bin", 0, "float32", [1])


def test_bfloat16_constant_reinterprets_bits():
    bits = np.array([0x3F80, 0x4000, 0xC040], dtype=np.uint16)  # bfloat16 1, 2, -3
    b = irforge.Builder()
    x = b.input("x", "float32", [3])
    c = b.constant("c", bits, dtype="bfloat16")
    (cf,) = b.node("Cast", [c], to=1)
    (y,) = b.node("Mul", [x, cf])
    b.output(y, "y")
    model = b.finish()
    (out,) = run_onnxruntime(model.to_onnx_bytes(), {"x": np.ones(3, np.float32)})
    np.testing.assert_array_equal(out, [1, 2, -3])


def test_subgraph_if_reads_outer_values():
    b = irforge.Builder()
    flag = b.input("flag", "bool", [])
    x = b.input("x", "float32", [2])
    then_g = b.subgraph("then")
    (t,) = b.node("Neg", [x], graph=then_g)
    b.output(t, "t", graph=then_g)
    else_g = b.subgraph("else")
    (e,) = b.node("Abs", [x], graph=else_g)
    b.output(e, "e", graph=else_g)
    (y,) = b.node("If", [flag], then_branch=then_g, else_branch=else_g)
    b.output(y, "y")
    model = b.finish()
    x = np.array([-1.0, 2.0], np.float32)
    for f, expected in ((True, -x), (False, np.abs(x))):
        feeds = {"flag": np.array(f), "x": x}
        (ort,) = run_onnxruntime(model.to_onnx_bytes(), feeds)
        (ov,) = run_openvino(model, feeds)
        np.testing.assert_array_equal(ort, expected)
        np.testing.assert_array_equal(ov, expected)


def test_output_names_and_pass_through_outputs():
    b = irforge.Builder()
    x = b.input("x", "float32", [2])
    (y,) = b.node("Relu", [x])
    b.output(y, "out")
    b.output(x, "x")  # an input as output: goes through an Identity with a free name
    model = b.finish()
    assert [o.name for o in model.outputs] == ["out", "x_1"]
    with pytest.raises(irforge.InvalidModelError, match="two graph outputs are named 'o'"):
        b = irforge.Builder()
        x = b.input("x", "float32", [2])
        (y,) = b.node("Relu", [x])
        b.output(y, "o")
        b.output(x, "o")


def test_fusions_fire_on_built_graphs():
    # x * sigmoid(x), as a frontend emits SiLU, becomes one Swish as it does for ONNX models.
    b = irforge.Builder()
    x = b.input("x", "float32", ["n", 4])
    (s,) = b.node("Sigmoid", [x])
    (y,) = b.node("Mul", [x, s])
    b.output(y, "y")
    model = irforge.convert_model(b.finish())
    assert "Mul" not in model.op_histogram and sum(model.op_histogram.values()) == 1
    x = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)
    (ov,) = run_openvino(model, {"x": x})
    np.testing.assert_allclose(ov, x / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda b: b.finish(), "the graph has no outputs"),
        (lambda b: b.constant("c", np.zeros(3, np.float32), shape=[4]), r"constant 'c' needs bytes \[0, 16\) but its storage holds 12"),
        (lambda b: b.constant("c", np.zeros(3, np.float32), shape=[-1]), "negative dim"),
        (lambda b: b.constant("c", np.zeros((4, 4), np.float32)[:, 1]), "C-contiguous buffer"),
        (lambda b: b.node("", []), "empty op type"),
        (lambda b: b.output(b.node("Relu", [b.input("x", "float32", [1])], graph=b.subgraph("s"))[0], "y"), "not defined in this graph"),
        (lambda b: (b.subgraph("orphan"), b.output(b.input("x", "float32", [1]), "y"), b.finish()), "subgraph 'orphan' was built but not used"),
        (lambda b: b.input("x", "float32", [1] * 65), "at most 64"),
        # The op-level validator runs in finish(), as after reading ONNX.
        (lambda b: (b.output(b.node("Transpose", [b.input("x", "float32", [2, 3])], perm=[0, 0], name="t")[0], "y"), b.finish()),
         "node 't' \\(Transpose"),
    ],
    ids=["no-outputs", "short-buffer", "negative-dim", "strided", "empty-op", "foreign-value", "orphan-subgraph", "rank",
         "invalid-op"],
)
def test_misuse_is_a_conversion_error(build, message):
    b = irforge.Builder("<misuse>")
    with pytest.raises(irforge.ConversionError, match=message):
        build(b)


def test_finished_builder_refuses_more_work():
    b = irforge.Builder()
    x = b.input("x", "float32", [1])
    b.output(x, "y")
    b.finish()
    with pytest.raises(irforge.ConversionError, match="already finished"):
        b.input("z", "float32", [1])
