"""The fully integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input/output, int16 cell) against the TFLite
interpreter (ai_edge_litert), run by irforge -> OpenVINO IR (FakeQuantize) and -> ONNX (Q/DQ in
onnxruntime). Errors are counted in steps of the int8 output's scale. The interpreter's integer
kernel has one implementation (XNNPACK does not take it), so its kernel sets agree.

Hand-written models (tests/tflite_writer.py, fast) cover both of the kernel's hidden-state paths:
cell scales 2^-15..2^-9, where it applies tanh to the cell, and others (2^-16 here), where its
ApplyTanh does nothing and hidden = output gate x input gate (irforge reproduces that). A model
from TensorFlow's converter (tf_keras LSTM, int8 in and out, TFLITE_BUILTINS_INT8) is the slow
test; the small LSTM of tests/test_tflite_frontend.py covers the converter's 2^-16 case."""

from __future__ import annotations

import numpy as np
import pytest

import tflite_writer as tw

N_SAMPLES = 8


def run_all(path, samples):
    """(interpreter outputs, OpenVINO outputs, onnxruntime outputs, output step); int8 graph
    inputs/outputs are fed and compared as int8."""
    import onnxruntime as ort
    import openvino as ov
    from ai_edge_litert.interpreter import Interpreter

    import irforge

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    model = irforge.convert_model(str(path))
    xml, onnx_path = path.with_suffix(".xml"), path.with_suffix(".onnx")
    irforge.save_model(model, xml, compress_to_fp16=False)
    irforge.save_model(model, onnx_path)
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    ref, got_ov, got_ort = [], [], []
    for x in samples:
        x = x.astype(d_in["dtype"])
        it.set_tensor(d_in["index"], x)
        it.reset_all_variables()
        it.invoke()
        ref.append(it.get_tensor(d_out["index"]).astype(np.float64))
        got_ov.append(compiled([x])[compiled.outputs[0]].astype(np.float64))
        got_ort.append(session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float64))
    int8_out = d_out["dtype"] == np.int8
    return np.stack(ref), np.stack(got_ov), np.stack(got_ort), 1.0 if int8_out else None


def check(label, ref, got, step):
    err = np.abs(got.reshape(ref.shape) - ref) / step
    within = float((err <= 1.001).mean())
    print(f"{label}: max {err.max():.2f} steps, mean {err.mean():.4f}, {within:.2%} within one")
    assert ref.std() > 3 * step, "degenerate reference output"
    assert err.max() <= 1.001 and within >= 0.999, f"{label}: max {err.max():.2f} steps, {within:.2%} within one"


@pytest.mark.parametrize(
    "kw",
    [
        {"cell_scale": 2.0**-12},
        {"cell_scale": 2.0**-11, "cell_clip": 0.4, "seed": 4},
        {"cell_scale": 2.0**-13, "time_major": True, "seed": 5},
        {"cell_scale": 2.0**-16, "seed": 6},  # the kernel's skipped tanh
        {"cell_scale": 2.0**-8, "seed": 6},   # skipped too: same outputs as 2^-16
    ],
    ids=["q3_12", "clip", "time_major", "cell_2^-16", "cell_2^-8"],
)
def test_hand_written_integer_lstm_matches_the_interpreter(tmp_path, kw):
    path = tmp_path / "lstm.tflite"
    path.write_bytes(tw.integer_lstm(**kw))
    shape = [5, 2, 4] if kw.get("time_major") else [2, 5, 4]
    rng = np.random.default_rng(11)
    samples = [rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(N_SAMPLES)]
    ref, got_ov, got_ort, _ = run_all(path, samples)
    step = 1 / 127  # the output's scale (tflite_writer.integer_lstm)
    check(f"{kw} openvino", ref, got_ov, step)
    check(f"{kw} onnxruntime", ref, got_ort, step)


def test_skipped_tanh_is_reproduced_not_assumed(tmp_path):
    # The two out-of-range cell scales give the interpreter identical outputs (hidden = o x i, no
    # cell in it), and an in-range scale gives different ones: the quirk is the kernel's, not ours.
    outs = {}
    rng = np.random.default_rng(2)
    samples = [rng.uniform(-1, 1, [2, 5, 4]).astype(np.float32) for _ in range(2)]
    for scale in (2.0**-16, 2.0**-8, 2.0**-12):
        path = tmp_path / f"lstm_{scale}.tflite"
        path.write_bytes(tw.integer_lstm(cell_scale=scale, seed=6))
        outs[scale] = run_all(path, samples)[0]
    assert np.array_equal(outs[2.0**-16], outs[2.0**-8])
    assert not np.array_equal(outs[2.0**-16], outs[2.0**-12])


@pytest.mark.slow  # the TensorFlow converter (~15 s)
def test_converter_int8_lstm_with_int8_io(tmp_path):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras
    from ai_edge_litert import schema_py_generated as s

    import tflite_models

    L = tf_keras.layers
    tf_keras.utils.set_random_seed(5)
    x_in = tf_keras.Input((10, 8), batch_size=2)
    # Weights in [-1, 1]: the calibrated cell range exceeds 0.5, so its scale is 2^-15 or coarser
    # and the kernel takes its tanh path (the frontend test's small LSTM covers 2^-16).
    init = tf_keras.initializers.RandomUniform(-1, 1, seed=5)
    y = L.LSTM(16, return_sequences=True, kernel_initializer=init, unit_forget_bias=True)(x_in)
    model = tf_keras.Model(x_in, y)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    calib = tflite_models.sample_inputs(model, 8, seed=100)
    conv.representative_dataset = lambda: iter(calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path = tmp_path / "lstm_io8.tflite"
    path.write_bytes(conv.convert())

    m = s.Model.GetRootAsModel(path.read_bytes(), 0)
    g = m.Subgraphs(0)
    lstm = g.Operators(0)
    assert m.OperatorCodes(lstm.OpcodeIndex()).BuiltinCode() == s.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    cell_scale = float(g.Tensors(lstm.Inputs(19)).Quantization().Scale(0))
    print(f"converter int8 LSTM: cell scale 2^{np.log2(cell_scale):.0f}, {lstm.IntermediatesLength()} intermediates")
    assert -15 <= np.log2(cell_scale) <= -9, "this model should exercise the kernel's tanh path"

    rng = np.random.default_rng(9)
    samples = [rng.integers(-128, 128, (2, 10, 8)).astype(np.int8) for _ in range(N_SAMPLES)]
    ref, got_ov, got_ort, step = run_all(path, samples)
    check("converter int8-io LSTM openvino", ref, got_ov, step)
    check("converter int8-io LSTM onnxruntime", ref, got_ort, step)


def test_cell_clip_case_is_clipped(tmp_path):
    # The "clip" case above tests the clip only if the interpreter's cells reach it: with
    # cell_clip 0.4 its outputs must differ from the same model unclipped (measured: 69% differ).
    rng = np.random.default_rng(11)
    samples = [rng.uniform(-1, 1, [2, 5, 4]).astype(np.float32) for _ in range(4)]
    outs = []
    for clip in (0.4, 0.0):
        path = tmp_path / f"lstm_clip_{clip}.tflite"
        path.write_bytes(tw.integer_lstm(cell_scale=2.0**-11, cell_clip=clip, seed=4))
        outs.append(run_all(path, samples)[0])
    assert (outs[0] != outs[1]).mean() > 0.2
