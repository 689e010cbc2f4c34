"""Caffe MobileNet-SSD beside the anchor (openvino-dev==2023.3.0 `mo`, venv of its own with
protobuf<4): wall time, peak RSS and the two IRs' detections on one input. The net is generated
in the layout of the widely deployed MobileNet-SSD deploy.prototxt (chuanqi305: MobileNet v1
with BatchNorm folded into biased convolutions, depthwise as group convolutions, six SSD heads on
conv11/conv13/conv14_2..conv17_2 with PriorBox, Permute/Flatten/Concat, Softmax over 21
classes, DetectionOutput keep_top_k 100); fixed-seed random weights (~22 MB caffemodel). With
random weights the class scores sit near 1/21, so confidence_threshold is 0.01 instead of 0.25,
which keeps NMS busy rather than idle.

    python bench/caffe_ssd_mo.py --mo-venv /path/to/venv [--out /tmp/irforge-caffe-ssd] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from caffe_mo import convert_caffe_side_by_side, field  # same protobuf helpers and timing as the ResNet-50 bench
from caffe_mo import blob as blob_proto

CLASSES = 21


class SSDWriter:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.text = ['name: "MobileNet-SSD"\nlayer { name: "input" type: "Input" top: "data" '
                     "input_param { shape { dim: 1 dim: 3 dim: 300 dim: 300 } } }\n"]
        self.model = field(1, b"MobileNet-SSD")
        self.channels = {"data": 3}
        self.size = {"data": 300}

    def layer(self, name, type_, bottoms, tops, params="", blobs=()):
        b = "".join(f' bottom: "{x}"' for x in bottoms)
        t = "".join(f' top: "{x}"' for x in tops)
        self.text.append(f'layer {{ name: "{name}" type: "{type_}"{b}{t} {params} }}\n')
        if blobs:
            self.model += field(100, field(1, name.encode()) + field(2, type_.encode()) + b"".join(field(7, blob_proto(x)) for x in blobs))

    def conv(self, name, bottom, cout, k, stride=1, pad=0, group=1, relu=True):
        cin = self.channels[bottom]
        w = (self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        g = f" group: {group}" if group > 1 else ""
        self.layer(name, "Convolution", [bottom], [name],
                   f"convolution_param {{ num_output: {cout} kernel_size: {k} pad: {pad} stride: {stride}{g} }}", [w, b])
        if relu:
            self.layer(name + "/relu", "ReLU", [name], [name])
        self.channels[name] = cout
        self.size[name] = (self.size[bottom] + 2 * pad - k) // stride + 1
        return name

    def mobilenet_ssd(self):
        x = self.conv("conv0", "data", 32, 3, 2, 1)
        for i, (cout, stride) in enumerate([(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                                            (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)], start=1):
            c = self.channels[x]
            x = self.conv(f"conv{i}/dw", x, c, 3, stride, 1, group=c)
            x = self.conv(f"conv{i}", x, cout, 1)
        feats = ["conv11", "conv13"]
        for i, (mid, out) in enumerate([(256, 512), (128, 256), (128, 256), (64, 128)], start=14):
            y = self.conv(f"conv{i}_1", x, mid, 1)
            x = self.conv(f"conv{i}_2", y, out, 3, 2, 1)
            feats.append(x)
        sizes = [(60, None), (105, 150), (150, 195), (195, 240), (240, 285), (285, 300)]
        locs, confs, priors = [], [], []
        for f, (mn, mx) in zip(feats, sizes):
            n = 3 if mx is None else 6
            for kind, width, out in (("loc", 4, locs), ("conf", CLASSES, confs)):
                h = self.conv(f"{f}_mbox_{kind}", f, n * width, 1, relu=False)
                self.layer(h + "_perm", "Permute", [h], [h + "_perm"], "permute_param { order: 0 order: 2 order: 3 order: 1 }")
                self.layer(h + "_flat", "Flatten", [h + "_perm"], [h + "_flat"], "flatten_param { axis: 1 }")
                out.append(h + "_flat")
            ar = "aspect_ratio: 2.0" if mx is None else f"max_size: {mx}.0 aspect_ratio: 2.0 aspect_ratio: 3.0"
            self.layer(f"{f}_mbox_priorbox", "PriorBox", [f, "data"], [f"{f}_mbox_priorbox"],
                       f"prior_box_param {{ min_size: {mn}.0 {ar} flip: true clip: false variance: 0.1 variance: 0.1 "
                       "variance: 0.2 variance: 0.2 offset: 0.5 }")
            priors.append(f"{f}_mbox_priorbox")
        self.layer("mbox_loc", "Concat", locs, ["mbox_loc"], "concat_param { axis: 1 }")
        self.layer("mbox_conf", "Concat", confs, ["mbox_conf"], "concat_param { axis: 1 }")
        self.layer("mbox_priorbox", "Concat", priors, ["mbox_priorbox"], "concat_param { axis: 2 }")
        self.layer("mbox_conf_reshape", "Reshape", ["mbox_conf"], ["mbox_conf_reshape"],
                   f"reshape_param {{ shape {{ dim: 0 dim: -1 dim: {CLASSES} }} }}")
        self.layer("mbox_conf_softmax", "Softmax", ["mbox_conf_reshape"], ["mbox_conf_softmax"], "softmax_param { axis: 2 }")
        self.layer("mbox_conf_flatten", "Flatten", ["mbox_conf_softmax"], ["mbox_conf_flatten"], "flatten_param { axis: 1 }")
        self.layer("detection_out", "DetectionOutput", ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"], ["detection_out"],
                   f"detection_output_param {{ num_classes: {CLASSES} share_location: true background_label_id: 0 "
                   "nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE keep_top_k: 100 confidence_threshold: 0.01 }")

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        proto, weights = os.path.join(folder, "MobileNetSSD_deploy.prototxt"), os.path.join(folder, "MobileNetSSD_deploy.caffemodel")
        with open(proto, "w") as f:
            f.write("".join(self.text))
        with open(weights, "wb") as f:
            f.write(self.model)
        return proto, weights


def detections(xml, x):
    """The kept rows (image id >= 0 before the first -1) of the OpenVINO CPU plugin at f32."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rows = compiled.create_infer_request().infer({0: x})[compiled.outputs[0]].reshape(-1, 7)
    end = np.flatnonzero(rows[:, 0] == -1)
    rows = rows[: end[0] if end.size else len(rows)]
    return rows[np.lexsort((-rows[:, 2], rows[:, 1]))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mo-venv", required=True)
    ap.add_argument("--out", default="/tmp/irforge-caffe-ssd")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    w = SSDWriter()
    w.mobilenet_ssd()
    proto, weights = w.save(args.out)
    print(f"MobileNet-SSD: caffemodel {os.path.getsize(weights) / 2**20:.1f} MiB")
    mo_xml, irforge_xml = convert_caffe_side_by_side(args.mo_venv, proto, weights, args.out, args.repeat)
    x = np.random.default_rng(1).standard_normal((1, 3, 300, 300)).astype(np.float32)
    a = detections(mo_xml, x)
    b = detections(irforge_xml, x)
    print(f"detections: mo {len(a)}, irforge {len(b)}")
    if len(a) == len(b) and len(a):
        same = np.array_equal(a[:, :2], b[:, :2])
        print(f"same images and labels: {same}; max |irforge - mo| / max |mo| on scores and boxes: "
              f"{np.abs(a[:, 2:] - b[:, 2:]).max() / np.abs(a[:, 2:]).max():.2e}")


if __name__ == "__main__":
    main()
