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
            if "lstm" in p:  # WriteData: the <Tokens>, then the matrices and vectors in order
                out.append(" ".join(f"{k} {v}" for k, v in p["lstm"]) + "\n")
                out.extend(mat(a) if a.ndim == 2 else vec(a) for a in p["params"])
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
            if "lstm" in p:
                for k, v in p["lstm"]:
                    out += tok(k) + (i32(v) if isinstance(v, int) else f32(v))
                for a in p["params"]:
                    if a.ndim == 2:
                        out += tok("FM") + i32(a.shape[0]) + i32(a.shape[1]) + np.ascontiguousarray(a, "<f4").tobytes()
                    else:
                        out += tok("FV") + i32(len(a)) + np.ascontiguousarray(a, "<f4").tobytes()
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


class I(int):
    """An int field (Kaldi writes int32)."""


class B:
    """A bool field (binary: a bare 'T'/'F'; text: 'T'/'F')."""

    def __init__(self, v):
        self.v = v


class Nnet3:
    """An nnet3 model as Nnet::Write writes it: "<Nnet3>", the config lines (text even in a
    binary file), a blank line, "<NumComponents>", each component as "<ComponentName> name
    <Type> fields </Type>", "</Nnet3>". Fields: I (int), float, B (bool), tuple of I (two ints,
    <RankInOut>), 1-D arrays (vectors), 2-D arrays (matrices)."""

    def __init__(self, config):
        self.config = config.strip("\n").split("\n")
        self.components = []  # (name, type, [(key, value)])

    def add(self, name, type_, *fields):
        self.components.append((name, type_, list(fields)))

    def _value(self, v, binary):
        if binary:
            if isinstance(v, B):
                return b"T" if v.v else b"F"
            if isinstance(v, I):
                return b"\x04" + struct.pack("<i", v)
            if isinstance(v, tuple):
                return b"".join(self._value(x, True) for x in v)
            if isinstance(v, float):
                return b"\x04" + struct.pack("<f", v)
            a = np.ascontiguousarray(v, "<f4")
            if a.ndim == 1:
                return b"FV " + b"\x04" + struct.pack("<i", len(a)) + a.tobytes()
            return b"FM " + b"\x04" + struct.pack("<i", a.shape[0]) + b"\x04" + struct.pack("<i", a.shape[1]) + a.tobytes()
        if isinstance(v, B):
            return b"T " if v.v else b"F "
        if isinstance(v, (I, float)):
            return repr(v).encode() + b" " if isinstance(v, float) else str(int(v)).encode() + b" "
        if isinstance(v, tuple):
            return b"".join(self._value(x, False) for x in v)
        a = np.asarray(v, np.float32)
        if a.ndim == 1:  # Vector::Write: " [ v0 v1 ... ]\n"
            return b" [ " + b"".join(repr(float(x)).encode() + b" " for x in a) + b"]\n"
        # Matrix::Write: " [" then each row on its own line, " ]\n" at the end.
        return b" [" + b"".join(b"\n  " + " ".join(repr(float(x)) for x in row).encode() for row in a) + b" ]\n"

    def write(self, binary, mdl=False) -> bytes:
        def tok(s):
            return s.encode() + b" "

        out = b"\0B" if binary else b""
        if mdl:  # a TransitionModel ahead of the network, as in final.mdl (skipped by readers)
            out += tok("<TransitionModel>") + tok("<Topology>") + (b"\x04" + struct.pack("<i", 3) if binary else b"3 ")
            out += tok("</Topology>") + tok("</TransitionModel>") + (b"" if binary else b"\n")
        out += tok("<Nnet3>") + b"\n" + "\n".join(self.config).encode() + b"\n\n"
        out += tok("<NumComponents>") + self._value(I(len(self.components)), binary) + (b"" if binary else b"\n")
        for name, type_, fields in self.components:
            out += tok("<ComponentName>") + tok(name) + tok(f"<{type_}>")
            for key, value in fields:
                out += tok(f"<{key}>") + self._value(value, binary)
            out += tok(f"</{type_}>") + (b"" if binary else b"\n")
        out += tok("</Nnet3>")
        if mdl:
            out += tok("<LeftContext>") + self._value(I(0), binary) + tok("<RightContext>") + self._value(I(0), binary)
            out += tok("<Priors>") + self._value(np.zeros(0, np.float32), binary)
        return out


