"""Caffe frontend: nets written from code (prototxt text + caffemodel bytes, tests/caffe_models.py)
converted by irforge to OpenVINO IR, run on the CPU plugin and compared with NumPy references of
Caffe's layers (1e-4 relative to the output's magnitude). No Caffe installed, by design."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from caffe_models import CaffeNet, lrn_ref, normalize_ref, prior_box_ref  # noqa: E402

RTOL = 1e-4


def run_ir(model, feeds, names, tmp_path):
    import openvino as ov

    xml = os.path.join(str(tmp_path), "model.xml")
    irforge.save_model(model, xml, compress_to_fp16=False)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer(feeds)
    return {n: result[compiled.output(n)] for n in names}


def check(net: CaffeNet, outputs, tmp_path, model=None):
    proto, weights = net.save(tmp_path)
    model = model or irforge.convert_model((proto, weights))
    assert set(outputs) <= {o.name for o in model.outputs}
    got = run_ir(model, net.feeds, outputs, tmp_path)
    for name in outputs:
        ref = net.values[name]
        out = got[name]
        assert out.shape == ref.shape, (name, out.shape, ref.shape)
        assert out.size > 0
        err = np.abs(out.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-12)
        assert err <= RTOL, f"{name}: relative error {err:.2e}"
    return model


def test_vgg_style(tmp_path):
    net = CaffeNet(seed=1)
    x = net.input("data", (2, 3, 23, 23))
    x = net.conv("conv1_1", x, 8, kernel=3, pad=1)
    x = net.relu("relu1_1", x)
    x = net.conv("conv1_2", x, 8, kernel=3, pad=2, dilation=2, group=2)
    x = net.relu("relu1_2", x, negative_slope=0.1)
    v = net.values[x]
    x = net.simple("norm1", "LRN", [x], ["norm1"], {"lrn_param": {"local_size": 5, "alpha": 1e-3, "beta": 0.75, "k": 2.0}},
                   [lrn_ref(v, 5, 1e-3, 0.75, 2.0)])
    x = net.pool("pool1", x, "MAX", kernel=3, stride=2)  # 23 -> ceil(20/2)+1 = 11 (floor would give 11: check below too)
    x = net.conv("conv2", x, 16, kernel=3, stride=2, pad=1)
    x = net.relu("relu2", x)
    x = net.pool("pool2", x, "AVE", kernel=3, stride=2, pad=1)
    x = net.inner_product("fc6", x, 32)
    x = net.relu("relu6", x)
    net.simple("drop6", "Dropout", [x], [x], {"dropout_param": {"dropout_ratio": 0.5}}, [net.values[x]])
    x = net.inner_product("fc7", x, 10)
    v = net.values[x]
    e = np.exp(v - v.max(axis=1, keepdims=True))
    net.simple("prob", "Softmax", [x], ["prob"], {}, [e / e.sum(axis=1, keepdims=True)])
    check(net, ["prob"], tmp_path)


@pytest.mark.parametrize("size,kernel,stride,pad", [(12, 3, 2, 0), (12, 2, 2, 1), (13, 3, 2, 1), (7, 3, 3, 1), (6, 2, 2, 0), (5, 2, 2, 1), (10, 3, 2, 1)])
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_pooling_ceil_rounding(tmp_path, size, kernel, stride, pad, method):
    net = CaffeNet(seed=2)
    x = net.input("data", (1, 2, size, size))
    net.pool("pool", x, method, kernel=kernel, stride=stride, pad=pad)
    check(net, ["pool"], tmp_path)


def resnet_block(net, name, x, channels, stride):
    y = net.conv(name + "_a", x, channels, kernel=3, stride=stride, pad=1, bias=False)
    y = net.batch_norm_scale(name + "_a", y)
    y = net.relu(name + "_a_relu", y)
    y = net.conv(name + "_b", y, channels, kernel=3, pad=1, bias=False)
    y = net.batch_norm_scale(name + "_b", y)
    if stride != 1 or net.values[x].shape[1] != channels:
        x = net.conv(name + "_proj", x, channels, kernel=1, stride=stride, bias=False)
        x = net.batch_norm_scale(name + "_proj", x)
    y = net.eltwise(name + "_sum", [x, y], "SUM")
    return net.relu(name + "_relu", y)


def test_resnet_style(tmp_path):
    net = CaffeNet(seed=3)
    x = net.input("data", (1, 3, 32, 32))
    x = net.conv("conv1", x, 16, kernel=7, stride=2, pad=3, bias=False)
    x = net.batch_norm_scale("conv1", x)
    x = net.relu("conv1_relu", x)
    x = net.pool("pool1", x, "MAX", kernel=3, stride=2)
    x = resnet_block(net, "res2a", x, 16, 1)
    x = resnet_block(net, "res3a", x, 32, 2)
    x = net.pool("pool5", x, "AVE", global_pooling=True)
    x = net.inner_product("fc", x, 10)
    model = check(net, ["fc"], tmp_path)
    # BatchNorm + Scale fold into the convolutions.
    assert "BatchNormalization" not in model.op_histogram


def test_eltwise_and_activations(tmp_path):
    net = CaffeNet(seed=4)
    a = net.input("a", (2, 4, 5, 5))
    b = net.input("b", (2, 4, 5, 5))
    s = net.eltwise("sum", [a, b], "SUM", coeff=[0.5, -2.0])
    p = net.eltwise("prod", [a, b, s], "PROD")
    m = net.eltwise("max", [a, b, p], "MAX")
    e = net.activation("elu", "ELU", m, {"elu_param": {"alpha": 0.7}})
    t = net.activation("tanh", "TanH", e)
    sg = net.activation("sig", "Sigmoid", s)
    ab = net.activation("abs", "AbsVal", p)
    pw = net.power("pow", ab, power=2.0, scale=0.5, shift=1.0)
    pr = net.prelu("prelu", s)
    pr2 = net.prelu("prelu_shared", b, channel_shared=True)
    check(net, [t, sg, pw, pr, pr2], tmp_path)


def test_shape_layers(tmp_path):
    net = CaffeNet(seed=5)
    x = net.input("data", (2, 6, 4, 5))
    v = net.values[x]
    net.simple("slice", "Slice", [x], ["s1", "s2", "s3"], {"slice_param": {"axis": 1, "slice_point": [1, 4]}},
               [v[:, :1], v[:, 1:4], v[:, 4:]])
    net.simple("split", "Split", ["s2"], ["s2a", "s2b"], {}, [v[:, 1:4], v[:, 1:4]])
    c = net.simple("concat", "Concat", ["s3", "s1", "s2a"], ["cat"], {"concat_param": {"axis": 1}},
                   [np.concatenate([v[:, 4:], v[:, :1], v[:, 1:4]], axis=1)])
    cv = net.values[c]
    net.simple("perm", "Permute", [c], ["perm"], {"permute_param": {"order": [0, 2, 3, 1]}}, [cv.transpose(0, 2, 3, 1)])
    net.simple("flat", "Flatten", ["perm"], ["flat"], {"flatten_param": {"axis": 1}}, [cv.transpose(0, 2, 3, 1).reshape(2, -1)])
    net.simple("resh", "Reshape", ["s2b"], ["resh"], {"reshape_param": {"shape": {"dim": [0, -1, 5]}}}, [v[:, 1:4].reshape(2, 12, 5)])
    r = v[:, 1:4].reshape(2, 12, 5)
    e = np.exp(r - r.max(axis=2, keepdims=True))
    net.simple("sm", "Softmax", ["resh"], ["sm"], {"softmax_param": {"axis": 2}}, [e / e.sum(axis=2, keepdims=True)])
    check(net, ["flat", "sm"], tmp_path)


def test_normalization_crop_deconv(tmp_path):
    net = CaffeNet(seed=6)
    x = net.input("data", (1, 4, 9, 9))
    ref = net.input("ref", (1, 4, 5, 6))
    v = net.values[x]
    net.simple("crop", "Crop", [x, ref], ["crop"], {"crop_param": {"axis": 2, "offset": [2, 1]}}, [v[:, :, 2:7, 1:7]])
    net.simple("lrn_w", "LRN", [x], ["lrn_w"], {"lrn_param": {"local_size": 3, "alpha": 0.5, "beta": 0.75, "norm_region": "WITHIN_CHANNEL"}},
               [lrn_ref(v, 3, 0.5, 0.75, region="WITHIN_CHANNEL")])
    scale = (net.rng.random(4) + 0.5).astype(np.float32)
    net.layer("norm", "Normalize", [x], ["norm"], {"norm_param": {"across_spatial": False, "channel_shared": False}}, [scale])
    net._set("norm", normalize_ref(v, scale, False))
    s1 = np.array([1.5], np.float32)
    net.layer("norm_all", "Normalize", [x], ["norm_all"], {"norm_param": {"across_spatial": True}}, [s1])
    net._set("norm_all", normalize_ref(v, s1, True))
    net.deconv("up", x, 6, kernel=4, stride=2, pad=1, group=2)
    bias = net.randn(4)
    net.layer("bias", "Bias", [x], ["biased"], {}, [bias])
    net._set("biased", v + bias.reshape(1, 4, 1, 1))
    w = net.input("w", (1, 4))
    net.layer("scale2", "Scale", [x, w], ["scaled"], {"scale_param": {"axis": 0}})
    net._set("scaled", v * net.values[w].reshape(1, 4, 1, 1))
    check(net, ["crop", "lrn_w", "norm", "norm_all", "up", "biased", "scaled"], tmp_path)


def test_ssd_head(tmp_path):
    net = CaffeNet(seed=7)
    img = net.input("data", (1, 3, 32, 32))
    f1 = net.relu("relu1", net.conv("conv1", img, 8, kernel=3, stride=4, pad=1))  # 8x8
    f2 = net.relu("relu2", net.conv("conv2", f1, 8, kernel=3, stride=2, pad=1))  # 4x4
    outs = []
    for f, (mn, mx) in ((f1, (6.0, 14.0)), (f2, (14.0, 24.0))):
        p = {"min_size": mn, "max_size": mx, "aspect_ratio": [2.0, 3.0], "flip": True, "clip": f == f2, "variance": [0.1, 0.1, 0.2, 0.2]}
        if f == f2:
            p["step"] = 8.0
            p["offset"] = 0.25
        hw = net.values[f].shape[2:]
        ref = prior_box_ref(hw, (32, 32), [mn], [mx], [2.0, 3.0], True, f == f2, [0.1, 0.1, 0.2, 0.2],
                            8.0 if f == f2 else None, 0.25 if f == f2 else 0.5)
        outs.append(net.simple(f + "_prior", "PriorBox", [f, img], [f + "_prior"], {"prior_box_param": p}, [ref]))
        loc = net.conv(f + "_loc", f, 6 * 4, kernel=3, pad=1)
        lv = net.values[loc]
        net.simple(f + "_loc_perm", "Permute", [loc], [f + "_loc_perm"], {"permute_param": {"order": [0, 2, 3, 1]}}, [lv.transpose(0, 2, 3, 1)])
        outs.append(net.simple(f + "_loc_flat", "Flatten", [f + "_loc_perm"], [f + "_loc_flat"], {}, [lv.transpose(0, 2, 3, 1).reshape(1, -1)]))
    pv = [net.values[o] for o in outs]
    net.simple("priors", "Concat", [outs[0], outs[2]], ["priors"], {"concat_param": {"axis": 2}}, [np.concatenate([pv[0], pv[2]], axis=2)])
    net.simple("locs", "Concat", [outs[1], outs[3]], ["locs"], {"concat_param": {"axis": 1}}, [np.concatenate([pv[1], pv[3]], axis=1)])
    check(net, ["priors", "locs"], tmp_path)


def test_weights_are_mapped_and_forms(tmp_path):
    net = CaffeNet(seed=8)
    x = net.input("data", (1, 3, 8, 8))
    net.conv("conv", x, 4, kernel=3)
    proto, weights = net.save(tmp_path)
    from irforge import _core

    model = irforge.convert_model((weights, proto), transform="none")  # either order
    names = [v for v in ("conv/weights",) if _core.constant_is_mapped(model._core, v)]
    assert names == ["conv/weights"], "the conv weights must view the mapped caffemodel"
    # A .prototxt alone finds the .caffemodel of its stem; a .caffemodel alone its .prototxt.
    for source in (proto, weights):
        got = run_ir(irforge.convert_model(source), net.feeds, ["conv"], tmp_path)["conv"]
        assert np.abs(got - net.values["conv"]).max() <= RTOL * np.abs(net.values["conv"]).max()


def test_cli_mo_style(tmp_path):
    net = CaffeNet(seed=9)
    x = net.input("data", (1, 3, 8, 8))
    net.conv("conv", x, 4, kernel=3)
    proto, weights = net.save(tmp_path, stem="deploy")
    os.rename(weights, os.path.join(str(tmp_path), "weights.caffemodel"))
    weights = os.path.join(str(tmp_path), "weights.caffemodel")
    for args in ([proto, "--input_model", weights], [weights, "--input_proto", proto]):
        out = os.path.join(str(tmp_path), "out.xml")
        r = subprocess.run([sys.executable, "-m", "irforge", "convert", *args, "--output_model", out], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert os.path.getsize(out) > 0


def test_mean_file(tmp_path):
    """mo's --mean_file: a BlobProto mean image subtracted from the input, center-cropped."""
    from caffe_models import blob_proto

    net = CaffeNet(seed=10)
    x = net.input("data", (1, 3, 6, 6))
    net.conv("conv", x, 4, kernel=3)
    proto, weights = net.save(tmp_path)
    mean = net.randn(1, 3, 8, 10)
    mean_path = os.path.join(str(tmp_path), "mean.binaryproto")
    with open(mean_path, "wb") as f:
        f.write(blob_proto(mean))
    cropped = mean[:, :, 1:7, 2:8]
    from caffe_models import conv_ref

    layer = [layer for layer in net.layers if layer[0] == "conv"][0]
    ref = conv_ref(net.feeds["data"] - cropped, layer[5][0], layer[5][1], 1, 0, 1, 1)
    out = os.path.join(str(tmp_path), "out.xml")
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", proto, "--input_model", weights, "--mean_file", mean_path,
                        "--output_model", out, "--compress_to_fp16", "False"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import openvino as ov

    core = ov.Core()
    got = core.compile_model(core.read_model(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})({0: net.feeds["data"]})[0]
    assert np.abs(got - ref).max() <= RTOL * np.abs(ref).max()
    with open(mean_path, "wb") as f:
        f.write(blob_proto(net.randn(1, 3, 4, 4)))
    from irforge.frontends import caffe

    with pytest.raises(irforge.InvalidModelError, match=r"mean\.binaryproto: the mean image \[1,3,4,4\] does not fit input 'data' \[1,3,6,6\]"):
        caffe.convert_files(proto, weights, mean_path)


