"""The ONNX RNN family as issue 20 item 3 lists it: LSTM, GRU and RNN nodes, forward, reverse and
bidirectional, with and without initial states and sequence_lens, dynamic batch and sequence
dims, constant weights as exporters store them (built with onnx.helper: the exporters cannot
write reverse or sequence_lens).

Each model must match onnxruntime at two input shapes, and its IR must have no more non-Const
layers than ovc's of the same file. Where ovc's IR is wrong (the CPU plugin's sequence ops
ignore sequence_lens under dynamic shapes), the count is recorded, not compared, and irforge's
correctness is what is asserted.
"""

import collections
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import irforge
import openvino as ov
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

pytestmark = pytest.mark.slow  # ~115 s at load 11 on 2 cores: 45 small models, each also converted and run by ovc

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
HIDDEN, INPUT = 6, 5


def _model(op, direction, states, lens):
    dirs = 2 if direction == "bidirectional" else 1
    gates = GATES[op]
    rng = np.random.default_rng(7)
    inits = [onnx.numpy_helper.from_array((0.5 * rng.standard_normal(shape)).astype(np.float32), name)
             for name, shape in [("W", (dirs, gates * HIDDEN, INPUT)), ("R", (dirs, gates * HIDDEN, HIDDEN)), ("B", (dirs, 2 * gates * HIDDEN))]]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["s", "b", INPUT])]
    node_inputs = ["x", "W", "R", "B", "lens" if lens else "", "h0" if states else ""]
    if lens:
        inputs.append(h.make_tensor_value_info("lens", T.INT32, ["b"]))
    if states:
        inputs.append(h.make_tensor_value_info("h0", T.FLOAT, [dirs, "b", HIDDEN]))
    outputs = ["y", "y_h"]
    if op == "LSTM":
        if states:
            inputs.append(h.make_tensor_value_info("c0", T.FLOAT, [dirs, "b", HIDDEN]))
            node_inputs.append("c0")
        outputs.append("y_c")
    while node_inputs[-1] == "":
        node_inputs.pop()
    attrs = {"hidden_size": HIDDEN, "direction": direction}
    if op == "GRU":
        attrs["linear_before_reset"] = 1  # what torch and Keras export
    node = h.make_node(op, node_inputs, outputs, **attrs)
    g = h.make_graph([node], "g", inputs, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outputs], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 14)])
    m.ir_version = 8
    return m, dirs


def _feeds(model, dirs, batch, seq, seed):
    rng = np.random.default_rng(seed)
    names = [i.name for i in model.graph.input]
    feeds = {"x": rng.standard_normal((seq, batch, INPUT)).astype(np.float32)}
    if "lens" in names:  # one row of full length, the others shorter
        feeds["lens"] = np.array([seq] + list(rng.integers(1, seq, batch - 1)), np.int32)
    for n in ("h0", "c0"):
        if n in names:
            feeds[n] = rng.standard_normal((dirs, batch, HIDDEN)).astype(np.float32)
    return feeds


def _layers(xml):
    return collections.Counter(l.get("type") for l in ET.parse(xml).getroot().iter("layer") if l.get("type") != "Const")


def _ovc_matches(path, feeds_list):
    core = ov.Core()
    compiled = core.compile_model(ov.convert_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for feeds in feeds_list:
        res = compiled(feeds)
        expected = run_onnxruntime(path, feeds)
        got = [res[o] for o in compiled.outputs]
        if any(e.shape != g.shape or not np.allclose(e, g, rtol=1e-4, atol=1e-5) for e, g in zip(expected, got)):
            return False
    return True


@pytest.mark.parametrize("lens", [False, True], ids=["full", "lens"])
@pytest.mark.parametrize("states", [False, True], ids=["zeros", "states"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_rnn_family_matches_onnxruntime_and_ovc(op, direction, states, lens, tmp_path):
    model, dirs = _model(op, direction, states, lens)
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    feeds_list = [_feeds(model, dirs, 2, 4, seed=0), _feeds(model, dirs, 3, 7, seed=1)]
    converted = irforge.convert_model(path)
    for feeds in feeds_list:
        expected = run_onnxruntime(path, feeds)
        actual = run_openvino(converted, feeds)
        assert len(actual) == len(expected) and all(np.asarray(a).size for a in actual)
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)
    ours, theirs = str(tmp_path / "irforge.xml"), str(tmp_path / "ovc.xml")
    irforge.save_model(converted, ours, compress_to_fp16=False)
    ov.save_model(ov.convert_model(path), theirs, compress_to_fp16=False)
    a, b = _layers(ours), _layers(theirs)
    ovc_right = _ovc_matches(path, feeds_list)
    print(f"{op}-{direction}-{'states' if states else 'zeros'}-{'lens' if lens else 'full'}: irforge {sum(a.values())}, "
          f"ovc {sum(b.values())}{'' if ovc_right else ' (ovc wrong)'}")
    if not lens:
        assert ovc_right
        assert sum(a.values()) <= sum(b.values()), (a, b)
        assert a[f"{op}Sequence"] == 1 and a["Loop"] == 0, a


def _static(model, batch, seq):
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_value = {"b": batch, "s": seq}[d.dim_param]
    return model


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_sequence_lens_under_static_shapes_is_one_sequence_op(op, direction, tmp_path):
    # Static shapes: the native sequence op takes the lengths (ovc's IR is right here too).
    model, dirs = _model(op, direction, True, True)
    model = _static(model, 3, 5)
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    feeds_list = [_feeds(model, dirs, 3, 5, seed=s) for s in (0, 1)]
    converted = irforge.convert_model(path)
    for feeds in feeds_list:
        assert_outputs_close(run_onnxruntime(path, feeds), run_openvino(converted, feeds), rtol=1e-4, atol=1e-5)
    ours, theirs = str(tmp_path / "irforge.xml"), str(tmp_path / "ovc.xml")
    irforge.save_model(converted, ours, compress_to_fp16=False)
    ov.save_model(ov.convert_model(path), theirs, compress_to_fp16=False)
    a, b = _layers(ours), _layers(theirs)
    print(f"{op}-{direction}-static-lens: irforge {sum(a.values())}, ovc {sum(b.values())}")
    assert _ovc_matches(path, feeds_list)
    assert sum(a.values()) <= sum(b.values()), (a, b)
    assert a[f"{op}Sequence"] == 1 and a["Loop"] == 0, a
