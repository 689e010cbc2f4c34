"""Malformed Caffe files give one clear irforge error naming the file, the layer and the rule
broken: truncated caffemodels, blobs whose data does not fill their shape, unknown layers (all
listed at once), prototxt syntax errors (with the line), legacy V1 nets; and random damage to a
valid pair never escapes as anything but a ConversionError."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from caffe_models import CaffeNet, blob_proto  # noqa: E402
from protobuf_wire import field  # noqa: E402
from random_damage import conversion_errors, damaged  # noqa: E402


def small_net():
    net = CaffeNet(seed=0)
    x = net.input("data", (1, 3, 8, 8))
    x = net.conv("conv1", x, 4, kernel=3)
    net.relu("relu1", x)
    net.inner_product("fc", x, 5)
    return net


def write(tmp_path, name, data):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def test_truncated_caffemodel(tmp_path):
    net = small_net()
    proto, weights = net.save(tmp_path)
    data = open(weights, "rb").read()
    write(tmp_path, "net.caffemodel", data[: len(data) - 7])
    with pytest.raises(irforge.InvalidModelError, match=r"net\.caffemodel: not a valid caffemodel: malformed protobuf"):
        irforge.convert_model((proto, weights))


def test_blob_data_does_not_fill_its_shape(tmp_path):
    net = small_net()
    proto, _ = net.save(tmp_path)
    short = field(7, field(1, b"\x04\x03\x03\x03")) + field(5, np.zeros(100, "<f4").tobytes())  # 4x3x3x3 = 108
    body = field(1, b"conv1") + field(2, b"Convolution") + field(7, short)
    weights = write(tmp_path, "net.caffemodel", field(100, body))
    with pytest.raises(irforge.InvalidModelError, match=r"layer 'conv1' \(Convolution\) blob 0: its shape \[4,3,3,3\] has 108 elements but it holds 100 values"):
        irforge.convert_model((proto, weights))


def test_blob_of_the_wrong_size_for_the_layer(tmp_path):
    net = small_net()
    proto, _ = net.save(tmp_path)
    body = field(1, b"conv1") + field(2, b"Convolution") + field(7, blob_proto(np.zeros((4, 3, 2, 2), np.float32)))
    weights = write(tmp_path, "net.caffemodel", field(100, body))
    with pytest.raises(irforge.InvalidModelError, match=r"layer 'conv1' \(Convolution\): blob 0 \(weights\) has 48 values .* expected \[4,3,3,3\]"):
        irforge.convert_model((proto, weights))


def test_missing_blobs_name_the_layer(tmp_path):
    net = small_net()
    proto, _ = net.save(tmp_path)
    weights = write(tmp_path, "net.caffemodel", field(1, b"empty"))
    with pytest.raises(irforge.InvalidModelError, match=r"layer 'conv1' \(Convolution\): the caffemodel has no blobs for this layer"):
        irforge.convert_model((proto, weights))


def test_unknown_layers_listed_together(tmp_path):
    text = small_net().prototxt() + (
        'layer { name: "acc" type: "Accuracy" bottom: "fc" top: "acc" }\n'
        'layer { name: "py" type: "Python" bottom: "fc" top: "py" }\n'
    )
    proto = write(tmp_path, "net.prototxt", text)
    with pytest.raises(irforge.UnsupportedError, match=r"2 layer\(s\) of unsupported types: 'acc' \(Accuracy\), 'py' \(Python\)"):
        irforge.convert_model(proto)


@pytest.mark.parametrize(
    "text, message",
    [
        ('name: "n"\nlayer {\n  name: "a"\n  type: "Input"\n', r"net\.prototxt:5: prototxt syntax error: missing '}' for the message opened on line 2"),
        ('name: "n"\n\nlayer { name: "a" type "Input" }\n', r"net\.prototxt:3: prototxt syntax error: expected ':' or '\{' after field 'type'"),
        ('name: "n\nlayer {}\n', r"net\.prototxt:1: prototxt syntax error: unterminated string"),
        ('layer { name: "a" }\n}\n', r"net\.prototxt:2: prototxt syntax error: expected a field name, found '\}'"),
        ('layer { dim: [1, 2\n', r"net\.prototxt:2: prototxt syntax error: unterminated list in field 'dim'"),
    ],
)
def test_prototxt_syntax_errors_give_the_line(tmp_path, text, message):
    proto = write(tmp_path, "net.prototxt", text)
    with pytest.raises(irforge.InvalidModelError, match=message):
        irforge.convert_model(proto)


def test_deep_nesting_is_a_resource_limit(tmp_path):
    proto = write(tmp_path, "net.prototxt", "a {" * 100 + "}" * 100)
    with pytest.raises(irforge.ResourceLimitError, match="nest deeper than 64"):
        irforge.convert_model(proto)


def test_legacy_v1_nets(tmp_path):
    proto = write(tmp_path, "net.prototxt", 'layers { name: "c" type: CONVOLUTION }\n')
    with pytest.raises(irforge.UnsupportedError, match="legacy V1 format .*upgrade_net_proto_text"):
        irforge.convert_model(proto)
    ok = write(tmp_path, "ok.prototxt", small_net().prototxt())
    weights = write(tmp_path, "v1.caffemodel", field(2, field(4, b"conv1")))
    with pytest.raises(irforge.UnsupportedError, match="legacy V1 format .*upgrade_net_proto_binary"):
        irforge.convert_model((ok, weights))


def test_undefined_bottom_and_bad_values(tmp_path):
    proto = write(tmp_path, "a.prototxt", 'layer { name: "r" type: "ReLU" bottom: "nowhere" top: "r" }\n')
    with pytest.raises(irforge.InvalidModelError, match=r"a\.prototxt:1: layer 'r' \(ReLU\): bottom blob 'nowhere' is not produced"):
        irforge.convert_model(proto)
    text = 'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 dim: 3x } } }\n'
    proto = write(tmp_path, "b.prototxt", text)
    with pytest.raises(irforge.InvalidModelError, match=r"field 'dim' \(line 1\): '3x' is not an integer"):
        irforge.convert_model(proto)
    text = 'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n' \
           'layer { name: "p" type: "Pooling" bottom: "d" top: "p" pooling_param { pool: MAX kernel_size: 9 } }\n'
    proto = write(tmp_path, "c.prototxt", text)
    with pytest.raises(irforge.InvalidModelError, match=r"layer 'p' \(Pooling\): the kernel is larger than the padded input"):
        irforge.convert_model(proto)


def test_caffemodel_alone_asks_for_its_net(tmp_path):
    _, weights = small_net().save(tmp_path, stem="w")
    os.remove(os.path.join(str(tmp_path), "w.prototxt"))
    with pytest.raises(irforge.UsageError, match="holds weights only; give its net too"):
        irforge.convert_model(weights)


def test_random_damage_only_raises_conversion_errors(tmp_path):
    """Byte flips and cuts of a valid pair: each either converts or raises a ConversionError."""
    net = small_net()
    proto_text = net.prototxt().encode()
    model_bytes = net.caffemodel()
    rng = np.random.default_rng(0)

    def attempt(i):
        p, m = (damaged(proto_text, rng), model_bytes) if i % 2 else (proto_text, damaged(model_bytes, rng))
        irforge.convert_model((write(tmp_path, "f.prototxt", p), write(tmp_path, "f.caffemodel", m)))

    assert conversion_errors(attempt, 150) > 0
