"""TensorFlow reader without TensorFlow: files written byte by byte (tests/tensorflow_wire.py),
read correctly when whole, and refused with a clear error naming the file and the node or
tensor when damaged (truncated GraphDef, bundle entry out of range, missing shard, unknown
dtype, corrupt SSTable)."""

import os

import numpy as np
import pytest

import irforge
import tensorflow_wire as tw
from irforge.testing import run_onnxruntime, run_openvino


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_frozen_graph_def_reads_and_runs(tmp_path):
    pb = _write(tmp_path / "g.pb", tw.small_graph())
    m = irforge.convert_model(pb)
    assert [i.name for i in m.inputs] == ["x"] and [o.name for o in m.outputs] == ["y"]
    x = np.array([[1.0, -2.0, 3.0, 0.5]], np.float32)
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    expected = np.maximum(x @ w + np.array([0.5, -0.5, 0.25], np.float32), 0)
    np.testing.assert_allclose(run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], expected, rtol=1e-6)
    np.testing.assert_allclose(run_openvino(m, {"x": x})[0], expected, rtol=1e-5)


@pytest.mark.parametrize("snappy", [False, True])
def test_saved_model_variable_restored_from_bundle(tmp_path, snappy):
    w = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    tw.variable_saved_model(str(tmp_path / "sm"), w, snappy=snappy)
    m = irforge.convert_model(str(tmp_path / "sm"))
    x = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], x @ w, rtol=1e-5)


