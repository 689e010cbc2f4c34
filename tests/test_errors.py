"""Errors as promised: every failure reaches the user as an irforge.ConversionError subclass with
a message naming the bad part (TypeError only for a value of the wrong Python type), and the CLI
turns each into exit status 1 and one stderr line (2: argparse's own usage errors, 130: Ctrl-C,
141: stdout closed), never a traceback and never a file left behind."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge import _core


def _mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal([64, 64]).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal([64, 8]).astype(np.float32), "w2")
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["m1"], name="fc1"),
        h.make_node("Mul", ["m1", "scale"], ["s1"], name="scale_mul"),
        h.make_node("Relu", ["s1"], ["r1"], name="act"),
        h.make_node("MatMul", ["r1", "w2"], ["y"], name="fc2"),
    ]
    graph = h.make_graph(
        nodes,
        "mlp",
        [h.make_tensor_value_info("x", T.FLOAT, ["batch", 64]), h.make_tensor_value_info("scale", T.FLOAT, [1])],
        [h.make_tensor_value_info("y", T.FLOAT, ["batch", 8])],
        [w1, w2],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(_mlp().SerializeToString())
    return str(path)


def _usage(fn, match):
    with pytest.raises(irforge.UsageError, match=match) as info:
        fn()
    assert isinstance(info.value, irforge.ConversionError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    return info.value


# --- pipeline text -------------------------------------------------------------------------

BAD_PIPELINES = [
    ("(dce)*99999999999", r"round count '99999999999' is not within 1\.\.1000"),
    ("(dce)*0", r"round count '0' is not within 1\.\.1000"),
    ("(dce)*-1", r"position 5 .*expected a round count"),
    ("(dce)*", r"expected a round count"),
    ("(" * 100000, r"100000 characters long, more than the limit of 4096"),
    ("(" * 9 + "dce" + ")" * 9, r"groups nested more than 8 deep"),
    ("((((dce)", r"missing '\)'"),
    ("dce)", r"position 3 .*unexpected '\)'"),
    ("dce,,fold", r"position 4 .*expected a pass name"),
    ("dce,", r"expected a pass name after ','"),
    ("()", r"empty group"),
    ("dce,no-such-pass", r"position 4 .*unknown pass 'no-such-pass'; passes: dce, "),
    ("dce;fold", r"unexpected ';'"),
    ("((dce)*100)*101", r"more than 10000 passes"),
    ("(default)*1000", r"more than 10000 passes"),
    ("dce\x00fold", r"position 3 \"dce\?fold\": unexpected character 0x00$"),
]


@pytest.mark.parametrize("text,match", BAD_PIPELINES, ids=[repr(t[:24]) for t, _ in BAD_PIPELINES])
def test_bad_pipeline_is_a_usage_error_quoting_it(model_path, text, match):
    error = _usage(lambda: irforge.convert_model(model_path, transform=text), match)
    assert len(str(error)) < 1200  # quoted in part, not echoed whole
    _usage(lambda: _core.validate_pipeline(text), match)


def test_pipeline_limits_are_inclusive(model_path):
    assert irforge.convert_model(model_path, transform="(dce)*1000").pass_log  # stops at the fixed point
    nested = "(" * 8 + "dce" + ")*1" * 8  # 8 default rounds at each of 8 levels would be 8^8 runs
    assert _core.validate_pipeline(nested) == ["dce"]
    long_text = ",".join(["dce"] * 1024)  # 4095 characters
    assert len(long_text) <= 4096 and _core.validate_pipeline(long_text) == ["dce"]
    _usage(lambda: _core.validate_pipeline(long_text + ",dce"), "more than the limit of 4096")
    assert _core.validate_pipeline("dce,(fold,cse)*3") == ["dce", "fold", "cse"]
    with pytest.raises(TypeError, match="transform must be pipeline text"):
        irforge.convert_model(model_path, transform=5)


# --- option values ---------------------------------------------------------------------------

CONVERT_OPTIONS = [
    (dict(fold_size_limit=-1), r"fold_size_limit must be within 0\.\."),
    (dict(fold_size_limit="lots"), r"fold_size_limit must be an integer, not 'lots'"),
    (dict(target_opset=999), r"target_opset must be within 1\.\.\d+ or 0, not 999"),
    (dict(target_opset=-3), r"target_opset must be within 1\.\.\d+ or 0, not -3"),
    (dict(dump_after="nope"), r"dump_after: unknown pass 'nope'"),
    (dict(dump_after="fuse-gelu", transform="dce"), r"pass 'fuse-gelu' does not run in the pipeline \"dce\""),
    (dict(dump_after="dce", transform="none"), r"needs a pipeline that runs passes"),
    (dict(verify="yes"), r"verify must be True or False, not 'yes'"),
    (dict(input="x[1,64"), r"--input 'x\[1,64': unbalanced brackets"),
    (dict(input="x[1,a]"), r"bad dimension 'a'"),
    (dict(input="x[99999999999999]"), r"dimension 99999999999999 .* within 0\.\."),
    (dict(input="nope[1,64]"), r"the model has no input 'nope'"),
    (dict(input="x[1,64]->[1,2]"), r"shape \[1, 64\] holds 64 values, 2 given"),
    (dict(input={"x": object()}), r"cannot use"),
]


# Ids without object addresses: pytest-xdist workers must collect the same names.
@pytest.mark.parametrize("kwargs,match", CONVERT_OPTIONS, ids=[re.sub(r" at 0x[0-9a-f]+", "", str(k))[:40] for k, _ in CONVERT_OPTIONS])
def test_convert_model_refuses_bad_options(model_path, kwargs, match):
    _usage(lambda: irforge.convert_model(model_path, **kwargs), match)


def test_save_model_refuses_bad_options(model_path, tmp_path):
    model = irforge.convert_model(model_path)
    out = str(tmp_path / "out.xml")
    _usage(lambda: irforge.save_model(model, out, compress_to_fp16="maybe"), "compress_to_fp16 must be True or False, not 'maybe'")
    _usage(lambda: irforge.save_model(model, out, compress_to_fp16="False"), "compress_to_fp16 must be True or False")
    _usage(lambda: irforge.save_model(model, str(tmp_path / "o.onnx"), target_opset=999), "target_opset must be within")
    _usage(lambda: irforge.save_model(model, str(tmp_path / "o.onnx"), external_data="always"), "external_data must be True or False")
    _usage(lambda: irforge.save_model(model, ""), "output_model is an empty path")
    with pytest.raises(TypeError, match="progress must be a function or None"):
        irforge.save_model(model, out, progress=3)
    with pytest.raises(TypeError, match="output_model must be a path"):
        irforge.save_model(model, 42)
    with pytest.raises(irforge.ModelFileError, match="does not exist"):
        irforge.save_model(model, str(tmp_path / "no" / "such" / "out.xml"))
    with pytest.raises(irforge.UnsupportedError, match="unknown output format '.txt'"):
        irforge.save_model(model, str(tmp_path / "out.txt"))
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]  # nothing written by any refusal


COMPRESS_OPTIONS = [
    (dict(group_size=-7), r"group_size must be within 1\.\.\d+ or -1, not -7"),
    (dict(group_size=0), r"group_size must be within 1\.\.\d+ or -1, not 0"),
    (dict(group_size="abc"), r"group_size must be an integer, not 'abc'"),
    (dict(ratio=math.nan), r"ratio must be within \[0, 1\], not nan"),
    (dict(ratio=1.5), r"ratio must be within \[0, 1\], not 1\.5"),
    (dict(ratio=-0.1), r"ratio must be within \[0, 1\]"),
    (dict(mode="int3"), r"mode must be one of 'int8_asym', 'int8_sym', 'int4_asym', 'int4_sym', not 'int3'"),
    (dict(backup_mode="foo"), r"backup_mode must be one of 'int8_asym', 'int8_sym', 'none', not 'foo'"),
    (dict(group_size_fallback="maybe"), r"group_size_fallback must be one of"),
    (dict(all_layers="no"), r"all_layers must be True or False"),
    (dict(ignored_scope="fc1("), r"ignored_scope: 'fc1\(' is not a valid regular expression"),
    (dict(ignored_scope=["fc1", "[z-a]"]), r"ignored_scope: '\[z-a\]' is not a valid regular expression"),
    (dict(ignored_scope={"pattern": ["x"]}), r"ignored_scope keys are names, patterns and types"),
]


@pytest.mark.parametrize("kwargs,match", COMPRESS_OPTIONS, ids=[str(k)[:40] for k, _ in COMPRESS_OPTIONS])
def test_compress_weights_refuses_bad_options(model_path, kwargs, match):
    model = irforge.convert_model(model_path)
    before = model.to_onnx_bytes()
    _usage(lambda: irforge.compress_weights(model, **kwargs), match)
    assert model.to_onnx_bytes() == before and model.compression_report() == []  # refused before any change


def test_compress_weights_accepts_the_edges(model_path):
    model = irforge.convert_model(model_path)
    irforge.compress_weights(model, "int4_sym", group_size=-1, ratio=0.0, ignored_scope=["^fc2$"])
    assert {r["weight"]: r["mode"] for r in model.compression_report()} == {"w1": "int8_asym", "w2": "float"}
    with pytest.raises(TypeError, match="ignored_scope patterns must be strings, not int"):
        irforge.compress_weights(model, ignored_scope=[1])


def test_check_refuses_bad_options(model_path, tmp_path):
    converted = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model_path), converted)
    _usage(lambda: irforge.check(model_path, converted, rtol=math.nan), r"rtol must be a finite number > 0, not nan")
    _usage(lambda: irforge.check(model_path, converted, rtol=0), r"rtol must be a finite number > 0")
    _usage(lambda: irforge.check(model_path, converted, atol=-1), r"atol must be a finite number >= 0")
    _usage(lambda: irforge.check(model_path, converted, seed=-1), r"seed must be within 0\.\.\d+, not -1")
    _usage(lambda: irforge.check(model_path, converted, dims={"batch": -2}), r"dims\['batch'\] must be within 1\.\.")
    _usage(lambda: irforge.check(model_path, converted, transform="(dce"), r"missing '\)'")
    _usage(lambda: irforge.check(model_path, converted, input="x[2,64"), r"unbalanced brackets")
    with pytest.raises(irforge.ModelFileError, match="cannot read the inputs"):
        bad = tmp_path / "bad.npz"
        bad.write_text("not a zip file")
        irforge.check(model_path, converted, inputs=str(bad))
    # Inputs the original cannot take: a clear error naming the runtime, not onnxruntime's exception.
    with pytest.raises(irforge.UnsupportedError, match="onnxruntime cannot run the original model"):
        irforge.check(model_path, converted, inputs={"x": np.zeros([2, 3], np.float32), "scale": np.ones([1], np.float32)})


# --- the translator and the Python guard -----------------------------------------------------


@pytest.mark.parametrize(
    "what,kind,match",
    [
        ("out_of_range", irforge.InternalError, r"^internal error: std::out_of_range: basic_string::at"),
        ("length_error", irforge.InternalError, r"^internal error: std::length_error: vector::reserve"),
        ("logic_error", irforge.InternalError, r"^internal error: std::logic_error: broken invariant"),
        ("exception", irforge.InternalError, r"^internal error: std::exception"),
        ("int", irforge.InternalError, r"^internal error: an exception of unknown type"),
        ("internal", irforge.InternalError, r"^verifier: value 'v' has no producer"),
        ("bad_alloc", irforge.ResourceLimitError, r"^out of memory"),
        ("usage", irforge.UsageError, r"^bad option$"),
    ],
)
def test_every_cpp_exception_becomes_a_conversion_error(what, kind, match):
    with pytest.raises(kind, match=match) as info:
        _core._throw_for_test(what)
    assert isinstance(info.value, irforge.ConversionError)
    if kind is irforge.InternalError:
        last = str(info.value).splitlines()[-1]
        assert last.startswith(f"This is a bug in irforge {irforge.__version__}: please report it"), last


def test_wrong_type_inside_the_core_is_a_clear_type_error():
    with pytest.raises(TypeError, match="irforge: wrong argument type"):
        _core._throw_for_test("cast")


def test_unexpected_python_failure_is_an_internal_error(model_path, monkeypatch):
    import irforge.api

    def broken(*_, **__):
        return [][1]

    monkeypatch.setattr(irforge.api, "_read", broken)
    with pytest.raises(irforge.InternalError, match=r"internal error: IndexError: list index out of range\nThis is a bug") as info:
        irforge.convert_model(model_path)
    assert isinstance(info.value.__cause__, IndexError)


def test_callers_own_exceptions_pass_through(model_path, tmp_path):
    model = irforge.convert_model(model_path)

    def progress(done, total):
        raise ZeroDivisionError("from the progress callback")

    # (The ONNX writer reports progress at least once, when its data is written.)
    with pytest.raises(ZeroDivisionError, match="from the progress callback"):
        irforge.save_model(model, str(tmp_path / "out.onnx"), progress=progress)

    def dump(name, text):
        raise LookupError("from the dump callback")

    with pytest.raises(LookupError, match="from the dump callback"):
        irforge.convert_model(model_path, transform="dce", dump_after="dce", dump_callback=dump)

    def failing_pass(proto):
        raise ArithmeticError("from a Python pass")

    irforge.register_pass("test-failing-pass", failing_pass)
    try:
        with pytest.raises(ArithmeticError, match="from a Python pass"):
            irforge.convert_model(model_path, transform="dce,test-failing-pass")
    finally:
        irforge.unregister_pass("test-failing-pass")

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        irforge.save_model(model, str(tmp_path / "out.onnx"), progress=interrupt)
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]  # the interrupted writers removed their files


# --- the command line, in a subprocess -------------------------------------------------------

# The subprocess imports the irforge this test imported (a dev build's stage, or the installed one).
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(irforge.__file__)), os.environ.get("PYTHONPATH", "")])}


def _cli(cwd, *args, prelude: str = "", stdout=subprocess.PIPE):
    """Runs `irforge ARGS` (after `prelude`, Python run first in the same process)."""
    code = f"import sys\n{prelude}\nfrom irforge.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=_ENV, timeout=600
    )


def _assert_one_line_error(proc, status, match):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in (proc.stdout or "")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("irforge: error: "), proc.stderr
    assert match in lines[0], lines[0]


CLI_ERRORS = [
    (["--transform", "(dce)*99999999999"], "round count '99999999999' is not within 1..1000"),
    (["--transform", "(" * 5000], "more than the limit of 4096"),
    (["--transform", "dce,,fold"], "expected a pass name"),
    (["--transform", "dce,nope"], "unknown pass 'nope'"),
    (["--transform", "(dce)*0"], "round count '0'"),
    (["--dump_after", "nope"], "dump_after: unknown pass 'nope'"),
    (["--target_opset", "999"], "target_opset must be within"),
    (["--target_opset", "-3"], "target_opset must be within"),
    (["--input", "x[1,64"], "unbalanced brackets"),
    (["--input", "x[1,64]{q7}"], "unknown element type 'q7'"),
    (["--input", "nope[1]"], "the model has no input 'nope'"),
    (["--compress_weights", "int4_asym", "--group_size", "-7"], "group_size must be within"),
    (["--compress_weights", "int4_asym", "--group_size", "0"], "group_size must be within"),
    (["--compress_weights", "int4_asym", "--ratio", "nan"], "ratio must be within [0, 1], not nan"),
    (["--compress_weights", "int4_asym", "--ratio", "1.5"], "ratio must be within [0, 1], not 1.5"),
    (["--compress_weights", "int8_asym", "--ignored_scope", "fc1("], "is not a valid regular expression"),
    (["--output_model", "out.txt"], "unknown output format '.txt'"),
    (["--output_model", "no/such/folder/out.xml"], "does not exist"),
    (["--check", "--input_shape", "x[2,64"], "--input_shape: cannot read"),
]


@pytest.mark.parametrize("args,message", CLI_ERRORS, ids=[" ".join(a)[:40] for a, _ in CLI_ERRORS])
def test_cli_conversion_error_is_exit_1_and_one_line(model_path, tmp_path, args, message):
    proc = _cli(tmp_path, "convert", model_path, *args)
    _assert_one_line_error(proc, 1, message)
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["convert", "{model}", "--compress_to_fp16", "maybe"], "expected True or False, got 'maybe'"),
        (["convert", "{model}", "--backup_mode", "foo"], "invalid choice: 'foo'"),
        (["convert", "{model}", "--compress_weights", "int3"], "invalid choice: 'int3'"),
        (["convert", "{model}", "--group_size", "abc"], "invalid int value: 'abc'"),
        (["convert", "{model}", "--no_such_option"], "unrecognized arguments"),
        (["convert"], "the following arguments are required"),
    ],
)
def test_cli_usage_error_is_argparses_exit_2(model_path, tmp_path, args, message):
    proc = _cli(tmp_path, *[a.format(model=model_path) for a in args])
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


def test_cli_missing_and_unreadable_models(tmp_path):
    _assert_one_line_error(_cli(tmp_path, "convert", "missing.onnx"), 1, "missing.onnx: no such file")
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    proc = _cli(tmp_path, "info", "junk.onnx")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "junk.onnx" in proc.stderr, proc.stderr


def test_cli_unexpected_exception_is_one_internal_error_line(model_path, tmp_path):
    prelude = "import irforge.api\ndef broken(*_, **__):\n    return {}['key']\nirforge.api._read = broken"
    proc = _cli(tmp_path, "convert", model_path, prelude=prelude)
    _assert_one_line_error(proc, 1, "internal error: KeyError: 'key'; This is a bug in irforge")
    assert irforge.__version__ in proc.stderr
    # Outside the API guard too (a bug in the CLI itself).
    proc = _cli(tmp_path, "passes", prelude="import irforge.cli\nirforge.cli._passes = lambda args: 1 / 0")
    _assert_one_line_error(proc, 1, "internal error: ZeroDivisionError: division by zero")
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


def test_cli_interrupt_is_exit_130_without_leftovers(model_path, tmp_path):
    # Ctrl-C in the middle of writing: the progress hook is where the writer notices it (the
    # ONNX writer calls it once its data is written, before the file is complete).
    prelude = "import irforge.cli\ndef stop(self, done, total):\n    raise KeyboardInterrupt\nirforge.cli._Progress.__call__ = stop"
    for extra in ([], ["--external_data", "True"]):
        proc = _cli(tmp_path, "convert", model_path, "--output_model", "out.onnx", *extra, prelude=prelude)
        assert proc.returncode == 130 and proc.stderr == "irforge: interrupted\n", proc.stderr
        assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]
    # Ctrl-C while --check runs: the checked files were not yet in place, and are not.
    prelude = "import irforge.checking\ndef stop(*a, **k):\n    raise KeyboardInterrupt\nirforge.checking.check = stop"
    proc = _cli(tmp_path, "convert", model_path, "--check", prelude=prelude)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


def test_cli_closed_stdout_is_quiet(model_path, tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `irforge info m.onnx --dump | head -0`
    try:
        proc = _cli(tmp_path, "info", model_path, "--dump", stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_cli_check_with_input_shapes_and_frozen_inputs(model_path, tmp_path):
    proc = _cli(tmp_path, "convert", model_path, "--check", "--input", "x[3,64],scale->[0.5]", "--compress_to_fp16", "False")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"[ SUCCESS ] {tmp_path / 'mlp.xml'}") and proc.stdout.rstrip().endswith("PASS"), proc.stdout
    assert "y                            float32  [3,8]" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["mlp.bin", "mlp.onnx", "mlp.xml"]
    # The converted model has one input left, of the given shape.
    import openvino as ov
    inputs = ov.Core().read_model(str(tmp_path / "mlp.xml")).inputs
    assert [(i.get_any_name(), list(i.get_partial_shape().to_shape())) for i in inputs] == [("x", [3, 64])]
    # `irforge check` takes the same --input for a model converted with it.
    proc = _cli(tmp_path, "check", model_path, "mlp.xml", "--input", "x[3,64],scale->[0.5]")
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("PASS"), proc.stdout + proc.stderr
    # Without it, the IR's rt_info says which --input the conversion used.
    proc = _cli(tmp_path, "check", model_path, "mlp.xml")
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("PASS"), proc.stdout + proc.stderr
    onnx_out = str(tmp_path / "frozen.onnx")
    proc = _cli(tmp_path, "convert", model_path, "--check", "--input", "scale->[2.0]", "--output_model", onnx_out)
    assert proc.returncode == 0 and os.path.exists(onnx_out), proc.stderr
    # ONNX output records no options: without --input it cannot be fed, and one line says what to do.
    _assert_one_line_error(_cli(tmp_path, "check", model_path, "frozen.onnx"), 1, "give the same one here")


def test_cli_failing_check_writes_nothing(model_path, tmp_path):
    # fp16 weights against a tolerance nothing meets: the check fails, the files never appear.
    proc = _cli(tmp_path, "convert", model_path, "--check", "--rtol", "1e-30", "--no_bisect")
    _assert_one_line_error(proc, 1, "the converted model fails the check (report above); nothing was written")
    assert "FAIL" in proc.stdout and "[ SUCCESS ]" not in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


def test_other_entry_points_name_the_bad_argument(model_path):
    with pytest.raises(TypeError, match="register_pass: fn must be a function"):
        irforge.register_pass("test-not-callable", 3)
    with pytest.raises(TypeError, match="name and summary are str"):
        irforge.register_pass(7, lambda m: None)
    with pytest.raises(TypeError, match="convert_model\\(\\) takes a path, bytes"):
        irforge.convert_model(3.5)
    with pytest.raises(TypeError, match="save_model\\(\\) takes an irforge.Model"):
        irforge.save_model("m.onnx", "out.xml")
    _usage(lambda: irforge.convert_model(model_path).to_onnx_bytes(target_opset=999), "target_opset must be within")
    _usage(lambda: irforge.set_num_threads("many"), "n must be an integer, not 'many'")


def test_cli_real_sigint_is_exit_130(model_path, tmp_path):
    # A real Ctrl-C (SIGINT) while a pass runs: exit 130, one line, no traceback, no files.
    # The child starts with SIGINT at its default, as under a terminal: a suite launched as a
    # background job of a non-interactive shell (`scripts/sanitize.sh ... &`) inherits SIGINT
    # ignored, exec keeps it ignored, and Python then installs no KeyboardInterrupt handler, so
    # the child slept through the signal and exited 0 silently (once taken for an ASan problem).
    import signal

    prelude = (
        "import time, irforge\n"
        "def slow(proto):\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "irforge.register_pass('test-slow', slow)"
    )
    code = f"import sys\n{prelude}\nfrom irforge.cli import main\nsys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "convert", model_path, "--transform", "dce,test-slow"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == "irforge: interrupted\n", err
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]
