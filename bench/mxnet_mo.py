"""MXNet conversion beside the anchor, the last Model Optimizer that read MXNet
(openvino-dev==2023.3.0 `mo` with mxnet==1.9.1 and numpy<1.24 in a venv of its own): wall
time, peak RSS and the two IRs' outputs on one input, on a generated MXNet ResNet-18 (symbolic
API layout: Convolution without bias + BatchNorm(fix_gamma=False) + Activation, elemwise_add,
global avg Pooling, Flatten, FullyConnected, SoftmaxOutput; fixed-seed random weights).

    python bench/mxnet_mo.py --mo-venv /path/to/venv [--out /tmp/irforge-mxnet-bench] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caffe_mo import run_ir, side_by_side  # noqa: E402


class Symbol:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.index, self.params = [], {}, {}

    def add(self, op, name, inputs=(), attrs=None):
        node = {"op": op, "name": name, "inputs": [[self.index[i], 0, 0] for i in inputs]}
        if attrs:
            node["attrs"] = {k: str(v) for k, v in attrs.items()}
        self.index[name] = len(self.nodes)
        self.nodes.append(node)
        return name

    def param(self, name, value, aux=False):
        self.params[("aux:" if aux else "arg:") + name] = np.asarray(value, np.float32)
        return self.add("null", name)

    def conv_bn(self, name, x, cin, cout, k, stride, pad, relu=True):
        w = self.param(name + "_weight", self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k)))
        y = self.add("Convolution", name, [x, w], {"kernel": f"({k}, {k})", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})",
                                                     "num_filter": cout, "no_bias": "True"})
        ins = [y, self.param(name + "_gamma", self.rng.random(cout) * 0.5 + 0.5), self.param(name + "_beta", self.rng.standard_normal(cout) * 0.1),
               self.param(name + "_moving_mean", self.rng.standard_normal(cout) * 0.1, aux=True),
               self.param(name + "_moving_var", self.rng.random(cout) + 0.5, aux=True)]
        y = self.add("BatchNorm", name + "_bn", ins, {"eps": "1e-05", "fix_gamma": "False"})
        return self.add("Activation", name + "_relu", [y], {"act_type": "relu"}) if relu else y

    def resnet18(self):
        x = self.add("null", "data")
        x = self.conv_bn("conv0", x, 3, 64, 7, 2, 3)
        x = self.add("Pooling", "pool0", [x], {"kernel": "(3, 3)", "stride": "(2, 2)", "pad": "(1, 1)", "pool_type": "max"})
        cin = 64
        for s, width in enumerate((64, 128, 256, 512)):
            for b in range(2):
                stride = 2 if (b == 0 and s > 0) else 1
                name = f"stage{s + 1}_unit{b + 1}"
                y = self.conv_bn(name + "_conv1", x, cin, width, 3, stride, 1)
                y = self.conv_bn(name + "_conv2", y, width, width, 3, 1, 1, relu=False)
                short = self.conv_bn(name + "_sc", x, cin, width, 1, stride, 0, relu=False) if (stride != 1 or cin != width) else x
                y = self.add("elemwise_add", name + "_plus", [short, y])
                x = self.add("Activation", name + "_relu", [y], {"act_type": "relu"})
                cin = width
        x = self.add("Pooling", "pool1", [x], {"kernel": "(7, 7)", "global_pool": "True", "pool_type": "avg"})
        x = self.add("Flatten", "flatten0", [x])
        fc = self.add("FullyConnected", "fc1", [x, self.param("fc1_weight", self.rng.standard_normal((1000, 512)) * 0.02),
                                                self.param("fc1_bias", np.zeros(1000))], {"num_hidden": "1000"})
        label = self.add("null", "softmax_label")
        return self.add("SoftmaxOutput", "softmax", [fc, label])

    def save(self, folder, head):
        os.makedirs(folder, exist_ok=True)
        symbol, params = os.path.join(folder, "resnet18-symbol.json"), os.path.join(folder, "resnet18-0000.params")
        with open(symbol, "w") as f:
            json.dump({"nodes": self.nodes, "arg_nodes": [i for i, n in enumerate(self.nodes) if n["op"] == "null"],
                       "node_row_ptr": list(range(len(self.nodes) + 1)), "heads": [[self.index[head], 0, 0]],
                       "attrs": {"mxnet_version": ["int", 10901]}}, f)
        with open(params, "wb") as f:  # NDArray list: 0x112, V2 arrays, names
            f.write(struct.pack("<QQQ", 0x112, 0, len(self.params)))
            for a in self.params.values():
                a = np.ascontiguousarray(a, "<f4")
                f.write(struct.pack("<IiI", 0xF993FAC9, 0, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape) + struct.pack("<iii", 1, 0, 0) + a.tobytes())
            f.write(struct.pack("<Q", len(self.params)))
            for name in self.params:
                f.write(struct.pack("<Q", len(name)) + name.encode())
        return symbol, params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mo-venv", required=True)
    ap.add_argument("--out", default="/tmp/irforge-mxnet-bench")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    s = Symbol()
    head = s.resnet18()
    symbol, params = s.save(args.out, head)
    print(f"ResNet-18: params {os.path.getsize(params) / 2**20:.0f} MiB")
    os.makedirs(os.path.join(args.out, "irforge"), exist_ok=True)
    mo = os.path.join(args.mo_venv, "bin", "mo")
    runs = {
        "mo 2023.3.0 (fp32)": [mo, "--input_model", params, "--input_symbol", symbol, "--input", "data", "--input_shape", "[1,3,224,224]",
                               "--output_dir", os.path.join(args.out, "mo"), "--compress_to_fp16=False"],
        "irforge (fp32)": [sys.executable, "-m", "irforge", "convert", symbol, "--input", "data[1,3,224,224]", "--output_model",
                           os.path.join(args.out, "irforge", "resnet18.xml"), "--compress_to_fp16", "False"],
    }
    side_by_side(*runs.values(), args.repeat)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    mo_xml = [f for f in os.listdir(os.path.join(args.out, "mo")) if f.endswith(".xml")][0]
    a = run_ir(os.path.join(args.out, "mo", mo_xml), x)
    b = run_ir(os.path.join(args.out, "irforge", "resnet18.xml"), x)
    print(f"max |irforge - mo| / max |mo| on the softmax: {np.abs(a - b).max() / np.abs(a).max():.2e}; top-1 equal: {a.argmax() == b.argmax()}")


if __name__ == "__main__":
    main()
