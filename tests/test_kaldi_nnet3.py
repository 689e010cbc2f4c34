"""Kaldi nnet3: a TDNN acoustic model written from code in Nnet::Write's exact text and binary
form (also behind a TransitionModel, as final.mdl holds it), converted by irforge to OpenVINO IR
and compared with a NumPy forward pass (1e-4 relative) that evaluates every node at the times
it is asked for, input frames clamped to the utterance as nnet3-compute pads them. Malformed
files give errors naming the component or config line. No Kaldi installed, by design."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from kaldi_models import nnet3_tdnn  # noqa: E402
from random_damage import conversion_errors, damaged  # noqa: E402
from test_caffe_frontend import run_ir  # noqa: E402
from test_kaldi_frontend import counts_to_log_priors  # noqa: E402


def _write(tmp_path, name, data):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _close(got, ref):
    assert got.shape == ref.shape and got.size > 0
    return np.abs(got - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("mdl", [False, True])
def test_tdnn_nnet3(tmp_path, binary, mdl):
    net, forward = nnet3_tdnn()
    path = _write(tmp_path, "final.mdl" if mdl else "final.raw", net.write(binary, mdl=mdl))
    model = irforge.convert_model(path)
    # 1 frame: every offset reaches a repeated frame; 2 and 23: some do, inner frames do not.
    for frames in (1, 2, 23):
        x = np.random.default_rng(frames).standard_normal((frames, 4)).astype(np.float32)
        got = run_ir(model, {"input": x}, ["output"], tmp_path)["output"]
        assert _close(got, forward(x)) <= 1e-4, frames
    if binary:
        from irforge import _core

        # Binary float matrices are constants viewing the mapped file.
        assert _core.constant_is_mapped(model._core, "tdnn2.affine/weights")


@pytest.mark.parametrize("remove_softmax", [False, True])
def test_nnet3_counts_and_remove_output_softmax(tmp_path, remove_softmax):
    net, forward = nnet3_tdnn()
    path = _write(tmp_path, "final.raw", net.write(True))
    counts = [120.0, 30.5, 17.0, 7.0, 900.0, 44.0]
    counts_path = _write(tmp_path, "final.counts", ("[ " + " ".join(repr(c) for c in counts) + " ]\n").encode())
    x = np.random.default_rng(3).standard_normal((9, 4)).astype(np.float32)
    logits = forward(x, log_softmax=False) - counts_to_log_priors(counts)
    ref = logits if remove_softmax else logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    from irforge.frontends import kaldi

    got = run_ir(kaldi.convert_file(path, remove_softmax, counts_path), {"input": x}, ["output"], tmp_path)["output"]
    assert _close(got, ref) <= 1e-4
    got = run_ir(kaldi.convert_file(path, remove_output_softmax=True), {"input": x}, ["output"], tmp_path)["output"]
    assert _close(got, forward(x, log_softmax=False)) <= 1e-4


def test_nnet3_truncated(tmp_path):
    net, _ = nnet3_tdnn()
    for binary in (False, True):
        data = net.write(binary)
        for cut in (len(data) // 3, len(data) - 20):
            path = _write(tmp_path, "cut.raw", data[:cut])
            with pytest.raises(irforge.InvalidModelError, match=r"cut\.raw: (byte|line) \d+: "):
                irforge.convert_model(path)


_RENORM_INPUT = "input=Sum(Offset(tdnn2.renorm, -1), Scale(0.5, tdnn2.renorm))"
_LSTM_C_INPUT = "input=Append(lstm.W_all, IfDefined(Offset(lstm.c_trunc, -3)))"

# Malformed text models: (model, {old: new} for the first occurrence of each old, error, message).
TEXT_EDITS = [
    # A bad token inside a component names it.
    ("tdnn", {"<BiasParams>  [": "BiasParams  ["}, irforge.InvalidModelError,
     r"component lda \(<FixedAffineComponent>\): expected a field or </FixedAffineComponent>, found 'BiasParams'"),
    # The config's input to a component does not fit the component.
    ("tdnn", {", Offset(tdnn1.batchnorm, 3))": ")"}, irforge.InvalidModelError,
     r"line 6 \(component-node tdnn2\.affine\): its input gives 32 values but component tdnn2\.affine \(<AffineComponent>\) takes 48"),
    ("tdnn", {"<Dim> 8 <ValueAvg>": "<Dim> 7 <ValueAvg>"}, irforge.InvalidModelError,
     r"component-node prefinal\.noop\): its input gives 8 values but component prefinal\.noop \(<NoOpComponent>\) takes 7"),
    ("tdnn", {"component=tdnn1.relu": "component=tdnn1.rleu"}, irforge.InvalidModelError, r"component-node tdnn1\.relu\): no component named 'tdnn1\.rleu'"),
    ("tdnn", {"input=tdnn2.affine": "input=tdnn2.afine"}, irforge.InvalidModelError, r"component-node tdnn2\.sigmoid\): no node named 'tdnn2\.afine'"),
    ("tdnn", {"<InputDim> 12 <BlockDim> 6": "<InputDim> 12 <BlockDim> 5"}, irforge.InvalidModelError,
     r"component tdnn2\.renorm \(<NormalizeComponent>\): <InputDim> 12 is not a multiple of <BlockDim> 5"),
    # Bad config lines.
    ("tdnn", {"input-node name=input dim=4": "input-node name=input dim=four"}, irforge.InvalidModelError,
     r"line 1 \(input-node input\): dim=four is not a valid size"),
    ("tdnn", {"dim-range-node name=prefinal.part input-node=prefinal.tanh dim-offset=2": "dim-range-node name=prefinal.part input-node=prefinal.tanh dim-offset=8"},
     irforge.InvalidModelError, r"dim-range-node prefinal\.part\): dims \[8, 11\) exceed the 10 of prefinal\.tanh"),
    ("tdnn", {"Offset(input, -1)": "Offset(input, -1.5)"}, irforge.InvalidModelError, r"offset '-1\.5' is not an integer"),
    ("tdnn", {"Append(Offset(input, -1), input,": "Append(Offset(input, -1) input,"}, irforge.InvalidModelError, r"expected ',' or '\)' in the descriptor"),
    ("tdnn", {"output-node name=output": "outptu-node name=output"}, irforge.InvalidModelError, r"unknown kind of node 'outptu-node'"),
    # i-vector ReplaceIndex, loops without IfDefined, IfDefined that is no recurrence: named too.
    ("tdnn", {_RENORM_INPUT: "input=Sum(ReplaceIndex(tdnn2.renorm, t, 0), tdnn2.renorm)"}, irforge.UnsupportedError,
     r"line 9 \(component-node prefinal\.linear\): descriptor ReplaceIndex\(\.\.\.\) is not supported"),
    ("tdnn", {_RENORM_INPUT: "input=Sum(Offset(prefinal.tanh, -1), tdnn2.renorm)"}, irforge.UnsupportedError, r"depends on itself \(a recurrent network\)"),
    ("tdnn", {_RENORM_INPUT: "input=Sum(IfDefined(Offset(tdnn2.renorm, -1)), tdnn2.renorm)"}, irforge.UnsupportedError,
     r"IfDefined reads tdnn2\.renorm, which does not depend on this node: only recurrences"),
    ("tdnn", {_RENORM_INPUT: "input=Sum(IfDefined(Offset(prefinal.tanh, 2)), tdnn2.renorm)"}, irforge.UnsupportedError,
     r"IfDefined is supported as IfDefined\(Offset\(node, -d\)\) with d > 0"),
    # xconfig's lstm-layer (nnet3_lstm, delay 3) with its recurrences broken.
    ("lstm", {_LSTM_C_INPUT: "input=Append(lstm.W_all, IfDefined(Offset(lstm.m, -3)))",
              "dim-range-node name=lstm.m input-node=lstm.lstm_nonlin dim-offset=5 dim=5": "dim-range-node name=lstm.m input-node=lstm.lstm_nonlin dim-offset=5 dim=4"},
     irforge.InvalidModelError,
     r"component-node lstm\.lstm_nonlin\): its input gives 24 values but component lstm\.lstm_nonlin \(<LstmNonlinearityComponent>\) takes 25"),
    ("lstm", {_LSTM_C_INPUT: "input=Append(lstm.W_all, IfDefined(Offset(Offset(lstm.c_trunc, -3), 0)))"}, irforge.UnsupportedError,
     r"IfDefined is supported as IfDefined\(Offset\(node, -d\)\)"),
    ("lstm", {_LSTM_C_INPUT: "input=Append(Offset(lstm.W_all, -1), IfDefined(Offset(lstm.c_trunc, -3)))"}, irforge.UnsupportedError,
     r"line 5 \(component-node lstm\.lstm_nonlin\): a recurrent loop whose nodes cover different frames"),
    ("lstm", {_LSTM_C_INPUT: "input=Append(Offset(lstm.W_all, 0), IfDefined(Offset(lstm.c_trunc, -3)))"}, irforge.UnsupportedError,
     r"lstm\.lstm_nonlin\): a time offset inside a recurrent loop"),
]


@pytest.mark.parametrize("model, edits, error, message", TEXT_EDITS, ids=[f"{model}-{i}" for i, (model, *_) in enumerate(TEXT_EDITS)])
def test_nnet3_malformed_text(tmp_path, model, edits, error, message):
    from kaldi_models import nnet3_lstm

    text = (nnet3_tdnn if model == "tdnn" else nnet3_lstm)()[0].write(False).decode()
    for old, new in edits.items():
        assert old in text  # the edit changes the model
        text = text.replace(old, new, 1)
    path = _write(tmp_path, "bad.raw", text.encode())
    with pytest.raises(error, match=message):
        irforge.convert_model(path)


# Malformed components, written as text and binary: ({component: its new type, or {field
# index: new (field, value)}}, error, message).
COMPONENT_EDITS = [
    ({"output.affine": {2: ("BiasParams", np.zeros(5, np.float32))}}, irforge.InvalidModelError,
     r"component output\.affine \(<AffineComponent>\): <BiasParams> has 5 values, expected 6"),
    # Unsupported components are listed together.
    ({"tdnn2.sigmoid": "GruNonlinearityComponent", "prefinal.tanh": "TdnnComponent"}, irforge.UnsupportedError,
     r"components of types irforge does not convert: tdnn2\.sigmoid \(GruNonlinearityComponent\), prefinal\.tanh \(TdnnComponent\) \(supported: Affine"),
]


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("edits, error, message", COMPONENT_EDITS, ids=["bias-length", "unsupported-types"])
def test_nnet3_malformed_components(tmp_path, binary, edits, error, message):
    net, _ = nnet3_tdnn()
    assert set(edits) <= {name for name, _, _ in net.components}  # the edits change the model
    for k, (name, type_, fields) in enumerate(net.components):
        edit = edits.get(name)
        if isinstance(edit, str):
            net.components[k] = (name, edit, fields)
        elif edit:
            for index, field in edit.items():
                fields[index] = field
    path = _write(tmp_path, "bad.raw", net.write(binary))
    with pytest.raises(error, match=message):
        irforge.convert_model(path)


@pytest.mark.parametrize("binary", [False, True])
def test_nnet3_random_damage_only_raises_conversion_errors(tmp_path, binary):
    net, _ = nnet3_tdnn()
    data = net.write(binary)
    rng = np.random.default_rng(5)
    path = os.path.join(str(tmp_path), "f.raw")

    def attempt(_):
        with open(path, "wb") as f:
            f.write(damaged(data, rng, keep_prefix=2))  # binary files start with "\0B"
        irforge.convert_model(path)

    assert conversion_errors(attempt, 60) > 0


def test_convert_model_kaldi_options(tmp_path):
    """counts= and remove_output_softmax= as convert_model keywords (the CLI's --counts and
    --remove_output_softmax), for nnet3 and nnet1; refused for other models."""
    net, forward = nnet3_tdnn()
    path = _write(tmp_path, "final.mdl", net.write(True, mdl=True))
    counts = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0]
    counts_path = _write(tmp_path, "final.counts", ("[ " + " ".join(repr(c) for c in counts) + " ]").encode())
    x = np.random.default_rng(4).standard_normal((6, 4)).astype(np.float32)
    model = irforge.convert_model(path, counts=counts_path, remove_output_softmax=True)
    got = run_ir(model, {"input": x}, ["output"], tmp_path)["output"]
    assert _close(got, forward(x, log_softmax=False) - counts_to_log_priors(counts)) <= 1e-4
    from pathlib import Path

    model = irforge.convert_model(Path(path), remove_output_softmax=True)
    assert _close(run_ir(model, {"input": x}, ["output"], tmp_path)["output"], forward(x, log_softmax=False)) <= 1e-4
    from kaldi_models import tdnn

    net1, forward1 = tdnn()
    path1 = _write(tmp_path, "final.nnet", net1.text())
    got = run_ir(irforge.convert_model(path1, remove_output_softmax=True), {"input": x}, ["output"], tmp_path)["output"]
    assert _close(got, forward1(x, softmax=False)) <= 1e-4
    with pytest.raises(irforge.UsageError, match="apply to Kaldi models only"):
        irforge.convert_model(irforge.convert_model(path), remove_output_softmax=True)
    with pytest.raises(irforge.UsageError, match="remove_output_softmax must be True or False"):
        irforge.convert_model(path, remove_output_softmax="yes")
    with pytest.raises(irforge.InvalidModelError, match=r"final\.counts: more counts than the model.s 5 outputs"):
        bad = nnet3_tdnn()[0]
        for i, (name, type_, fields) in enumerate(bad.components):
            if name == "output.affine":
                fields[1] = ("LinearParams", np.ones((5, 8), np.float32))
                fields[2] = ("BiasParams", np.ones(5, np.float32))
            if name == "output.log-softmax":
                fields[0] = ("Dim", fields[0][1].__class__(5))
                fields[1:3] = [("ValueAvg", np.ones(5, np.float32)), ("DerivAvg", np.ones(5, np.float32))]
        irforge.convert_model(_write(tmp_path, "five.raw", bad.write(False)), counts=counts_path)


def test_messages_quoting_damaged_bytes_stay_text(tmp_path):
    # An unknown component token made of bytes that are not UTF-8 (U+10FFFF+ leads, lone
    # continuation bytes) is quoted with '?' in their place, not a UnicodeDecodeError.
    from kaldi_models import tdnn

    net, _ = tdnn()
    data = net.binary().replace(b"<AffineTransform>", b"<A\xf7\x95\xbe\xb1\x80\xc0ine>", 1)
    path = _write(tmp_path, "damaged.nnet", data)
    with pytest.raises(irforge.UnsupportedError, match=r"component A\?\?\?\?\?\?ine_1 of type <A\?\?\?\?\?\?ine> is not supported"):
        irforge.convert_model(path)
    text = nnet3_tdnn()[0].write(True).replace(b"<ComponentName> lda ", b"<ComponentName> l\xffa ", 1)
    with pytest.raises(irforge.InvalidModelError, match=r"'l\?a' is not a component name"):
        irforge.convert_model(_write(tmp_path, "damaged.raw", text))


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("delay", [1, 3])
def test_lstm_nnet3(tmp_path, binary, delay):
    """xconfig's lstm-layer: W_all over Append(x, IfDefined(Offset(m_trunc, -delay))) and the
    LstmNonlinearityComponent over Append(W_all, IfDefined(Offset(c_trunc, -delay))): one Scan
    over frames, against a per-frame NumPy loop."""
    from kaldi_models import nnet3_lstm

    net, forward = nnet3_lstm(delay=delay)
    model = irforge.convert_model(_write(tmp_path, "lstm.raw", net.write(binary)))
    for frames in (1, 2, 15):
        x = np.random.default_rng(frames).standard_normal((frames, 4)).astype(np.float32)
        got = run_ir(model, {"input": x}, ["output"], tmp_path)["output"]
        assert _close(got, forward(x)) <= 1e-4, frames