def test_legacy_inputs_train_layers_and_inner_product_forms(tmp_path):
    """The net-level input/input_dim form, a TRAIN-only layer skipped, InnerProduct with axis 2
    and transpose (weights stored [K, N])."""
    net = CaffeNet(seed=11)
    v = net.randn(2, 3, 4, 5)
    net.feeds["data"] = v
    net.layer("train_data", "Data", [], ["data"], {"include": {"phase": "TRAIN"}, "data_param": {"batch_size": 2}})
    w = net.randn(20, 6)  # transpose: [K = 4 * 5, N = 6]
    b = net.randn(6)
    net.layer("ip", "InnerProduct", ["data"], ["ip"], {"inner_product_param": {"num_output": 6, "axis": 2, "transpose": True}}, [w, b])
    net._set("ip", v.reshape(2, 3, 20) @ w + b)
    proto, weights = net.save(tmp_path)
    with open(proto) as f:
        text = f.read()
    with open(proto, "w") as f:
        f.write('input: "data"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 4\ninput_dim: 5\n' + text)
    model = irforge.convert_model((proto, weights))
    assert [i.name for i in model.inputs] == ["data"]
    got = run_ir(model, net.feeds, ["ip"], tmp_path)["ip"]
    assert got.shape == (2, 3, 6)
    assert np.abs(got - net.values["ip"]).max() <= RTOL * np.abs(net.values["ip"]).max()
