"""Caffe models written from code for the Caffe frontend tests: the .prototxt as text, the
.caffemodel as protobuf bytes (tests/protobuf_wire.py, field numbers of caffe.proto), and beside
each layer a NumPy reference of what Caffe computes, written from Caffe's documented semantics
(layer docs and caffe.proto comments), not from irforge's translation.

    net = CaffeNet(seed=0)
    x = net.input("data", (1, 3, 16, 16))
    y = net.conv("conv1", x, 8, kernel=3, pad=1)
    net.save(tmp_path)            # deploy.prototxt, net.caffemodel
    net.values[y]                 # the reference output of conv1
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np

from protobuf_wire import field, varint


def _floats(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def blob_proto(a: np.ndarray) -> bytes:
    """BlobProto: shape (7) = BlobShape{dim (1), packed}, data (5), packed floats."""
    dims = b"".join(varint(int(d)) for d in a.shape)
    return field(7, field(1, dims)) + field(5, _floats(a))


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v.isupper() else f'"{v}"'
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _param_text(params: dict, indent: str) -> str:
    lines = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                lines.append(f"{indent}{key} {{\n{_param_text(v, indent + '  ')}{indent}}}\n")
            else:
                lines.append(f"{indent}{key}: {_fmt(v)}\n")
    return "".join(lines)


def conv_out(size, k, s, p, d=1):
    return (size + 2 * p - (d * (k - 1) + 1)) // s + 1


class CaffeNet:
    def __init__(self, seed: int = 0, name: str = "net"):
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.layers = []  # (name, type, bottoms, tops, params, blobs)
        self.values = {}  # blob name -> NumPy reference value
        self.feeds = {}

    # ---- files -----------------------------------------------------------------------------
    def layer(self, name, type_, bottoms, tops, params=None, blobs=()):
        self.layers.append((name, type_, list(bottoms), list(tops), params or {}, [np.asarray(b, np.float32) for b in blobs]))

    def prototxt(self) -> str:
        out = [f'name: "{self.name}"\n']
        for name, type_, bottoms, tops, params, _ in self.layers:
            out.append(f'layer {{\n  name: "{name}"\n  type: "{type_}"\n')
            out += [f'  bottom: "{b}"\n' for b in bottoms]
            out += [f'  top: "{t}"\n' for t in tops]
            out.append(_param_text(params, "  "))
            out.append("}\n")
        return "".join(out)

    def caffemodel(self) -> bytes:
        """NetParameter: name (1), layer (100) = LayerParameter{name 1, type 2, bottom 3, top 4, blobs 7}."""
        out = field(1, self.name.encode())
        for name, type_, bottoms, tops, _, blobs in self.layers:
            body = field(1, name.encode()) + field(2, type_.encode())
            body += b"".join(field(3, b.encode()) for b in bottoms) + b"".join(field(4, t.encode()) for t in tops)
            body += b"".join(field(7, blob_proto(b)) for b in blobs)
            out += field(100, body)
        return out

    def save(self, folder, stem="net"):
        proto = os.path.join(str(folder), stem + ".prototxt")
        weights = os.path.join(str(folder), stem + ".caffemodel")
        with open(proto, "w") as f:
            f.write(self.prototxt())
        with open(weights, "wb") as f:
            f.write(self.caffemodel())
        return proto, weights

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    # ---- layers (file entry + reference) ---------------------------------------------------
    def input(self, name, shape):
        self.layer(name, "Input", [], [name], {"input_param": {"shape": {"dim": list(shape)}}})
        self.feeds[name] = self.values[name] = self.randn(*shape)
        return name

    def _set(self, top, value):
        self.values[top] = np.asarray(value, np.float32)
        return top

    def conv(self, name, x, num_output, kernel, stride=1, pad=0, dilation=1, group=1, bias=True, top=None):
        v = self.values[x]
        c = v.shape[1]
        w = self.randn(num_output, c // group, kernel, kernel, scale=1.0 / math.sqrt(c // group * kernel * kernel))
        b = self.randn(num_output, scale=0.1)
        p = {"num_output": num_output, "kernel_size": kernel, "group": group, "bias_term": bias}
        if stride != 1:
            p["stride"] = stride
        if pad:
            p["pad"] = pad
        if dilation != 1:
            p["dilation"] = dilation
        top = top or name
        self.layer(name, "Convolution", [x], [top], {"convolution_param": p}, [w, b] if bias else [w])
        return self._set(top, conv_ref(v, w, b if bias else None, stride, pad, dilation, group))

    def deconv(self, name, x, num_output, kernel, stride=1, pad=0, group=1):
        v = self.values[x]
        c = v.shape[1]
        w = self.randn(c, num_output // group, kernel, kernel, scale=0.3)
        b = self.randn(num_output, scale=0.1)
        p = {"num_output": num_output, "kernel_size": kernel, "stride": stride, "pad": pad, "group": group}
        self.layer(name, "Deconvolution", [x], [name], {"convolution_param": p}, [w, b])
        return self._set(name, deconv_ref(v, w, b, stride, pad, group))

    def pool(self, name, x, method="MAX", kernel=2, stride=2, pad=0, global_pooling=False):
        p = {"pool": method}
        if global_pooling:
            p["global_pooling"] = True
        else:
            p.update({"kernel_size": kernel, "stride": stride})
            if pad:
                p["pad"] = pad
        self.layer(name, "Pooling", [x], [name], {"pooling_param": p})
        v = self.values[x]
        if global_pooling:
            kernel, stride, pad = v.shape[2], 1, 0  # Caffe: kernel = the whole plane
        return self._set(name, pool_ref(v, method, kernel, stride, pad))

    def inner_product(self, name, x, num_output, axis=1):
        v = self.values[x]
        k = int(np.prod(v.shape[axis:]))
        w = self.randn(num_output, k, scale=1.0 / math.sqrt(k))
        b = self.randn(num_output, scale=0.1)
        self.layer(name, "InnerProduct", [x], [name], {"inner_product_param": {"num_output": num_output, "axis": axis}}, [w, b])
        lead = v.shape[:axis]
        return self._set(name, (v.reshape(int(np.prod(lead)), k) @ w.T + b).reshape(*lead, num_output))

    def relu(self, name, x, negative_slope=0.0, in_place=True):
        top = x if in_place else name
        params = {"relu_param": {"negative_slope": negative_slope}} if negative_slope else {}
        v = self.values[x]
        self.layer(name, "ReLU", [x], [top], params)
        return self._set(top, np.where(v > 0, v, v * negative_slope))

    def activation(self, name, type_, x, params=None):
        v = self.values[x]
        ref = {
            "Sigmoid": lambda: 1 / (1 + np.exp(-v)),
            "TanH": lambda: np.tanh(v),
            "AbsVal": lambda: np.abs(v),
            "ELU": lambda: np.where(v > 0, v, (params or {}).get("elu_param", {}).get("alpha", 1.0) * (np.exp(v) - 1)),
        }[type_]()
        self.layer(name, type_, [x], [name], params)
        return self._set(name, ref)

    def prelu(self, name, x, channel_shared=False):
        v = self.values[x]
        slope = self.randn(1 if channel_shared else v.shape[1], scale=0.3)
        self.layer(name, "PReLU", [x], [name], {"prelu_param": {"channel_shared": channel_shared}}, [slope])
        s = slope.reshape((1, -1) + (1,) * (v.ndim - 2))
        return self._set(name, np.where(v > 0, v, v * s))

    def power(self, name, x, power=1.0, scale=1.0, shift=0.0):
        v = self.values[x]
        self.layer(name, "Power", [x], [name], {"power_param": {"power": power, "scale": scale, "shift": shift}})
        return self._set(name, (shift + scale * v) ** power)

    def batch_norm_scale(self, name, x, eps=1e-5, factor=0.5):
        """Caffe's two-layer BatchNorm (running sums / moving-average factor) + Scale with bias."""
        v = self.values[x]
        c = v.shape[1]
        mean = self.randn(c, scale=0.5)
        var = (self.rng.random(c) + 0.5).astype(np.float32)
        # The caffemodel stores the sums times the factor; Caffe divides by blob 2.
        self.layer(name + "_bn", "BatchNorm", [x], [x], {"batch_norm_param": {"use_global_stats": True, "eps": eps}},
                   [mean * factor, var * factor, np.array([factor], np.float32)])
        gamma = self.randn(c, scale=0.5) + 1
        beta = self.randn(c, scale=0.1)
        self.layer(name + "_scale", "Scale", [x], [x], {"scale_param": {"bias_term": True}}, [gamma, beta])
        sh = (1, -1) + (1,) * (v.ndim - 2)
        norm = (v - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps)
        return self._set(x, norm * gamma.reshape(sh) + beta.reshape(sh))

    def eltwise(self, name, xs, operation="SUM", coeff=None):
        p = {"operation": operation}
        if coeff:
            p["coeff"] = [float(c) for c in coeff]
        self.layer(name, "Eltwise", xs, [name], {"eltwise_param": p})
        vs = [self.values[x] for x in xs]
        if operation == "SUM":
            ref = sum((coeff[i] if coeff else 1.0) * v for i, v in enumerate(vs))
        elif operation == "PROD":
            ref = np.prod(vs, axis=0)
        else:
            ref = np.max(vs, axis=0)
        return self._set(name, ref)

    def simple(self, name, type_, bottoms, tops, params, ref_values):
        """A layer whose reference the test computes itself."""
        self.layer(name, type_, bottoms, tops, params)
        for t, r in zip(tops, ref_values):
            self._set(t, r)
        return tops[0] if len(tops) == 1 else tops


