"""RNNs as exporters write them (issue 20, item 3): torch.onnx.export of nn.LSTM/GRU/RNN with
dynamic batch and sequence dims, converted to OpenVINO IR.

Each model is checked against onnxruntime on inputs of two shapes, and its IR must have no more
non-Const layers than ovc's for the same ONNX file: one sequence op per ONNX RNN node, the
weights reordered and biases summed on the bytes (no Split/Concat/Add), the exporter's layout
Transposes, zero initial states and Squeezes absorbed or composed into what the layouts need.
Models the exporters cannot write (reverse direction, sequence_lens, layout=1) are built with
onnx.helper, with constant weights as exporters store them (layout=1 checked against onnx's
reference evaluator: onnxruntime has no batch-major RNN kernels).
"""

import collections
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import openvino as ov
import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino
from torch_models.more_architectures import Rnn


def _layers(xml_path):
    root = ET.parse(xml_path).getroot()
    return collections.Counter(l.get("type") for l in root.find("layers") if l.get("type") != "Const")




def _feeds(names, batch, seq, batch_first, states, seed):
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.standard_normal((batch, seq, 8) if batch_first else (seq, batch, 8)).astype(np.float32)}
    for n in names[1:]:
        feeds[n] = rng.standard_normal((states, batch, 16)).astype(np.float32)
    return feeds


def _check_against_ovc(path, all_feeds, tmp_path):
    ovc_xml, ours_xml = str(tmp_path / "ovc.xml"), str(tmp_path / "irforge.xml")
    ov.save_model(ov.convert_model(path), ovc_xml, compress_to_fp16=False)
    model = irforge.convert_model(path)
    irforge.save_model(model, ours_xml, compress_to_fp16=False)
    ours, theirs = _layers(ours_xml), _layers(ovc_xml)
    for feeds in all_feeds:
        expected = run_onnxruntime(path, feeds)
        actual = run_openvino(model, feeds)
        assert actual and all(np.asarray(a).size for a in actual)
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)
    assert sum(ours.values()) <= sum(theirs.values()), (ours, theirs)
    return ours


# (kind, layers, bidirectional, batch_first, initial states)
CASES = [
    ("LSTM", 1, False, False, False),
    ("LSTM", 2, True, True, True),
    ("LSTM", 2, False, True, False),
    ("GRU", 1, True, False, True),
    ("GRU", 2, False, True, False),
    ("RNN", 2, True, False, True),
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,with_state", CASES)
def test_torchscript_export_one_sequence_op_per_layer(kind, layers, bidirectional, batch_first, with_state, tmp_path):
    torch.manual_seed(0)
    net = Rnn(kind, layers, bidirectional, batch_first, with_state).eval()
    states = layers * (2 if bidirectional else 1)
    names = ["x"] + (["h0", "c0"] if kind == "LSTM" else ["h0"]) * with_state
    example = _feeds(names, 2, 5, batch_first, states, seed=0)
    axes = {"x": {0: "batch", 1: "seq"} if batch_first else {0: "seq", 1: "batch"}}
    axes.update({n: {1: "batch"} for n in names[1:]})
    path = str(tmp_path / "rnn.onnx")
    with torch.no_grad():
        torch.onnx.export(net, tuple(torch.from_numpy(example[n]) for n in names), path, input_names=names,
                          output_names=["y"], dynamic_axes=axes, opset_version=17, dynamo=False)
    ours = _check_against_ovc(path, [example, _feeds(names, 3, 7, batch_first, states, seed=1)], tmp_path)
    assert ours[f"{kind}Sequence"] == layers
    # Weights reordered and biases summed at conversion time, not in the IR (a Concat builds the
    # zero states' shape, at most one per layer).
    assert ours["Split"] == ours["Add"] == 0 and ours["Concat"] <= layers, ours


@pytest.mark.slow
def test_dynamo_export_bidirectional_lstm(tmp_path):
    torch.manual_seed(0)
    net = Rnn("LSTM", 2, True, True, False).eval()
    path = str(tmp_path / "rnn.onnx")
    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=256)
    torch.onnx.export(net, (torch.randn(2, 5, 8),), path, input_names=["x"], output_names=["y"],
                      dynamic_shapes={"x": {0: batch, 1: seq}}, dynamo=True)
    ours = _check_against_ovc(path, [_feeds(["x"], 2, 5, True, 0, 0), _feeds(["x"], 3, 7, True, 0, 1)], tmp_path)
    assert ours["LSTMSequence"] == 2


