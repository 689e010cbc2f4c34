"""Lazily derived weights (cpp/passes/fold/lazy_weights.cc): a Transpose of a large constant
(TensorFlow's HWIO kernels turned OIHW) and a per-channel scale folded into a weight (a
BatchNorm after a Conv) are computed while the writers stream them, so converting such a model
neither changes its values nor holds a second copy of its weights."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge.testing import run_onnxruntime, run_openvino

sys.path.insert(0, __file__.rsplit("/passes/", 1)[0])
from test_cli_memory import _max_rss  # noqa: E402


def _nhwc_convs(layers, channels, seed=0, k=3):
    """Conv(x, Transpose(W_hwio)) * scale + shift per layer, as the TensorFlow frontend writes
    a Conv2D + BatchNorm; returns the ONNX model and the numpy-free reference inputs."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((k, k, channels, channels)) * 0.05).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  numpy_helper.from_array(rng.uniform(0.5, 1.5, (1, channels, 1, 1)).astype(np.float32), f"s{i}"),
                  numpy_helper.from_array(rng.normal(0, 0.1, (1, channels, 1, 1)).astype(np.float32), f"b{i}")]
        nodes += [h.make_node("Transpose", [f"w{i}"], [f"wt{i}"], perm=[3, 2, 0, 1]),
                  h.make_node("Conv", [x, f"wt{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  h.make_node("Mul", [f"c{i}", f"s{i}"], [f"m{i}"]),
                  h.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
                  h.make_node("Relu", [f"a{i}"], [f"y{i}"])]
        x = f"y{i}"
    g = h.make_graph(nodes, "nhwc_convs", [h.make_tensor_value_info("x", T.FLOAT, [1, channels, 6, 6])],
                     [h.make_tensor_value_info(x, T.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_lazily_transposed_and_scaled_weights_keep_their_values(tmp_path):
    model = _nhwc_convs(3, 96)  # 3x3x96x96 f32 = 324 KiB per kernel: above the lazy threshold
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(1).standard_normal((1, 96, 6, 6)).astype(np.float32)
    ref = run_onnxruntime(model.SerializeToString(), {"x": x})[0]
    m = irforge.convert_model(str(path))
    hist = m.op_histogram
    assert "Transpose" not in hist and "Mul" not in hist, hist  # folded (lazily) into the Conv weights
    for out in (run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], run_openvino(m, {"x": x})[0]):
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.slow
def test_cli_max_rss_does_not_grow_with_transposed_weights(tmp_path):
    """12 NHWC kernels of 9 MiB (108 MiB): before the lazy fold, the transposed and then the
    scaled copies of every kernel were held (max RSS ~1.2x the weights)."""
    source = tmp_path / "big.onnx"
    source.write_bytes(_nhwc_convs(12, 512, k=3).SerializeToString())
    size = source.stat().st_size
    assert size > 100 << 20
    for output in ("model.xml", "model.onnx"):
        rss = _max_rss([sys.executable, "-m", "irforge", "convert", str(source), "--output_model", str(tmp_path / output)], tmp_path)
        assert rss < 64 << 20, f"irforge convert -> {output}: max RSS {rss >> 20} MiB for {size >> 20} MiB of NHWC kernels"
