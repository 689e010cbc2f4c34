"""Kaldi nnet1 LSTM acoustic model (<LstmProjected> and the older <LstmProjectedStreams>), written
from code in Kaldi's text and binary form, converted to OpenVINO IR (the recurrence as a Scan
over frames from a zero state, as nnet-forward runs an utterance) and compared with a NumPy
port of LstmProjected::PropagateFnc (1e-4 relative)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from kaldi_models import lstm_forward, lstm_model  # noqa: E402
from test_caffe_frontend import run_ir  # noqa: E402


@pytest.mark.parametrize("encoding", ["text", "binary"])
def test_lstm_nnet1(tmp_path, encoding):
    net, forward = lstm_model()
    path = os.path.join(str(tmp_path), "final.nnet")
    with open(path, "wb") as f:
        f.write(net.text() if encoding == "text" else net.binary())
    model = irforge.convert_model(path)
    for frames in (1, 2, 17):
        x = (np.random.default_rng(frames).standard_normal((frames, 4)) * 2).astype(np.float32)
        got = run_ir(model, {"input": x}, ["output"], tmp_path)["output"]
        ref = forward(x)
        assert got.shape == ref.shape and got.size > 0
        assert np.abs(got - ref).max() / np.abs(ref).max() <= 1e-4, frames
    if encoding == "binary":
        from irforge import _core

        assert _core.constant_is_mapped(model._core, "LstmProjected_2/w_gifo_x")


def test_lstm_cell_clip_matters():
    # The model's <CellClip> 0.75 changes the result: the test above would see a missing clip.
    _, forward = lstm_model()
    rng = np.random.default_rng(0)
    p = [rng.standard_normal(s).astype(np.float32) for s in [(24, 8), (24, 5), (24,), (6,), (6,), (6,), (5, 6)]]
    x = rng.standard_normal((9, 8)) * 3
    assert np.abs(lstm_forward(x, p, clip=0.75) - lstm_forward(x, p, clip=50)).max() > 1e-2


def test_lstm_malformed(tmp_path):
    net, _ = lstm_model()
    path = os.path.join(str(tmp_path), "bad.nnet")
    text = net.text().decode()
    with open(path, "w") as f:
        f.write(text.replace("<CellDim> 6", "<CellDim> 7"))
    with pytest.raises(irforge.InvalidModelError, match=r"component LstmProjected_2 \(<LstmProjected>\): w_gifo_x \(the input weights\) is 24x8, expected 28x8"):
        irforge.convert_model(path)
    with open(path, "w") as f:
        f.write(text.replace("<CellClip>", "<CellClamp>"))
    with pytest.raises(irforge.InvalidModelError, match=r"component LstmProjected_2 \(<LstmProjected>\): unknown token <CellClamp>"):
        irforge.convert_model(path)
    with open(path, "w") as f:
        f.write(text.replace("<CellDim> 3", "<ClipGradient> 1"))
    with pytest.raises(irforge.InvalidModelError, match=r"component LstmProjectedStreams_3 \(<LstmProjectedStreams>\): <CellDim> 0 is missing"):
        irforge.convert_model(path)
    data = net.binary()
    for cut in (len(data) // 2, len(data) - 30):
        with open(path, "wb") as f:
            f.write(data[:cut])
        with pytest.raises(irforge.InvalidModelError, match=r"bad\.nnet: byte \d+: "):
            irforge.convert_model(path)