def _onnx_rnn(op, direction, layout, lens, gates, hidden=6, inp=5):
    dirs = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(3)
    inits = [
        onnx.numpy_helper.from_array(rng.standard_normal((dirs, gates * hidden, inp)).astype(np.float32), "W"),
        onnx.numpy_helper.from_array(rng.standard_normal((dirs, gates * hidden, hidden)).astype(np.float32), "R"),
        onnx.numpy_helper.from_array(rng.standard_normal((dirs, 2 * gates * hidden)).astype(np.float32), "B"),
    ]
    x_shape = ["b", "s", inp] if layout else ["s", "b", inp]
    state_shape = ["b", dirs, hidden] if layout else [dirs, "b", hidden]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, x_shape), h.make_tensor_value_info("h0", T.FLOAT, state_shape)]
    node_inputs = ["x", "W", "R", "B", "lens" if lens else "", "h0"]
    if lens:
        inputs.append(h.make_tensor_value_info("lens", T.INT32, ["b"]))
    outputs = ["y", "y_h"]
    if op == "LSTM":
        inputs.append(h.make_tensor_value_info("c0", T.FLOAT, state_shape))
        node_inputs.append("c0")
        outputs.append("y_c")
    attrs = {"hidden_size": hidden, "direction": direction, "layout": layout}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    node = h.make_node(op, node_inputs, outputs, **attrs)
    g = h.make_graph([node], "g", inputs, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outputs], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 14)])
    m.ir_version = 8
    return m, dirs, hidden, inp


@pytest.mark.parametrize("op,gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
@pytest.mark.parametrize("direction,layout", [("reverse", 0), ("bidirectional", 1), ("forward", 1)])
def test_constant_weights_all_directions_and_layouts(op, gates, direction, layout, tmp_path):
    model, dirs, hidden, inp = _onnx_rnn(op, direction, layout, False, gates)
    for batch, seq in [(2, 4), (3, 6)]:
        rng = np.random.default_rng(batch)
        x = rng.standard_normal((batch, seq, inp) if layout else (seq, batch, inp)).astype(np.float32)
        state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
        feeds = {"x": x, "h0": rng.standard_normal(state).astype(np.float32)}
        if op == "LSTM":
            feeds["c0"] = rng.standard_normal(state).astype(np.float32)
        if layout:  # onnxruntime has no batch-major (layout=1) kernels; onnx's reference does
            expected = ReferenceEvaluator(model).run(None, feeds)
        else:
            expected = run_onnxruntime(model.SerializeToString(), feeds)
        converted = irforge.convert_model(model)
        actual = run_openvino(converted, feeds)
        assert len(actual) == len(expected) and all(np.asarray(a).size for a in actual)
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(converted, xml, compress_to_fp16=False)
    counts = _layers(xml)
    assert counts[f"{op}Sequence"] == 1 and counts["Split"] == counts["Concat"] == counts["Add"] == 0, counts


def test_sequence_lens_with_constant_weights(tmp_path):
    # Static shapes: the native sequence op with the lengths; rows past their length are zeros.
    model, dirs, hidden, inp = _onnx_rnn("LSTM", "bidirectional", 0, True, 4)
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        for d in dims:
            if d.dim_param == "b":
                d.dim_value = 3
            elif d.dim_param == "s":
                d.dim_value = 5
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((5, 3, inp)).astype(np.float32), "lens": np.array([5, 2, 4], np.int32),
             "h0": rng.standard_normal((dirs, 3, hidden)).astype(np.float32), "c0": rng.standard_normal((dirs, 3, hidden)).astype(np.float32)}
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = run_openvino(irforge.convert_model(model), feeds)
    assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)


def test_fp16_compression_keeps_the_reordered_weights_compressed(tmp_path):
    model, _, _, _ = _onnx_rnn("LSTM", "forward", 0, False, 4)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model), xml, compress_to_fp16=True)
    root = ET.parse(xml).getroot()
    consts = [l for l in root.find("layers") if l.get("type") == "Const" and "," in l.find("data").get("shape")]
    assert consts and all(l.find("data").get("element_type") == "f16" for l in consts)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((4, 2, 5)).astype(np.float32), "h0": rng.standard_normal((1, 2, 6)).astype(np.float32),
             "c0": rng.standard_normal((1, 2, 6)).astype(np.float32)}
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    core = ov.Core()
    res = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request().infer(feeds)
    assert_outputs_close(expected, [res[o] for o in res], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("shape,perm,axes,perm2", [
    ([2, 1, 3, 4], [2, 1, 0, 3], [1], [1, 0, 2]),  # an RNN's Y layout, the direction axis squeezed, batch_first
    ([1, 2, 1, 3], [0, 3, 1, 2], [0, 3], [1, 0]),  # several axes; the Transposes compose, not cancel
    ([2, 3, 1, 4], [3, 0, 2, 1], [-2], [2, 0, 1]),  # a negative axis
])
def test_transpose_squeeze_transpose_compose(shape, perm, axes, perm2, tmp_path):
    # The Squeeze lets the first Transpose sink below it, where it composes with the second.
    nodes = [h.make_node("Relu", ["x"], ["r"]), h.make_node("Transpose", ["r"], ["t"], perm=perm),
             h.make_node("Squeeze", ["t", "axes"], ["s"]), h.make_node("Transpose", ["s"], ["y"], perm=perm2)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, shape)], [h.make_tensor_value_info("y", T.FLOAT, None)],
                     initializer=[onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes")])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    converted = irforge.convert_model(model)
    expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = run_openvino(converted, feeds)
    assert actual[0].size and actual[0].shape == expected[0].shape
    assert_outputs_close(expected, actual, rtol=1e-6, atol=1e-7)
    xml = str(tmp_path / "m.xml")
    irforge.save_model(converted, xml)
    assert _layers(xml)["Transpose"] <= 1
