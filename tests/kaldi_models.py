"""Kaldi nnet1 models written from code in Kaldi's text and binary encodings (base/io-funcs:
binary tokens end with a space, numbers carry their byte size, matrices are "FM" rows cols
data), with NumPy forward passes, for tests/test_kaldi_frontend.py and the fuzz seeds."""

from __future__ import annotations

import struct

import numpy as np


class Nnet1:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.components = []  # (type, out, in, payload)

    def add(self, type_, out, in_, **payload):
        self.components.append((type_, out, in_, payload))

    def text(self) -> bytes:
        def mat(m):
            return " [\n" + "\n".join("  " + " ".join(repr(float(v)) for v in row) for row in m) + " ]\n"

        def vec(v):
            return " [ " + " ".join(repr(float(x)) for x in v) + " ]\n"

        out = ["<Nnet>\n"]
        for t, o, i, p in self.components:
            out.append(f"<{t}> {o} {i}\n")
            if "offsets" in p:
                out.append("[ " + " ".join(str(x) for x in p["offsets"]) + " ]\n")
            if "w" in p:
                out.append("<LearnRateCoef> 1 <BiasLearnRateCoef> 1 <MaxNorm> 0\n" + mat(p["w"]))
            if "b" in p:
                if "w" not in p:
                    out.append("<LearnRateCoef> 1\n")
                out.append(vec(p["b"]))
            out.append("<!EndOfComponent>\n")
        out.append("</Nnet>\n")
        return "".join(out).encode()

    def binary(self) -> bytes:
        def tok(s):
            return s.encode() + b" "

        def i32(v):
            return b"\x04" + struct.pack("<i", v)

        def f32(v):
            return b"\x04" + struct.pack("<f", v)

        out = b"\0B" + tok("<Nnet>")
        for t, o, i, p in self.components:
            out += tok(f"<{t}>") + i32(o) + i32(i)
            if "offsets" in p:
                out += b"\x04" + struct.pack("<i", len(p["offsets"])) + struct.pack(f"<{len(p['offsets'])}i", *p["offsets"])
            if "w" in p:
                out += tok("<LearnRateCoef>") + f32(1) + tok("<BiasLearnRateCoef>") + f32(1) + tok("<MaxNorm>") + f32(0)
                out += tok("FM") + i32(p["w"].shape[0]) + i32(p["w"].shape[1]) + np.ascontiguousarray(p["w"], "<f4").tobytes()
            if "b" in p:
                if "w" not in p:
                    out += tok("<LearnRateCoef>") + f32(1)
                out += tok("FV") + i32(len(p["b"])) + np.ascontiguousarray(p["b"], "<f4").tobytes()
            out += tok("<!EndOfComponent>")
        return out + tok("</Nnet>")


def tdnn(seed=0):
    """Splice -> Affine -> Sigmoid -> Affine -> Tanh -> AddShift -> Rescale -> Linear -> Affine -> Softmax,
    with its NumPy forward pass."""
    n = Nnet1(seed)
    r = n.rng
    offsets = [-2, -1, 0, 1, 2]
    w1, b1 = (r.standard_normal((16, 20)) * 0.3).astype(np.float32), (r.standard_normal(16) * 0.1).astype(np.float32)
    w2, b2 = (r.standard_normal((12, 16)) * 0.3).astype(np.float32), (r.standard_normal(12) * 0.1).astype(np.float32)
    shift, scale = (r.standard_normal(12) * 0.1).astype(np.float32), (r.random(12) + 0.5).astype(np.float32)
    w3 = (r.standard_normal((8, 12)) * 0.3).astype(np.float32)
    w4, b4 = (r.standard_normal((6, 8)) * 0.3).astype(np.float32), (r.standard_normal(6) * 0.1).astype(np.float32)
    n.add("Splice", 20, 4, offsets=offsets)
    n.add("AffineTransform", 16, 20, w=w1, b=b1)
    n.add("Sigmoid", 16, 16)
    n.add("AffineTransform", 12, 16, w=w2, b=b2)
    n.add("Tanh", 12, 12)
    n.add("AddShift", 12, 12, b=shift)
    n.add("Rescale", 12, 12, b=scale)
    n.add("LinearTransform", 8, 12, w=w3)
    n.add("AffineTransform", 6, 8, w=w4, b=b4)
    n.add("Softmax", 6, 6)

    def forward(x, softmax=True):
        t = np.arange(len(x))
        # nnet-forward repeats the first and last frame at the edges of the utterance.
        y = np.concatenate([x[np.clip(t + o, 0, len(x) - 1)] for o in offsets], axis=1).astype(np.float64)
        y = 1 / (1 + np.exp(-(y @ w1.T + b1)))
        y = np.tanh(y @ w2.T + b2)
        y = (y + shift) * scale
        y = (y @ w3.T) @ w4.T + b4
        if not softmax:
            return y
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return n, forward
