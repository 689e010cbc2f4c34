"""Keras models built in code and converted by TensorFlow's own TFLiteConverter, in the four modes
the TFLite frontend is tested in (float32, float16 weights, dynamic range, full integer int8).
Used by the session-scoped fixtures of tests/test_tflite_*.py and by bench/tflite_frontend.py;
nothing here is committed as a binary."""

from __future__ import annotations

import os

import numpy as np

MODES = ("float32", "float16", "dynamic", "int8")


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def mobilenet_v2():
    tf = _tf()
    tf.keras.utils.set_random_seed(1)
    # Logits (no softmax): random weights give a near-uniform softmax that would hide errors.
    m = tf.keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None
    )
    return _calibrate_batch_norm(m, (96, 96, 3), seed=11)


def efficientnet_lite():
    """EfficientNet-Lite style: MBConv blocks (expand 1x1, depthwise, project 1x1, residual) with
    ReLU6 and no squeeze-excitation, as the Lite variants have; plus a resize and a pad."""
    tf = _tf()
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(2)
    x_in = tf.keras.Input((64, 64, 3))
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(x_in)
    x = L.Conv2D(16, 3, strides=2, padding="valid")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    for filters, stride, expand in ((16, 1, 1), (24, 2, 4), (24, 1, 4), (40, 2, 4)):
        inp = x
        c = x.shape[-1]
        if expand != 1:
            x = L.Conv2D(c * expand, 1, use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU(6.0)(x)
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(6.0)(x)
        x = L.Conv2D(filters, 1, use_bias=False)(x)
        x = L.BatchNormalization()(x)
        if stride == 1 and c == filters:
            x = L.Add()([x, inp])
    x = L.UpSampling2D(2, interpolation="bilinear")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.AveragePooling2D(2, padding="same")(x)
    x = L.Conv2D(64, 1, activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(x)
    logits = L.Dense(10)(x)
    return _calibrate_batch_norm(tf.keras.Model(x_in, [logits, L.Softmax()(logits)]), (64, 64, 3), seed=12)


def bert_encoder():
    """A small BERT-style encoder: embeddings (token + position), two post-LN transformer blocks
    with multi-head attention and GELU feed-forward, a pooled tanh head."""
    tf = _tf()
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    seq, vocab, d, heads = 16, 100, 32, 4
    ids = tf.keras.Input((seq,), batch_size=1, dtype="int32")
    x = L.Embedding(vocab, d)(ids)
    pos = L.Embedding(seq, d)(tf.range(seq)[None])
    x = x + pos
    x = L.LayerNormalization(epsilon=1e-6)(x)
    for _ in range(2):
        a = L.MultiHeadAttention(heads, d // heads)(x, x)
        x = L.LayerNormalization(epsilon=1e-6)(x + a)
        f = L.Dense(4 * d, activation="gelu")(x)
        f = L.Dense(d)(f)
        x = L.LayerNormalization(epsilon=1e-6)(x + f)
    cls = x[:, 0, :]
    pooled = L.Dense(d, activation="tanh")(cls)
    return tf.keras.Model(ids, [x, pooled])


def lstm_model():
    """Keras 2 (tf_keras): its LSTM layer is what the converter fuses into one
    UNIDIRECTIONAL_SEQUENCE_LSTM (Keras 3's becomes a WHILE loop)."""
    _tf()
    import tf_keras

    L = tf_keras.layers
    tf_keras.utils.set_random_seed(4)
    x_in = tf_keras.Input((12, 8), batch_size=1)
    x = L.LSTM(16, return_sequences=True)(x_in)
    x = L.Dense(4)(x)
    return tf_keras.Model(x_in, x)


def _calibrate_batch_norm(model, shape, seed):
    """Sets every BatchNormalization's moving statistics to those of one random batch (momentum 0
    for one training-mode call), so activations keep a unit scale through the network: with the
    initial statistics (mean 0, variance 1) a deep random CNN's logits shrink to ~1e-10 and every
    comparison would pass."""
    bns = [l for l in model.layers if l.__class__.__name__ == "BatchNormalization"]
    for l in bns:
        l.momentum = 0.0
    x = np.random.default_rng(seed).uniform(-1, 1, size=(8,) + tuple(shape)).astype(np.float32)
    model(x, training=True)
    return model


BUILDERS = {"mobilenet_v2": mobilenet_v2, "efficientnet_lite": efficientnet_lite, "bert": bert_encoder, "lstm": lstm_model}


def sample_inputs(model, n, seed):
    """n lists of inputs for a Keras model (int inputs as token ids)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        feeds = []
        for t in model.inputs:
            shape = [1 if d is None else d for d in t.shape]
            if t.dtype in ("int32", "int64") or "int" in str(t.dtype):
                feeds.append(rng.integers(0, 100, size=shape).astype(np.int32))
            else:
                feeds.append(rng.uniform(-1, 1, size=shape).astype(np.float32))
        out.append(feeds)
    return out


def convert_modes(model, modes=MODES) -> dict:
    """{mode: .tflite bytes}. A Keras 3 model is exported to a SavedModel once and each mode
    converted from it: from_keras_model traces and exports the model again for every mode, which
    is most of its cost (MobileNetV2: 8.8 s CPU per mode, 4.7 s from the SavedModel + 5.2 s for the
    one export). A tf_keras model (the LSTM) keeps from_keras_model, the path whose LSTM fusion
    into UNIDIRECTIONAL_SEQUENCE_LSTM the tests rely on."""
    import shutil
    import tempfile

    if not hasattr(model, "export") or type(model).__module__.startswith("tf_keras"):
        return {mode: convert(model, mode) for mode in modes}
    folder = tempfile.mkdtemp(prefix="irforge_tflite_")
    try:
        model.export(folder, verbose=False)
        return {mode: convert(model, mode, saved_model=folder) for mode in modes}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def convert(model, mode: str, saved_model: str | None = None) -> bytes:
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_saved_model(saved_model) if saved_model else tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        samples = sample_inputs(model, 8, seed=100)
        conv.representative_dataset = lambda: iter(samples)
    elif mode != "float32":
        raise ValueError(mode)
    return conv.convert()


def build(name: str, modes, folder: str) -> dict:
    """Writes <folder>/<name>_<mode>.tflite for each mode; returns {mode: path}."""
    model = BUILDERS[name]()
    paths = {}
    for mode in modes:
        path = os.path.join(folder, f"{name}_{mode}.tflite")
        with open(path, "wb") as f:
            f.write(convert(model, mode))
        paths[mode] = path
    return paths


if __name__ == "__main__":
    import sys

    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    for name in sys.argv[2:] or BUILDERS:
        print(build(name, MODES, folder))
