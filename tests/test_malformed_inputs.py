"""Malformed inputs: every one is refused with the right ConversionError subclass and a message that
names the file, the node or tensor, and the problem; through the CLI it exits 1 with that message
on stderr and leaves nothing in the output folder. Nothing may crash, hang or overflow the stack.

Models are built with onnx.helper without the checker; byte-level damage is done on the
serialized bytes. The fuzzer's crash reproducers (tests/fuzz/regressions/) are replayed here too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Type

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge import ConversionError, InvalidModelError, ModelFileError, ResourceLimitError
from protobuf_wire import field as _field
from protobuf_wire import varint as _varint

REPO = Path(__file__).resolve().parents[1]
# The folder holding the irforge package under test, so that CLI subprocesses run the same build
# (e.g. the sanitizer build of scripts/sanitize.sh) as this process.
PACKAGE_ROOT = str(Path(irforge.__file__).parent.parent)
REGRESSIONS = REPO / "tests" / "fuzz" / "regressions"
F32 = TensorProto.FLOAT
vi = helper.make_tensor_value_info


# ---- model builders ------------------------------------------------------------------------------


def _model(nodes, inputs, outputs, initializers=(), **graph_kw) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers), **graph_kw)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def _valid_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "w")
    return _model(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["y"], name="relu")],
        [vi("x", F32, [1, 8])],
        [vi("y", F32, [1, 8])],
        [w],
    )


def _uses_initializer(t: onnx.TensorProto, out_type=F32) -> onnx.ModelProto:
    """A model whose only node reads initializer `t`."""
    return _model([helper.make_node("Identity", [t.name], ["y"], name="use")], [], [vi("y", out_type, None)], [t])


def _external_tensor(location: str, offset=None, length=None) -> onnx.TensorProto:
    t = numpy_helper.from_array(np.zeros(8, np.float32), "w_ext")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = t.external_data.add()
            entry.key, entry.value = key, str(value)
    return t


def _nested_if_model(depth: int) -> bytes:
    """If inside If inside ... `depth` levels, serialized by hand: the protobuf library itself
    refuses to build messages nested this deeply."""
    def leaf(name: str) -> bytes:
        return helper.make_graph(
            [helper.make_node("Identity", ["x"], [name])], f"leaf_{name}", [], [vi(name, F32, None)]
        ).SerializeToString()

    graph = leaf("o0")
    for level in range(1, depth + 1):
        attr_then = _field(1, b"then_branch") + bytes([0xA0, 0x01, 5]) + _field(6, graph)  # type=GRAPH, g=...
        attr_else = _field(1, b"else_branch") + bytes([0xA0, 0x01, 5]) + _field(6, leaf(f"e{level}"))
        node = helper.make_node("If", ["c"], [f"o{level}"], name=f"if_{level}").SerializeToString()
        node += _field(5, attr_then) + _field(5, attr_else)
        out = vi(f"o{level}", F32, None).SerializeToString()
        graph = _field(1, node) + _field(2, f"level_{level}".encode()) + _field(12, out)
    # The outermost level becomes the main graph: add its inputs (protobuf merges repeated fields).
    graph += _field(11, vi("c", TensorProto.BOOL, []).SerializeToString()) + _field(11, vi("x", F32, [1]).SerializeToString())
    model = onnx.ModelProto()
    model.ir_version = onnx.IR_VERSION
    model.opset_import.add(domain="", version=21)
    return model.SerializeToString() + _field(7, graph)


def _nested_sequence_type_model(depth: int) -> bytes:
    """A graph input of type sequence(sequence(...(tensor)...)) `depth` levels deep."""
    t = helper.make_tensor_type_proto(F32, [1]).SerializeToString()
    for _ in range(depth):
        t = _field(4, _field(1, t))  # TypeProto.sequence_type { elem_type: t }
    value_info = _field(1, b"deep_input") + _field(2, t)
    g = helper.make_graph([helper.make_node("Identity", ["deep_input"], ["y"], name="id")], "g", [], [])
    graph = g.SerializeToString() + _field(11, value_info) + _field(12, _field(1, b"y"))
    model = onnx.ModelProto()
    model.ir_version = onnx.IR_VERSION
    model.opset_import.add(domain="", version=21)
    return model.SerializeToString() + _field(7, graph)


# ---- the cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    error: Type[ConversionError]
    # Builds the input inside `folder` and returns the model path.
    make: Callable[[Path], Path]
    # Substrings the message must contain (the file name is always checked too).
    expect: List[str] = field(default_factory=list)


def _write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, (bytes, bytearray)) else data.SerializeToString())
    return path


def _truncated(folder):
    data = _valid_model().SerializeToString()
    return _write(folder, "truncated.onnx", data[: len(data) // 2])


def _garbage(folder):
    return _write(folder, "garbage.onnx", bytes(range(256)) * 8)


def _text(folder):
    return _write(folder, "notes.onnx", b"This is a README, not a model.\nirforge should say so.\n")


def _ext(location, offset=None, length=None, make_file=None):
    def make(folder):
        if make_file:
            make_file(folder)
        return _write(folder, "ext.onnx", _uses_initializer(_external_tensor(location, offset, length)))

    return make


def _data_file(folder):
    (folder / "weights.bin").write_bytes(b"\0" * 32)


def _outside_symlink(folder):
    outside = folder.parent / (folder.name + "_outside.bin")
    outside.write_bytes(b"\0" * 32)
    os.symlink(outside, folder / "link.bin")


def _raw_short(folder):
    t = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w_short")
    t.raw_data = t.raw_data[:32]
    return _write(folder, "raw_short.onnx", _uses_initializer(t))


def _float_count(folder):
    t = helper.make_tensor("w_typed", F32, [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    del t.float_data[4:]
    return _write(folder, "float_count.onnx", _uses_initializer(t))


def _negative_dim(folder):
    t = helper.make_tensor("w_neg", F32, [2, 3], [0.0] * 6)
    t.dims[1] = -3
    return _write(folder, "negative_dim.onnx", _uses_initializer(t))


def _absurd_dims(dims):
    def make(folder):
        t = helper.make_tensor("w_huge", F32, [1], [0.0])
        del t.float_data[:]
        t.dims[:] = dims
        return _write(folder, "absurd.onnx", _uses_initializer(t))

    return make


def _cycle(folder):
    m = _model(
        [
            helper.make_node("Relu", ["b"], ["a"], name="first"),
            helper.make_node("Neg", ["a"], ["b"], name="second"),
            helper.make_node("Identity", ["a"], ["y"], name="out"),
        ],
        [],
        [vi("y", F32, None)],
    )
    return _write(folder, "cycle.onnx", m)


def _undefined(folder):
    m = _model([helper.make_node("Relu", ["missing_tensor"], ["y"], name="relu_node")], [vi("x", F32, [1])], [vi("y", F32, None)])
    return _write(folder, "undefined.onnx", m)


def _output_not_produced(folder):
    m = _model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", F32, [1])], [vi("ghost_output", F32, None)])
    return _write(folder, "no_output.onnx", m)


def _duplicate(folder):
    m = _model(
        [helper.make_node("Relu", ["x"], ["y"], name="first"), helper.make_node("Neg", ["x"], ["y"], name="second_def")],
        [vi("x", F32, [1])],
        [vi("y", F32, None)],
    )
    return _write(folder, "duplicate.onnx", m)


def _duplicate_in_subgraph(folder):
    then_g = helper.make_graph([helper.make_node("Cast", ["c"], ["x"], name="shadow", to=F32)], "then", [], [vi("x", F32, [])])
    m = _model(
        [helper.make_node("If", ["c"], ["y"], name="cond", then_branch=then_g, else_branch=then_g)],
        [vi("c", TensorProto.BOOL, []), vi("x", F32, [])],
        [vi("y", F32, [])],
    )
    return _write(folder, "shadow.onnx", m)


def _unknown_dtype(folder):
    t = helper.make_tensor("w_dtype", F32, [1], [1.0])
    t.data_type = 99
    return _write(folder, "dtype.onnx", _uses_initializer(t))


def _nested(folder):
    return _write(folder, "nested.onnx", _nested_if_model(100))


def _nested_types(folder):
    return _write(folder, "nested_types.onnx", _nested_sequence_type_model(1000))


def _bad_wire_type_in_node(folder):
    node = helper.make_node("Relu", ["x"], ["y"], name="broken_node").SerializeToString()
    node += bytes([0x20, 0x01])  # op_type (field 4) sent as a varint
    g = helper.make_graph([], "g", [vi("x", F32, [1])], [vi("y", F32, None)])
    model = onnx.ModelProto()
    model.ir_version = onnx.IR_VERSION
    model.opset_import.add(domain="", version=21)
    data = model.SerializeToString() + _field(7, _field(1, node) + g.SerializeToString())
    return _write(folder, "wire_type.onnx", data)


def _no_op_type(folder):
    n = helper.make_node("Relu", ["x"], ["y"], name="nameless_op")
    n.op_type = ""
    return _write(folder, "no_op.onnx", _model([n], [vi("x", F32, [1])], [vi("y", F32, None)]))


def _string_raw(folder):
    t = helper.make_tensor("w_str", TensorProto.STRING, [1], [b"a"])
    del t.string_data[:]
    t.raw_data = b"abc"
    return _write(folder, "string_raw.onnx", _uses_initializer(t, TensorProto.STRING))


def _sparse_without_indices(folder):
    vals = numpy_helper.from_array(np.array([1.0], np.float32), "sp_vals")
    sp = onnx.SparseTensorProto()
    sp.values.CopyFrom(vals)
    sp.dims[:] = [4]
    m = _model([helper.make_node("Constant", [], ["y"], name="const", sparse_value=sp)], [], [vi("y", F32, None)])
    return _write(folder, "sparse.onnx", m)


CASES = [
    Case("truncated", InvalidModelError, _truncated, ["truncated", "field 7"]),
    Case("garbage", InvalidModelError, _garbage, ["not an ONNX model", "malformed protobuf"]),
    Case("empty", InvalidModelError, lambda f: _write(f, "empty.onnx", b""), ["empty", "0 bytes"]),
    Case("text", InvalidModelError, _text, ["not an ONNX model", "looks like text"]),
    Case("external_missing", ModelFileError, _ext("nowhere.bin"), ["'w_ext'", "nowhere.bin", "does not exist"]),
    Case("external_dotdot", ModelFileError, _ext("../x.bin"), ["'w_ext'", "'../x.bin'", "escapes the model's folder"]),
    Case("external_absolute", ModelFileError, _ext("/etc/passwd"), ["'w_ext'", "'/etc/passwd'", "relative path"]),
    Case("external_symlink", ModelFileError, _ext("link.bin", make_file=_outside_symlink), ["'w_ext'", "link.bin", "outside the model's folder"]),
    Case("external_offset", InvalidModelError, _ext("weights.bin", 100, 32, _data_file), ["'w_ext'", "offset 100", "past the end", "weights.bin"]),
    Case("external_length", InvalidModelError, _ext("weights.bin", 16, 32, _data_file), ["'w_ext'", "runs past the end", "weights.bin"]),
    Case("raw_data_short", InvalidModelError, _raw_short, ["'w_short'", "raw_data has 32 bytes", "needs 64"]),
    Case("float_data_count", InvalidModelError, _float_count, ["'w_typed'", "float_data has 4 values", "needs 6"]),
    Case("negative_dim", InvalidModelError, _negative_dim, ["'w_neg'", "negative dimension -3"]),
    Case("absurd_dims", ResourceLimitError, _absurd_dims([2**31, 2**31, 2**31]), ["'w_huge'", "more than", "elements"]),
    Case("overflowing_dims", ResourceLimitError, _absurd_dims([2**62, 8, 8]), ["'w_huge'", "more than", "elements"]),
    Case("no_data_for_large_shape", InvalidModelError, _absurd_dims([2**36]), ["'w_huge'", "float_data has 0 values"]),
    Case("cycle", InvalidModelError, _cycle, ["graph 'g'", "cycle", "(Relu)"]),
    Case("undefined_tensor", InvalidModelError, _undefined, ["'relu_node' (Relu)", "undefined tensor 'missing_tensor'"]),
    Case("output_not_produced", InvalidModelError, _output_not_produced, ["graph output 'ghost_output'", "not produced"]),
    Case("duplicate_definition", InvalidModelError, _duplicate, ["tensor 'y'", "defined twice", "'second_def'"]),
    Case("subgraph_redefines_outer_name", InvalidModelError, _duplicate_in_subgraph, ["'shadow' (Cast)", "output 'x'", "enclosing graph"]),
    Case("unknown_dtype", InvalidModelError, _unknown_dtype, ["'w_dtype'", "unknown data type 99"]),
    Case("nested_100_levels", ResourceLimitError, _nested, ["subgraphs nested deeper than 64", "node 'if_100' (If)", "more nested levels"]),
    Case("nested_types_1000_levels", ResourceLimitError, _nested_types, ["value 'deep_input'", "type nested deeper than 64"]),
    Case("wrong_wire_type_in_node", InvalidModelError, _bad_wire_type_in_node, ["node #0 'broken_node'", "op_type", "wire type 0"]),
    Case("no_op_type", InvalidModelError, _no_op_type, ["'nameless_op'", "has no op_type"]),
    Case("string_raw_data", InvalidModelError, _string_raw, ["'w_str'", "string tensors cannot use raw_data"]),
    Case("sparse_without_indices", InvalidModelError, _sparse_without_indices, ["'sp_vals'", "has no indices"]),
]


def _run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_ROOT, env.get("PYTHONPATH", "")] if p)
    return subprocess.run(
        [sys.executable, "-m", "irforge", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.fixture
def case_dirs(tmp_path):
    src = tmp_path / "in"
    out = tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_api_refuses_with_a_precise_message(case, case_dirs):
    src, _ = case_dirs
    path = case.make(src)
    with pytest.raises(ConversionError) as info:
        irforge.convert_model(str(path))
    err = info.value
    assert type(err) is case.error, f"{type(err).__name__}: {err}"
    msg = str(err)
    assert str(path) in msg, msg
    for part in case.expect:
        assert part in msg, f"{part!r} not in: {msg}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_exits_1_and_leaves_nothing(case, case_dirs):
    src, out = case_dirs
    path = case.make(src)
    target = out / "model.onnx"
    r = _run_cli("convert", str(path), "--output_model", str(target))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("irforge: error: "), r.stderr
    assert str(path) in r.stderr
    for part in case.expect:
        assert part in r.stderr, f"{part!r} not in: {r.stderr}"
    assert "Traceback" not in r.stderr
    assert list(out.iterdir()) == [], "a failed conversion left files behind"


def test_bytes_input_names_its_source(case_dirs):
    """Given bytes, there is no file name; the message says <bytes> instead and still names the
    tensor and the problem."""
    src, _ = case_dirs
    data = _raw_short(src).read_bytes()
    with pytest.raises(InvalidModelError, match=r"^<bytes>: .*'w_short'.*raw_data has 32 bytes"):
        irforge.convert_model(data)


def test_external_data_refused_for_bytes_input(case_dirs):
    src, _ = case_dirs
    _data_file(src)
    data = _uses_initializer(_external_tensor("weights.bin", 0, 32)).SerializeToString()
    with pytest.raises(ModelFileError, match="'w_ext'.*cannot be resolved for a model given as bytes"):
        irforge.convert_model(data)


def test_every_truncation_point_is_refused_cleanly():
    """Cutting a valid model at any byte gives an InvalidModelError (or, where the cut lands
    between fields, a model); never a crash."""
    data = _valid_model().SerializeToString()
    for cut in range(len(data)):
        try:
            irforge.convert_model(data[:cut])
        except InvalidModelError:
            pass


def test_nesting_just_under_the_limit_is_accepted():
    m = irforge.convert_model(_nested_if_model(60))
    assert m.node_count > 60


# ---- output side ---------------------------------------------------------------------------------


def test_save_into_missing_folder_is_a_file_error(tmp_path):
    model = irforge.convert_model(_valid_model())
    target = tmp_path / "no" / "such" / "folder" / "m.onnx"
    with pytest.raises(ModelFileError, match="does not exist"):
        irforge.save_model(model, str(target))
    assert not (tmp_path / "no").exists()


def test_cli_save_into_missing_folder(tmp_path):
    src = _write(tmp_path, "ok.onnx", _valid_model())
    target = tmp_path / "missing" / "m.onnx"
    r = _run_cli("convert", str(src), "--output_model", str(target))
    assert r.returncode == 1
    assert r.stderr.startswith("irforge: error: ") and "does not exist" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.onnx"]


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("truncated", "undefined_tensor", "external_missing")], ids=lambda c: c.name)
def test_failed_conversion_does_not_clobber_existing_output(case, case_dirs):
    src, out = case_dirs
    path = case.make(src)
    target = out / "model.onnx"
    data_file = out / "model.onnx.data"
    target.write_bytes(b"previous result")
    data_file.write_bytes(b"previous weights")
    r = _run_cli("convert", str(path), "--output_model", str(target), "--external_data", "True")
    assert r.returncode == 1, r.stderr
    assert target.read_bytes() == b"previous result"
    assert data_file.read_bytes() == b"previous weights"
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model.onnx.data"]


def test_failed_write_does_not_clobber_existing_output(tmp_path):
    """A write that fails half-way (here: the output path is a folder, so the final rename fails)
    leaves the existing files and no temporary files."""
    model = irforge.convert_model(_valid_model())
    target = tmp_path / "model.onnx"
    target.mkdir()
    (target / "keep").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="model.onnx"):
        irforge.save_model(model, str(target), external_data=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    assert (target / "keep").read_bytes() == b"x"


# ---- fuzzer regressions --------------------------------------------------------------------------


REGRESSION_FILES = sorted(REGRESSIONS.glob("*")) if REGRESSIONS.is_dir() else []

# What the fuzz targets check, for one regression file: refused with a ConversionError, or read,
# and then (as fuzz_pipeline) run through the default pipeline with the IR verified after every
# pass when it verified after reading, written as OpenVINO IR and as ONNX, and that ONNX re-read.
# Only an InternalError (irforge's own bug: a verifier failure, a broken invariant) is a failure.
REPLAY = """
import os, sys, tempfile, irforge
from irforge import ConversionError, InternalError

