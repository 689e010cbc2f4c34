"""fuse-batchnorm-into-conv folds a BatchNorm into a large Conv / ConvTranspose kernel lazily
(cpp/passes/fold/lazy_weights.h): the scaled kernel is computed while the writers stream it, so
converting a CNN holds no second copy of its kernels and writes the same values."""

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


def _conv_bn(layers, channels, k=3, seed=0):
    """Conv (alternately with and without bias, every third one grouped) or ConvTranspose, each
    followed by a BatchNormalization."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(layers):
        op = "ConvTranspose" if i % 4 == 3 else "Conv"
        group = 4 if i % 3 == 2 else 1
        w = (rng.standard_normal((channels, channels // group, k, k)) * 0.05).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        ins = [x, f"w{i}"]
        if i % 2 == 0:
            inits.append(numpy_helper.from_array(rng.normal(0, 0.1, channels).astype(np.float32), f"b{i}"))
            ins.append(f"b{i}")
        nodes.append(h.make_node(op, ins, [f"c{i}"], pads=[k // 2] * 4, group=group))
        for name, v in (("s", rng.uniform(0.5, 1.5, channels)), ("t", rng.normal(0, 0.1, channels)),
                        ("m", rng.normal(0, 0.1, channels)), ("v", rng.uniform(0.5, 2.0, channels))):
            inits.append(numpy_helper.from_array(v.astype(np.float32), f"{name}{i}"))
        nodes += [h.make_node("BatchNormalization", [f"c{i}", f"s{i}", f"t{i}", f"m{i}", f"v{i}"], [f"n{i}"], epsilon=1e-3),
                  h.make_node("Relu", [f"n{i}"], [f"y{i}"])]
        x = f"y{i}"
    g = h.make_graph(nodes, "conv_bn", [h.make_tensor_value_info("x", T.FLOAT, [1, channels, 5, 5])],
                     [h.make_tensor_value_info(x, T.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_lazily_folded_batchnorm_keeps_values(tmp_path):
    model = _conv_bn(4, 96)  # 96x96x3x3 f32 = 324 KiB per kernel: above the lazy threshold
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(1).standard_normal((1, 96, 5, 5)).astype(np.float32)
    ref = run_onnxruntime(model.SerializeToString(), {"x": x})[0]
    m = irforge.convert_model(str(path))
    hist = m.op_histogram
    assert "BatchNormalization" not in hist and hist.get("ConvTranspose") == 1, hist
    for out in (run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], run_openvino(m, {"x": x})[0]):
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.slow  # measures max RSS, which a sanitizer build inflates (CI runs slow tests without one)
def test_cli_max_rss_does_not_grow_with_batchnorm_folded_kernels(tmp_path):
    """12 kernels (81 MiB: 8 of 9 MiB, 4 grouped of 2.25 MiB) each folded with a BatchNorm:
    before the lazy fold every scaled kernel was held until the writer ran (max RSS 112 MiB)."""
    source = tmp_path / "big.onnx"
    source.write_bytes(_conv_bn(12, 512).SerializeToString())
    size = source.stat().st_size
    assert size > 80 << 20
    for output in ("model.xml", "model.onnx"):
        rss = _max_rss([sys.executable, "-m", "irforge", "convert", str(source), "--output_model", str(tmp_path / output)], tmp_path)
        assert rss < 64 << 20, f"irforge convert -> {output}: max RSS {rss >> 20} MiB for {size >> 20} MiB of BN-folded kernels"