def _nl(name, dim, rng, type_="RectifiedLinearComponent"):
    """A NonlinearComponent with its training statistics, as Kaldi writes them."""
    return (name, type_, ("Dim", I(dim)), ("ValueAvg", rng.random(dim).astype(np.float32)), ("DerivAvg", rng.random(dim).astype(np.float32)),
            ("Count", 123.0), ("NumDimsSelfRepaired", 0.0), ("NumDimsProcessed", 0.0), ("SelfRepairScale", 1e-05))


def nnet3_tdnn(seed=0):
    """A TDNN acoustic model in nnet3 form: LDA-style FixedAffine over spliced frames, natural-
    gradient affine + ReLU + BatchNorm, an affine over Append(Offset(..)) context, Sigmoid,
    NormalizeComponent (blocks, log-stddev), LinearComponent over Sum(Offset, Scale), Tanh,
    ElementwiseProduct, a dim-range-node, FixedScale/FixedBias, NoOp, BackpropTruncation and a
    final affine + LogSoftmax. Returns the Nnet3 and a NumPy forward pass that evaluates every
    node at the times it is asked for, with the input frames clamped to the utterance (as
    nnet3-compute pads them)."""
    r = np.random.default_rng(seed)

    def m(o, i):
        return (r.standard_normal((o, i)) * 0.4).astype(np.float32)

    def v(n, k=0.1):
        return (r.standard_normal(n) * k).astype(np.float32)

    config = """
input-node name=input dim=4
component-node name=lda component=lda input=Append(Offset(input, -1), input, Offset(input, 1))
component-node name=tdnn1.affine component=tdnn1.affine input=lda
component-node name=tdnn1.relu component=tdnn1.relu input=tdnn1.affine
component-node name=tdnn1.batchnorm component=tdnn1.batchnorm input=tdnn1.relu
component-node name=tdnn2.affine component=tdnn2.affine input=Append(Offset(tdnn1.batchnorm, -2), tdnn1.batchnorm, Offset(tdnn1.batchnorm, 3))
component-node name=tdnn2.sigmoid component=tdnn2.sigmoid input=tdnn2.affine
component-node name=tdnn2.renorm component=tdnn2.renorm input=tdnn2.sigmoid
component-node name=prefinal.linear component=prefinal.linear input=Sum(Offset(tdnn2.renorm, -1), Scale(0.5, tdnn2.renorm))
component-node name=prefinal.tanh component=prefinal.tanh input=prefinal.linear
component-node name=prefinal.prod component=prefinal.prod input=prefinal.tanh
dim-range-node name=prefinal.part input-node=prefinal.tanh dim-offset=2 dim=3
component-node name=prefinal.scale component=prefinal.scale input=Append(prefinal.prod, prefinal.part)
component-node name=prefinal.bias component=prefinal.bias input=prefinal.scale
component-node name=prefinal.noop component=prefinal.noop input=prefinal.bias
component-node name=prefinal.trunc component=prefinal.trunc input=prefinal.noop
component-node name=output.affine component=output.affine input=prefinal.trunc
component-node name=output.log-softmax component=output.log-softmax input=output.affine
output-node name=output input=output.log-softmax objective=linear
"""
    n = Nnet3(config)
    lda_w, lda_b = m(12, 12), v(12)
    w1, b1 = m(16, 12), v(16)
    bn_mean, bn_var = v(8, 0.5), (r.random(8) + 0.2).astype(np.float32)
    w2, b2 = m(12, 48), v(12)
    lin = m(10, 14)
    scales, bias = (r.random(8) + 0.5).astype(np.float32), v(8)
    wo, bo = m(6, 8), v(6)
    n.add("lda", "FixedAffineComponent", ("LinearParams", lda_w), ("BiasParams", lda_b))
    n.add("tdnn1.affine", "NaturalGradientAffineComponent", ("MaxChange", 0.75), ("LearningRate", 0.001), ("LinearParams", w1), ("BiasParams", b1),
          ("RankIn", I(20)), ("RankOut", I(80)), ("UpdatePeriod", I(4)), ("NumSamplesHistory", 2000.0), ("Alpha", 4.0), ("IsGradient", B(False)))
    n.add(*_nl("tdnn1.relu", 16, r))
    n.add("tdnn1.batchnorm", "BatchNormComponent", ("Dim", I(16)), ("BlockDim", I(8)), ("Epsilon", 0.001), ("TargetRms", 0.8), ("TestMode", B(False)),
          ("Count", 4000.0), ("StatsMean", bn_mean), ("StatsVar", bn_var))
    n.add("tdnn2.affine", "AffineComponent", ("LearningRate", 0.001), ("LinearParams", w2), ("BiasParams", b2), ("IsGradient", B(False)))
    n.add(*_nl("tdnn2.sigmoid", 12, r, "SigmoidComponent"))
    n.add("tdnn2.renorm", "NormalizeComponent", ("InputDim", I(12)), ("BlockDim", I(6)), ("TargetRms", 0.5), ("AddLogStddev", B(True)))
    n.add("prefinal.linear", "LinearComponent", ("LearningRate", 0.001), ("Params", lin), ("UseNaturalGradient", B(True)), ("RankInOut", (I(20), I(20))),
          ("Alpha", 4.0), ("NumSamplesHistory", 2000.0), ("UpdatePeriod", I(4)))
    n.add(*_nl("prefinal.tanh", 10, r, "TanhComponent"))
    n.add("prefinal.prod", "ElementwiseProductComponent", ("InputDim", I(10)), ("OutputDim", I(5)))
    n.add("prefinal.scale", "FixedScaleComponent", ("Scales", scales))
    n.add("prefinal.bias", "FixedBiasComponent", ("Bias", bias))
    n.add(*_nl("prefinal.noop", 8, r, "NoOpComponent"))
    n.add("prefinal.trunc", "BackpropTruncationComponent", ("Dim", I(8)), ("Scale", 1.0), ("ClippingThreshold", 30.0), ("ZeroingThreshold", 15.0),
          ("ZeroingInterval", I(20)), ("RecurrenceInterval", I(1)), ("NumElementsClipped", 0.0), ("NumElementsZeroed", 0.0),
          ("NumElementsProcessed", 0.0), ("NumZeroingBoundaries", 0.0))
    n.add("output.affine", "AffineComponent", ("LearningRate", 0.001), ("LinearParams", wo), ("BiasParams", bo))
    n.add(*_nl("output.log-softmax", 6, r, "LogSoftmaxComponent"))

    def forward(x, log_softmax=True):
        x = x.astype(np.float64)
        T = len(x)

        def inp(ts):
            return x[np.clip(ts, 0, T - 1)]

        def lda(ts):
            return np.concatenate([inp(ts - 1), inp(ts), inp(ts + 1)], axis=1) @ lda_w.T + lda_b

        def bn(ts):
            y = np.maximum(lda(ts) @ w1.T + b1, 0).reshape(-1, 8)
            return ((y - bn_mean) * 0.8 / np.sqrt(bn_var.astype(np.float64) + 0.001)).reshape(-1, 16)

        def renorm(ts):
            y = np.concatenate([bn(ts - 2), bn(ts), bn(ts + 3)], axis=1) @ w2.T + b2
            y = (1 / (1 + np.exp(-y))).reshape(-1, 6)
            norm = np.maximum((y * y).sum(axis=1, keepdims=True) / (6 * 0.25), 2.0 ** -66)
            return np.concatenate([y / np.sqrt(norm), 0.5 * np.log(norm) + np.log(0.5)], axis=1).reshape(-1, 14)

        ts = np.arange(T)
        t = np.tanh((renorm(ts - 1) + 0.5 * renorm(ts)) @ lin.T)
        y = np.concatenate([t[:, :5] * t[:, 5:], t[:, 2:5]], axis=1) * scales + bias
        y = y @ wo.T + bo
        if not log_softmax:
            return y
        return y - y.max(axis=1, keepdims=True) - np.log(np.exp(y - y.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))

    return n, forward