def replay(path):
    data = open(path, "rb").read()
    try:
        read = irforge.convert_model(data, transform="none")
    except InternalError:
        raise
    except ConversionError:
        return
    clean = read.verify() == []
    try:
        model = irforge.convert_model(data, verify=clean)
    except InternalError:
        if clean:
            raise
        return
    except ConversionError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            irforge.save_model(model, os.path.join(tmp, "m.xml"))
        except InternalError:
            raise
        except ConversionError:
            pass
    try:
        written = model.to_onnx_bytes()
    except InternalError:
        raise
    except ConversionError:
        return
    irforge.convert_model(written, transform="none")
"""


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.name for p in REGRESSION_FILES])
def test_fuzz_regression_does_not_crash(path):
    """Each file once crashed a fuzz target; now it is refused or goes the whole way."""
    scope = {}
    exec(REPLAY, scope)
    scope["replay"](str(path))


def test_fuzz_regressions_replay_in_a_subprocess():
    """The same files in a fresh interpreter, so a crash shows up as a failed test and not as a
    dead pytest run."""
    assert REGRESSION_FILES, f"{REGRESSIONS} is missing or empty: the committed fuzz regressions did not come along"
    code = REPLAY + "for p in sys.argv[1:]:\n    replay(p)\nprint('ok')\n"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_ROOT, env.get("PYTHONPATH", "")] if p)
    r = subprocess.run([sys.executable, "-c", code, *map(str, REGRESSION_FILES)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


# ---- valid inputs near the edges -----------------------------------------------------------------


def _scan_body_input_reusing_outer_name() -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["z"], name="neg")], "body", [vi("x", F32, [1])], [vi("z", F32, [1])]
    )
    return _model(
        [helper.make_node("Scan", ["x"], ["y"], name="scan", body=body, num_scan_inputs=1)],
        [vi("x", F32, [3, 1])],
        [vi("y", F32, [3, 1])],
    )


def test_subgraph_input_may_reuse_an_outer_name_when_reading():
    """onnx.checker and onnxruntime accept a subgraph *input* named like an outer value (only node
    outputs must be unique across scopes), so the reader accepts it too."""
    onnx.checker.check_model(_scan_body_input_reusing_outer_name(), full_check=True)
    model = irforge.convert_model(_scan_body_input_reusing_outer_name())
    irforge.convert_model(model.to_onnx_bytes())


def test_subgraph_input_reusing_an_outer_name_verifies():
    assert irforge.convert_model(_scan_body_input_reusing_outer_name()).verify() == []