# ---- NumPy references -----------------------------------------------------------------------


def conv_ref(x, w, b, stride, pad, dil, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = conv_out(h, kh, stride, pad, dil), conv_out(wd, kw, stride, pad, dil)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, o, ho, wo))
    og = o // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dil:i * dil + stride * (ho - 1) + 1:stride, j * dil:j * dil + stride * (wo - 1) + 1:stride]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def deconv_ref(x, w, b, stride, pad, group):
    """Each input pixel scatters kernel x value onto the output (Caffe's col2im), then the
    border of width `pad` is dropped."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // group
    hf, wf = stride * (h - 1) + kh, stride * (wd - 1) + kw
    out = np.zeros((n, og * group, hf, wf))
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                out[:, g * og:(g + 1) * og, i:i + stride * (h - 1) + 1:stride, j:j + stride * (wd - 1) + 1:stride] += np.einsum(
                    "nchw,co->nohw", x[:, g * cg:(g + 1) * cg].astype(np.float64), w[g * cg:(g + 1) * cg, :, i, j])
    out = out[:, :, pad:hf - pad, pad:wf - pad]
    return out + b.reshape(1, -1, 1, 1)


def pool_ref(x, method, k, s, p):
    """Caffe's PoolingLayer: output size rounded up, a last window starting in the padding
    dropped; MAX over the window clipped to the input; AVE divided by the window clipped to the
    padded input."""
    n, c, h, w = x.shape

    def size(d):
        o = int(math.ceil((d + 2 * p - k) / s)) + 1
        if p and (o - 1) * s >= d + p:
            o -= 1
        return o

    ho, wo = size(h), size(w)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            hs, ws = i * s - p, j * s - p
            if method == "MAX":
                he, we = min(hs + k, h), min(ws + k, w)
                out[:, :, i, j] = x[:, :, max(hs, 0):he, max(ws, 0):we].max(axis=(2, 3))
            else:
                he, we = min(hs + k, h + p), min(ws + k, w + p)
                count = (he - hs) * (we - ws)
                window = x[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)].astype(np.float64)
                out[:, :, i, j] = window.sum(axis=(2, 3)) / count
    return out


def lrn_ref(x, size, alpha, beta, k=1.0, region="ACROSS_CHANNELS"):
    x64 = x.astype(np.float64)
    sq = x64 ** 2
    half = (size - 1) // 2
    if region == "ACROSS_CHANNELS":
        # scale_c = k + alpha / size * sum of squares over channels [c - half, c + half]
        c = x.shape[1]
        padded = np.pad(sq, ((0, 0), (half, size - 1 - half), (0, 0), (0, 0)))
        window = sum(padded[:, i:i + c] for i in range(size))
        return x64 * (k + alpha / size * window) ** -beta
    # WITHIN_CHANNEL: (1 + alpha / size^2 * sum of squares over a zero-padded size x size window)^-beta
    h, w = x.shape[2:]
    padded = np.pad(sq, ((0, 0), (0, 0), (half, half), (half, half)))
    window = sum(padded[:, :, i:i + h, j:j + w] for i in range(size) for j in range(size))
    return x64 * (1 + alpha / (size * size) * window) ** -beta


def normalize_ref(x, scale, across_spatial, eps=1e-10):
    x64 = x.astype(np.float64)
    axes = tuple(range(1, x.ndim)) if across_spatial else (1,)
    norm = np.sqrt((x64 ** 2).sum(axis=axes, keepdims=True) + eps)
    return x64 / norm * scale.reshape((1, -1) + (1,) * (x.ndim - 2))


def prior_box_ref(feat_hw, img_hw, min_sizes, max_sizes=(), aspect_ratios=(), flip=True, clip=False,
                  variance=(0.1,), step=None, offset=0.5):
    """SSD's PriorBoxLayer: per feature-map cell, per min_size a square box, a sqrt(min*max)
    square box, then a box per extra aspect ratio; corners normalised by the image size; then the
    variances in channel 1."""
    ars = [1.0]
    for ar in aspect_ratios:
        if any(abs(ar - a) < 1e-6 for a in ars):
            continue
        ars.append(ar)
        if flip:
            ars.append(1.0 / ar)
    fh, fw = feat_hw
    ih, iw = img_hw
    sh = sw = step if step else None
    if sh is None:
        sh, sw = ih / fh, iw / fw
    boxes = []
    for h in range(fh):
        for w in range(fw):
            cx, cy = (w + offset) * sw, (h + offset) * sh
            for si, mn in enumerate(min_sizes):
                sizes = [(mn, mn)]
                if max_sizes:
                    side = math.sqrt(mn * max_sizes[si])
                    sizes.append((side, side))
                sizes += [(mn * math.sqrt(ar), mn / math.sqrt(ar)) for ar in ars if abs(ar - 1) >= 1e-6]
                for bw, bh in sizes:
                    boxes.append([(cx - bw / 2) / iw, (cy - bh / 2) / ih, (cx + bw / 2) / iw, (cy + bh / 2) / ih])
    b = np.array(boxes, np.float64).reshape(-1)
    if clip:
        b = np.clip(b, 0, 1)
    var = np.tile(np.array(variance if len(variance) == 4 else list(variance) * 4, np.float64), len(boxes))
    return np.stack([b, var])[None]


def unpack_floats(data: bytes):
    return struct.unpack(f"<{len(data) // 4}f", data)


def detection_output_ref(loc, conf, priors, num_classes, background=0, nms_threshold=0.45, top_k=-1, keep_top_k=-1,
                         confidence_threshold=-np.inf, code_type="CENTER_SIZE", share_location=True):
    """Caffe's DetectionOutputLayer (eta 1): decode each prior's offsets (one set per prior, or
    one per class without share_location) with its
    variances, per class (not the background) take the scores above the threshold, best first,
    at most top_k, greedy NMS (drop a box overlapping a kept one by more than nms_threshold),
    then the best keep_top_k over all classes. Rows (image, label, score, xmin, ymin, xmax, ymax)
    in Caffe's order: by image, by label, best score first."""
    n = loc.shape[0]
    p = priors.shape[2] // 4
    pb = priors[0, 0].reshape(p, 4).astype(np.float64)
    var = priors[0, 1].reshape(p, 4).astype(np.float64)

    def iou(a, b):
        iw = min(a[2], b[2]) - max(a[0], b[0])
        ih = min(a[3], b[3]) - max(a[1], b[1])
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        size = lambda r: max(r[2] - r[0], 0) * max(r[3] - r[1], 0)  # noqa: E731
        return inter / (size(a) + size(b) - inter)

    def decode(d):
        if code_type == "CENTER_SIZE":
            pw, ph = pb[:, 2] - pb[:, 0], pb[:, 3] - pb[:, 1]
            pcx, pcy = (pb[:, 0] + pb[:, 2]) / 2, (pb[:, 1] + pb[:, 3]) / 2
            cx, cy = var[:, 0] * d[:, 0] * pw + pcx, var[:, 1] * d[:, 1] * ph + pcy
            w, h = np.exp(var[:, 2] * d[:, 2]) * pw, np.exp(var[:, 3] * d[:, 3]) * ph
            return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        return pb + var * d  # CORNER

    rows = []
    for i in range(n):
        d = loc[i].reshape(p, -1, 4).astype(np.float64)
        per_class = [decode(d[:, 0 if share_location else c]) for c in range(num_classes)]
        scores = conf[i].reshape(p, num_classes).astype(np.float64)
        kept = []  # (score, label, prior)
        for c in range(num_classes):
            if c == background:
                continue
            s = scores[:, c]
            order = [j for j in np.argsort(-s, kind="stable") if s[j] > confidence_threshold]
            if top_k > -1:
                order = order[:top_k]
            chosen, boxes = [], per_class[c]
            for j in order:
                if all(iou(boxes[j], boxes[k]) <= nms_threshold for k in chosen):
                    chosen.append(j)
            kept += [(s[j], c, j) for j in chosen]
        if keep_top_k > -1 and len(kept) > keep_top_k:
            kept = sorted(kept, key=lambda t: -t[0])[:keep_top_k]
        kept.sort(key=lambda t: (t[1], -t[0]))
        rows += [[i, c, sc, *per_class[c][j]] for sc, c, j in kept]
    return np.array(rows, np.float64).reshape(-1, 7)
