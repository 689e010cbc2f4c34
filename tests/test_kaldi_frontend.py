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
from random_damage import conversion_errors, damaged  # noqa: E402
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
    with pytest.raises(irforge.InvalidModelError, match="the nnet3 config section ends with the file"):
        irforge.convert_model(path)


@pytest.mark.parametrize("encoding", ["text", "binary"])
def test_random_damage_only_raises_conversion_errors(tmp_path, encoding):
    net, _ = tdnn()
    data = net.text() if encoding == "text" else net.binary()
    rng = np.random.default_rng(0)
    path = os.path.join(str(tmp_path), "f.nnet")

    def attempt(_):
        with open(path, "wb") as f:
            f.write(damaged(data, rng, keep_prefix=2))  # binary files start with "\0B"
        irforge.convert_model(path)

    assert conversion_errors(attempt, 80) > 0


def counts_to_log_priors(counts):
    """mo's counts_to_priors: log(c / sum(c)); a count below 1e-10 is raised to it and its
    prior lifted by FLT_MAX / 2 (so its state is never chosen)."""
    c = np.array(counts, np.float64)
    tiny = c < 1.00000001e-10
    c[tiny] = 1.00000001e-10
    p = np.log(c / c.sum())
    p[tiny] += np.finfo(np.float32).max / 2
    return p


@pytest.mark.parametrize("remove_softmax", [False, True])
def test_counts_subtract_log_priors(tmp_path, remove_softmax):
    net, forward = tdnn()
    path = os.path.join(str(tmp_path), "final.nnet")
    with open(path, "wb") as f:
        f.write(net.binary())
    counts = [120.0, 30.5, 0.0, 7.0, 900.0, 44.0]
    counts_path = os.path.join(str(tmp_path), "final.counts")
    with open(counts_path, "w") as f:
        f.write("[ " + " ".join(repr(c) for c in counts) + " ]\n")
    x = np.random.default_rng(2).standard_normal((7, 4)).astype(np.float32)
    logits = forward(x, softmax=False) - counts_to_log_priors(counts)
    if remove_softmax:
        ref = logits
    else:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        ref = e / e.sum(axis=1, keepdims=True)
    from irforge.frontends import kaldi

    got = run_ir(kaldi.convert_file(path, remove_softmax, counts_path), {"input": x}, ["output"], tmp_path)["output"]
    assert got.shape == ref.shape and got.size > 0
    finite = np.abs(ref) < 1e30  # the zero-count state sits near -FLT_MAX / 2
    assert finite.sum() > 0 and (~finite).sum() == (0 if not remove_softmax else len(x))
    assert np.abs(got[finite] - ref[finite]).max() / np.abs(ref[finite]).max() <= 1e-4
    if not remove_softmax:
        assert np.all(got[:, 2] == 0)  # the zero-count state can never win
    # The CLI spells it as mo did.
    out = os.path.join(str(tmp_path), "cli.xml")
    args = [path, "--counts", counts_path, "--output_model", out, "--compress_to_fp16", "False"]
    if remove_softmax:
        args.append("--remove_output_softmax")
    from irforge.cli import main

    assert main(["convert", *args]) == 0
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    cli = compiled.create_infer_request().infer({0: x})[compiled.outputs[0]]
    assert np.abs(cli[finite] - ref[finite]).max() / np.abs(ref[finite]).max() <= 1e-4


@pytest.mark.parametrize(
    "content, message",
    [("1 2 3\n4 5 6\n", "one line"), ("[ 1 2 x 4 5 6 ]", "'x' is not a number"), ("[ 1 2 3 ]", "3 counts for 6 outputs"),
     ("[ ]", "0 counts"), ("[ 1 2 -3 4 5 6 ]", "negative")],
)
def test_counts_malformed(tmp_path, content, message):
    net, _ = tdnn()
    path = os.path.join(str(tmp_path), "final.nnet")
    with open(path, "wb") as f:
        f.write(net.text())
    counts_path = os.path.join(str(tmp_path), "bad.counts")
    with open(counts_path, "w") as f:
        f.write(content)
    from irforge.frontends import kaldi

    with pytest.raises(irforge.ConversionError, match=message) as e:
        kaldi.convert_file(path, False, counts_path)
    assert "bad.counts" in str(e.value)
    with pytest.raises(irforge.UsageError, match="counts file"):
        kaldi.convert_file(path, False, "")
