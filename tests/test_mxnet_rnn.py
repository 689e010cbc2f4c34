"""MXNet recurrent networks: the fused RNN op (lstm, gru, rnn_tanh, rnn_relu; layers,
bidirectional, begin states, state outputs) as MXNet's symbolic API and gluon's export write it,
and gluon's unrolled LSTMCell, checked against NumPy references written from MXNet's
definitions (rnn_impl.h: one flat parameter vector, gates i,f,c,o / r,z,n, the GRU reset gate
applied to the recurrent product plus its bias)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from mxnet_models import MXNetModel  # noqa: E402
from random_damage import conversion_errors, damaged  # noqa: E402
from test_mxnet_frontend import compare  # noqa: E402

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_parameters(rng, mode, hidden, layers, dirs, input_size):
    """The per-layer weights as gluon names them, and MXNet's flat vector of them: all weights
    (per layer, per direction: i2h then h2h), then all biases in the same order."""
    g = GATES[mode] * hidden
    named, ni = {}, input_size
    for layer in range(layers):
        for d in "lr"[:dirs]:
            named[f"{d}{layer}_i2h_weight"] = (rng.standard_normal((g, ni)) / np.sqrt(ni)).astype(np.float32)
            named[f"{d}{layer}_h2h_weight"] = (rng.standard_normal((g, hidden)) / np.sqrt(hidden)).astype(np.float32)
        ni = hidden * dirs
    for layer in range(layers):
        for d in "lr"[:dirs]:
            named[f"{d}{layer}_i2h_bias"] = (rng.standard_normal(g) * 0.3).astype(np.float32)
            named[f"{d}{layer}_h2h_bias"] = (rng.standard_normal(g) * 0.3).astype(np.float32)
    order = [k for k in named if k.endswith("weight")] + [k for k in named if k.endswith("bias")]
    return named, np.concatenate([named[k].reshape(-1) for k in order])


def rnn_ref(x, named, mode, hidden, layers, dirs, h0=None, c0=None):
    """MXNet's RNN on x [T, N, I]: out [T, N, dirs*H], hy and cy [layers*dirs, N, H]."""
    t_len, n = x.shape[:2]
    h0 = np.zeros((layers * dirs, n, hidden), np.float32) if h0 is None else h0
    c0 = np.zeros((layers * dirs, n, hidden), np.float32) if c0 is None else c0
    hy, cy, inp = [], [], x.astype(np.float64)
    for layer in range(layers):
        outs = []
        for di, d in enumerate("lr"[:dirs]):
            wx, wh = named[f"{d}{layer}_i2h_weight"], named[f"{d}{layer}_h2h_weight"]
            bx, bh = named[f"{d}{layer}_i2h_bias"], named[f"{d}{layer}_h2h_bias"]
            h, c = h0[layer * dirs + di].astype(np.float64), c0[layer * dirs + di].astype(np.float64)
            ys = [None] * t_len
            for t in range(t_len) if di == 0 else reversed(range(t_len)):
                gx, gh = inp[t] @ wx.T + bx, h @ wh.T + bh
                if mode == "lstm":
                    i, f, g, o = np.split(gx + gh, 4, axis=1)
                    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                    h = sigmoid(o) * np.tanh(c)
                elif mode == "gru":
                    rx, zx, nx = np.split(gx, 3, axis=1)
                    rh, zh, nh = np.split(gh, 3, axis=1)
                    r, z = sigmoid(rx + rh), sigmoid(zx + zh)
                    h = (1 - z) * np.tanh(nx + r * nh) + z * h
                elif mode == "rnn_tanh":
                    h = np.tanh(gx + gh)
                else:
                    h = np.maximum(gx + gh, 0)
                ys[t] = h
            outs.append(np.stack(ys))
            hy.append(h)
            cy.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hy), np.stack(cy)


