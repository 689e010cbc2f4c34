"""Paddle models built in code (tests/paddle_models.py), saved by Paddle 3.3.1 in the PIR format
(paddle.jit.save, .json) and the legacy format (.pdmodel, a static Program written by
save_inference_model), read by irforge without Paddle and run in OpenVINO and onnxruntime beside
Paddle's own inference predictor on the same inputs.

Budget: |ours - paddle| <= 1e-4 x max|paddle| + 1e-6 elementwise (fp32, 1e-4 relative).

Paddle runs in a subprocess per format (FLAGS_enable_pir_api must be set before paddle is
imported), once per session. The legacy if/else (conditional_block + select_input) and while
are written by paddle.jit.save with PIR off; for cond, paddle_models.py substitutes the legacy
logical_not op for the PIR-only one Paddle 3.3.1 calls there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import irforge
from irforge.testing import run_onnxruntime, run_openvino

pytestmark = pytest.mark.slow  # Paddle saves and runs the models in two subprocesses: 15 s idle, ~50 s under load

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = ("pir", "legacy")
NAMES = ("lcnet", "dbnet", "svtr", "crnn", "branchy", "loopy", "adapool")
CASES = [(f, n) for f in FORMATS for n in NAMES]
NMS_CASES = [(f, n) for f in FORMATS for n in ("yolohead", "yolohead_eta")]


@pytest.fixture(scope="session")
def paddle_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("paddle")
    saved = {}
    for fmt in FORMATS:
        env = dict(os.environ, FLAGS_enable_pir_api="1" if fmt == "pir" else "0", GLOG_minloglevel="2")
        proc = subprocess.run([sys.executable, os.path.join(HERE, "paddle_models.py"), str(root / fmt), fmt],
                              capture_output=True, text=True, env=env, timeout=600)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        assert line, f"paddle_models.py {fmt} failed:\n{proc.stderr[-3000:]}"
        for name, info in json.loads(line[0][7:]).items():
            saved[fmt, name] = info
    return saved


def _io(info):
    data = np.load(os.path.join(os.path.dirname(info["file"]), "io.npz"))
    feeds = [data[k] for k in sorted(k for k in data.files if k.startswith("in"))]
    outs = [[data[f"out{i}_{k}"] for k in range(len(info["outputs"]))] for i in range(len(feeds))]
    return feeds, outs


def _close(expected, actual, where):
    assert len(expected) == len(actual), where
    for e, a in zip(expected, actual):
        assert e.size > 0 and e.shape == a.shape, f"{where}: shape {a.shape} != paddle's {e.shape}"
        err = np.max(np.abs(a.astype(np.float64) - e))
        budget = 1e-4 * np.max(np.abs(e)) + 1e-6
        assert err <= budget, f"{where}: max error {err:.3g} > {budget:.3g}"


@pytest.mark.parametrize("fmt, name", CASES)
def test_matches_paddle_inference(paddle_files, tmp_path, fmt, name):
    info = paddle_files[fmt, name]
    assert isinstance(info, dict), f"paddle could not save {name} ({fmt}): {info}"
    model = irforge.convert_model(info["file"])
    feeds, expected = _io(info)
    onnx_path = str(tmp_path / "m.onnx")
    irforge.save_model(model, onnx_path)
    for x, exp in zip(feeds, expected):
        feed = {info["inputs"][0]: x}
        _close(exp, run_openvino(model, feed), f"{fmt}/{name} OpenVINO")
        _close(exp, run_onnxruntime(onnx_path, feed), f"{fmt}/{name} onnxruntime")


@pytest.mark.parametrize("fmt", FORMATS)
def test_while_runs_paddles_iteration_counts(paddle_files, fmt):
    """The while model's two inputs run different iteration counts in Paddle (its second output
    counts them), so test_matches_paddle_inference checks the Loop stops where Paddle's does."""
    info = paddle_files[fmt, "loopy"]
    assert isinstance(info, dict), info
    _, expected = _io(info)
    counts = [int(e[1].item()) for e in expected]
    assert counts[0] != counts[1] and min(counts) >= 1, counts
    program = open(info["file"], "rb").read()
    assert (b'"1.while"' if fmt == "pir" else b"while") in program


