"""Keras models exported by tf2onnx (issue 20, "tf2onnx on Keras models"), as found in the wild.

Keras CNN and recurrent models are built in code with fixed seeds, exported with
`tf2onnx.convert.from_keras` (dynamic batch, and dynamic sequence for the RNNs), then converted
by irforge and by ovc. irforge's IR must match onnxruntime on the exported model at two input
shapes, and have no more non-Const layers than ovc's IR of the same file (bench/RESULTS.md has
the counts).
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf2onnx

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino
from wild_layer_util import non_const_layers as _layers

pytestmark = pytest.mark.slow  # ~60 s: TensorFlow import, tf2onnx and ovc conversions of four models


def _cnn():
    layers = tf.keras.layers
    inp = tf.keras.Input((24, 24, 3))
    x = layers.Conv2D(8, 3, padding="same")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Conv2D(16, 1, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(5, activation="softmax")(x)
    return tf.keras.Model(inp, out), (None, 24, 24, 3), [(1, 24, 24, 3), (3, 24, 24, 3)]


def _rnn(kind, bidirectional=False):
    layers = tf.keras.layers
    inp = tf.keras.Input((None, 8))
    cell = getattr(layers, kind)(16, return_sequences=True)
    x = layers.Bidirectional(cell)(inp) if bidirectional else cell
    x = x if bidirectional else cell(inp)
    out = layers.Dense(3)(x)
    return tf.keras.Model(inp, out), (None, None, 8), [(2, 5, 8), (3, 9, 8)]


MODELS = {
    "cnn": _cnn,
    "lstm": lambda: _rnn("LSTM"),
    "gru": lambda: _rnn("GRU"),
    "bilstm": lambda: _rnn("LSTM", bidirectional=True),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    keras_model, spec_shape, shapes = MODELS[request.param]()
    if request.param == "cnn":  # non-trivial BatchNormalization statistics, as a trained model has
        bn = [l for l in keras_model.layers if isinstance(l, tf.keras.layers.BatchNormalization)][0]
        rng = np.random.default_rng(1)
        bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 1.5, 8)])
    path = str(tmp_path_factory.mktemp("tf2onnx") / f"{request.param}.onnx")
    spec = (tf.TensorSpec(spec_shape, tf.float32, name="x"),)
    tf2onnx.convert.from_keras(keras_model, input_signature=spec, opset=17, output_path=path)
    return request.param, path, shapes


def test_irforge_matches_onnxruntime_at_two_shapes(exported):
    name, path, shapes = exported
    model = irforge.convert_model(path)
    onnx_bytes = model.to_onnx_bytes()
    for k, shape in enumerate(shapes):
        feeds = {"x": np.random.default_rng(k).standard_normal(shape).astype(np.float32)}
        expected = run_onnxruntime(path, feeds)
        assert expected and expected[0].size > 0
        assert_outputs_close(expected, run_onnxruntime(onnx_bytes, feeds), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_openvino(model, feeds), rtol=1e-4, atol=1e-5)


def test_no_more_layers_than_ovc(exported, tmp_path):
    import openvino as ov

    name, path, _ = exported
    ours, theirs = os.path.join(tmp_path, "irforge.xml"), os.path.join(tmp_path, "ovc.xml")
    irforge.save_model(irforge.convert_model(path), ours, compress_to_fp16=False)
    if name == "gru":
        # Keras 3's GRU (reset_after) reaches tf2onnx as a while loop: an ONNX Loop that ovc
        # (openvino 2026.4.1) refuses, and irforge converts (matching onnxruntime above).
        with pytest.raises(Exception, match="Loop"):
            ov.convert_model(path)
        assert sum(_layers(ours).values()) > 0
        return
    ov.save_model(ov.convert_model(path), theirs, compress_to_fp16=False)
    a, b = _layers(ours), _layers(theirs)
    diff = {t: (a[t], b[t]) for t in set(a) | set(b) if a[t] != b[t]}
    print(f"{name}: irforge {sum(a.values())}, ovc {sum(b.values())}, {diff}")
    assert sum(a.values()) <= sum(b.values()), diff
