"""OpenVINO lowering of the attention and sequence-model ops of the control family (Attention,
RotaryEmbedding, LinearAttention, CausalConvWithState, RNN/GRU/LSTM, the loss ops): irforge IR on
OpenVINO CPU vs onnxruntime (or ONNX's reference evaluator for ops onnxruntime lacks).

The node cases use static shapes and graph-input weights; these add symbolic dims, attribute
combinations the cases miss, and constant weights.
"""

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import openvino as ov
import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino  # noqa: E402


def _run_ov(model, feeds, tmp_path):
    return run_openvino(irforge.convert_model(model), feeds)


def _check(model, feeds, tmp_path, rtol=1e-4, atol=1e-5, reference=False):
    if reference:
        from onnx.reference import ReferenceEvaluator

        expected = ReferenceEvaluator(model).run(None, feeds)
    else:
        expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = _run_ov(model, feeds, tmp_path)
    assert actual and all(np.asarray(a).size for a in actual)
    assert_outputs_close(expected, actual, rtol=rtol, atol=atol)


def _model(node, inputs, n_out, opset, initializers=()):
    outs = [h.make_tensor_value_info(o, T.FLOAT, None) for o in node.output if o]
    g = h.make_graph([node], "g", inputs, outs, initializer=list(initializers))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _vi(name, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def _rand(rs, *shape):
    return rs.randn(*shape).astype(np.float32)


# ---- Attention ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "causal,mask,softcap,qk_mode",
    [(0, None, 0.0, None), (1, None, 0.0, None), (1, "float", 0.0, None), (0, "bool", 0.0, 3), (1, "bool", 2.0, 2), (0, "short", 0.0, None)],
)
def test_attention_4d_gqa_past_symbolic_dims(tmp_path, causal, mask, softcap, qk_mode):
    # q heads 4, kv heads 2, symbolic batch and sequence lengths, a past of 3.
    rs = np.random.RandomState(0)
    b, lq, lk, past = 2, 3, 5, 3
    inputs = [_vi("Q", ["b", 4, "lq", 8]), _vi("K", ["b", 2, "lk", 8]), _vi("V", ["b", 2, "lk", 6])]
    feeds = {"Q": _rand(rs, b, 4, lq, 8), "K": _rand(rs, b, 2, lk, 8), "V": _rand(rs, b, 2, lk, 6)}
    names = ["Q", "K", "V", "", "past_key", "past_value"]
    if mask == "float":
        inputs.append(_vi("mask", ["lq", "total"]))
        feeds["mask"] = _rand(rs, lq, lk + past)
        names[3] = "mask"
    elif mask == "bool":
        inputs.append(_vi("mask", ["b", 1, "lq", "total"], T.BOOL))
        m = rs.rand(b, 1, lq, lk + past) > 0.3
        m[:, :, 0, :] = False  # a fully masked row
        feeds["mask"] = m
        names[3] = "mask"
    elif mask == "short":
        # A mask covering only part of the keys: the rest count as masked (onnxruntime rejects it).
        inputs.append(_vi("mask", ["lq", "m"]))
        feeds["mask"] = _rand(rs, lq, lk)
        names[3] = "mask"
    inputs += [_vi("past_key", ["b", 2, "p", 8]), _vi("past_value", ["b", 2, "p", 6])]
    feeds.update({"past_key": _rand(rs, b, 2, past, 8), "past_value": _rand(rs, b, 2, past, 6)})
    attrs = {"is_causal": causal}
    if softcap:
        attrs["softcap"] = softcap
    outputs = ["Y", "present_key", "present_value"]
    if qk_mode is not None:
        attrs["qk_matmul_output_mode"] = qk_mode
        outputs.append("qk")
    node = h.make_node("Attention", names, outputs, **attrs)
    # onnxruntime writes masked logits of qk_matmul_output as the lowest float, not -inf.
    _check(_model(node, inputs, len(outputs), 23), feeds, tmp_path, reference=qk_mode == 2 or mask == "short")


def test_attention_3d_scaled_symbolic_seq(tmp_path):
    rs = np.random.RandomState(1)
    node = h.make_node("Attention", ["Q", "K", "V"], ["Y"], q_num_heads=6, kv_num_heads=3, scale=0.3, is_causal=1)
    inputs = [_vi("Q", [1, "s", 24]), _vi("K", [1, "s", 12]), _vi("V", [1, "s", 15])]
    feeds = {"Q": _rand(rs, 1, 5, 24), "K": _rand(rs, 1, 5, 12), "V": _rand(rs, 1, 5, 15)}
    _check(_model(node, inputs, 1, 23), feeds, tmp_path)