@pytest.mark.parametrize("cut", [1, 17, 100, -3])
def test_truncated_graph_def(tmp_path, cut):
    data = tw.small_graph()
    pb = _write(tmp_path / "cut.pb", data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(irforge.InvalidModelError) as e:
        irforge.convert_model(pb)
    msg = str(e.value)
    assert "cut.pb" in msg and "malformed protobuf" in msg
    if cut == -3:  # inside the last node: the message names it
        assert "node" in msg


def test_unknown_dtype_in_const(tmp_path):
    bad = tw.graph_def([
        tw.node("x", "Placeholder", (), tw.attr("dtype", tw.attr_type(1))),
        tw.node("c", "Const", (), tw.attr("dtype", tw.attr_type(99)) + tw.attr("value", tw.attr_tensor(tw.vfield(1, 99) + tw.field(2, tw.shape([2]))))),
        tw.node("y", "AddV2", ("x", "c")),
    ])
    pb = _write(tmp_path / "dtype.pb", bad)
    with pytest.raises(irforge.UnsupportedError, match=r"dtype\.pb.*Const 'c'.*element type 99"):
        irforge.convert_model(pb)


def test_unsupported_ops_listed_together(tmp_path):
    g = tw.graph_def([
        tw.node("x", "Placeholder", (), tw.attr("dtype", tw.attr_type(1))),
        tw.node("a", "FancyOp", ("x",)),
        tw.node("b", "OtherOp", ("a",)),
    ])
    with pytest.raises(irforge.UnsupportedError, match=r"2 TensorFlow op type\(s\).*FancyOp \(e\.g\. node 'a'\).*OtherOp"):
        irforge.convert_model(_write(tmp_path / "ops.pb", g))


def _switch_merge_graph(extra):
    """x[2] float and p bool placeholders, s = Switch(x, p), then `extra` nodes."""
    f, b = tw.attr("T", tw.attr_type(1)), tw.attr("dtype", tw.attr_type(10))
    return tw.graph_def([
        tw.node("x", "Placeholder", (), tw.attr("dtype", tw.attr_type(1)) + tw.attr("shape", tw.field(7, tw.shape([2])))),
        tw.node("p", "Placeholder", (), b + tw.attr("shape", tw.field(7, tw.shape([])))),
        tw.node("s", "Switch", ("x", "p"), f),
    ] + [tw.node(name, op, ins, f) for name, op, ins in extra])


def test_switch_merge_chain_and_cycle_finish_quickly(tmp_path):
    """Merges whose inputs both reach the previous Merge, 60 deep, over one Switch on a run-time
    predicate (a walk that re-entered each shared Merge would take 2^60 steps): converted in well
    under a second, the first Merge an If. A Merge whose branch reads itself: an error naming it."""
    import time

    chain = [("m0", "Merge", ("s:0", "s:1"))]
    for k in range(1, 61):
        chain += [(f"neg{k}", "Neg", (f"m{k - 1}",)), (f"abs{k}", "Abs", (f"m{k - 1}",)), (f"m{k}", "Merge", (f"neg{k}", f"abs{k}"))]
    start = time.perf_counter()
    m = irforge.convert_model(_write(tmp_path / "chain.pb", _switch_merge_graph(chain + [("y", "Identity", ("m60",))])))
    assert time.perf_counter() - start < 5
    assert m.op_histogram.get("If") == 1, m.op_histogram
    cycle = [("m", "Merge", ("s:0", "n")), ("n", "Neg", ("m",)), ("y", "Identity", ("m",))]
    start = time.perf_counter()
    with pytest.raises(irforge.InvalidModelError, match=r"cycle\.pb: node 'm' \(Merge\): a cycle"):
        irforge.convert_model(_write(tmp_path / "cycle.pb", _switch_merge_graph(cycle)))
    assert time.perf_counter() - start < 5


def test_bundle_entry_out_of_range(tmp_path):
    w = np.ones((4, 3), np.float32)
    key = "w/.ATTRIBUTES/VARIABLE_VALUE"
    tw.variable_saved_model(str(tmp_path / "sm"), w, {key: tw.bundle_entry(tw.DT_FLOAT, [4, 3], 4096, 48)})
    with pytest.raises(irforge.InvalidModelError, match=r"variables\.index: tensor 'w/\.ATTRIBUTES/VARIABLE_VALUE': bytes \[4096, 4144\) lie outside"):
        irforge.convert_model(str(tmp_path / "sm"))


def test_bundle_entry_size_disagrees_with_shape(tmp_path):
    key = "w/.ATTRIBUTES/VARIABLE_VALUE"
    tw.variable_saved_model(str(tmp_path / "sm"), np.ones((4, 3), np.float32), {key: tw.bundle_entry(tw.DT_FLOAT, [4, 3], 0, 40)})
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'w/.*declares 40 bytes but DT_FLOAT x 12 elements need 48"):
        irforge.convert_model(str(tmp_path / "sm"))


def test_bundle_unknown_dtype(tmp_path):
    key = "w/.ATTRIBUTES/VARIABLE_VALUE"
    tw.variable_saved_model(str(tmp_path / "sm"), np.ones((4, 3), np.float32), {key: tw.bundle_entry(77, [4, 3], 0, 48)})
    with pytest.raises(irforge.UnsupportedError, match=r"tensor 'w/.*dtype 77"):
        irforge.convert_model(str(tmp_path / "sm"))


def test_missing_shard(tmp_path):
    tw.variable_saved_model(str(tmp_path / "sm"), np.ones((4, 3), np.float32))
    shard = tmp_path / "sm" / "variables" / "variables.data-00000-of-00001"
    os.remove(shard)
    with pytest.raises(irforge.ModelFileError, match=r"variables\.index: data shard 0 .*missing"):
        irforge.convert_model(str(tmp_path / "sm"))


@pytest.mark.parametrize("damage", ["magic", "truncated", "index_handle"])
def test_corrupt_bundle_index(tmp_path, damage):
    tw.variable_saved_model(str(tmp_path / "sm"), np.ones((4, 3), np.float32))
    index = tmp_path / "sm" / "variables" / "variables.index"
    data = bytearray(index.read_bytes())
    if damage == "magic":
        data[-1] ^= 0xFF
    elif damage == "truncated":
        data = data[:30]
    else:  # the index block handle points past the end of the file
        data[-48 + 2] = 0x7F
        data[-48 + 3] = 0x7F
    index.write_bytes(bytes(data))
    with pytest.raises(irforge.InvalidModelError, match=r"variables\.index: corrupt tensor-bundle index"):
        irforge.convert_model(str(tmp_path / "sm"))


def test_saved_model_folder_without_pb_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(irforge.ModelFileError, match="is a folder"):
        irforge.convert_model(str(tmp_path / "empty"))


def test_random_damage_gives_conversion_errors_only(tmp_path):
    """Byte flips in a GraphDef, a SavedModel and its bundle index: every outcome is a model or
    an irforge.ConversionError, never another exception."""
    rng = np.random.default_rng(11)
    tw.variable_saved_model(str(tmp_path / "sm"), np.ones((4, 3), np.float32))
    originals = {
        tmp_path / "g.pb": tw.small_graph(),
        tmp_path / "sm" / "saved_model.pb": (tmp_path / "sm" / "saved_model.pb").read_bytes(),
        tmp_path / "sm" / "variables" / "variables.index": (tmp_path / "sm" / "variables" / "variables.index").read_bytes(),
    }
    outcomes = {"ok": 0, "error": 0}
    for trial in range(240):
        target = list(originals)[trial % 3]
        data = bytearray(originals[target])
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
        for path, orig in originals.items():
            path.write_bytes(bytes(data) if path == target else orig)
        model_path = tmp_path / "g.pb" if target.name == "g.pb" else tmp_path / "sm"
        try:
            irforge.convert_model(str(model_path))
            outcomes["ok"] += 1
        except irforge.ConversionError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 240


TEXT_GRAPH = """
# x -> x * 2 + [1, 2]
node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "shape" value { shape { dim { size: 1 } dim { size: 2 } } } } }
node { name: "two" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 2.0 } } } }
node { name: "bias" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
                                            tensor_content: "\\000\\000\\200?\\000\\000\\000@" } } } }
node { name: "mul" op: "Mul" input: ["x", "two"] attr { key: "T" value { type: DT_FLOAT } } }
node { name: "y" op: "AddV2" input: "mul" input: "bias" attr { key: "T" value { type: DT_FLOAT } } }
versions { producer: 1700 }
"""


def test_text_graph_def(tmp_path):
    m = irforge.convert_model(_write(tmp_path / "g.pbtxt", TEXT_GRAPH.encode()))
    x = np.array([[3.0, -1.0]], np.float32)
    np.testing.assert_allclose(run_onnxruntime(m.to_onnx_bytes(), {"x": x})[0], x * 2 + [1, 2])
    assert not [f for f in os.listdir(tmp_path) if f.startswith("irforge-pbtxt")]


@pytest.mark.parametrize("text, message", [
    ('node { name: "x" op: "Placeholder"', r"bad\.pbtxt:1: .*a '}' is missing"),
    ('node {\n name: "x"\n attr { key: "dtype" value { type: DT_NOPE } } }', r"bad\.pbtxt:3: .*unknown data type 'DT_NOPE'"),
    ('node { name: "x\n" }', r"bad\.pbtxt:1: .*unterminated string"),
    ('node { name: 12 }', r"field 'name' needs a quoted string"),
    ('{', r"expected a field name"),
])
def test_malformed_text_graph_def(tmp_path, text, message):
    with pytest.raises(irforge.InvalidModelError, match=message):
        irforge.convert_model(_write(tmp_path / "bad.pbtxt", text.encode()))