def lstm_params(rng, in_dim, proj, cell, scale=0.5):
    """w_gifo_x, w_gifo_r, bias, peephole_i, peephole_f, peephole_o, w_r_m (ReadData's order)."""
    def m(o, i):
        return (rng.standard_normal((o, i)) * scale).astype(np.float32)

    def v(n):
        return (rng.standard_normal(n) * scale).astype(np.float32)

    return [m(4 * cell, in_dim), m(4 * cell, proj), v(4 * cell), v(cell), v(cell), v(cell), m(proj, cell)]


def lstm_forward(x, params, clip=50.0):
    """nnet1 LstmProjected::PropagateFnc for one stream from a zero state, in float64."""
    wx, wr, b, pi, pf, po, wrm = (p.astype(np.float64) for p in params)
    cell, proj = len(pi), wrm.shape[0]
    r, c = np.zeros(proj), np.zeros(cell)
    gx = x @ wx.T + b
    out = []
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(len(x)):
        gifo = gx[t] + wr @ r
        g = np.tanh(gifo[:cell])
        i = sig(gifo[cell:2 * cell] + c * pi)
        f = sig(gifo[2 * cell:3 * cell] + c * pf)
        c = f * c + i * g
        if clip > 0:
            c = np.clip(c, -clip, clip)
        o = sig(gifo[3 * cell:] + c * po)
        r = wrm @ (o * np.tanh(c))
        out.append(r)
    return np.array(out)