def test_attention_sliding_window_with_nonpad_lengths(tmp_path):
    # Attention-25 window over an external cache whose valid length differs per batch.
    rs = np.random.RandomState(2)
    node = h.make_node("Attention", ["Q", "K", "V", "", "", "", "lens"], ["Y"], is_causal=1, left_window_size=2, right_window_size=0)
    inputs = [_vi("Q", [2, 2, 3, 4]), _vi("K", [2, 2, 7, 4]), _vi("V", [2, 2, 7, 4]), _vi("lens", [2], T.INT64)]
    feeds = {"Q": _rand(rs, 2, 2, 3, 4), "K": _rand(rs, 2, 2, 7, 4), "V": _rand(rs, 2, 2, 7, 4), "lens": np.array([7, 4], np.int64)}
    _check(_model(node, inputs, 1, 25), feeds, tmp_path, reference=True)


# ---- RotaryEmbedding ---------------------------------------------------------------------------


@pytest.mark.parametrize("interleaved,rotary_dim,rank", [(0, 0, 4), (1, 0, 4), (0, 4, 3), (1, 6, 3)])
def test_rotary_embedding(tmp_path, interleaved, rotary_dim, rank):
    rs = np.random.RandomState(3)
    b, s, heads, d = 2, 5, 3, 8
    half = (rotary_dim or d) // 2
    attrs = {"interleaved": interleaved}
    if rotary_dim:
        attrs["rotary_embedding_dim"] = rotary_dim
    if rank == 3:
        attrs["num_heads"] = heads
        x_shape, x_sym = (b, s, heads * d), ["b", "s", heads * d]
    else:
        x_shape, x_sym = (b, heads, s, d), ["b", heads, "s", d]
    node = h.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], **attrs)
    inputs = [_vi("x", x_sym), _vi("cos", [16, half]), _vi("sin", [16, half]), _vi("pos", ["b", "s"], T.INT64)]
    angles = rs.rand(16, half).astype(np.float32) * 3
    feeds = {"x": _rand(rs, *x_shape), "cos": np.cos(angles), "sin": np.sin(angles), "pos": rs.randint(0, 16, (b, s)).astype(np.int64)}
    _check(_model(node, inputs, 1, 23), feeds, tmp_path)


# ---- LinearAttention and CausalConvWithState (onnxruntime lacks them: reference evaluator) ------


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_symbolic_time_with_past(tmp_path, rule):
    rs = np.random.RandomState(4)
    b, t, hq, hkv, dk, dv = 2, 5, 4, 2, 3, 5
    names = ["q", "k", "v", "past", "", ""]
    inputs = [_vi("q", [b, "t", hq * dk]), _vi("k", [b, "t", hkv * dk]), _vi("v", [b, "t", hkv * dv]), _vi("past", [b, hkv, dk, dv])]
    feeds = {"q": _rand(rs, b, t, hq * dk), "k": _rand(rs, b, t, hkv * dk) * 0.3, "v": _rand(rs, b, t, hkv * dv), "past": _rand(rs, b, hkv, dk, dv)}
    if "gated" in rule:
        names[4] = "decay"
        inputs.append(_vi("decay", [b, "t", hkv]))
        feeds["decay"] = -np.abs(_rand(rs, b, t, hkv))
    if "delta" in rule:
        names[5] = "beta"
        inputs.append(_vi("beta", [b, "t", hkv]))
        feeds["beta"] = rs.rand(b, t, hkv).astype(np.float32)
    node = h.make_node("LinearAttention", names, ["y", "state"], q_num_heads=hq, kv_num_heads=hkv, update_rule=rule)
    _check(_model(node, inputs, 2, 27), feeds, tmp_path, reference=True)


def test_causal_conv_with_state_symbolic_length(tmp_path):
    rs = np.random.RandomState(5)
    node = h.make_node("CausalConvWithState", ["x", "w", "bias", "past"], ["y", "present"], activation="silu")
    inputs = [_vi("x", ["b", 3, "l"]), _vi("past", ["b", 3, 2])]
    inits = [h.make_tensor("w", T.FLOAT, [3, 1, 3], _rand(rs, 9)), h.make_tensor("bias", T.FLOAT, [3], _rand(rs, 3))]
    feeds = {"x": _rand(rs, 2, 3, 6), "past": _rand(rs, 2, 3, 2)}
    _check(_model(node, inputs, 2, 27, inits), feeds, tmp_path, reference=True)


# ---- RNN / GRU / LSTM --------------------------------------------------------------------------


def _rnn_weights(rs, op, dirs, hidden, inp, lbr=False):
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    return [
        h.make_tensor("W", T.FLOAT, [dirs, gates * hidden, inp], _rand(rs, dirs * gates * hidden * inp)),
        h.make_tensor("R", T.FLOAT, [dirs, gates * hidden, hidden], _rand(rs, dirs * gates * hidden * hidden)),
        h.make_tensor("B", T.FLOAT, [dirs, 2 * gates * hidden], _rand(rs, dirs * 2 * gates * hidden)),
    ]


