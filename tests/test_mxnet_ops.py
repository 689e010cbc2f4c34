"""Every MXNet op of issue 19 against a NumPy reference written from MXNet's own definitions
(pool.h, deconvolution-inl.h, matrix_op-inl.h InferReshapeShape, softmax_output-inl.h,
leaky_relu-inl.h, upsampling-inl.h), 1e-4 relative, through irforge → OpenVINO IR → CPU."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from caffe_models import conv_ref  # noqa: E402
from mxnet_models import MXNetModel  # noqa: E402
from test_mxnet_frontend import compare  # noqa: E402


def convert(m, tmp_path, heads, **kw):
    symbol, params = m.save(tmp_path, heads)
    shapes = ",".join(f"{k}[{','.join(map(str, v.shape))}]" for k, v in m.feeds.items())
    return irforge.convert_model((symbol, params), input=shapes, **kw)


def check(m, tmp_path, heads):
    compare(m, convert(m, tmp_path, heads), heads, tmp_path)


def softmax(v, axis):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mx_pool_ref(x, kind, k, s, p, full=False, include_pad=True):
    """pool.h: the output rounded down (valid) or up (full); an average divides by the window
    clipped to the padded input, or with count_include_pad=False to the input."""
    n, c, h, w = x.shape
    rnd = math.ceil if full else math.floor
    oh, ow = 1 + rnd((h + 2 * p - k) / s), 1 + rnd((w + 2 * p - k) / s)
    y = np.zeros((n, c, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            elif kind == "sum":
                y[:, :, i, j] = win.sum(axis=(2, 3))
            else:
                y[:, :, i, j] = win.sum(axis=(2, 3)) / (size if include_pad else (he - hs) * (we - ws))
    return y


def mx_deconv_ref(x, w, b, stride, pad, dil, adj, group, target=None):
    """Each input pixel scatters weight x value (weight [C_in, O/group, k, k]); the border pad is
    dropped and adj rows/columns added at the end; target_shape picks pad from the size."""
    n, c, h, wd = x.shape
    _, og, k, _ = w.shape
    dk = (k - 1) * dil + 1
    fh, fw = (h - 1) * stride + dk, (wd - 1) * stride + dk
    full = np.zeros((n, og * group, fh + adj, fw + adj), np.float64)
    cg = c // group
    for g in range(group):
        for ci in range(g * cg, (g + 1) * cg):
            for i in range(h):
                for j in range(wd):
                    full[:, g * og:(g + 1) * og, i * stride:i * stride + dk:dil, j * stride:j * stride + dk:dil] += \
                        x[:, ci, i, j][:, None, None, None] * w[ci][None]
    if target is not None:
        ph, pw = -(-(fh - target[0]) // 2), -(-(fw - target[1]) // 2)
        y = full[:, :, ph:ph + target[0], pw:pw + target[1]]
    else:
        y = full[:, :, pad:pad + fh - 2 * pad + adj, pad:pad + fw - 2 * pad + adj]
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def mx_reshape(dshape, codes, reverse=False):
    """matrix_op-inl.h InferReshapeShape."""
    d, c = list(dshape), list(codes)
    if reverse:
        d.reverse()
        c.reverse()
    out, src, inferred, i = [], 0, -1, 0
    while i < len(c):
        v = c[i]
        if v == 0:
            out.append(d[src])
            src += 1
        elif v == -1:
            inferred = len(out)
            out.append(1)
            src += 1
        elif v == -2:
            out.extend(d[src:])
            src = len(d)
        elif v == -3:
            out.append(d[src] * d[src + 1])
            src += 2
        elif v == -4:
            d0, d1, d2 = d[src], c[i + 1], c[i + 2]
            src += 1
            i += 2
            out += [d0 // d2 if d1 == -1 else d1, d0 // d1 if d2 == -1 else d2]
        else:
            out.append(v)
            src += 1
        i += 1
    if inferred >= 0:
        out[inferred] = int(np.prod(dshape)) // int(np.prod(out))
    return tuple(reversed(out)) if reverse else tuple(out)


def test_convolution_groups_dilation_bias(tmp_path):
    m = MXNetModel(seed=20)
    x = m.input("data", (2, 4, 9, 9))
    w, b = m.randn(6, 2, 3, 3, scale=0.3), m.randn(6, scale=0.1)
    m.op("Convolution", "conv", [x, m.param("conv_weight", w), m.param("conv_bias", b)],
         {"kernel": "(3, 3)", "stride": "(2, 2)", "dilate": "(2, 2)", "pad": "(2, 2)", "num_filter": 6, "num_group": 2},
         conv_ref(m.values[x], w, b, 2, 2, 2, 2))
    w1 = m.randn(3, 4, 1, 1)
    m.op("Convolution", "conv1x1", [x, m.param("c1_weight", w1)], {"kernel": "(1, 1)", "num_filter": 3, "no_bias": "True"},
         conv_ref(m.values[x], w1, None, 1, 0, 1, 1))
    check(m, tmp_path, ["conv", "conv1x1"])


@pytest.mark.parametrize("fix_gamma,use_global_stats", [("True", "False"), ("False", "True")])
def test_batchnorm(tmp_path, fix_gamma, use_global_stats):
    """fix_gamma ignores the stored gamma (1); inference always uses the moving statistics."""
    m = MXNetModel(seed=21)
    x = m.input("data", (2, 3, 4, 4))
    gamma, beta, mean = m.randn(3) + 2, m.randn(3), m.randn(3)
    var = (m.rng.random(3) + 0.5).astype(np.float32)
    g = np.ones(3) if fix_gamma == "True" else gamma
    sh = (1, 3, 1, 1)
    ref = (m.values[x] - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-3) * g.reshape(sh) + beta.reshape(sh)
    m.op("BatchNorm", "bn", [x, m.param("g", gamma), m.param("b", beta), m.param("m", mean, aux=True), m.param("v", var, aux=True)],
         {"fix_gamma": fix_gamma, "use_global_stats": use_global_stats}, ref)
    check(m, tmp_path, ["bn"])


def test_activations(tmp_path):
    m = MXNetModel(seed=22)
    x = m.input("data", (2, 3, 5))
    v = m.values[x].astype(np.float64) * 3
    x3 = m.op("_mul_scalar", "x3", [x], {"scalar": "3"}, v)
    softplus = np.log1p(np.exp(v))
    refs = {"relu": np.maximum(v, 0), "sigmoid": 1 / (1 + np.exp(-v)), "tanh": np.tanh(v), "softrelu": softplus,
            "softsign": v / (1 + np.abs(v)), "log_sigmoid": -np.log1p(np.exp(-v)), "mish": v * np.tanh(softplus)}
    for act, ref in refs.items():
        m.op("Activation", act, [x3], {"act_type": act}, ref)
    check(m, tmp_path, list(refs))


def test_leaky_relu_types(tmp_path):
    m = MXNetModel(seed=23)
    x = m.input("data", (2, 3, 4))
    v = m.values[x].astype(np.float64) * 2
    x2 = m.op("_mul_scalar", "x2", [x], {"scalar": "2"}, v)
    gamma = m.randn(3, scale=0.3)
    erf = np.vectorize(math.erf)
    selu = 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * (np.exp(v) - 1))
    cases = {"leaky": ({"slope": "0.1"}, np.where(v > 0, v, 0.1 * v)),
             "elu": ({"slope": "0.7"}, np.where(v > 0, v, 0.7 * (np.exp(v) - 1))),
             "selu": ({}, selu),
             "gelu": ({}, 0.5 * v * (1 + erf(v / math.sqrt(2)))),
             "gelu_tanh": ({}, 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
             "rrelu": ({"lower_bound": "0.1", "upper_bound": "0.3"}, np.where(v > 0, v, 0.2 * v))}
    for act, (attrs, ref) in cases.items():
        m.op("LeakyReLU", act, [x2], {"act_type": act, **attrs}, ref)
    m.op("LeakyReLU", "prelu", [x2, m.param("prelu_gamma", gamma)], {"act_type": "prelu"}, np.where(v > 0, v, gamma.reshape(1, 3, 1) * v))
    check(m, tmp_path, list(cases) + ["prelu"])


@pytest.mark.parametrize("kind,k,s,p,full,include_pad", [
    ("max", 3, 2, 1, True, True), ("avg", 3, 2, 1, True, True), ("avg", 3, 2, 1, True, False), ("avg", 3, 2, 1, False, False),
    ("avg", 2, 2, 0, True, True), ("sum", 3, 2, 1, False, True), ("max", 2, 3, 0, False, True),
])
def test_pooling(tmp_path, kind, k, s, p, full, include_pad):
    m = MXNetModel(seed=24)
    x = m.input("data", (1, 2, 8, 9))
    m.op("Pooling", "pool", [x], {"kernel": f"({k}, {k})", "stride": f"({s}, {s})", "pad": f"({p}, {p})", "pool_type": kind,
                                  "pooling_convention": "full" if full else "valid", "count_include_pad": str(include_pad)},
         mx_pool_ref(m.values[x].astype(np.float64), kind, k, s, p, full, include_pad))
    check(m, tmp_path, ["pool"])


def test_global_pooling(tmp_path):
    m = MXNetModel(seed=25)
    x = m.input("data", (2, 3, 5, 4))
    v = m.values[x]
    m.op("Pooling", "gmax", [x], {"kernel": "(1, 1)", "global_pool": "True", "pool_type": "max"}, v.max(axis=(2, 3), keepdims=True))
    m.op("Pooling", "gavg", [x], {"kernel": "(3, 3)", "global_pool": "True", "pool_type": "avg"}, v.mean(axis=(2, 3), keepdims=True))
    check(m, tmp_path, ["gmax", "gavg"])


def test_fully_connected_flatten(tmp_path):
    m = MXNetModel(seed=26)
    x = m.input("data", (2, 3, 2, 2))
    v = m.values[x]
    w, b = m.randn(5, 12, scale=0.3), m.randn(5)
    m.op("FullyConnected", "fc", [x, m.param("fc_w", w), m.param("fc_b", b)], {"num_hidden": 5}, v.reshape(2, -1) @ w.T + b)
    w2 = m.randn(4, 2, scale=0.3)
    m.op("FullyConnected", "fc_nf", [x, m.param("fc2_w", w2), m.param("fc2_b", b[:4])], {"num_hidden": 4, "flatten": "False"}, v @ w2.T + b[:4])
    check(m, tmp_path, ["fc", "fc_nf"])


def test_elementwise_and_broadcast(tmp_path):
    m = MXNetModel(seed=27)
    a = m.input("a", (2, 3, 4))
    b = m.input("b", (1, 3, 1))
    c = m.input("c", (2, 3, 4))
    va, vb, vc = (m.values[n].astype(np.float64) for n in (a, b, c))
    pos = m.op("abs", "pos", [a], None, np.abs(va))
    pos = m.op("_plus_scalar", "pos1", [pos], {"scalar": "0.5"}, np.abs(va) + 0.5)
    refs = {"broadcast_add": va + vb, "broadcast_sub": va - vb, "broadcast_mul": va * vb, "broadcast_div": va / (np.abs(vb) + 1),
            "broadcast_maximum": np.maximum(va, vb), "broadcast_minimum": np.minimum(va, vb)}
    bp = m.op("_plus_scalar", "b1", [m.op("abs", "babs", [b], None, np.abs(vb))], {"scalar": "1"}, np.abs(vb) + 1)
    for name, ref in refs.items():
        m.op(name, name, [a, bp if name == "broadcast_div" else b], None, ref)
    m.op("broadcast_power", "broadcast_power", [pos, b], None, (np.abs(va) + 0.5) ** vb)
    for name, ref in {"elemwise_add": va + vc, "elemwise_sub": va - vc, "elemwise_mul": va * vc}.items():
        m.op(name, name, [a, c], None, ref)
    m.op("elemwise_div", "elemwise_div", [c, pos], None, vc / (np.abs(va) + 0.5))
    m.op("add_n", "add_n", [a, c, a], None, 2 * va + vc)
    m.op("_rdiv_scalar", "rdiv", [pos], {"scalar": "2"}, 2 / (np.abs(va) + 0.5))
    m.op("_power_scalar", "pw", [pos], {"scalar": "1.5"}, (np.abs(va) + 0.5) ** 1.5)
    m.op("_maximum_scalar", "mx", [a], {"scalar": "0.2"}, np.maximum(va, 0.2))
    m.op("_minus_scalar", "ms", [a], {"scalar": "0.2"}, va - 0.2)
    heads = list(refs) + ["broadcast_power", "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "add_n", "rdiv", "pw", "mx", "ms"]
    check(m, tmp_path, heads)


def test_concat_flatten(tmp_path):
    m = MXNetModel(seed=28)
    a, b = m.input("a", (2, 3, 4)), m.input("b", (2, 3, 2))
    cat = m.op("Concat", "cat", [a, b], {"dim": 2, "num_args": 2}, np.concatenate([m.values[a], m.values[b]], axis=2))
    m.op("Flatten", "flat", [cat], None, m.values[cat].reshape(2, -1))
    check(m, tmp_path, ["cat", "flat"])


@pytest.mark.parametrize("codes,reverse", [
    ((0, -1), False), ((-2,), False), ((-3, -2), False), ((0, -4, 1, -1, -2), False), ((-4, -1, 1, 0, -3), False),
    ((-1, 0), False), ((-1, 0), True), ((-1, -2), True), ((-2, 1), False), ((0, 0, -3), False), ((6, -1), True),
])
def test_reshape_codes(tmp_path, codes, reverse):
    m = MXNetModel(seed=29)
    x = m.input("data", (2, 3, 4, 5))
    shape = mx_reshape((2, 3, 4, 5), codes, reverse)
    m.op("Reshape", "rs", [x], {"shape": str(tuple(codes)), "reverse": str(reverse)}, m.values[x].reshape(shape))
    check(m, tmp_path, ["rs"])


def test_softmax_output_modes(tmp_path):
    m = MXNetModel(seed=30)
    x = m.input("data", (2, 3, 4, 2))
    v = m.values[x].astype(np.float64)
    m.op("SoftmaxOutput", "multi", [x], {"multi_output": "True", "preserve_shape": "True"}, softmax(v, 1))
    m.op("SoftmaxOutput", "preserve", [x], {"preserve_shape": "True", "grad_scale": "2", "normalization": "valid"}, softmax(v, 3))
    m.op("SoftmaxOutput", "instance", [x], {"use_ignore": "True", "ignore_label": "1"}, softmax(v.reshape(2, -1), 1).reshape(v.shape))
    m.op("SoftmaxActivation", "act_channel", [x], {"mode": "channel"}, softmax(v, 1))
    m.op("SoftmaxActivation", "act_instance", [x], {"mode": "instance"}, softmax(v.reshape(2, -1), 1).reshape(v.shape))
    m.op("Dropout", "drop", [x], {"p": "0.5", "mode": "training"}, v)
    check(m, tmp_path, ["multi", "preserve", "instance", "act_channel", "act_instance", "drop"])


@pytest.mark.parametrize("stride,pad,dil,adj,group,target", [
    (2, 1, 1, 1, 1, None), (2, 0, 1, 1, 2, None), (3, 1, 2, 2, 1, None), (2, 1, 1, 0, 2, (10, 9)), (2, 0, 1, 0, 1, (11, 8)),
])
def test_deconvolution(tmp_path, stride, pad, dil, adj, group, target):
    m = MXNetModel(seed=31)
    x = m.input("data", (1, 4, 5, 5))
    w, b = m.randn(4, 6 // group, 3, 3, scale=0.3), m.randn(6, scale=0.1)
    attrs = {"kernel": "(3, 3)", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})", "dilate": f"({dil}, {dil})",
             "adj": f"({adj}, {adj})", "num_filter": 6, "num_group": group, "no_bias": "False"}
    if target:
        attrs["target_shape"] = str(target)
    m.op("Deconvolution", "deconv", [x, m.param("dw", w), m.param("db", b)], attrs,
         mx_deconv_ref(m.values[x].astype(np.float64), w, b, stride, pad, dil, adj, group, target))
    check(m, tmp_path, ["deconv"])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upsampling(tmp_path, scale):
    m = MXNetModel(seed=32)
    x = m.input("data", (1, 3, 4, 5))
    v = m.values[x].astype(np.float64)
    m.op("UpSampling", "nearest", [x], {"scale": scale, "sample_type": "nearest", "num_args": 1}, v.repeat(scale, 2).repeat(scale, 3))
    k = 2 * scale - scale % 2
    # MXNet's Bilinear initializer, the weight gluon saves for a bilinear UpSampling.
    f, cen = math.ceil(k / 2), (2 * math.ceil(k / 2) - 1 - math.ceil(k / 2) % 2) / (2.0 * math.ceil(k / 2))
    og = np.ogrid[:k, :k]
    kernel = ((1 - abs(og[0] / f - cen)) * (1 - abs(og[1] / f - cen))).astype(np.float32)
    w = np.repeat(kernel[None, None], 3, axis=0)
    m.op("UpSampling", "bilinear", [x, m.param("up_weight", w)], {"scale": scale, "sample_type": "bilinear", "num_filter": 3, "num_args": 2},
         mx_deconv_ref(v, w, None, scale, scale // 2, 1, 0, 3))
    assert m.values["bilinear"].shape == (1, 3, 4 * scale, 5 * scale)
    check(m, tmp_path, ["nearest", "bilinear"])


def test_refused_options(tmp_path):
    """Options that change inference results and are not translated are refused by name."""
    cases = [("Dropout", {"p": "0.5", "mode": "always"}, r"'n' \(Dropout\): mode 'always'"),
             ("softmax", {"use_length": "True"}, r"'n' \(softmax\): use_length"),
             ("Reshape", {"shape": "(-5, 2)"}, r"'n' \(Reshape\): shape code -5 does not exist"),
             ("Reshape", {"shape": "(-4, 0, 2)"}, r"'n' \(Reshape\): the two codes after -4"),
             ("Pooling", {"kernel": "(2, 2)", "pool_type": "lp"}, r"'n' \(Pooling\): pool_type 'lp'"),
             ("UpSampling", {"scale": "2", "sample_type": "bilinear", "num_filter": "3"}, r"'n' \(UpSampling\): its weight")]
    for op, attrs, message in cases:
        m = MXNetModel(seed=33)
        x = m.input("data", (1, 3, 4, 4))
        m.op(op, "n", [x], attrs, 0)
        symbol, params = m.save(tmp_path, ["n"])
        with pytest.raises(irforge.ConversionError, match=message):
            irforge.convert_model((symbol, params), input="data[1,3,4,4]")
    m = MXNetModel(seed=34)
    x = m.input("data", (1, 3, 4, 4))
    m.op("UpSampling", "n", [x, m.param("w", np.ones((3, 1, 3, 3), np.float32))], {"scale": "2", "sample_type": "bilinear", "num_filter": "3"}, 0)
    symbol, params = m.save(tmp_path, ["n"])
    with pytest.raises(irforge.InvalidModelError, match=r"'n' \(UpSampling\): bilinear weight must be \[num_filter, 1, 4, 4\] for scale 2"):
        irforge.convert_model((symbol, params), input="data[1,3,4,4]")
