"""Caffe SSD head: PriorBox + DetectionOutput, read without Caffe, converted to OpenVINO IR and
compared with a NumPy reference of Caffe's DetectionOutputLayer (tests/caffe_models.py)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import irforge  # noqa: E402
from caffe_models import CaffeNet, detection_output_ref  # noqa: E402
from test_caffe_frontend import run_ir  # noqa: E402

CLASSES = 3
PRIOR = {"min_size": 8.0, "max_size": 16.0, "aspect_ratio": [2.0], "flip": True, "variance": [0.1, 0.1, 0.2, 0.2]}
PRIORS_PER_CELL = 4  # min, sqrt(min*max), 2, 1/2


def ssd_net(batch, detection_param, seed=11, loc_classes=1):
    """A small SSD: two feature maps, each with a PriorBox, a location and a confidence conv;
    Permute + Flatten + Concat as in the SSD prototxts; Softmax over classes; DetectionOutput."""
    net = CaffeNet(seed=seed)
    img = net.input("data", (batch, 3, 32, 32))
    f1 = net.relu("relu1", net.conv("conv1", img, 8, kernel=3, stride=4, pad=1))  # 8x8
    f2 = net.relu("relu2", net.conv("conv2", f1, 8, kernel=3, stride=2, pad=1))  # 4x4
    priors, locs, confs = [], [], []
    for f in (f1, f2):
        pri = f + "_prior"
        net.layer(pri, "PriorBox", [f, img], [pri], {"prior_box_param": PRIOR})
        priors.append(pri)
        for kind, width, out in (("loc", 4 * loc_classes, locs), ("conf", CLASSES, confs)):
            conv = net.conv(f"{f}_{kind}", f, PRIORS_PER_CELL * width, kernel=3, pad=1)
            v = net.values[conv]
            perm = net.simple(conv + "_perm", "Permute", [conv], [conv + "_perm"], {"permute_param": {"order": [0, 2, 3, 1]}},
                              [v.transpose(0, 2, 3, 1)])
            out.append(net.simple(conv + "_flat", "Flatten", [perm], [conv + "_flat"], {}, [v.transpose(0, 2, 3, 1).reshape(batch, -1)]))
    net.layer("mbox_priorbox", "Concat", priors, ["mbox_priorbox"], {"concat_param": {"axis": 2}})
    net.simple("mbox_loc", "Concat", locs, ["mbox_loc"], {"concat_param": {"axis": 1}}, [np.concatenate([net.values[v] for v in locs], 1)])
    conf = np.concatenate([net.values[v] for v in confs], 1)
    net.simple("mbox_conf", "Concat", confs, ["mbox_conf"], {"concat_param": {"axis": 1}}, [conf])
    net.simple("mbox_conf_reshape", "Reshape", ["mbox_conf"], ["mbox_conf_reshape"], {"reshape_param": {"shape": {"dim": [0, -1, CLASSES]}}},
               [conf.reshape(batch, -1, CLASSES)])
    e = np.exp(conf.reshape(batch, -1, CLASSES) - conf.reshape(batch, -1, CLASSES).max(-1, keepdims=True))
    soft = e / e.sum(-1, keepdims=True)
    net.simple("mbox_conf_softmax", "Softmax", ["mbox_conf_reshape"], ["mbox_conf_softmax"], {"softmax_param": {"axis": 2}}, [soft])
    net.simple("mbox_conf_flatten", "Flatten", ["mbox_conf_softmax"], ["mbox_conf_flatten"], {}, [soft.reshape(batch, -1)])
    net.layer("detection_out", "DetectionOutput", ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"], ["detection_out"],
              {"detection_output_param": detection_param})
    return net


def prior_values(net, batch):
    """The concatenated priors as Caffe computes them, from the reference of PriorBox."""
    from caffe_models import prior_box_ref

    parts = [prior_box_ref(hw, (32, 32), [8.0], [16.0], [2.0], True, False, [0.1, 0.1, 0.2, 0.2]) for hw in ((8, 8), (4, 4))]
    return np.concatenate(parts, axis=2)


@pytest.mark.parametrize(
    "batch, background, top_k, keep_top_k, threshold, code, share",
    [(1, 0, 40, 25, 0.4, "CENTER_SIZE", True), (2, 0, -1, -1, 0.5, "CENTER_SIZE", True), (2, -1, 10, 12, 0.3, "CENTER_SIZE", True),
     (1, 0, 30, 20, 0.4, "CENTER_SIZE", False), (1, 0, 30, -1, 0.4, "CORNER", True)],
)
def test_ssd_detection_output_matches_caffe(tmp_path, batch, background, top_k, keep_top_k, threshold, code, share):
    nms = 0.45
    param = {"num_classes": CLASSES, "share_location": share, "background_label_id": background,
             "nms_param": {"nms_threshold": nms, "top_k": top_k}, "code_type": code,
             "keep_top_k": keep_top_k, "confidence_threshold": threshold}
    net = ssd_net(batch, param, loc_classes=1 if share else CLASSES)
    priors = prior_values(net, batch)
    ref = detection_output_ref(net.values["mbox_loc"], net.values["mbox_conf_flatten"], priors, CLASSES, background, nms, top_k,
                               keep_top_k, threshold, code, share)
    proto, weights = net.save(tmp_path)
    model = irforge.convert_model((proto, weights))
    out = run_ir(model, net.feeds, ["detection_out"], tmp_path)["detection_out"]
    p = priors.shape[2] // 4
    per_image = keep_top_k if keep_top_k > 0 else top_k * CLASSES if top_k > 0 else p * CLASSES
    assert out.shape == (1, 1, batch * per_image, 7)
    rows = out.reshape(-1, 7).astype(np.float64)
    end = np.flatnonzero(rows[:, 0] == -1)
    got = rows[: end[0] if end.size else len(rows)]
    # The reference must exercise the interesting paths, or the test proves little.
    assert len(ref) > 0 and len(ref) < batch * p * (CLASSES - (background >= 0))
    assert len(got) == len(ref), (len(got), len(ref))
    # OpenVINO and Caffe may list the kept rows of an image in another order: compare sorted.
    key = lambda r: np.lexsort((-r[:, 2], r[:, 1], r[:, 0]))  # noqa: E731
    got, want = got[key(got)], ref[key(ref)]
    np.testing.assert_array_equal(got[:, :2], want[:, :2])
    err = np.abs(got[:, 2:] - want[:, 2:]).max() / np.abs(want[:, 2:]).max()
    assert err <= 1e-4, err


def test_detection_output_is_refused_as_onnx(tmp_path):
    net = ssd_net(1, {"num_classes": CLASSES, "nms_param": {"nms_threshold": 0.45}, "code_type": "CENTER_SIZE", "keep_top_k": 10})
    proto, weights = net.save(tmp_path)
    model = irforge.convert_model((proto, weights))
    with pytest.raises(irforge.UnsupportedError, match="DetectionOutput.*no ONNX form"):
        irforge.save_model(model, os.path.join(str(tmp_path), "ssd.onnx"))
    assert not os.path.exists(os.path.join(str(tmp_path), "ssd.onnx"))


@pytest.mark.parametrize(
    "param, message",
    [
        ({"num_classes": 4}, "does not hold 4 scores"),
        ({"num_classes": CLASSES, "background_label_id": 3}, "background_label_id 3"),
        ({"num_classes": CLASSES, "code_type": "CORNER_SIZE"}, "CORNER_SIZE"),
        ({"num_classes": CLASSES, "nms_param": {"nms_threshold": 0.45, "eta": 0.9}}, "eta"),
        ({"num_classes": CLASSES, "keep_top_k": 0}, "keep_top_k"),
        ({"num_classes": CLASSES, "share_location": False}, "location blob"),
        ({}, "num_classes"),
    ],
)
def test_detection_output_malformed(tmp_path, param, message):
    net = ssd_net(1, param)
    proto, weights = net.save(tmp_path)
    with pytest.raises(irforge.ConversionError, match=message) as e:
        irforge.convert_model((proto, weights))
    assert "detection_out" in str(e.value) and "net.prototxt" in str(e.value)