def _recurrent_case(rs, op, direction, layout, extra, symbolic, peepholes=False):
    """(model, feeds, expected): expected from onnxruntime, which runs only layout 0, so a batch-major
    model is checked against its sequence-major twin."""
    dirs, hidden, inp, b, s = (2 if direction == "bidirectional" else 1), 4, 3, 3, 5
    names = ["X", "W", "R", "B", "lens", "h0"] + (["c0", "P"] if op == "LSTM" and peepholes else ["c0"] if op == "LSTM" else [])
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    inits = _rnn_weights(rs, op, dirs, hidden, inp)
    if peepholes:
        inits.append(h.make_tensor("P", T.FLOAT, [dirs, 3 * hidden], _rand(rs, dirs * 3 * hidden)))
    x = _rand(rs, s, b, inp)
    states = [_rand(rs, dirs, b, hidden) for _ in range(2 if op == "LSTM" else 1)]
    lens = np.array([5, 3, 1], np.int32)

    def build(lay):
        x_sym = (["b", "s", inp] if lay else ["s", "b", inp]) if symbolic else list((b, s, inp) if lay else (s, b, inp))
        h_shape = [b, dirs, hidden] if lay else [dirs, b, hidden]
        inputs = [_vi("X", x_sym), _vi("lens", ["b"] if symbolic else [b], T.INT32), _vi("h0", h_shape)]
        if op == "LSTM":
            inputs.append(_vi("c0", h_shape))
        node = h.make_node(op, names, outputs, hidden_size=hidden, direction=direction, layout=lay, **extra)
        return _model(node, inputs, len(outputs), 22, inits)

    def feeds(lay):
        f = {"X": x.transpose(1, 0, 2) if lay else x, "lens": lens, "h0": states[0].transpose(1, 0, 2) if lay else states[0]}
        if op == "LSTM":
            f["c0"] = states[1].transpose(1, 0, 2) if lay else states[1]
        return f

    expected = run_onnxruntime(build(0).SerializeToString(), feeds(0))
    if layout:
        expected = [expected[0].transpose(2, 0, 1, 3)] + [e.transpose(1, 0, 2) for e in expected[1:]]
    return build(layout), feeds(layout), expected


@pytest.mark.parametrize("symbolic", [False, True])
@pytest.mark.parametrize(
    "op,direction,layout,extra",
    [
        ("LSTM", "bidirectional", 0, {}),
        ("LSTM", "reverse", 1, {"clip": 0.5}),
        ("GRU", "forward", 0, {"linear_before_reset": 1}),
        ("GRU", "bidirectional", 1, {}),
        ("RNN", "forward", 0, {"activations": ["Relu"]}),
    ],
)
def test_recurrent_states_lengths_layouts(tmp_path, op, direction, layout, extra, symbolic):
    # Symbolic shapes take the step-by-step Loop (the CPU plugin's sequence ops ignore
    # sequence_lens under dynamic shapes); static ones the sequence ops.
    model, feeds, expected = _recurrent_case(np.random.RandomState(6), op, direction, layout, extra, symbolic)
    actual = _run_ov(model, feeds, tmp_path)
    assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "op,direction,extra,peepholes",
    [
        ("LSTM", "bidirectional", {}, True),
        ("LSTM", "forward", {"input_forget": 1, "activations": ["HardSigmoid", "Tanh", "Softsign"], "activation_alpha": [0.3], "activation_beta": [0.4]}, False),
        ("GRU", "bidirectional", {"activations": ["Sigmoid", "Tanh", "Sigmoid", "Relu"]}, False),
        ("GRU", "reverse", {"activations": ["Sigmoid", "ScaledTanh"], "activation_alpha": [0.8], "activation_beta": [1.2], "clip": 2.0}, False),
        ("RNN", "forward", {"activations": ["LeakyRelu"], "activation_alpha": [0.2]}, False),
    ],
)
def test_recurrent_step_loop(tmp_path, op, direction, extra, peepholes):
    # Peepholes, input_forget and activations the sequence ops lack run as a Loop over time.
    model, feeds, expected = _recurrent_case(np.random.RandomState(8), op, direction, 0, extra, False, peepholes)
    actual = _run_ov(model, feeds, tmp_path)
    assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-5)


# ---- losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("op", ["SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"])
def test_losses_weight_ignore_index_symbolic_dims(tmp_path, op, reduction):
    rs = np.random.RandomState(7)
    node = h.make_node(op, ["x", "t", "w"], ["loss"] + (["log_prob"] if op == "SoftmaxCrossEntropyLoss" else []),
                       reduction=reduction, ignore_index=-1)
    inputs = [_vi("x", ["n", 4, "d"]), _vi("t", ["n", "d"], T.INT64), _vi("w", [4])]
    target = rs.randint(0, 4, (3, 5)).astype(np.int64)
    target[0, 1] = target[2, 4] = -1
    feeds = {"x": _rand(rs, 3, 4, 5), "t": target, "w": rs.rand(4).astype(np.float32)}
    _check(_model(node, inputs, 2, 13), feeds, tmp_path)