@pytest.mark.parametrize("fmt, name", NMS_CASES)
def test_multiclass_nms3_matches_paddle(paddle_files, tmp_path, fmt, name):
    """multiclass_nms3 -> OpenVINO MulticlassNms: the same detections as Paddle, in Paddle's order
    (per image, by class then score), the same flat box indices and per-image counts. The heads'
    scores are distinct, so the order is defined. ONNX cannot express it: saving refuses."""
    info = paddle_files[fmt, name]
    assert isinstance(info, dict), info
    model = irforge.convert_model(info["file"])
    feeds, expected = _io(info)
    out, index, counts = expected[0]
    assert out.shape[0] > 20 and len(np.unique(out[:, 1])) == out.shape[0], "detections with distinct scores"
    got = run_openvino(model, {info["inputs"][0]: feeds[0]})
    assert [g.shape for g in got] == [e.shape for e in expected[0]]
    _close([out], [got[0]], f"{fmt}/{name} Out")
    np.testing.assert_array_equal(got[1], index)
    np.testing.assert_array_equal(got[2], counts)
    with pytest.raises(irforge.UnsupportedError, match=r"irforge::MulticlassNms .*save the model as OpenVINO IR"):
        irforge.save_model(model, str(tmp_path / "m.onnx"))


def test_legacy_branch_is_a_conditional_block(paddle_files):
    """The legacy branchy model really holds Paddle's legacy if/else, which
    test_matches_paddle_inference runs down both branches (one input each)."""
    from irforge import _core

    program = _core.pd_read_program(paddle_files["legacy", "branchy"]["file"])
    types = [op["type"] for op in program["blocks"][0]["ops"]]
    assert types.count("conditional_block") == 2 and "select_input" in types, types


def test_names_and_forms(paddle_files, tmp_path):
    """Inputs and outputs keep Paddle's names; the path prefix, the .pdiparams and the .pdmodel
    name the same model."""
    info = paddle_files["legacy", "lcnet"]
    prefix = info["file"][: -len(".pdmodel")]
    for form in (info["file"], prefix, prefix + ".pdiparams"):
        m = irforge.convert_model(form)
        path = str(tmp_path / "m.onnx")
        irforge.save_model(m, path)
        import onnx

        g = onnx.load(path).graph
        assert [i.name for i in g.input] == info["inputs"]
        assert [o.name for o in g.output] == info["outputs"]
    pir = paddle_files["pir", "lcnet"]
    m = irforge.convert_model(pir["file"][: -len(".json")])
    path = str(tmp_path / "p.onnx")
    irforge.save_model(m, path)
    import onnx

    assert [o.name for o in onnx.load(path).graph.output] == pir["outputs"]


def test_weights_are_views_of_the_mapped_pdiparams(paddle_files):
    """Read without passes: every parameter is a view into the mapped .pdiparams, not a copy."""
    from irforge import _core
    from irforge.frontends import paddle

    for fmt in FORMATS:
        info = paddle_files[fmt, "lcnet"]
        model = paddle.convert_file(info["file"])
        for name in ("conv2d_0.w_0", "linear_0.w_0", "batch_norm2d_0.w_1"):
            assert _core.constant_is_mapped(model._core, name), (fmt, name)


def test_folder_form(paddle_files, tmp_path):
    """The older form: __model__ plus one file per persistable variable."""
    from irforge import _core

    info = paddle_files["legacy", "lcnet"]
    prefix = info["file"][: -len(".pdmodel")]
    folder = tmp_path / "lcnet"
    folder.mkdir()
    program = _core.pd_read_program(info["file"])
    names = sorted(n for n, v in program["blocks"][0]["vars"].items() if v[3] and v[0] == 7)
    data = open(prefix + ".pdiparams", "rb").read()
    starts = [0] + [off + n for (_, _, _, off, n) in _core.pd_scan_params(prefix + ".pdiparams", names)]
    for name, a, b in zip(names, starts, starts[1:]):
        (folder / name).write_bytes(data[a:b])
    (folder / "__model__").write_bytes(open(info["file"], "rb").read())
    feeds, expected = _io(info)
    model = irforge.convert_model(str(folder))
    _close(expected[0], run_openvino(model, {"x": feeds[0]}), "folder form")
