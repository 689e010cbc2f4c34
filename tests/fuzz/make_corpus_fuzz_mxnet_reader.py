"""Seeds for fuzz_mxnet_reader: small MXNet models (symbol JSON, NUL, .params) covering the
supported ops, written by tests/mxnet_models.py. Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_mxnet_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from mxnet_models import MXNetModel, params_bytes  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    m = MXNetModel(seed=0)
    x = m.input("data", (1, 3, 8, 8))
    w = m.param("c_weight", m.randn(4, 3, 3, 3))
    y = m.op("Convolution", "c", [x, w], {"kernel": "(3, 3)", "pad": "(1, 1)", "num_filter": 4, "no_bias": "True"}, 0)
    ins = [y] + [m.param(f"bn_{k}", np.ones(4), aux=k.startswith("moving")) for k in ("gamma", "beta", "moving_mean", "moving_var")]
    y = m.op("BatchNorm", "bn", ins, {"fix_gamma": "True"}, 0)
    y = m.op("Activation", "relu", [y], {"act_type": "relu"}, 0)
    y = m.op("LeakyReLU", "pr", [y, m.param("pr_gamma", np.ones(4))], {"act_type": "prelu"}, 0)
    y = m.op("Pooling", "pool", [y], {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "avg", "pooling_convention": "full"}, 0)
    y = m.op("Deconvolution", "up", [y, m.param("up_weight", np.ones((4, 2, 2, 2)))], {"kernel": "(2, 2)", "stride": "(2, 2)", "num_filter": "2"}, 0)
    y = m.op("UpSampling", "nn", [y], {"scale": "2", "sample_type": "nearest"}, 0)
    a = m.op("_plus_scalar", "ps", [y], {"scalar": "1"}, 0)
    y = m.op("Concat", "cat", [y, a], {"dim": "1"}, 0)
    y = m.op("Reshape", "rs", [y], {"shape": "(0, -1)"}, 0)
    y = m.op("FullyConnected", "fc", [y, m.param("fc_weight", np.ones((3, 256))), m.param("fc_bias", np.ones(3))], {"num_hidden": "3"}, 0)
    y = m.op("SoftmaxOutput", "softmax", [y], {}, 0)
    write(out, "mxnet_net.seed", m, ["softmax"])
    write(out, "mxnet_rnn.seed", *fused_rnn())
    write(out, "mxnet_gluon_rnn.seed", *gluon_rnn())
    write(out, "mxnet_shape_ops.seed", *shape_ops())


def write(out, name, m, heads):
    with open(os.path.join(out, name), "wb") as f:
        f.write(m.symbol_json(heads).encode() + b"\0" + params_bytes(m.params))


def fused_rnn():
    """RNN with the flat parameters and begin states as inputs, two bidirectional LSTM layers."""
    m = MXNetModel(seed=1)
    x = m.input("data", (3, 1, 2))
    n = 2 * (4 * 2 * (2 + 2)) + 2 * (4 * 2 * (4 + 2)) + 2 * 2 * 2 * 8  # H=2: weights of both layers, then biases
    ins = [x, m.param("rnn_parameters", np.ones(n) * 0.1), m.input("state", (4, 1, 2)), m.input("state_cell", (4, 1, 2))]
    m.op("RNN", "rnn", ins, {"mode": "lstm", "state_size": 2, "num_layers": 2, "bidirectional": "True", "state_outputs": "True"}, 0)
    return m, ["rnn", "rnn:1", "rnn:2"]


def gluon_rnn():
    """gluon's export of a GRU(layout='NTC'): reshaped weights joined by _rnn_param_concat,
    zeros of batch 0 as the begin state, swapaxes around the op; then an unrolled-cell step."""
    m = MXNetModel(seed=2)
    x = m.input("data", (1, 3, 2))
    shapes = {"l0_i2h_weight": (6, 2), "l0_h2h_weight": (6, 2), "l0_i2h_bias": (6,), "l0_h2h_bias": (6,)}
    pieces = [m.op("Reshape", k + "_r", [m.param(k, np.ones(s) * 0.1)], {"shape": "(-1,)"}, 0) for k, s in shapes.items()]
    flat = m.op("_rnn_param_concat", "concat", pieces, {"dim": "0", "num_args": len(pieces)}, 0)
    tnc = m.op("swapaxes", "sw0", [x], {"dim1": "0", "dim2": "1"}, 0)
    h0 = m.op("_zeros", "h0", [], {"shape": "(1, 0, 2)"}, 0)
    y = m.op("RNN", "gru", [tnc, flat, h0], {"mode": "gru", "state_size": 2, "num_layers": 1}, 0)
    y = m.op("swapaxes", "sw1", [y], {"dim1": "0", "dim2": "1"}, 0)
    steps = m._add("SliceChannel", "steps", [y], {"num_outputs": 3, "axis": 1, "squeeze_axis": 1})
    gates = m._add("SliceChannel", "gates", [steps + ":2"], {"num_outputs": 2})
    a = m.op("Activation", "sig", [gates], {"act_type": "log_sigmoid"}, 0)
    b = m.op("elemwise_mul", "mul", [a, gates + ":1"], None, 0)
    m.op("stack", "stack", [b, a], {"axis": 1, "num_args": 2}, 0)
    return m, ["stack"]


def shape_ops():
    """Reshape codes, Deconvolution target_shape, bilinear UpSampling, LeakyReLU types."""
    m = MXNetModel(seed=3)
    x = m.input("data", (1, 2, 4, 4))
    y = m.op("UpSampling", "bl", [x, m.param("bl_weight", np.ones((2, 1, 4, 4)))], {"scale": "2", "sample_type": "bilinear", "num_filter": "2"}, 0)
    y = m.op("Deconvolution", "dc", [y, m.param("dc_weight", np.ones((2, 2, 3, 3)))],
             {"kernel": "(3, 3)", "stride": "(2, 2)", "num_filter": "2", "target_shape": "(15, 16)"}, 0)
    y = m.op("LeakyReLU", "gelu", [y], {"act_type": "gelu"}, 0)
    y = m.op("LeakyReLU", "rrelu", [y], {"act_type": "rrelu"}, 0)
    y = m.op("Reshape", "r1", [y], {"shape": "(0, -4, 1, -1, -2)"}, 0)
    y = m.op("Reshape", "r2", [y], {"shape": "(-3, -2)"}, 0)
    y = m.op("Reshape", "r3", [y], {"shape": "(-1, 0)", "reverse": "True"}, 0)
    y = m.op("expand_dims", "ed", [y], {"axis": "0"}, 0)
    y = m.op("SoftmaxOutput", "sm", [y], {"preserve_shape": "True"}, 0)
    return m, ["sm"]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_mxnet")