def lstm_model(seed=0):
    """An LSTM acoustic model in nnet1 form: Splice -> AffineTransform -> LstmProjected (with
    every token nnet-copy writes; a small <CellClip> that bites) -> LstmProjectedStreams (the
    older form: <CellDim>, <ClipGradient>; clips at 50) -> AffineTransform -> Softmax, with its
    NumPy forward pass."""
    n = Nnet1(seed)
    r = n.rng
    w1, b1 = (r.standard_normal((8, 12)) * 0.4).astype(np.float32), (r.standard_normal(8) * 0.1).astype(np.float32)
    p1 = lstm_params(r, 8, 5, 6, scale=0.8)
    p2 = lstm_params(r, 5, 4, 3)
    w3, b3 = (r.standard_normal((6, 4)) * 0.5).astype(np.float32), (r.standard_normal(6) * 0.1).astype(np.float32)
    n.add("Splice", 12, 4, offsets=[-1, 0, 1])
    n.add("AffineTransform", 8, 12, w=w1, b=b1)
    tokens = [("<CellDim>", 6), ("<LearnRateCoef>", 1.0), ("<BiasLearnRateCoef>", 1.0), ("<CellClip>", 0.75), ("<DiffClip>", 1.0),
              ("<CellDiffClip>", 0.0), ("<GradClip>", 250.0)]
    n.add("LstmProjected", 5, 8, lstm=tokens, params=p1)
    n.add("LstmProjectedStreams", 4, 5, lstm=[("<CellDim>", 3), ("<ClipGradient>", 5.0)], params=p2)
    n.add("AffineTransform", 6, 4, w=w3, b=b3)
    n.add("Softmax", 6, 6)

    def forward(x):
        t = np.arange(len(x))
        y = np.concatenate([x[np.clip(t + o, 0, len(x) - 1)] for o in (-1, 0, 1)], axis=1).astype(np.float64)
        y = y @ w1.T + b1
        y = lstm_forward(y, p1, clip=0.75)
        y = lstm_forward(y, p2)
        y = y @ w3.T + b3
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return n, forward


