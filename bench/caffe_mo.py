"""Caffe conversion beside the anchor, the last Model Optimizer that read Caffe
(openvino-dev==2023.3.0 `mo`, in a venv of its own with protobuf<4): wall time, peak RSS and
the two IRs' outputs on one input, on a generated Caffe ResNet-50 (the original
ResNet-50-deploy.prototxt layout: Convolution without bias + BatchNorm + Scale, Eltwise SUM,
pool5 AVE, fc1000, Softmax; fixed-seed random weights, 102 MB caffemodel).

    python bench/caffe_mo.py --mo-venv /path/to/venv [--out /tmp/irforge-caffe-bench] [--repeat 2]

The mo venv: python3 -m venv V && V/bin/pip install "openvino-dev==2023.3.0" "protobuf<4".
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from protobuf_wire import field, varint  # noqa: E402  (re-exported: caffe_ssd_mo imports field from here)


def blob(a: np.ndarray) -> bytes:  # BlobProto{shape 7 {dim 1}, data 5}
    return field(7, field(1, b"".join(varint(d) for d in a.shape))) + field(5, np.ascontiguousarray(a, "<f4").tobytes())


class Writer:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.text = ['name: "ResNet-50"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 224 dim: 224 } } }\n']
        self.model = field(1, b"ResNet-50")

    def layer(self, name, type_, bottoms, tops, params="", blobs=()):
        b = "".join(f' bottom: "{x}"' for x in bottoms)
        t = "".join(f' top: "{x}"' for x in tops)
        self.text.append(f'layer {{ name: "{name}" type: "{type_}"{b}{t} {params} }}\n')
        if blobs:
            self.model += field(100, field(1, name.encode()) + field(2, type_.encode()) + b"".join(field(7, blob(x)) for x in blobs))

    def conv_bn(self, name, bottom, cin, cout, k, stride=1, pad=0, relu=True):
        w = (self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        self.layer(name, "Convolution", [bottom], [name],
                   f"convolution_param {{ num_output: {cout} kernel_size: {k} pad: {pad} stride: {stride} bias_term: false }}", [w])
        mean = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        var = (self.rng.random(cout) + 0.5).astype(np.float32)
        self.layer("bn" + name, "BatchNorm", [name], [name], "batch_norm_param { use_global_stats: true }", [mean, var, np.ones(1, np.float32)])
        gamma = (self.rng.random(cout) * 0.5 + 0.5).astype(np.float32)
        beta = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        self.layer("scale" + name, "Scale", [name], [name], "scale_param { bias_term: true }", [gamma, beta])
        if relu:
            self.layer(name + "_relu", "ReLU", [name], [name])
        return name

    def resnet50(self):
        x = self.conv_bn("conv1", "data", 3, 64, 7, 2, 3)
        self.layer("pool1", "Pooling", [x], ["pool1"], "pooling_param { pool: MAX kernel_size: 3 stride: 2 }")
        x, cin = "pool1", 64
        for stage, (blocks, width) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=2):
            for i in range(blocks):
                name = f"{stage}{chr(ord('a') + i)}"
                stride = 2 if (i == 0 and stage > 2) else 1
                short = x
                if i == 0:
                    short = self.conv_bn(f"res{name}_branch1", x, cin, width * 4, 1, stride, relu=False)
                y = self.conv_bn(f"res{name}_branch2a", x, cin, width, 1, stride)
                y = self.conv_bn(f"res{name}_branch2b", y, width, width, 3, 1, 1)
                y = self.conv_bn(f"res{name}_branch2c", y, width, width * 4, 1, relu=False)
                self.layer(f"res{name}", "Eltwise", [short, y], [f"res{name}"])
                self.layer(f"res{name}_relu", "ReLU", [f"res{name}"], [f"res{name}"])
                x, cin = f"res{name}", width * 4
        self.layer("pool5", "Pooling", [x], ["pool5"], "pooling_param { pool: AVE kernel_size: 7 stride: 1 }")
        w = (self.rng.standard_normal((1000, 2048)) * 0.02).astype(np.float32)
        self.layer("fc1000", "InnerProduct", ["pool5"], ["fc1000"], "inner_product_param { num_output: 1000 }", [w, np.zeros(1000, np.float32)])
        self.layer("prob", "Softmax", ["fc1000"], ["prob"])

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        proto, weights = os.path.join(folder, "ResNet-50-deploy.prototxt"), os.path.join(folder, "ResNet-50-model.caffemodel")
        with open(proto, "w") as f:
            f.write("".join(self.text))
        with open(weights, "wb") as f:
            f.write(self.model)
        return proto, weights


def timed(cmd, env=None):
    """(wall seconds, peak RSS MiB) of a command in a fresh process, via /usr/bin/time -v."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    return wall, rss


def side_by_side(mo_cmd, irforge_cmd, repeat):
    """Best of `repeat` runs of mo and of irforge, printed with their ratio."""
    results = []
    for name, cmd in (("mo 2023.3.0 (fp32)", mo_cmd), ("irforge (fp32)", irforge_cmd)):
        best = min((timed(cmd) for _ in range(repeat)), key=lambda r: r[0])
        results.append(best)
        print(f"{name}: {best[0]:.2f} s, {best[1]:.0f} MiB")
    (mt, mr), (it, ir) = results
    print(f"irforge: {mt / it:.1f}x faster, {ir / mr:.2f} of mo's peak RSS")


def convert_caffe_side_by_side(mo_venv, proto, weights, out, repeat):
    """mo and irforge on the same .prototxt + .caffemodel, fp32 IRs; returns their .xml paths (mo
    names its IR after the .caffemodel; irforge's is given the same name)."""
    os.makedirs(os.path.join(out, "irforge"), exist_ok=True)
    xml_name = os.path.splitext(os.path.basename(weights))[0] + ".xml"
    mo_xml, irforge_xml = os.path.join(out, "mo", xml_name), os.path.join(out, "irforge", xml_name)
    side_by_side([os.path.join(mo_venv, "bin", "mo"), "--input_model", weights, "--input_proto", proto, "--output_dir",
                  os.path.dirname(mo_xml), "--compress_to_fp16=False"],
                 [sys.executable, "-m", "irforge", "convert", proto, "--input_model", weights, "--output_model", irforge_xml,
                  "--compress_to_fp16", "False"], repeat)
    return mo_xml, irforge_xml


def run_ir(xml, x):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled.create_infer_request().infer({0: x})[compiled.outputs[0]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mo-venv", required=True)
    ap.add_argument("--out", default="/tmp/irforge-caffe-bench")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    w = Writer()
    w.resnet50()
    proto, weights = w.save(args.out)
    print(f"ResNet-50: caffemodel {os.path.getsize(weights) / 2**20:.0f} MiB")
    mo_xml, irforge_xml = convert_caffe_side_by_side(args.mo_venv, proto, weights, args.out, args.repeat)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    a = run_ir(mo_xml, x)
    b = run_ir(irforge_xml, x)
    print(f"max |irforge - mo| / max |mo| on the softmax: {np.abs(a - b).max() / np.abs(a).max():.2e}; top-1 equal: {a.argmax() == b.argmax()}")

if __name__ == "__main__":
    main()
