"""Lazily derived weights (cpp/passes/fold/lazy_weights.cc): a Transpose of a large constant
(TensorFlow's HWIO kernels turned OIHW), a per-channel scale folded into a weight (a BatchNorm
after a Conv) and a BatchNormalization folded into a Conv / ConvTranspose kernel by
fuse-batchnorm-into-conv are computed while the writers stream them, so converting such a model
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
    a Conv2D + BatchNorm."""
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


def _assert_folded_and_exact(model, tmp_path, folded_away, expect=None):
    """Converted, the ops in `folded_away` are gone (their work is in the weights) and the IR and
    the ONNX output still compute what onnxruntime computes on the source model."""
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ref = run_onnxruntime(model.SerializeToString(), {"x": x})[0]
    m = irforge.convert_model(str(path))
    hist = m.op_histogram
    assert not set(folded_away) & set(hist), hist
    for op, count in (expect or {}).items():
        assert hist.get(op) == count, hist
    for out in (run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], run_openvino(m, {"x": x})[0]):
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()


def _assert_cli_max_rss_below_64_mib(model, tmp_path, min_size, what):
    """`irforge convert` of a model whose weights are all derived lazily, to IR and to ONNX."""
    source = tmp_path / "big.onnx"
    source.write_bytes(model.SerializeToString())
    size = source.stat().st_size
    assert size > min_size
    for output in ("model.xml", "model.onnx"):
        rss = _max_rss([sys.executable, "-m", "irforge", "convert", str(source), "--output_model", str(tmp_path / output)], tmp_path)
        assert rss < 64 << 20, f"irforge convert -> {output}: max RSS {rss >> 20} MiB for {size >> 20} MiB of {what}"


def test_lazily_transposed_and_scaled_weights_keep_their_values(tmp_path):
    # 3x3x96x96 f32 = 324 KiB per kernel: above the lazy threshold
    _assert_folded_and_exact(_nhwc_convs(3, 96), tmp_path, ("Transpose", "Mul"))


def test_lazily_folded_batchnorm_keeps_values(tmp_path):
    # 96x96x3x3 f32 = 324 KiB per kernel: above the lazy threshold
    _assert_folded_and_exact(_conv_bn(4, 96), tmp_path, ("BatchNormalization",), {"ConvTranspose": 1})


@pytest.mark.slow  # measures max RSS, which a sanitizer build inflates (CI runs slow tests without one)
def test_cli_max_rss_does_not_grow_with_transposed_weights(tmp_path):
    """12 NHWC kernels of 9 MiB (108 MiB): before the lazy fold, the transposed and then the
    scaled copies of every kernel were held (max RSS ~1.2x the weights)."""
    _assert_cli_max_rss_below_64_mib(_nhwc_convs(12, 512, k=3), tmp_path, 100 << 20, "NHWC kernels")


@pytest.mark.slow  # measures max RSS, which a sanitizer build inflates (CI runs slow tests without one)
def test_cli_max_rss_does_not_grow_with_batchnorm_folded_kernels(tmp_path):
    """12 kernels (81 MiB: 8 of 9 MiB, 4 grouped of 2.25 MiB) each folded with a BatchNorm:
    before the lazy fold every scaled kernel was held until the writer ran (max RSS 112 MiB)."""
    _assert_cli_max_rss_below_64_mib(_conv_bn(12, 512), tmp_path, 80 << 20, "BN-folded kernels")