def nnet3_lstm(seed=0, delay=3):
    """An LSTM acoustic model in nnet3 form, as steps/libs/nnet3/xconfig's lstm-layer writes it:
    a TDNN layer, W_all over Append(x, IfDefined(Offset(m_trunc, -delay))), the
    LstmNonlinearityComponent over Append(W_all, IfDefined(Offset(c_trunc, -delay))), a
    BackpropTruncationComponent and dim-range nodes for c and m, then an affine over
    Append(Offset(m, -1), m) and a LogSoftmax. Returns the Nnet3 and a NumPy forward pass:
    the utterance as one chunk (inputs clamped to it), the recurrence starting from zeros at the
    first frame its non-recurrent inputs cover."""
    r = np.random.default_rng(seed)
    C = 5

    def m(o, i, k=0.5):
        return (r.standard_normal((o, i)) * k).astype(np.float32)

    def v(n, k=0.2):
        return (r.standard_normal(n) * k).astype(np.float32)

    config = f"""
input-node name=input dim=4
component-node name=tdnn.affine component=tdnn.affine input=Append(Offset(input, -1), input, Offset(input, 1))
component-node name=tdnn.relu component=tdnn.relu input=tdnn.affine
component-node name=lstm.W_all component=lstm.W_all input=Append(tdnn.relu, IfDefined(Offset(lstm.m_trunc, -{delay})))
component-node name=lstm.lstm_nonlin component=lstm.lstm_nonlin input=Append(lstm.W_all, IfDefined(Offset(lstm.c_trunc, -{delay})))
dim-range-node name=lstm.m input-node=lstm.lstm_nonlin dim-offset={C} dim={C}
component-node name=lstm.cm_trunc component=lstm.cm_trunc input=lstm.lstm_nonlin
dim-range-node name=lstm.c_trunc input-node=lstm.cm_trunc dim-offset=0 dim={C}
dim-range-node name=lstm.m_trunc input-node=lstm.cm_trunc dim-offset={C} dim={C}
component-node name=output.affine component=output.affine input=Append(Offset(lstm.m, -1), lstm.m)
component-node name=output.log-softmax component=output.log-softmax input=output.affine
output-node name=output input=output.log-softmax objective=linear
"""
    n = Nnet3(config)
    wt, bt = m(8, 12), v(8)
    wa, ba = m(4 * C, 8 + C), v(4 * C)
    peep = m(3, C, 0.8)
    wo, bo = m(6, 2 * C), v(6)
    n.add("tdnn.affine", "NaturalGradientAffineComponent", ("MaxChange", 0.75), ("LearningRate", 0.001), ("LinearParams", wt), ("BiasParams", bt),
          ("RankIn", I(20)), ("RankOut", I(80)), ("UpdatePeriod", I(4)), ("NumSamplesHistory", 2000.0), ("Alpha", 4.0))
    n.add(*_nl("tdnn.relu", 8, r))
    n.add("lstm.W_all", "NaturalGradientAffineComponent", ("MaxChange", 1.5), ("LearningRate", 0.001), ("LinearParams", wa), ("BiasParams", ba),
          ("RankIn", I(20)), ("RankOut", I(80)), ("UpdatePeriod", I(4)), ("NumSamplesHistory", 2000.0), ("Alpha", 4.0))
    n.add("lstm.lstm_nonlin", "LstmNonlinearityComponent", ("MaxChange", 0.75), ("LearningRate", 0.001), ("Params", peep),
          ("ValueAvg", np.zeros((5, C), np.float32)), ("DerivAvg", np.zeros((5, C), np.float32)),
          ("SelfRepairConfig", np.array([0.05, 0.05, 0.2, 0.05, 0.2, 0.95, 0.95, 0.8, 0.95, 0.8], np.float32)),
          ("SelfRepairProb", np.zeros(5, np.float32)), ("Count", 0.0), ("UseNaturalGradient", B(True)), ("NumSamplesHistory", 2000.0),
          ("UpdatePeriod", I(4)), ("Alpha", 4.0))
    n.add("lstm.cm_trunc", "BackpropTruncationComponent", ("Dim", I(2 * C)), ("Scale", 1.0), ("ClippingThreshold", 30.0),
          ("ZeroingThreshold", 15.0), ("ZeroingInterval", I(20)), ("RecurrenceInterval", I(delay)))
    n.add("output.affine", "AffineComponent", ("LearningRate", 0.001), ("LinearParams", wo), ("BiasParams", bo))
    n.add(*_nl("output.log-softmax", 6, r, "LogSoftmaxComponent"))

    def forward(x):
        x = x.astype(np.float64)
        T = len(x)
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        first = -1  # the first frame tdnn.relu covers: the output reads m(t - 1), tdnn reads input(t - 1)
        cs, ms = {}, {}
        for t in range(first, T):
            xt = np.concatenate([x[min(max(t + o, 0), T - 1)] for o in (-1, 0, 1)])
            h = np.maximum(wt @ xt + bt, 0)
            m_prev = ms.get(t - delay, np.zeros(C))
            c_prev = cs.get(t - delay, np.zeros(C))
            g = wa @ np.concatenate([h, m_prev]) + ba
            i = sig(g[:C] + peep[0] * c_prev)
            f = sig(g[C:2 * C] + peep[1] * c_prev)
            c = f * c_prev + i * np.tanh(g[2 * C:3 * C])
            o = sig(g[3 * C:] + peep[2] * c)
            cs[t], ms[t] = c, o * np.tanh(c)
        y = np.array([wo @ np.concatenate([ms[t - 1], ms[t]]) + bo for t in range(T)])
        mx = y.max(axis=1, keepdims=True)
        return y - mx - np.log(np.exp(y - mx).sum(axis=1, keepdims=True))

    return n, forward
