"""The TFLite reader on small models written by tests/tflite_writer.py (no TensorFlow needed):
numerics against the TFLite interpreter through both writers, the file forms the converter does
not produce on demand (buffers after the flatbuffer, operator codes above 127 in builtin_code only),
signature names, detection, the CLI, and the one error listing every unsupported operator."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest

import irforge
import tflite_writer as tw

from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def interpret(data: bytes, feeds):
    it = Interpreter(model_content=data)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feeds):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def run_both(model, tmp_path, feeds):
    """Outputs of the converted model in OpenVINO (f32) and onnxruntime (no optimizations)."""
    xml, onnx_path = tmp_path / "m.xml", tmp_path / "m.onnx"
    irforge.save_model(model, xml, compress_to_fp16=False)
    irforge.save_model(model, onnx_path)
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    res = compiled(feeds)
    got_ov = [res[o] for o in compiled.outputs]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    got_ort = s.run(None, {i.name: x for i, x in zip(s.get_inputs(), feeds)})
    return got_ov, got_ort, s


@pytest.mark.parametrize(
    "form",
    [{}, {"external_buffers": True}, {"deprecated_codes": False}],
    ids=["inline-buffers", "buffers-after-flatbuffer", "builtin-code-only"],
)
def test_small_cnn_matches_interpreter(tmp_path, form):
    data = tw.small_cnn(**form)
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
    (ref,) = interpret(data, [x])
    model = irforge.convert_model(str(path))
    (got_ov,), (got_ort,), _ = run_both(model, tmp_path, [x])
    assert ref.size == 10 and np.abs(ref).max() > 0
    np.testing.assert_allclose(got_ov, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_ort, ref, rtol=1e-4, atol=1e-6)


def test_signature_names_inputs_and_outputs(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(tw.small_cnn(signature={"inputs": {"image": 0}, "outputs": {"scores": 10}}))
    model = irforge.convert_model(str(path))
    _, _, session = run_both(model, tmp_path, [np.zeros((1, 8, 8, 3), np.float32)])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["scores"]


def test_detection_by_magic_and_extension(tmp_path):
    from irforge import frontends

    data = tw.small_cnn()
    (tmp_path / "a.tflite").write_bytes(data)
    (tmp_path / "b.bin").write_bytes(data)  # no extension hint: the identifier decides
    assert frontends.detect_file(str(tmp_path / "a.tflite")) == frontends.TFLITE
    assert frontends.detect_file(str(tmp_path / "b.bin")) == frontends.TFLITE
    irforge.convert_model(str(tmp_path / "b.bin"))
    (tmp_path / "c.tflite").write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 8)
    with pytest.raises(irforge.InvalidModelError, match=r"c\.tflite: flatbuffer Model at byte 28 .* past the end"):
        irforge.convert_model(str(tmp_path / "c.tflite"))


def test_cli_converts_a_tflite_file(tmp_path):
    from irforge.cli import main

    path = tmp_path / "m.tflite"
    path.write_bytes(tw.small_cnn())
    assert main(["convert", str(path), "--output_model", str(tmp_path / "o.xml")]) == 0
    assert ov.Core().read_model(str(tmp_path / "o.xml")) is not None


def test_unsupported_operators_are_listed_in_one_error(tmp_path):
    # Codes 999 (unknown) twice and 16 (LSTM, not translated): one error naming both.
    ts = [tw.Tensor("x", [1, 4]), tw.Tensor("a", [1, 4]), tw.Tensor("b", [1, 4]), tw.Tensor("c", [1, 4])]
    ops = [tw.Op(999, [0], [1]), tw.Op(16, [1], [2]), tw.Op(999, [2], [3])]
    path = tmp_path / "m.tflite"
    path.write_bytes(tw.build(ts, ops, [0], [3]))
    with pytest.raises(irforge.UnsupportedError, match=r"m\.tflite: 2 operator type\(s\) have no translator: BUILTIN_999 \(x2\), LSTM"):
        irforge.convert_model(str(path))


def test_int8_weights_stay_compressed(tmp_path):
    # A per-channel int8 FULLY_CONNECTED weight (as the converter writes for dynamic range) stays
    # int8 in both outputs: a DequantizeLinear in ONNX, the Convert/Multiply chain in IR.
    rng = np.random.default_rng(3)
    wq = rng.integers(-127, 128, (6, 16)).astype(np.int8)
    scales = list(rng.uniform(0.01, 0.02, 6).astype(np.float32))
    ts = [
        tw.Tensor("x", [2, 16]),
        tw.Tensor("w", [6, 16], tw.INT8, data=wq, scale=scales, zero_point=[0] * 6, quantized_dimension=0),
        tw.Tensor("y", [2, 6]),
    ]
    data = tw.build(ts, [tw.Op(tw.FULLY_CONNECTED, [0, 1, -1], [2], {0: ("b", 0)})], [0], [2])
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    x = rng.uniform(-1, 1, (2, 16)).astype(np.float32)
    model = irforge.convert_model(str(path))
    (got_ov,), (got_ort,), _ = run_both(model, tmp_path, [x])
    want = x @ (wq.astype(np.float32) * np.array(scales, np.float32)[:, None]).T
    np.testing.assert_allclose(got_ort, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_ov, want, rtol=1e-5, atol=1e-6)
    import onnx

    m = onnx.load(str(tmp_path / "m.onnx"))
    assert {onnx.TensorProto.INT8} <= {i.data_type for i in m.graph.initializer}
    assert any(n.op_type == "DequantizeLinear" for n in m.graph.node)
    xml = (tmp_path / "m.xml").read_text()
    assert 'element_type="i8"' in xml


def test_int8_layer_within_one_step(tmp_path):
    # One full-integer layer: Q/DQ around float math reproduces the integer kernel up to rounding
    # (the budget: >= 99.9% of elements within one step). Input int8, output float.
    data = tw.quantized_fc(batch=32, k=64, n=48)
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    x = np.random.default_rng(2).integers(-128, 128, (32, 64)).astype(np.int8)
    (ref,) = interpret(data, [x])
    got_ov, got_ort, _ = run_both(irforge.convert_model(str(path)), tmp_path, [x])
    step = 0.04
    for got in (got_ov[0], got_ort[0]):
        err = np.abs(got - ref) / step
        assert ref.size == 32 * 48 and np.unique(ref).size > 20
        assert (err <= 1.001).mean() >= 0.999, f"max {err.max():.2f} steps"
