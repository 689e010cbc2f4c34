"""Issue 20: freshly initialized transformers (zero biases, unit LayerNorm scales) exported by
TorchScript get no more non-Const layers in irforge's IR than in ovc's, and match onnxruntime on
inputs of two shapes (the passes under test: remove-neutral-elements, remove-matmul-flatten,
sink-transposes in the default pipeline). bench/wild_layer_counts.py runs the same check on the
full-size Hugging Face models."""

import collections
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from torch_models import architectures as arch  # noqa: E402


def _fresh_init(module):
    # What a freshly built transformers model has: zero biases, unit norm scales.
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln") or "norm" in name:
                p.fill_(1.0)
    return module


def _layers(xml):
    root = ET.parse(xml).getroot()
    return collections.Counter(l.get("type") for l in root.find("layers") if l.get("type") != "Const")


def _resized(feeds, names, axes, batch, seq):
    out = {}
    rng = np.random.default_rng(batch * 31 + seq)
    for n in names:
        v = feeds[n]
        shape = list(v.shape)
        for d, sym in axes.get(n, {}).items():
            shape[d] = batch if d == 0 else seq
        if v.dtype == np.int64:
            out[n] = np.ones(shape, np.int64) if n == "attention_mask" else rng.integers(0, max(int(v.max()), 1) + 1, shape).astype(np.int64)
        else:
            out[n] = rng.standard_normal(shape).astype(v.dtype)
    return out


@pytest.mark.parametrize("name", ["bert", "gpt", "vit"])
def test_no_more_layers_than_ovc(tmp_path, name):
    import openvino as ov

    module, inputs, names, axes = arch.ARCHITECTURES[name]()
    _fresh_init(module)
    path = str(tmp_path / f"{name}.onnx")
    with torch.no_grad():
        torch.onnx.export(module, inputs, path, input_names=names, dynamic_axes=axes, opset_version=17, dynamo=False)
    model = irforge.convert_model(path)
    ours = str(tmp_path / "irforge.xml")
    irforge.save_model(model, ours, compress_to_fp16=False)
    theirs = str(tmp_path / "ovc.xml")
    ov.save_model(ov.convert_model(path), theirs, compress_to_fp16=False)
    n_ours, n_theirs = sum(_layers(ours).values()), sum(_layers(theirs).values())
    assert 0 < n_ours <= n_theirs, f"irforge {n_ours} layers, ovc {n_theirs}: {_layers(ours)} vs {_layers(theirs)}"
    # The zero-bias Adds are what made the difference before (issue 20): none is left for them.
    log = {r["name"]: r for r in model.pass_log if r["changed"]}
    assert "remove-neutral-elements" in log
    base = {n: t.numpy() for n, t in zip(names, inputs)}
    for batch, seq in ((2, 7), (1, 12)):
        feeds = _resized(base, names, axes, batch, seq)
        expected = run_onnxruntime(path, feeds)
        assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), feeds), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_openvino(model, feeds), rtol=1e-4, atol=1e-4)
