"""Paddle models built in code for tests/test_paddle_frontend.py, saved by paddle.jit.save and run
by Paddle's own inference predictor for reference outputs. paddle.jit.save traces forward() with
dy2static, which needs the source of these classes: hence a module of its own.

    python tests/paddle_models.py OUT_DIR {pir,legacy}

saves every model as OUT_DIR/<name>/model.{json|pdmodel,pdiparams} plus io.npz (inputs and
Paddle inference outputs). PIR: paddle.jit.save, Paddle 3's default. Legacy: in Paddle 3.3.1
paddle.jit.save with FLAGS_enable_pir_api=0 fails in dy2static for most models (JIT_LEGACY: not all) (its converted
code calls PIR-only _C_ops), so the same layers are built in a legacy static Program and written
by paddle.static.save_inference_model (the caller sets FLAGS_enable_pir_api=0 before paddle is
imported).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _legacy_static() -> bool:
    return not paddle.in_dynamic_mode() and not paddle.framework.in_pir_mode()


def _legacy_op(op_type, inputs, attrs, like):
    """Appends a legacy op directly: in Paddle 3.3.1's legacy static mode F.sigmoid, paddle.matmul,
    F.gelu, ... call PIR-only _C_ops and fail ("must be Value, but got Variable")."""
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper(op_type)
    out = helper.create_variable_for_type_inference(like.dtype)
    helper.append_op(type=op_type, inputs=inputs, outputs={"Out": out}, attrs=attrs)
    return out


def _legacy_logical_not():
    """Paddle 3.3.1's legacy static cond (conditional_block + select_input) negates its predicate
    with paddle.logical_not, which only takes PIR values there ("must be Value, but got
    Variable"): this appends the legacy logical_not op instead, so paddle.jit.save can write a
    legacy if/else at all. Everything else is Paddle's own dy2static and cond."""
    from paddle.base.layer_helper import LayerHelper

    pir_logical_not = paddle.logical_not

    def logical_not(x, out=None, name=None):
        if isinstance(x, paddle.static.Variable) and not paddle.framework.in_pir_mode():
            helper = LayerHelper("logical_not")
            y = helper.create_variable_for_type_inference("bool")
            helper.append_op(type="logical_not", inputs={"X": x}, outputs={"Out": y})
            return y
        return pir_logical_not(x, out=out, name=name)

    paddle.logical_not = logical_not


def sigmoid(x):
    return _legacy_op("sigmoid", {"X": x}, {}, x) if _legacy_static() else F.sigmoid(x)


def gelu(x):
    return _legacy_op("gelu", {"X": x}, {"approximate": False}, x) if _legacy_static() else F.gelu(x)


def matmul(x, y, transpose_y=False):
    if _legacy_static():
        return _legacy_op("matmul_v2", {"X": x, "Y": y}, {"trans_x": False, "trans_y": transpose_y}, x)
    return paddle.matmul(x, y, transpose_y=transpose_y)


class ConvBNAct(nn.Layer):
    def __init__(self, cin, cout, k, stride=1, groups=1, act="hardswish"):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(cout)
        self.act = act

    def forward(self, x):
        y = self.bn(self.conv(x))
        if self.act == "hardswish":
            return F.hardswish(y)
        if self.act == "relu":
            return F.relu(y)
        return y


class SE(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.reduce = nn.Conv2D(c, c // 4, 1)
        self.expand = nn.Conv2D(c // 4, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.reduce(s))
        return x * F.hardsigmoid(self.expand(s))


class LCNet(nn.Layer):
    """PP-LCNet-style: conv-bn-hardswish stem, depthwise separable blocks, SE, global pool, FC."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = ConvBNAct(3, 8, 3, stride=2)
        self.dw1 = ConvBNAct(8, 8, 3, groups=8)
        self.pw1 = ConvBNAct(8, 16, 1)
        self.dw2 = ConvBNAct(16, 16, 5, stride=2, groups=16)
        self.se = SE(16)
        self.pw2 = ConvBNAct(16, 32, 1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        y = self.pw1(self.dw1(self.stem(x)))
        y = self.pw2(self.se(self.dw2(y)))
        y = F.adaptive_avg_pool2d(y, 1)
        y = paddle.flatten(y, 1)
        y = F.relu6(self.fc(y))
        return F.softmax(y, axis=-1)


class DBNet(nn.Layer):
    """DB-style text detector: strided backbone, FPN (1x1 laterals, nearest upsampling, add,
    concat), head with conv2d_transpose upsampling and a sigmoid probability map."""

    def __init__(self):
        super().__init__()
        self.c1 = ConvBNAct(3, 8, 3, stride=2, act="relu")
        self.c2 = ConvBNAct(8, 16, 3, stride=2, act="relu")
        self.c3 = ConvBNAct(16, 32, 3, stride=2, act="relu")
        self.l1, self.l2, self.l3 = nn.Conv2D(8, 16, 1), nn.Conv2D(16, 16, 1), nn.Conv2D(32, 16, 1)
        self.p1, self.p2, self.p3 = (nn.Conv2D(16, 4, 3, padding=1) for _ in range(3))
        self.head = ConvBNAct(12, 8, 3, act="relu")
        self.up1 = nn.Conv2DTranspose(8, 8, 2, stride=2)
        self.bn = nn.BatchNorm2D(8)
        self.up2 = nn.Conv2DTranspose(8, 1, 2, stride=2)

    def forward(self, x):
        f1 = self.c1(x)
        f2 = self.c2(f1)
        f3 = self.c3(f2)
        i3 = self.l3(f3)
        i2 = self.l2(f2) + F.upsample(i3, scale_factor=2, mode="nearest")
        i1 = self.l1(f1) + F.upsample(i2, scale_factor=2, mode="nearest")
        p3 = F.upsample(self.p3(i3), scale_factor=4, mode="nearest")
        p2 = F.upsample(self.p2(i2), scale_factor=2, mode="bilinear", align_corners=False)
        fuse = paddle.concat([self.p1(i1), p2, p3], axis=1)
        y = F.relu(self.bn(self.up1(self.head(fuse))))
        return sigmoid(self.up2(y))


class SVTR(nn.Layer):
    """SVTR/CRNN-style recognizer: conv features collapsed to a sequence, one pre-norm
    self-attention block (layer_norm, matmul, softmax, split heads with reshape/transpose), an
    MLP with GELU, and per-step class scores."""

    def __init__(self, classes=12, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.conv1 = ConvBNAct(3, 16, 3, stride=2, act="relu")
        self.conv2 = ConvBNAct(16, dim, 3, stride=2, act="relu")
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * 2)
        self.fc2 = nn.Linear(dim * 2, dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, x):
        f = self.conv2(self.conv1(x))  # [N, C, 2, W/4]
        f = paddle.mean(f, axis=2)  # [N, C, T]
        seq = paddle.transpose(f, [0, 2, 1])  # [N, T, C]
        n, t, c = seq.shape[0], seq.shape[1], seq.shape[2]
        h = self.norm1(seq)
        qkv = paddle.reshape(self.qkv(h), [0, -1, 3, self.heads, c // self.heads])
        qkv = paddle.transpose(qkv, [2, 0, 3, 1, 4])
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.softmax(matmul(q, k, transpose_y=True) * (c // self.heads) ** -0.5, axis=-1)
        o = paddle.transpose(matmul(attn, v), [0, 2, 1, 3])
        seq = seq + self.proj(paddle.reshape(o, [0, -1, c]))
        seq = seq + self.fc2(gelu(self.fc1(self.norm2(seq))))
        return F.softmax(self.out(seq), axis=-1)


class Branchy(nn.Layer):
    """A data-dependent branch: dy2static makes it an `if` (PIR) / conditional_block (legacy)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return paddle.static.nn.cond(paddle.mean(x) > 0, lambda: F.relu(self.fc(x)), lambda: x * 2.0 - 1.0)


class Loopy(nn.Layer):
    """A tensor-conditioned Python `while` with two loop-carried tensors: dy2static makes it a
    pd_op.while (PIR) / while op with a sub_block (legacy). mean(y * y) grows about 2.25x per
    step, so the iteration count depends on the input's magnitude."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = x
        steps = paddle.zeros([1], "int64")
        while paddle.mean(y * y) < 100.0:
            y = y * 1.5 + self.fc(y) * 0.1
            steps = steps + 1
        return y, steps


class CRNN(nn.Layer):
    """CRNN-style recognizer: conv features collapsed over height into a sequence, a two-layer
    bidirectional LSTM (paddle.nn.LSTM -> the rnn op), per-step class scores."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv = ConvBNAct(3, 8, 3, stride=2, act="relu")
        self.lstm = nn.LSTM(8, 12, num_layers=2, direction="bidirect")
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        f = paddle.mean(self.conv(x), axis=2)  # [N, C, W/2]
        y, _ = self.lstm(paddle.transpose(f, [0, 2, 1]))
        return F.softmax(self.fc(y), axis=-1)


class AdaPool(nn.Layer):
    """Adaptive average and max pooling to sizes that do not divide the input (8x13 -> 3x5):
    Paddle's cells overlap and differ in size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(2, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return paddle.concat([F.adaptive_avg_pool2d(y, [3, 5]), F.adaptive_max_pool2d(y, [3, 5])], axis=1)


def multiclass_nms(bboxes, scores, score_threshold, nms_top_k, keep_top_k, nms_threshold, normalized, nms_eta=1.0,
                   background_label=-1):
    """PaddleDetection's ppdet.modeling.ops.multiclass_nms: the multiclass_nms3 op (PIR: its
    _C_ops call; legacy static: the op appended with all three outputs)."""
    if not _legacy_static():
        from paddle import _C_ops

        return _C_ops.multiclass_nms3(bboxes, scores, None, score_threshold, nms_top_k, keep_top_k, nms_threshold, normalized,
                                      nms_eta, background_label)
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("multiclass_nms3")
    out = helper.create_variable_for_type_inference(bboxes.dtype)
    index = helper.create_variable_for_type_inference("int32")
    rois_num = helper.create_variable_for_type_inference("int32")
    helper.append_op(type="multiclass_nms3", inputs={"BBoxes": bboxes, "Scores": scores},
                     outputs={"Out": out, "Index": index, "NmsRoisNum": rois_num},
                     attrs={"background_label": background_label, "score_threshold": score_threshold, "nms_top_k": nms_top_k,
                            "nms_threshold": nms_threshold, "keep_top_k": keep_top_k, "nms_eta": nms_eta, "normalized": normalized})
    return out, index, rois_num


class YoloHead(nn.Layer):
    """A PP-YOLOE-style head on an 8x8 feature map: per-cell class scores (sigmoid) and a box
    per cell (corner = sigmoid offset, size = sigmoid extent, in pixels), then multiclass_nms3
    with nms_top_k and keep_top_k both cutting (64 cells, 3 classes)."""

    NMS = dict(score_threshold=0.3, nms_top_k=20, keep_top_k=12, nms_threshold=0.4, normalized=False)
    SCALE = 8.0  # box coordinates in pixels

    def __init__(self):
        super().__init__()
        self.cls = nn.Conv2D(8, 3, 3, padding=1)
        self.reg = nn.Conv2D(8, 4, 3, padding=1)

    def forward(self, x):
        scores = paddle.reshape(sigmoid(self.cls(x)), [0, 3, -1])  # [N, 3, 64]
        reg = paddle.transpose(paddle.reshape(sigmoid(self.reg(x)), [0, 4, -1]), [0, 2, 1])  # [N, 64, 4]
        corner = reg[:, :, :2] * self.SCALE
        boxes = paddle.concat([corner, corner + reg[:, :, 2:] * (self.SCALE * 0.375)], axis=-1)
        return multiclass_nms(boxes, scores, **self.NMS)


class YoloHeadEta(YoloHead):
    """The same head with normalized boxes, adaptive NMS (nms_eta < 1), class 1 as background
    and no keep_top_k."""

    NMS = dict(score_threshold=0.2, nms_top_k=-1, keep_top_k=-1, nms_threshold=0.7, normalized=True, nms_eta=0.8,
               background_label=1)
    SCALE = 1.0


MODELS = {
    # name: (class, input shape given to paddle.jit.save (None = dynamic batch), test input shape)
    "lcnet": (LCNet, [None, 3, 32, 32], [2, 3, 32, 32]),
    "dbnet": (DBNet, [None, 3, 32, 32], [1, 3, 32, 32]),
    "svtr": (SVTR, [None, 3, 8, 32], [2, 3, 8, 32]),
    "branchy": (Branchy, [None, 8], [3, 8]),
    "loopy": (Loopy, [None, 4], [2, 4]),
    "yolohead": (YoloHead, [None, 8, 8, 8], [2, 8, 8, 8]),
    "yolohead_eta": (YoloHeadEta, [None, 8, 8, 8], [2, 8, 8, 8]),
    "adapool": (AdaPool, [None, 2, 8, 13], [2, 2, 8, 13]),
    "crnn": (CRNN, [None, 3, 8, 32], [2, 3, 8, 32]),
}
# Saved by paddle.jit.save in the legacy format too: their dy2static code uses no PIR-only op
# (with _legacy_logical_not for cond).
JIT_LEGACY = {"loopy", "branchy", "yolohead", "yolohead_eta", "adapool"}


def inputs_for(name, seed=0):
    shape = MODELS[name][2]
    rs = np.random.RandomState(seed)
    if name == "branchy":  # one input per branch
        x = rs.randn(*shape).astype("float32")
        return [np.abs(x) + 0.1, -np.abs(x) - 0.1]
    if name == "loopy":  # two iteration counts
        x = rs.randn(*shape).astype("float32")
        return [x, x * 4]
    return [rs.randn(*shape).astype("float32")]


def paddle_inference(model_file, params_file, feeds):
    import paddle.inference as pi

    cfg = pi.Config(model_file, params_file)
    cfg.disable_gpu()
    cfg.switch_ir_optim(False)  # Paddle's own kernels, not its fused rewrites
    cfg.disable_glog_info()
    for off in ("disable_onednn", "disable_mkldnn"):  # oneDNN kernels lack some PIR attributes
        if hasattr(cfg, off):
            getattr(cfg, off)()
            break
    pred = pi.create_predictor(cfg)
    outs = []
    for x in feeds:
        h = pred.get_input_handle(pred.get_input_names()[0])
        h.reshape(x.shape)
        h.copy_from_cpu(x)
        pred.run()
        outs.append([pred.get_output_handle(n).copy_to_cpu() for n in pred.get_output_names()])
    return pred.get_input_names(), pred.get_output_names(), outs


def save_legacy(net, prefix, spec_shape):
    """The layer's weights in a legacy static Program, saved as .pdmodel + .pdiparams."""
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    paddle.enable_static()
    try:
        main, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, startup):
            x = paddle.static.data("x", spec_shape, "float32")
            static_net = type(net)()
            static_net.eval()
            y = static_net(x)
        exe = paddle.static.Executor(paddle.CPUPlace())
        exe.run(startup)
        static_net.set_state_dict(state)
        paddle.static.save_inference_model(prefix, [x], [y], exe, program=main)
    finally:
        paddle.disable_static()


def save_all(out_dir, fmt, names=None):
    paddle.seed(0)
    np.random.seed(0)
    done = {}
    for name in names or MODELS:
        cls, spec_shape, _ = MODELS[name]
        net = cls()
        # Non-trivial batch-norm statistics, so that folding them is checked.
        for p in net.parameters():
            if p.name.endswith(("w_1", "w_2")) and len(p.shape) == 1:
                p.set_value(np.random.uniform(0.5, 1.5, p.shape).astype("float32"))
        net.eval()
        prefix = os.path.join(out_dir, name, "model")
        try:
            if fmt == "pir" or name in JIT_LEGACY:
                paddle.jit.save(net, prefix, input_spec=[paddle.static.InputSpec(spec_shape, "float32", "x")])
            else:
                save_legacy(net, prefix, spec_shape)
        except Exception as e:  # noqa: BLE001 - reported to the test, which decides
            done[name] = f"paddle.jit.save failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            continue
        ext = ".json" if fmt == "pir" else ".pdmodel"
        feeds = inputs_for(name)
        in_names, out_names, outs = paddle_inference(prefix + ext, prefix + ".pdiparams", feeds)
        np.savez(os.path.join(out_dir, name, "io.npz"), **{f"in{i}": x for i, x in enumerate(feeds)},
                 **{f"out{i}_{k}": o for i, os_ in enumerate(outs) for k, o in enumerate(os_)})
        done[name] = {"inputs": in_names, "outputs": out_names, "file": prefix + ext}
    return done


if __name__ == "__main__":
    import json

    out, fmt = sys.argv[1], sys.argv[2]
    if fmt == "legacy":
        _legacy_logical_not()
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    print("RESULT " + json.dumps(save_all(out, fmt, names)))
