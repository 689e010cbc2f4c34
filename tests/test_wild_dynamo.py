"""Models exported by torch.onnx.export(..., dynamo=True) (issue 20, "the dynamo exporter on models
with LSTMs and data-dependent control flow"), as found in the wild.

nn.LSTM/nn.GRU (uni- and bidirectional, one and two layers, batch_first and time-major, with and
without initial states) and torch.cond on a tensor predicate inside a module (flat, nested, and
after an LSTM) are exported with dynamic dims, then converted by irforge and by ovc. irforge's IR
must match onnxruntime on the exported file at two input shapes and have no more non-Const
layers than ovc's (bench/RESULTS.md has the counts).

Each model is exported in a fresh process (forked from one that has imported torch): in torch 2.13, a second LSTM export in one
process specializes the sequence dim to the example's length (the ONNX input says 5, not
"seq"), so the exports would depend on test order. The exporter also bakes the example's
sequence length into the output Reshape of a time-major (batch_first=False) LSTM/GRU; those
models are checked at two batch sizes with the example's sequence length.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from wild_layer_util import non_const_layers

pytestmark = pytest.mark.slow  # ~170 s at load 11 on 2 cores (150 s of it the ten dynamo exports)

HERE = os.path.dirname(os.path.abspath(__file__))
SEQ = 5  # the example's sequence length

# (kind, layers, bidirectional, batch_first, initial states)
RNN_CASES = [
    ("LSTM", 1, False, False, False),
    ("LSTM", 1, True, False, True),
    ("LSTM", 2, False, True, True),
    ("GRU", 1, False, True, False),
    ("GRU", 1, True, False, True),
    ("GRU", 2, True, True, False),
    ("GRU", 2, False, False, True),
]
COND_CASES = ["cond", "nested_cond", "lstm_cond"]


def _modules():
    import torch

    from torch_models.more_architectures import Rnn

    class Cond(torch.nn.Module):
        # sum(x) > 0 picks lin(x)·2 (or, nested, a second cond on mean(x) > 0.5), else tanh(x) + 1.
        def __init__(self, nested):
            super().__init__()
            self.lin = torch.nn.Linear(8, 8)
            self.nested = nested

        def forward(self, x):
            def then(x):
                if self.nested:
                    return torch.cond(x.mean() > 0.5, lambda y: torch.relu(self.lin(y)) * 3.0, lambda y: self.lin(y) - 1.0, (x,))
                return self.lin(x) * 2.0

            return torch.cond(x.sum() > 0, then, lambda x: torch.tanh(x) + 1.0, (x,))

    class LstmCond(torch.nn.Module):
        # A voice-activity-like head: the LSTM's output goes through one of two heads by energy.
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, batch_first=True)
            self.head = torch.nn.Linear(16, 4)

        def forward(self, x):
            y = self.lstm(x)[0]
            return torch.cond(x.sum() > 0, lambda y: self.head(y), lambda y: torch.sigmoid(self.head(y)) - 0.5, (y,))

    return Rnn, Cond, LstmCond


def _spec(case):
    """Input names and example shapes; dims named for the dynamic axes."""
    if case in COND_CASES:
        return ["x"], {"x": ("batch", 8) if case != "lstm_cond" else ("batch", "seq", 8)}
    kind, layers, bidirectional, batch_first, with_state = case
    states = layers * (2 if bidirectional else 1)
    names = ["x"] + (["h0", "c0"] if kind == "LSTM" else ["h0"]) * with_state
    shapes = {"x": ("batch", "seq", 8) if batch_first else ("seq", "batch", 8)}
    shapes.update({n: (states, "batch", 16) for n in names[1:]})
    return names, shapes


def _feeds(case, batch, seq, seed, offset=0.0):
    names, shapes = _spec(case)
    rng = np.random.default_rng(seed)
    dims = {"batch": batch, "seq": seq}
    return {n: (rng.standard_normal([dims.get(d, d) for d in shapes[n]]) + (offset if n == "x" else 0)).astype(np.float32) for n in names}


def export(case_json, path):
    """One export (in a process of its own: see export_all)."""
    import torch

    case = json.loads(case_json)
    case = case if isinstance(case, str) else tuple(case)
    Rnn, Cond, LstmCond = _modules()
    torch.manual_seed(0)
    if case in COND_CASES:
        net = {"cond": lambda: Cond(False), "nested_cond": lambda: Cond(True), "lstm_cond": LstmCond}[case]()
    else:
        net = Rnn(*case)
    names, shapes = _spec(case)
    dims = {"batch": torch.export.Dim("batch", min=1, max=64), "seq": torch.export.Dim("seq", min=2, max=256)}
    dynamic = [{i: dims[d] for i, d in enumerate(shapes[n]) if isinstance(d, str)} for n in names]
    dynamic_shapes = {"x": dynamic[0]}
    if len(names) > 1:
        dynamic_shapes["state"] = tuple(dynamic[1:])
    example = _feeds(case, 2, SEQ, seed=0)
    with torch.no_grad():
        torch.onnx.export(net.eval(), tuple(torch.from_numpy(example[n]) for n in names), path, input_names=names, output_names=["y"],
                          dynamic_shapes=dynamic_shapes, dynamo=True)


def _name(case):
    if isinstance(case, str):
        return case
    kind, layers, bidirectional, batch_first, with_state = case
    return f"{kind}-{layers}{'bi' if bidirectional else 'uni'}-{'batch_first' if batch_first else 'time_major'}-{'states' if with_state else 'zeros'}"


def export_all(jobs_json):
    """Run in a fresh process: torch is imported once, each export runs in a child forked
    before any export (see the module docstring), so none sees another's state."""
    import multiprocessing

    import torch  # noqa: F401  (imported before the forks, once)

    for case, path in json.loads(jobs_json):
        child = multiprocessing.get_context("fork").Process(target=export, args=(json.dumps(case), path))
        child.start()
        child.join(600)
        if child.exitcode != 0:
            child.kill()
            sys.exit(f"the export of {case} failed (exit code {child.exitcode})")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("dynamo")
    jobs = [(case, str(out / f"{_name(case)}.onnx")) for case in RNN_CASES + COND_CASES]
    code = f"import sys; sys.path.insert(0, {HERE!r}); import test_wild_dynamo as t; t.export_all(sys.argv[1])"
    run = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return {_name(case): path for case, path in jobs}