@pytest.mark.parametrize("mode,layers,bidirectional", [
    ("lstm", 1, False), ("lstm", 2, True), ("gru", 2, False), ("gru", 1, True), ("rnn_tanh", 2, True), ("rnn_relu", 1, False),
])
def test_fused_rnn_with_begin_states(tmp_path, mode, layers, bidirectional):
    """The symbolic API's form: one `parameters` array, the begin states as inputs."""
    hidden, dirs, t_len, batch, input_size = 5, 2 if bidirectional else 1, 6, 2, 3
    m = MXNetModel(seed=layers * 10 + dirs)
    x = m.input("data", (t_len, batch, input_size))
    named, flat = rnn_parameters(m.rng, mode, hidden, layers, dirs, input_size)
    ins = [x, m.param("rnn_parameters", flat), m.input("state", (layers * dirs, batch, hidden))]
    if mode == "lstm":
        ins.append(m.input("state_cell", (layers * dirs, batch, hidden)))
    out, hy, cy = rnn_ref(m.values[x], named, mode, hidden, layers, dirs, m.values["state"], m.values.get("state_cell"))
    m.op("RNN", "rnn", ins, {"mode": mode, "state_size": hidden, "num_layers": layers, "bidirectional": bidirectional,
                             "state_outputs": "True", "p": "0.2"}, out)
    m.values["rnn:1"], m.values["rnn:2"] = hy, cy
    heads = ["rnn", "rnn:1"] + (["rnn:2"] if mode == "lstm" else [])
    symbol, params = m.save(tmp_path, heads)
    shapes = f"data[{t_len},{batch},{input_size}],state[{layers * dirs},{batch},{hidden}]"
    if mode == "lstm":
        shapes += f",state_cell[{layers * dirs},{batch},{hidden}]"
    model = irforge.convert_model((symbol, params), input=shapes)
    seq = {"lstm": "LSTMSequence", "gru": "GRUSequence"}.get(mode, "RNNSequence")
    compare(m, model, heads, tmp_path)
    xml = os.path.join(str(tmp_path), "model.xml")
    assert open(xml).read().count(f'type="{seq}"') == layers


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_gluon_export_ntc(tmp_path, mode):
    """gluon's export of rnn.LSTM/GRU(layout='NTC', bidirectional) without states: the named
    weights reshaped and joined by _rnn_param_concat, zeros of batch 0 as begin states, swapaxes
    around the op."""
    hidden, layers, dirs, t_len, batch, input_size = 4, 2, 2, 5, 3, 6
    m = MXNetModel(seed=7)
    x = m.input("data", (batch, t_len, input_size))
    named, _ = rnn_parameters(m.rng, mode, hidden, layers, dirs, input_size)
    order = [k for k in named if k.endswith("weight")] + [k for k in named if k.endswith("bias")]
    pieces = [m.op("Reshape", f"lstm0_{k}_reshape", [m.param(f"lstm0_{k}", named[k])], {"shape": "(-1,)"}, named[k].reshape(-1))
              for k in order]
    flat = m.op("_rnn_param_concat", "lstm0_rnn_param_concat0", pieces, {"dim": "0", "num_args": len(pieces)},
                np.concatenate([m.values[p] for p in pieces]))
    tnc = m.op("swapaxes", "lstm0_swapaxes0", [x], {"dim1": "0", "dim2": "1"}, m.values[x].transpose(1, 0, 2))
    states = [m.op("_zeros", f"lstm0_h0_{i}", [], {"shape": f"({layers * dirs}, 0, {hidden})", "dtype": "float32"}, 0)
              for i in range(2 if mode == "lstm" else 1)]
    out, _, _ = rnn_ref(m.values[tnc], named, mode, hidden, layers, dirs)
    rnn = m.op("RNN", "lstm0_rnn0", [tnc, flat] + states, {"mode": mode, "state_size": hidden, "num_layers": layers,
                                                            "bidirectional": "True", "state_outputs": "True", "p": "0.0",
                                                            "lstm_state_clip_min": "None", "projection_size": "None"}, out)
    m.op("swapaxes", "lstm0_swapaxes1", [rnn], {"dim1": "0", "dim2": "1"}, out.transpose(1, 0, 2))
    symbol, params = m.save(tmp_path, ["lstm0_swapaxes1"])
    model = irforge.convert_model((symbol, params), input=f"data[{batch},{t_len},{input_size}]")
    compare(m, model, ["lstm0_swapaxes1"], tmp_path)


