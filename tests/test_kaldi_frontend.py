"""Kaldi frontend: nnet1 acoustic models written from code in Kaldi's text and binary encodings
(base/io-funcs: binary tokens end with a space, numbers carry their byte size, matrices are
"FM" rows cols data), converted by irforge to OpenVINO IR and compared with NumPy (1e-4
relative). No Kaldi installed, by design."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from kaldi_models import tdnn  # noqa: E402
from test_caffe_frontend import run_ir  # noqa: E402


@pytest.mark.parametrize("encoding", ["text", "binary"])
def test_tdnn_nnet1(tmp_path, encoding):
    net, forward = tdnn()
    # Recognised by content: nnet1 files have no fixed extension.
    path = os.path.join(str(tmp_path), "final.nnet" if encoding == "text" else "final.mdl1")
    with open(path, "wb") as f:
        f.write(net.text() if encoding == "text" else net.binary())
    x = np.random.default_rng(1).standard_normal((9, 4)).astype(np.float32)
    model = irforge.convert_model(path)
    got = run_ir(model, {"input": x}, ["output"], tmp_path)["output"]
    ref = forward(x)
    assert got.shape == ref.shape and got.size > 0
    assert np.abs(got - ref).max() / np.abs(ref).max() <= 1e-4
    if encoding == "binary":
        from irforge import _core

        assert _core.constant_is_mapped(model._core, "AffineTransform_1/weights")
    # mo's --remove_output_softmax: the logits are the output.
    from irforge.frontends import kaldi

    logits = run_ir(kaldi.convert_file(path, remove_output_softmax=True), {"input": x}, ["output"], tmp_path)["output"]
    ref = forward(x, softmax=False)
    assert np.abs(logits - ref).max() / np.abs(ref).max() <= 1e-4


def test_malformed_nnet1(tmp_path):
    net, _ = tdnn()
    path = os.path.join(str(tmp_path), "bad.nnet")
    data = net.binary()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(irforge.InvalidModelError, match=r"bad\.nnet: byte \d+: "):
        irforge.convert_model(path)
    text = net.text().decode().replace("<AffineTransform> 12 16", "<AffineTransform> 12 15")
    open(path, "w").write(text)
    with pytest.raises(irforge.InvalidModelError, match=r"component AffineTransform_3 \(<AffineTransform>\): takes 15 features but the previous component gives 16"):
        irforge.convert_model(path)
    open(path, "w").write("<Nnet>\n<Lstm> 4 4\n</Nnet>\n")
    with pytest.raises(irforge.UnsupportedError, match=r"component Lstm_0 of type <Lstm> is not supported"):
        irforge.convert_model(path)
    open(path, "w").write("<Nnet3>\ninput-node name=input dim=40\n")
    with pytest.raises(irforge.UnsupportedError, match="an nnet3 model"):
        irforge.convert_model(path)


@pytest.mark.parametrize("encoding", ["text", "binary"])
def test_random_damage_only_raises_conversion_errors(tmp_path, encoding):
    net, _ = tdnn()
    data = net.text() if encoding == "text" else net.binary()
    rng = np.random.default_rng(0)
    errors = 0
    path = os.path.join(str(tmp_path), "f.nnet")
    for _ in range(80):
        d = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(2, len(d)))
            if rng.random() < 0.2:
                del d[pos:]
            else:
                d[pos] = int(rng.integers(0, 256))
        open(path, "wb").write(bytes(d))
        try:
            irforge.convert_model(path)
        except irforge.ConversionError:
            errors += 1
    assert errors > 0