@pytest.fixture(params=RNN_CASES + COND_CASES, ids=_name)
def exported(request, exports):
    path = exports[_name(request.param)]
    assert os.path.getsize(path) > 0
    return request.param, path


def _inputs(case):
    if case in ("cond", "nested_cond"):
        # Both branches of each cond: sum(x) > 0 or not, and (nested) mean(x) above 0.5 or not.
        return [_feeds(case, 2, 0, seed=0, offset=1.0), _feeds(case, 5, 0, seed=1, offset=-1.0), _feeds(case, 3, 0, seed=2, offset=0.2)]
    if case == "lstm_cond":
        return [_feeds(case, 2, SEQ, seed=0, offset=1.0), _feeds(case, 3, 7, seed=1, offset=-1.0)]
    batch_first = case[3]
    return [_feeds(case, 2, SEQ, seed=0), _feeds(case, 3, 7 if batch_first else SEQ, seed=1)]


def test_irforge_matches_onnxruntime_at_two_shapes(exported):
    import irforge
    from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

    case, path = exported
    model = irforge.convert_model(path)
    onnx_bytes = model.to_onnx_bytes()
    inputs = _inputs(case)
    if case in ("cond", "nested_cond"):
        sums = [f["x"].sum() for f in inputs]
        assert min(sums) < 0 < max(sums)
        if case == "nested_cond":
            means = [f["x"].mean() for f in inputs if f["x"].sum() > 0]
            assert min(means) < 0.5 < max(means)
    for feeds in inputs:
        expected = run_onnxruntime(path, feeds)
        assert expected and expected[0].size > 0
        assert_outputs_close(expected, run_onnxruntime(onnx_bytes, feeds), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_openvino(model, feeds), rtol=1e-4, atol=1e-5)


def test_no_more_layers_than_ovc(exported, tmp_path):
    import openvino as ov

    import irforge

    case, path = exported
    ours, theirs = str(tmp_path / "irforge.xml"), str(tmp_path / "ovc.xml")
    irforge.save_model(irforge.convert_model(path), ours, compress_to_fp16=False)
    ov.save_model(ov.convert_model(path), theirs, compress_to_fp16=False)
    a, b = non_const_layers(ours), non_const_layers(theirs)
    diff = {t: (a[t], b[t]) for t in set(a) | set(b) if a[t] != b[t]}
    print(f"{_name(case)}: irforge {sum(a.values())}, ovc {sum(b.values())}, {diff}")
    assert sum(a.values()) <= sum(b.values()), diff
    if not isinstance(case, str):
        assert a[f"{case[0]}Sequence"] == case[1], a  # one sequence op per layer