def test_gluon_unrolled_lstm_cell(tmp_path):
    """gluon's LSTMCell.unroll as a symbol: the sequence split into steps (SliceChannel,
    squeeze_axis), per step FullyConnected i2h + h2h, SliceChannel into the 4 gates,
    Activation, elemwise ops; zeros of batch 0 as begin states; expand_dims + Concat merge."""
    hidden, t_len, batch, input_size = 4, 3, 2, 5
    m = MXNetModel(seed=11)
    x = m.input("data", (t_len, batch, input_size))
    named, _ = rnn_parameters(m.rng, "lstm", hidden, 1, 1, input_size)
    p = {k: m.param("lstm0_" + k.replace("l0_", ""), v) for k, v in named.items()}
    steps = m._add("SliceChannel", "lstm0_split0", [x], {"num_outputs": t_len, "axis": 0, "squeeze_axis": 1})
    h = m.op("_zeros", "lstm0_begin_state_0", [], {"shape": f"(0, {hidden})"}, np.zeros((batch, hidden), np.float32))
    c = m.op("_zeros", "lstm0_begin_state_1", [], {"shape": f"(0, {hidden})"}, np.zeros((batch, hidden), np.float32))
    outs = []
    for t in range(t_len):
        xt = m.values[x][t]
        pre = f"lstm0_t{t}_"
        i2h = m.op("FullyConnected", pre + "i2h", [f"{steps}:{t}", p["l0_i2h_weight"], p["l0_i2h_bias"]], {"num_hidden": 4 * hidden},
                   xt @ named["l0_i2h_weight"].T + named["l0_i2h_bias"])
        h2h = m.op("FullyConnected", pre + "h2h", [h, p["l0_h2h_weight"], p["l0_h2h_bias"]], {"num_hidden": 4 * hidden},
                   m.values[h] @ named["l0_h2h_weight"].T + named["l0_h2h_bias"])
        gates = m.op("elemwise_add", pre + "plus0", [i2h, h2h], None, m.values[i2h] + m.values[h2h])
        sl = m._add("SliceChannel", pre + "slice", [gates], {"num_outputs": 4})
        parts = np.split(m.values[gates], 4, axis=1)
        acts = []
        for k, (gate, fn) in enumerate(zip("ifco", ("sigmoid", "sigmoid", "tanh", "sigmoid"))):
            v = sigmoid(parts[k]) if fn == "sigmoid" else np.tanh(parts[k])
            acts.append(m.op("Activation", pre + gate, [f"{sl}:{k}"], {"act_type": fn}, v))
        fc = m.op("elemwise_mul", pre + "mul0", [acts[1], c], None, m.values[acts[1]] * m.values[c])
        ic = m.op("elemwise_mul", pre + "mul1", [acts[0], acts[2]], None, m.values[acts[0]] * m.values[acts[2]])
        c = m.op("_plus", pre + "state", [fc, ic], None, m.values[fc] + m.values[ic])
        tc = m.op("Activation", pre + "i2h_tanh", [c], {"act_type": "tanh"}, np.tanh(m.values[c]))
        h = m.op("_mul", pre + "out", [acts[3], tc], None, m.values[acts[3]] * m.values[tc])
        outs.append(m.op("expand_dims", pre + "expand", [h], {"axis": 0}, m.values[h][None]))
    m.op("Concat", "lstm0_merge", outs, {"dim": 0, "num_args": t_len}, np.concatenate([m.values[o] for o in outs]))
    ref, _, _ = rnn_ref(m.values[x], named, "lstm", hidden, 1, 1)
    np.testing.assert_allclose(m.values["lstm0_merge"], ref, rtol=1e-5, atol=1e-6)  # the unrolled cell is MXNet's LSTM
    symbol, params = m.save(tmp_path, ["lstm0_merge", "lstm0_t2_state"])
    model = irforge.convert_model((symbol, params), input=f"data[{t_len},{batch},{input_size}]")
    compare(m, model, ["lstm0_merge", "lstm0_t2_state"], tmp_path)


def test_stack_and_split(tmp_path):
    m = MXNetModel(seed=12)
    x = m.input("data", (2, 3, 4))
    v = m.values[x]
    s = m._add("split", "sp", [x], {"num_outputs": 2, "axis": -1})
    m.values["sp:1"] = v[..., 2:]
    st = m.op("stack", "st", ["sp", "sp:1"], {"axis": 1, "num_args": 2}, np.stack([v[..., :2], v[..., 2:]], axis=1))
    symbol, params = m.save(tmp_path, [st, f"{s}:1"])
    compare(m, irforge.convert_model((symbol, params), input="data[2,3,4]"), ["st", "sp:1"], tmp_path)


def rnn_symbol(tmp_path, flat_len=None, **attrs):
    m = MXNetModel(seed=13)
    x = m.input("data", (4, 1, 3))
    _, flat = rnn_parameters(m.rng, "lstm", 2, 1, 1, 3)
    m.op("RNN", "rnn", [x, m.param("rnn_parameters", flat[:flat_len] if flat_len else flat)],
         {"mode": "lstm", "state_size": 2, "num_layers": 1, **attrs}, 0)
    return m.save(tmp_path, ["rnn"])


