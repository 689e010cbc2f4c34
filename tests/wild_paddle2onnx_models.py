"""Paddle models as found in the wild, for paddle2onnx (issue 20): tests/test_wild_paddle2onnx.py
and bench/wild_paddle2onnx.py.

    python tests/wild_paddle2onnx_models.py OUT_DIR {pir,legacy} [NAMES]

saves each model with Paddle 3.3.1 (PIR: paddle.jit.save -> .json; legacy: a static Program ->
.pdmodel, see tests/paddle_models.py) as OUT_DIR/<name>/model.{json|pdmodel},pdiparams, runs
Paddle's inference predictor on it at the model's two test shapes and writes
OUT_DIR/<name>/io.npz (inputs and Paddle's outputs); the callers export it with the paddle2onnx
CLI. The caller sets FLAGS_enable_pir_api before paddle is imported, hence a process of its own.
Prints `RESULT {json}`: per model its file, input and output names, or why Paddle failed.

Dims are dynamic where deployed models have them dynamic: batch and image size of the detectors,
batch and text-line width of the recognizer.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paddle_models import CRNN, DBNet, _legacy_op, _legacy_static, paddle_inference, save_legacy, sigmoid  # noqa: E402


def exp(x):
    return _legacy_op("exp", {"X": x}, {}, x) if _legacy_static() else paddle.exp(x)


class YoloDecode(nn.Layer):
    """A YOLOv3/PP-YOLO-style detection head on one stride-8 level, decoded in the graph: a
    conv-BN-SiLU stem (SiLU, not YOLOv3's LeakyReLU: paddle2onnx 2.0.1 reads Paddle 3.3.1's f64
    negative_slope as a denormal float and writes LeakyRelu alpha=2.5e-43, a silently wrong
    model), per-anchor raw predictions reshaped to [N, A, 5 + classes, H, W], box centres
    (sigmoid(t) + grid) * stride from a grid built from the feature map's own (dynamic) size,
    sizes exp(t) * anchor, objectness x class probabilities. Output [N, A*H*W, 4 + classes]."""

    ANCHORS = ((10.0, 13.0), (16.0, 30.0), (33.0, 23.0))
    CLASSES = 3
    STRIDE = 8

    def __init__(self):
        super().__init__()
        a, c = len(self.ANCHORS), self.CLASSES
        self.stem1 = nn.Sequential(nn.Conv2D(3, 8, 3, stride=2, padding=1, bias_attr=False), nn.BatchNorm2D(8), nn.Silu())
        self.stem2 = nn.Sequential(nn.Conv2D(8, 16, 3, stride=2, padding=1, bias_attr=False), nn.BatchNorm2D(16), nn.Silu())
        self.stem3 = nn.Sequential(nn.Conv2D(16, 16, 3, stride=2, padding=1, bias_attr=False), nn.BatchNorm2D(16), nn.Silu())
        self.pred = nn.Conv2D(16, a * (5 + c), 1)
        self.anchors = paddle.to_tensor(np.array(self.ANCHORS, np.float32).reshape(1, a, 2, 1, 1))

    def forward(self, x):
        a, c = len(self.ANCHORS), self.CLASSES
        p = self.pred(self.stem3(self.stem2(self.stem1(x))))
        h, w = paddle.shape(p)[2], paddle.shape(p)[3]
        p = paddle.reshape(p, [0, a, 5 + c, h, w])
        gy, gx = paddle.meshgrid(paddle.arange(h, dtype="float32"), paddle.arange(w, dtype="float32"))
        grid = paddle.unsqueeze(paddle.stack([gx, gy]), [0, 1])  # [1, 1, 2, H, W], as YOLOX/YOLOv5 heads build it
        xy = (sigmoid(p[:, :, 0:2]) + grid) * float(self.STRIDE)
        wh = exp(p[:, :, 2:4]) * self.anchors
        scores = sigmoid(p[:, :, 4:5]) * sigmoid(p[:, :, 5:])
        out = paddle.concat([xy - wh * 0.5, xy + wh * 0.5, scores], axis=2)  # [N, A, 4 + C, H, W]
        out = paddle.transpose(out, [0, 1, 3, 4, 2])
        return paddle.reshape(out, [0, -1, 4 + c])


class DBNetDyn(DBNet):
    """tests/paddle_models.py's DB-style text detector (backbone, FPN with nearest and bilinear
    upsampling, conv2d_transpose + BatchNorm head, sigmoid map), here with dynamic size and the
    FPN upsampling to the lateral's own size (a size tensor) rather than by a scale factor:
    Paddle 3.3.1 writes interp's `scale` as an array of f64, which paddle2onnx 2.0.1 aborts on
    ("the 0th elementwise MUST be ir::FloatAttribute", exit 255), in both formats."""

    def forward(self, x):
        f1 = self.c1(x)
        f2 = self.c2(f1)
        f3 = self.c3(f2)
        i3 = self.l3(f3)
        i2 = self.l2(f2)
        i2 = i2 + F.upsample(i3, size=paddle.shape(i2)[2:], mode="nearest")
        i1 = self.l1(f1)
        i1 = i1 + F.upsample(i2, size=paddle.shape(i1)[2:], mode="nearest")
        p1 = self.p1(i1)
        size = paddle.shape(p1)[2:]
        p3 = F.upsample(self.p3(i3), size=size, mode="nearest")
        p2 = F.upsample(self.p2(i2), size=size, mode="bilinear", align_corners=False)
        fuse = paddle.concat([p1, p2, p3], axis=1)
        y = F.relu(self.bn(self.up1(self.head(fuse))))
        return sigmoid(self.up2(y))


class CRNNDyn(CRNN):
    """tests/paddle_models.py's CRNN (conv, 2-layer bidirectional LSTM, per-step softmax for
    CTC decoding), here with a dynamic text-line width."""


MODELS = {
    # name: (class, input spec (None = dynamic), two test input shapes)
    "ocr_det": (DBNetDyn, [None, 3, None, None], [(1, 3, 32, 32), (2, 3, 64, 48)]),
    "ocr_rec": (CRNNDyn, [None, 3, 8, None], [(2, 3, 8, 32), (3, 3, 8, 48)]),
    "yolo": (YoloDecode, [None, 3, None, None], [(1, 3, 64, 64), (2, 3, 48, 80)]),
}


def feeds_for(name):
    return [np.random.RandomState(k).randn(*shape).astype("float32") for k, shape in enumerate(MODELS[name][2])]


def save_all(out_dir, fmt, names=None):
    done = {}
    for name in names or MODELS:
        paddle.seed(0)
        np.random.seed(0)
        cls, spec_shape, _ = MODELS[name]
        net = cls()
        # Non-trivial batch-norm statistics (trained-model-like), so that folding them is checked.
        for p in net.parameters():
            if p.name.endswith(("w_1", "w_2")) and len(p.shape) == 1:
                p.set_value(np.random.uniform(0.5, 1.5, p.shape).astype("float32"))
        net.eval()
        prefix = os.path.join(out_dir, name, "model")
        ext = ".json" if fmt == "pir" else ".pdmodel"
        try:
            if fmt == "pir":
                paddle.jit.save(net, prefix, input_spec=[paddle.static.InputSpec(spec_shape, "float32", "x")])
            else:
                save_legacy(net, prefix, spec_shape)
        except Exception as e:  # noqa: BLE001 - reported to the test, which decides
            done[name] = f"paddle could not save it: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
            continue
        feeds = feeds_for(name)
        in_names, out_names, outs = paddle_inference(prefix + ext, prefix + ".pdiparams", feeds)
        np.savez(os.path.join(out_dir, name, "io.npz"), **{f"in{i}": x for i, x in enumerate(feeds)},
                 **{f"out{i}": o[0] for i, o in enumerate(outs)})
        done[name] = {"inputs": in_names, "outputs": out_names, "file": prefix + ext}
    return done


if __name__ == "__main__":
    out, fmt = sys.argv[1], sys.argv[2]
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    print("RESULT " + json.dumps(save_all(out, fmt, names)), flush=True)
