"""MXNet frontend: symbol JSON + .params written from code (tests/mxnet_models.py), converted by
irforge to OpenVINO IR, run on the CPU plugin, compared with NumPy references (1e-4 relative).
No MXNet installed, by design."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from caffe_models import conv_ref, deconv_ref, pool_ref  # noqa: E402
from mxnet_models import MXNetModel, params_bytes  # noqa: E402
from random_damage import conversion_errors, damaged  # noqa: E402
from test_caffe_frontend import run_ir  # noqa: E402

RTOL = 1e-4


def compare(m, model, names, tmp_path):
    got = run_ir(model, m.feeds, names, tmp_path)
    for n in names:
        ref, out = m.values[n], got[n]
        assert out.shape == ref.shape, (n, out.shape, ref.shape)
        assert out.size > 0
        err = np.abs(out.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-12)
        assert err <= RTOL, f"{n}: relative error {err:.2e}"


def conv_bn_relu(m, name, x, filters, kernel, stride, pad, relu=True):
    v = m.values[x]
    c = v.shape[1]
    w = m.param(name + "_weight", m.randn(filters, c, kernel, kernel, scale=1 / np.sqrt(c * kernel * kernel)))
    y = m.op("Convolution", name, [x, w], {"kernel": f"({kernel}, {kernel})", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})",
                                            "num_filter": filters, "no_bias": "True"},
             conv_ref(v, m.params["arg:" + w], None, stride, pad, 1, 1))
    gamma, beta = m.randn(filters, scale=0.3) + 1, m.randn(filters, scale=0.1)
    mean, var = m.randn(filters, scale=0.3), (m.rng.random(filters) + 0.5).astype(np.float32)
    ins = [y, m.param(name + "_gamma", gamma), m.param(name + "_beta", beta), m.param(name + "_moving_mean", mean, aux=True),
           m.param(name + "_moving_var", var, aux=True)]
    sh = (1, -1, 1, 1)
    ref = (m.values[y] - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-5) * gamma.reshape(sh) + beta.reshape(sh)
    y = m.op("BatchNorm", name + "_bn", ins, {"eps": "1e-05", "fix_gamma": "False", "momentum": "0.9"}, ref)
    if relu:
        y = m.op("Activation", name + "_relu", [y], {"act_type": "relu"}, np.maximum(m.values[y], 0))
    return y


def test_resnet_style(tmp_path):
    m = MXNetModel(seed=0)
    x = m.input("data", (2, 3, 32, 32))
    x = conv_bn_relu(m, "conv0", x, 16, 3, 1, 1)
    x = m.op("Pooling", "pool0", [x], {"kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "max", "pooling_convention": "full"},
             pool_ref(m.values[x], "MAX", 3, 2, 0))
    for i, (filters, stride) in enumerate(((16, 1), (32, 2))):
        y = conv_bn_relu(m, f"stage{i}_a", x, filters, 3, stride, 1)
        y = conv_bn_relu(m, f"stage{i}_b", y, filters, 3, 1, 1, relu=False)
        if stride != 1 or m.values[x].shape[1] != filters:
            x = conv_bn_relu(m, f"stage{i}_proj", x, filters, 1, stride, 0, relu=False)
        s = m.op("elemwise_add", f"stage{i}_add", [x, y], None, m.values[x] + m.values[y])
        x = m.op("Activation", f"stage{i}_relu", [s], {"act_type": "relu"}, np.maximum(m.values[s], 0))
    x = m.op("Pooling", "gap", [x], {"kernel": "(1, 1)", "global_pool": "True", "pool_type": "avg"}, m.values[x].mean(axis=(2, 3), keepdims=True))
    x = m.op("Flatten", "flat", [x], None, m.values[x].reshape(2, -1))
    w = m.param("fc_weight", m.randn(10, 32, scale=0.2))
    b = m.param("fc_bias", m.randn(10, scale=0.1))
    x = m.op("FullyConnected", "fc", [x, w, b], {"num_hidden": "10"}, m.values[x] @ m.params["arg:fc_weight"].T + m.params["arg:fc_bias"])
    label = m._add("null", "softmax_label")
    v = m.values[x]
    e = np.exp(v - v.max(axis=1, keepdims=True))
    m.op("SoftmaxOutput", "softmax", [x, label], {"normalization": "null"}, e / e.sum(axis=1, keepdims=True))
    symbol, params = m.save(tmp_path, ["softmax"])
    model = irforge.convert_model((params, symbol), input="data[2,3,32,32]")
    assert [i.name for i in model.inputs] == ["data"]  # softmax_label is unused, not an input
    assert "BatchNormalization" not in model.op_histogram
    compare(m, model, ["softmax"], tmp_path)
    # The symbol alone finds the params of its prefix, the params alone their symbol.
    compare(m, irforge.convert_model(symbol, input="data[2,3,32,32]"), ["softmax"], tmp_path)
    compare(m, irforge.convert_model(params, input="data[2,3,32,32]"), ["softmax"], tmp_path)


def test_other_ops(tmp_path):
    m = MXNetModel(seed=1)
    x = m.input("data", (1, 4, 6, 6))
    v = m.values[x]
    lk = m.op("LeakyReLU", "leaky", [x], {"act_type": "leaky", "slope": "0.1"}, np.where(v > 0, v, 0.1 * v))
    el = m.op("LeakyReLU", "elu", [x], {"act_type": "elu", "slope": "0.5"}, np.where(v > 0, v, 0.5 * (np.exp(v) - 1)))
    gamma = m.randn(4, scale=0.3)
    pr = m.op("LeakyReLU", "prelu", [x, m.param("prelu_gamma", gamma)], {"act_type": "prelu"}, np.where(v > 0, v, gamma.reshape(1, 4, 1, 1) * v))
    cat = m.op("Concat", "cat", [lk, el, pr], {"dim": "1", "num_args": "3"}, np.concatenate([m.values[lk], m.values[el], m.values[pr]], axis=1))
    avg = m.op("Pooling", "avg", [cat], {"kernel": "(3, 3)", "stride": "(1, 1)", "pad": "(1, 1)", "pool_type": "avg"},
               pool_ref(m.values[cat], "AVE", 3, 1, 1))  # every window inside the padded input: divide by 9 (count_include_pad)
    w = m.randn(12, 3, 4, 4, scale=0.2)
    b = m.randn(6, scale=0.1)
    up = m.op("Deconvolution", "deconv", [avg, m.param("deconv_weight", w), m.param("deconv_bias", b)],
              {"kernel": "(4, 4)", "stride": "(2, 2)", "pad": "(1, 1)", "num_filter": "6", "num_group": "2", "no_bias": "False"},
              deconv_ref(m.values[avg], w, b, 2, 1, 2))
    nn = m.op("UpSampling", "nearest", [x], {"scale": "2", "sample_type": "nearest", "num_args": "1"}, v.repeat(2, axis=2).repeat(2, axis=3))
    sc = m.op("_mul_scalar", "scaled", [nn], {"scalar": "0.5"}, m.values[nn] * 0.5)
    sc = m.op("_rminus_scalar", "rminus", [sc], {"scalar": "1.0"}, 1.0 - m.values[sc])
    rs = m.op("Reshape", "resh", [sc], {"shape": "(0, -1, 24)"}, m.values[sc].reshape(1, -1, 24))
    r = m.values[rs]
    e = np.exp(r - r.max(axis=-1, keepdims=True))
    sm = m.op("softmax", "sm", [rs], {"axis": "-1"}, e / e.sum(axis=-1, keepdims=True))
    dr = m.op("Dropout", "drop", [sm], {"p": "0.5"}, m.values[sm])
    fcw = m.randn(5, 24, scale=0.2)
    fc = m.op("FullyConnected", "fc3d", [dr, m.param("fc3d_weight", fcw)], {"num_hidden": "5", "no_bias": "True", "flatten": "False"}, m.values[dr] @ fcw.T)
    symbol, params = m.save(tmp_path, [up, fc])
    model = irforge.convert_model((symbol, params), input="data[1,4,6,6]")
    compare(m, model, ["deconv", "fc3d"], tmp_path)


@pytest.mark.parametrize("shape", [(3, 5), (2, 5, 4), (1, 5, 3, 3), (1, 5, 2, 3, 2)])
def test_prelu_per_channel_at_any_rank(tmp_path, shape):
    """LeakyReLU prelu scales axis 1 whatever the rank (after FullyConnected it is [N, C])."""
    m = MXNetModel(seed=4)
    x = m.input("data", shape)
    v = m.values[x]
    gamma = m.randn(5, scale=0.3)
    bshape = (1, 5) + (1,) * (len(shape) - 2)
    m.op("LeakyReLU", "prelu", [x, m.param("prelu_gamma", gamma)], {"act_type": "prelu"}, np.where(v > 0, v, gamma.reshape(bshape) * v))
    symbol, params = m.save(tmp_path, ["prelu"])
    model = irforge.convert_model((symbol, params), input="data[" + ",".join(map(str, shape)) + "]")
    compare(m, model, ["prelu"], tmp_path)


def test_params_are_mapped(tmp_path):
    m = MXNetModel(seed=2)
    x = m.input("data", (1, 3, 8, 8))
    conv_bn_relu(m, "c", x, 4, 3, 1, 1)
    symbol, params = m.save(tmp_path, ["c_relu"])
    from irforge import _core

    model = irforge.convert_model((symbol, params), transform="none")
    assert _core.constant_is_mapped(model._core, "c_weight")


def test_malformed_mxnet_files(tmp_path):
    m = MXNetModel(seed=3)
    x = m.input("data", (1, 3, 8, 8))
    conv_bn_relu(m, "c", x, 4, 3, 1, 1)
    symbol, params = m.save(tmp_path, ["c_relu"])
    data = open(params, "rb").read()
    bad = os.path.join(str(tmp_path), "bad-0000.params")
    open(bad, "wb").write(data[:-40])
    with pytest.raises(irforge.InvalidModelError, match=r"bad-0000\.params: not a valid MXNet \.params file: truncated"):
        irforge.convert_model((symbol, bad))
    open(bad, "wb").write(b"\0" * 32)
    with pytest.raises(irforge.InvalidModelError, match=r"no NDArray-list magic"):
        irforge.convert_model((symbol, bad))
    # A weight whose shape contradicts the node.
    arrays = dict(m.params)
    arrays["arg:c_weight"] = np.zeros((4, 3, 5, 5), np.float32)
    open(bad, "wb").write(params_bytes(arrays))
    with pytest.raises(irforge.InvalidModelError, match=r"node \d+ 'c' \(Convolution\): weight shape does not match"):
        irforge.convert_model((symbol, bad))
    # Unknown ops are listed together; JSON errors give the line.
    text = open(symbol).read().replace('"Convolution"', '"MyConv"').replace('"Activation"', '"Swish2"')
    sym2 = os.path.join(str(tmp_path), "x-symbol.json")
    open(sym2, "w").write(text)
    with pytest.raises(irforge.UnsupportedError, match=r"2 node\(s\) of unsupported ops: 'c' \(MyConv\), 'c_relu' \(Swish2\)"):
        irforge.convert_model((sym2, params))
    open(sym2, "w").write('{\n  "nodes": [\n    {"op": "null" "name": "data"}\n  ]\n}')
    with pytest.raises(irforge.InvalidModelError, match=r"x-symbol\.json: JSON syntax error: expected .* \(line 3\)"):
        irforge.convert_model((sym2, params))


def test_random_damage_only_raises_conversion_errors(tmp_path):
    m = MXNetModel(seed=4)
    x = m.input("data", (1, 3, 8, 8))
    conv_bn_relu(m, "c", x, 4, 3, 1, 1)
    symbol_text = m.symbol_json(["c_relu"]).encode()
    params = params_bytes(m.params)
    rng = np.random.default_rng(0)
    sp, pp = os.path.join(str(tmp_path), "f-symbol.json"), os.path.join(str(tmp_path), "f-0000.params")

    def attempt(i):
        s, p = (damaged(symbol_text, rng), params) if i % 2 else (symbol_text, damaged(params, rng))
        open(sp, "wb").write(s)
        open(pp, "wb").write(p)
        irforge.convert_model((sp, pp), input="data[1,3,8,8]")

    assert conversion_errors(attempt, 120) > 0


def test_cli_mo_style(tmp_path):
    """mo's MXNet flags: the .params positional with --input_symbol, or the symbol with --input_model."""
    import subprocess

    m = MXNetModel(seed=5)
    x = m.input("data", (1, 3, 8, 8))
    conv_bn_relu(m, "c", x, 4, 3, 1, 1)
    symbol, params = m.save(tmp_path, ["c_relu"], prefix="net")
    other = os.path.join(str(tmp_path), "weights.params")  # not beside its symbol by name
    os.rename(params, other)
    for args in ([other, "--input_symbol", symbol], [symbol, "--input_model", other]):
        out = os.path.join(str(tmp_path), "out.xml")
        r = subprocess.run([sys.executable, "-m", "irforge", "convert", *args, "--input", "data[1,3,8,8]", "--output_model", out],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert os.path.getsize(out) > 0
        os.remove(out)