def test_malformed_rnn(tmp_path):
    symbol, params = rnn_symbol(tmp_path, flat_len=-1)
    with pytest.raises(irforge.InvalidModelError, match=r"node \d+ 'rnn' \(RNN\): the parameters vector has 55 values, which fits no input size"):
        irforge.convert_model((symbol, params), input="data[4,1,3]")
    for attrs, message in [({"mode": "lstmp"}, r"'rnn' \(RNN\): mode 'lstmp'"),
                           ({"projection_size": "2"}, r"'rnn' \(RNN\): projection_size"),
                           ({"lstm_state_clip_min": "-1", "lstm_state_clip_max": "1"}, r"'rnn' \(RNN\): lstm_state_clip_min/max"),
                           ({"use_sequence_length": "True"}, r"'rnn' \(RNN\): use_sequence_length")]:
        symbol, params = rnn_symbol(tmp_path, **attrs)
        with pytest.raises(irforge.UnsupportedError, match=message):
            irforge.convert_model((symbol, params), input="data[4,1,3]")
    symbol, params = rnn_symbol(tmp_path, state_size="0")
    with pytest.raises(irforge.InvalidModelError, match=r"'rnn' \(RNN\): state_size must be"):
        irforge.convert_model((symbol, params), input="data[4,1,3]")
    # Parameters computed at run time are refused, naming the producer.
    m = MXNetModel(seed=14)
    x = m.input("data", (4, 1, 3))
    w = m.op("_mul_scalar", "scaled", [m.param("w", np.ones(64, np.float32))], {"scalar": "2"}, 0)
    m.op("RNN", "rnn", [x, w], {"mode": "lstm", "state_size": 2}, 0)
    symbol, params = m.save(tmp_path, ["rnn"])
    with pytest.raises(irforge.InvalidModelError, match=r"'rnn' \(RNN\): its parameters must be constant .* not the output of 'scaled'"):
        irforge.convert_model((symbol, params), input="data[4,1,3]")
    # swapaxes away from an RNN has no rank to go by.
    m = MXNetModel(seed=15)
    x = m.input("data", (4, 1, 3))
    m.op("swapaxes", "sw", [x], {"dim1": 0, "dim2": 2}, 0)
    symbol, params = m.save(tmp_path, ["sw"])
    with pytest.raises(irforge.UnsupportedError, match=r"'sw' \(swapaxes\): swapaxes of an input of unknown rank"):
        irforge.convert_model((symbol, params), input="data[4,1,3]")


def test_random_damage_to_rnn_symbols_only_raises_conversion_errors(tmp_path):
    """Byte damage to a gluon-exported GRU (parameter concat, zeros, swapaxes, RNN) and its
    params: a ConversionError or a model, never another exception."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fuzz"))
    from make_corpus_fuzz_mxnet_reader import gluon_rnn
    from mxnet_models import params_bytes

    m, heads = gluon_rnn()
    symbol_text, params = m.symbol_json(heads).encode(), params_bytes(m.params)
    rng = np.random.default_rng(1)
    sp, pp = os.path.join(str(tmp_path), "f-symbol.json"), os.path.join(str(tmp_path), "f-0000.params")

    def attempt(i):
        # Flips only: the symbol's stay printable so that the JSON parses and the RNN rules are reached.
        if i % 3:
            s, p = damaged(symbol_text, rng, printable=True, cuts=False), params
        else:
            s, p = symbol_text, damaged(params, rng, cuts=False)
        open(sp, "wb").write(s)
        open(pp, "wb").write(p)
        irforge.convert_model((sp, pp), input="data[1,3,2]")

    assert conversion_errors(attempt, 80) > 0


def test_fused_rnn_to_onnx(tmp_path):
    """The same conversion written as ONNX runs in onnxruntime to the MXNet result."""
    import onnxruntime as ort

    hidden, layers, dirs, t_len, batch, input_size = 3, 2, 2, 4, 2, 5
    m = MXNetModel(seed=16)
    x = m.input("data", (t_len, batch, input_size))
    named, flat = rnn_parameters(m.rng, "gru", hidden, layers, dirs, input_size)
    h0 = m.input("state", (layers * dirs, batch, hidden))
    out, hy, _ = rnn_ref(m.values[x], named, "gru", hidden, layers, dirs, m.values[h0])
    m.op("RNN", "rnn", [x, m.param("rnn_parameters", flat), h0],
         {"mode": "gru", "state_size": hidden, "num_layers": layers, "bidirectional": "True", "state_outputs": "True"}, out)
    symbol, params = m.save(tmp_path, ["rnn", "rnn:1"])
    model = irforge.convert_model((symbol, params), input=f"data[{t_len},{batch},{input_size}],state[{layers * dirs},{batch},{hidden}]")
    path = os.path.join(str(tmp_path), "rnn.onnx")
    irforge.save_model(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, m.feeds)))
    for name, ref in (("rnn", out), ("rnn:1", hy)):
        assert got[name].shape == ref.shape
        assert np.abs(got[name] - ref).max() / np.abs(ref).max() <= 1e-4
