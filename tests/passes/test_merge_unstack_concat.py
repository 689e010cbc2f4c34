"""merge-unstack-concat: a tensor unstacked along one axis (Slice of width 1 + Squeeze per index)
and concatenated on the last axis becomes Transpose + Reshape (tf2onnx's bidirectional RNN
output: Y[:, 0] and Y[:, 1] of [seq, 2, batch, hidden] concatenated to [seq, batch, 2·hidden])."""

from onnx import helper

from _fusion_models import check_pass, f32, i64, model

PIPE = "merge-unstack-concat,dce"
N = helper.make_node
BIG = 2**63 - 1


def _unstack(x, axis, bounds, concat_axis, steps=None):
    nodes, parts = [], []
    for k, (start, end) in enumerate(bounds):
        inputs = [x, f"s{k}", f"e{k}", "ax"] + ([f"st{k}"] if steps else [])
        nodes += [N("Slice", inputs, [f"sl{k}"]), N("Squeeze", [f"sl{k}", "ax"], [f"sq{k}"])]
        parts.append(f"sq{k}")
    inits = [i64("ax", [axis])]
    for k, (start, end) in enumerate(bounds):
        inits += [i64(f"s{k}", [start]), i64(f"e{k}", [end])] + ([i64(f"st{k}", [steps[k]])] if steps else [])
    return nodes + [N("Concat", parts, ["y"], axis=concat_axis)], inits


def test_bidirectional_rnn_output():
    # Y [seq, 2, batch, hidden] as tf2onnx slices it: [0, 1) and [1, 2) of axis 1, Concat(axis=2).
    nodes, inits = _unstack("r", 1, [(0, 1), (1, 2)], 2)
    m = check_pass(model([N("Relu", ["x"], ["r"])] + nodes, {"x": [5, 2, 3, 4]}, inits), PIPE, fires=True, rtol=0, atol=0)
    assert m.op_histogram == {"Relu": 1, "Transpose": 1, "Reshape": 1}, m.op_histogram


def test_three_way_on_axis_zero_negative_axes_and_clamped_end():
    nodes, inits = _unstack("r", -3, [(0, 1), (-2, -1), (2, BIG)], -1)
    m = check_pass(model([N("Relu", ["x"], ["r"])] + nodes, {"x": [3, 4, 5]}, inits), PIPE, fires=True, rtol=0, atol=0)
    assert m.op_histogram == {"Relu": 1, "Transpose": 1, "Reshape": 1}, m.op_histogram


def test_axis_just_before_the_last_needs_no_transpose():
    nodes, inits = _unstack("r", 1, [(0, 1), (1, 2), (2, 3)], 1)
    m = check_pass(model([N("Relu", ["x"], ["r"])] + nodes, {"x": [4, 3, 5]}, inits), PIPE, fires=True, rtol=0, atol=0)
    assert m.op_histogram == {"Relu": 1, "Reshape": 1}, m.op_histogram


def _no_fire(nodes, inits, shape, outputs=("y",)):
    check_pass(model([N("Relu", ["x"], ["r"])] + nodes, {"x": shape}, inits, outputs), PIPE, fires=False)


def test_must_not_fire():
    _no_fire(*_unstack("r", 1, [(1, 2), (0, 1)], 2), [5, 2, 3, 4])  # backward block first
    _no_fire(*_unstack("r", 1, [(0, 1), (1, 2)], 0), [5, 2, 3, 4])  # Concat on another axis than the last
    _no_fire(*_unstack("r", 1, [(0, 1), (1, 2)], 2), [5, 3, 3, 4])  # the slices leave index 2 out
    _no_fire(*_unstack("r", 1, [(0, 1), (1, 2)], 2, steps=[1, 2]), [5, 2, 3, 4])  # a step of 2
    nodes, inits = _unstack("r", 1, [(0, 1), (1, 2)], 2)
    _no_fire(nodes + [N("Neg", ["sl0"], ["z"])], inits, [5, 2, 3, 4], ("y", "z"))  # a Slice output read elsewhere
    _no_fire(nodes, inits, [5, 2, 3, "h"])  # the last kept axis is not static
