"""`irforge check` (API, CLI, `convert --check`): per-output error, tolerance verdicts, and
bisection of the pass pipeline naming a deliberately broken pass.

The broken pass is registered only inside these tests, through the public Python-pass hook
(irforge.register_pass), so nothing test-only ships in the pipeline."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge import cli

import openvino  # noqa: F401 - a test dependency; missing, it must fail, not skip

BROKEN = "test-plant-wrong-add"
# The planted pass sits between real passes, so bisection has work on both sides of it.
PIPELINE = f"remove-identity,dce,infer-shapes,{BROKEN},(infer-shapes,fold,dce)*4,fuse-batchnorm-into-conv,dce"


def _mlp(dynamic: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    batch = "batch" if dynamic else 2
    inits = [
        numpy_helper.from_array(rng.standard_normal([16, 32]).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal([32]).astype(np.float32) + 1.0, "b1"),
        numpy_helper.from_array(rng.standard_normal([32, 8]).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([2.0], np.float32), "two"),
        numpy_helper.from_array(np.array([3.0], np.float32), "three"),
    ]
    nodes = [
        h.make_node("Identity", ["x"], ["xi"], name="noop"),
        h.make_node("MatMul", ["xi", "w1"], ["m1"], name="fc1"),
        h.make_node("Add", ["m1", "b1"], ["a1"], name="fc1_bias"),
        h.make_node("Relu", ["a1"], ["r1"], name="act"),
        h.make_node("Mul", ["two", "three"], ["six"], name="const_mul"),  # folds to a constant
        h.make_node("MatMul", ["r1", "w2"], ["m2"], name="fc2"),
        h.make_node("Mul", ["m2", "six"], ["y"], name="scale"),
        h.make_node("ArgMax", ["y"], ["best"], name="argmax", axis=1, keepdims=0),
    ]
    graph = h.make_graph(
        nodes,
        "mlp",
        [h.make_tensor_value_info("x", T.FLOAT, [batch, 16])],
        [h.make_tensor_value_info("y", T.FLOAT, [batch, 8]), h.make_tensor_value_info("best", T.INT64, [batch])],
        inits,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def _plant_wrong_add(model: onnx.ModelProto):
    """A wrong rewrite: the first Add becomes a Sub (same inputs, same types: it verifies)."""
    for node in model.graph.node:
        if node.op_type == "Add":
            node.op_type = "Sub"
            return model
    return None


@pytest.fixture
def broken_pass():
    irforge.register_pass(BROKEN, _plant_wrong_add, "test only: turns the first Add into Sub")
    yield BROKEN
    irforge.unregister_pass(BROKEN)


@pytest.fixture
def original(tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(_mlp().SerializeToString())
    return str(path)


def _convert(original, out, transform="default", compress_to_fp16=True):
    irforge.save_model(irforge.convert_model(original, transform=transform), out, compress_to_fp16=compress_to_fp16)
    return str(out)


@pytest.mark.parametrize("name,fp16", [("m.xml", True), ("m.xml", False), ("m.onnx", False)])
def test_good_conversion_passes(original, tmp_path, name, fp16):
    converted = _convert(original, tmp_path / name, compress_to_fp16=fp16)
    report = irforge.check(original, converted)
    assert report.ok, str(report)
    assert report.rtol == (2e-2 if fp16 else 1e-4)
    assert [o.name for o in report.outputs] == ["y", "best"]
    y, best = report.outputs
    assert y.cosine > 0.9999 and y.max_rel <= report.rtol and best.mismatches == 0
    assert report.bisect is None
    if not fp16:  # f32 IR / ONNX of this small model: float32 rounding only
        assert y.max_rel < 1e-5


@pytest.mark.parametrize("name", ["m.xml", "m.onnx"])
def test_bisection_names_the_planted_pass(original, tmp_path, broken_pass, name):
    converted = _convert(original, tmp_path / name, transform=PIPELINE)
    # The pipeline is recorded in the IR's rt_info; ONNX output carries none, so it is given.
    report = irforge.check(original, converted, transform=None if name.endswith(".xml") else PIPELINE)
    assert not report.ok
    y = report.outputs[0]
    assert not y.ok and y.mismatches > 0 and y.max_rel > 1e-2
    b = report.bisect
    assert b is not None and b.culprit == BROKEN, str(report)
    assert b.passes[b.first_bad] == BROKEN and b.first_bad == PIPELINE.split(",").index(BROKEN)
    assert f"after pass #{b.first_bad + 1} '{BROKEN}'" in b.detail and "Add -1" in b.detail and "Sub +1" in b.detail
    # Bisection, not a linear scan: full run, empty prefix, then about log2(passes) prefixes.
    assert b.conversions <= 2 + int(np.ceil(np.log2(len(b.passes)))) + 1


def test_cli_check_names_the_pass_and_exits_1(original, tmp_path, broken_pass, capsys):
    converted = _convert(original, tmp_path / "m.xml", transform=PIPELINE, compress_to_fp16=False)
    assert cli.main(["check", original, converted]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and f"'{BROKEN}'" in out and "max abs" in out and "cosine" in out


def test_convert_with_check_flag(original, tmp_path, broken_pass, capsys):
    good = str(tmp_path / "good.xml")
    assert cli.main(["convert", original, "--output_model", good, "--check"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("PASS")
    bad = str(tmp_path / "bad.onnx")
    assert cli.main(["convert", original, "--output_model", bad, "--transform", PIPELINE, "--check"]) == 1
    assert f"'{BROKEN}'" in capsys.readouterr().out


def test_fault_outside_the_passes_is_not_blamed_on_a_pass(original, tmp_path):
    # A converted model damaged after conversion: re-converting does not reproduce it.
    converted = _convert(original, tmp_path / "m.xml", compress_to_fp16=False)
    bin_path = tmp_path / "m.bin"
    data = bytearray(bin_path.read_bytes())
    w1 = numpy_helper.to_array(_mlp().graph.initializer[0]).tobytes()
    at = bytes(data).find(w1[:64])
    assert at >= 0
    data[at : at + 4] = np.float32(1e4).tobytes()  # one weight of w1
    bin_path.write_bytes(bytes(data))
    report = irforge.check(original, converted)
    assert not report.ok and report.bisect.culprit == "" and "does not reproduce" in report.bisect.detail


def test_user_inputs_and_shapes(tmp_path):
    path = tmp_path / "dyn.onnx"
    path.write_bytes(_mlp(dynamic=True).SerializeToString())
    converted = _convert(str(path), tmp_path / "dyn.xml", compress_to_fp16=False)
    report = irforge.check(str(path), converted, shapes={"x": [5, 16]})
    assert report.ok and report.outputs[0].shape == (5, 8)
    report = irforge.check(str(path), converted, dims={"batch": 3})
    assert report.ok and report.outputs[0].shape == (3, 8)
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.linspace(-1, 1, 7 * 16, dtype=np.float32).reshape(7, 16))
    assert cli.main(["check", str(path), converted, "--inputs", str(npz)]) == 0
    assert cli.main(["check", str(path), converted, "--input_shape", "x[4,16]"]) == 0
    assert cli.main(["check", str(path), converted, "--input_shape", "batch=6"]) == 0
    assert cli.main(["check", str(path), converted, "--input_shape", "x[2,16],batch=6"]) == 0
    with pytest.raises(ValueError, match="no input has a dim named sequence; symbolic dims: batch"):
        irforge.check(str(path), converted, dims={"batch": 2, "sequence": 3})
    with pytest.raises(ValueError, match=r"input 'x' has shape \[batch,16\]"):
        irforge.check(str(path), converted, shapes={"x": [4, 15]})


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.onnx", "{conv}"], "missing.onnx: no such file (the original model)"),
        (["{orig}", "missing.xml"], "missing.xml: no such file (the converted model)"),
        (["{orig}", "{orig_copy_txt}"], "cannot check '.txt' models"),
        (["{orig}", "{conv}", "--inputs", "nothing.npz"], "nothing.npz: no such file (the inputs)"),
        (["{orig}", "{conv}", "--input_shape", "x[2,16"], "--input_shape: cannot read"),
        (["{orig}", "{conv}", "--input_shape", "y[2,16]"], "no model input named y"),
    ],
)
def test_bad_input_is_a_clear_error_and_exit_1(original, tmp_path, capsys, args, message):
    converted = _convert(original, tmp_path / "m.xml")
    txt = tmp_path / "m.txt"
    txt.write_text("x")
    values = {"orig": original, "conv": converted, "orig_copy_txt": str(txt)}
    argv = ["check"] + [a.format(**values) for a in args]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("irforge: error:") and message in err, err


def test_python_pass_hook(original, broken_pass):
    # The hook itself: listed, usable in pipelines, reports change honestly, and names clash.
    assert BROKEN in dict(irforge.list_passes())
    model = irforge.convert_model(original, transform=f"{BROKEN},{BROKEN}")
    assert [r["changed"] for r in model.pass_log] == [True, False]
    assert model.op_histogram.get("Sub") == 1 and "Add" not in model.op_histogram
    with pytest.raises(irforge.UnsupportedError, match="built-in pass"):
        irforge.register_pass("fold", _plant_wrong_add)
    assert irforge.unregister_pass(BROKEN)
    with pytest.raises(irforge.UsageError, match=f"unknown pass '{BROKEN}'"):  # a wrong request, not the model
        irforge.convert_model(original, transform=BROKEN)
    irforge.register_pass(BROKEN, _plant_wrong_add)  # for the fixture's cleanup
