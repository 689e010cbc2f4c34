"""A minimal .tflite (flatbuffer) writer for tests and the fuzz seed corpus: small models built in
code, without TensorFlow, including forms the converter does not produce on demand (operator codes
above 127 in builtin_code only, buffers stored after the flatbuffer via offset/size) and damaged
ones (tests/test_tflite_malformed.py).

Layout: objects are written front to back; a table's vtable right before it, its children (vectors,
strings, sub-tables) after it, with the uint32 offsets patched in (flatbuffer offsets point
forward; the signed vtable offset may point backward)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

FLOAT32, FLOAT16, INT32, UINT8, INT64, INT16, INT8 = 0, 1, 2, 3, 4, 7, 9
NP_TYPE = {FLOAT32: np.float32, FLOAT16: np.float16, INT32: np.int32, UINT8: np.uint8, INT64: np.int64, INT16: np.int16, INT8: np.int8}
ADD, CONV_2D, FULLY_CONNECTED, RESHAPE, DEQUANTIZE, QUANTIZE, GELU, SOFTMAX = 0, 3, 9, 22, 6, 114, 150, 25
UNIDIRECTIONAL_SEQUENCE_LSTM = 44
OPTIONS = {ADD: 11, CONV_2D: 1, FULLY_CONNECTED: 8, SOFTMAX: 9, GELU: 124, UNIDIRECTIONAL_SEQUENCE_LSTM: 71}  # BuiltinOptions union types


class _Writer:
    def __init__(self):
        self.buf = bytearray()

    def align(self, n):
        while len(self.buf) % n:
            self.buf.append(0)

    def table(self, fields: Dict[int, tuple]) -> int:
        """fields: {field index: (fmt, value)}; fmt a struct code, or 'off' with a callable that
        writes the child and returns its position."""
        n = max(fields) + 1 if fields else 0
        self.align(4)
        vt = len(self.buf)
        self.buf += b"\0" * (4 + 2 * n)
        self.align(8)
        if (len(self.buf) - vt) % 2:
            self.buf.append(0)
        tpos = len(self.buf)
        self.buf += struct.pack("<i", tpos - vt)
        offs, pending = {}, []
        for idx in sorted(fields):
            fmt, val = fields[idx]
            size = 4 if fmt == "off" else struct.calcsize("<" + fmt)
            self.align(size)
            offs[idx] = len(self.buf) - tpos
            if fmt == "off":
                pending.append((len(self.buf), val))
                self.buf += b"\0\0\0\0"
            else:
                self.buf += struct.pack("<" + fmt, val)
        tsize = len(self.buf) - tpos
        struct.pack_into("<HH", self.buf, vt, 4 + 2 * n, tsize)
        for idx, o in offs.items():
            struct.pack_into("<H", self.buf, vt + 4 + 2 * idx, o)
        for at, write in pending:
            child = write()
            struct.pack_into("<I", self.buf, at, child - at)
        return tpos

    def vector(self, fmt: str, values: Sequence, elem_align: int = 4) -> int:
        self.align(max(4, elem_align))
        if elem_align == 8 and len(self.buf) % 8 == 0:
            self.buf += b"\0\0\0\0"
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(values))
        for v in values:
            self.buf += struct.pack("<" + fmt, v)
        return pos

    def bytes_vector(self, data: bytes) -> int:
        self.align(16)
        self.buf += b"\0" * 12  # the data (after the length) starts 16-aligned
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(data)) + data
        return pos

    def string(self, s: str) -> int:
        self.align(4)
        pos = len(self.buf)
        b = s.encode()
        self.buf += struct.pack("<I", len(b)) + b + b"\0"
        return pos

    def tables(self, writers: List) -> int:
        self.align(4)
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(writers)) + b"\0" * (4 * len(writers))
        for k, w in enumerate(writers):
            at = pos + 4 + 4 * k
            child = w()
            struct.pack_into("<I", self.buf, at, child - at)
        return pos


@dataclass
class Tensor:
    name: str
    shape: List[int]
    type: int = FLOAT32
    data: Optional[np.ndarray] = None
    scale: Optional[List[float]] = None
    zero_point: Optional[List[int]] = None
    quantized_dimension: int = 0
    shape_signature: Optional[List[int]] = None
    is_variable: bool = False


@dataclass
class Op:
    code: int
    inputs: List[int]
    outputs: List[int]
    options: Dict[int, tuple] = field(default_factory=dict)  # field index -> (fmt, value)
    intermediates: Optional[List[int]] = None


def build(tensors: List[Tensor], ops: List[Op], inputs: List[int], outputs: List[int], *,
          external_buffers: bool = False, deprecated_codes: bool = True,
          signature: Optional[Dict[str, Dict[str, int]]] = None) -> bytes:
    """A one-subgraph model. external_buffers: constant data after the flatbuffer (offset/size, the
    large-model form). deprecated_codes=False: builtin_code only (deprecated field left at 0/127)."""
    codes = sorted({op.code for op in ops})
    buffers = [b""]  # buffer 0: the empty sentinel
    tensor_buffer = []
    for t in tensors:
        if t.data is None:
            tensor_buffer.append(0)
        else:
            buffers.append(np.ascontiguousarray(t.data, dtype=NP_TYPE[t.type]).tobytes())
            tensor_buffer.append(len(buffers) - 1)

    w = _Writer()
    w.buf += b"\0\0\0\0TFL3"
    patches = []  # (position of the Buffer table's offset field, buffer index) for external data

    def quant(t):
        f = {}
        if t.scale is not None:
            f[2] = ("off", lambda: w.vector("f", t.scale))
            zp = t.zero_point if t.zero_point is not None else [0] * len(t.scale)
            f[3] = ("off", lambda: w.vector("q", zp, 8))
            f[6] = ("i", t.quantized_dimension)
        return lambda: w.table(f)

    def tensor(i):
        t = tensors[i]
        f = {0: ("off", lambda: w.vector("i", t.shape)), 1: ("b", t.type), 2: ("I", tensor_buffer[i]), 3: ("off", lambda: w.string(t.name))}
        if t.scale is not None:
            f[4] = ("off", quant(t))
        if t.shape_signature is not None:
            f[7] = ("off", lambda: w.vector("i", t.shape_signature))
        if t.is_variable:
            f[5] = ("B", 1)
        return lambda: w.table(f)

    def operator(op):
        f = {0: ("I", codes.index(op.code)), 1: ("off", lambda: w.vector("i", op.inputs)), 2: ("off", lambda: w.vector("i", op.outputs))}
        if op.code in OPTIONS:
            f[3] = ("B", OPTIONS[op.code])
            f[4] = ("off", lambda: w.table(op.options))
        if op.intermediates is not None:
            f[8] = ("off", lambda: w.vector("i", op.intermediates))
        return lambda: w.table(f)

    def subgraph():
        return w.table({
            0: ("off", lambda: w.tables([tensor(i) for i in range(len(tensors))])),
            1: ("off", lambda: w.vector("i", inputs)),
            2: ("off", lambda: w.vector("i", outputs)),
            3: ("off", lambda: w.tables([operator(op) for op in ops])),
            4: ("off", lambda: w.string("main")),
        })

    def opcode(c):
        f = {2: ("i", 1), 3: ("i", c)}
        if deprecated_codes or c < 127:
            f[0] = ("b", min(c, 127))
        return lambda: w.table(f)

    def buffer(k):
        data = buffers[k]
        if not data:
            return lambda: w.table({})
        if external_buffers:
            def write():
                pos = w.table({1: ("Q", 0), 2: ("Q", len(data))})
                patches.append((pos, k))
                return pos
            return write
        return lambda: w.table({0: ("off", lambda: w.bytes_vector(data))})

    def signature_def():
        sig = signature or {}

        def maps(side):
            return lambda: w.tables([(lambda n=n, i=i: w.table({0: ("off", lambda: w.string(n)), 1: ("I", i)})) for n, i in sig.get(side, {}).items()])

        return w.table({0: ("off", maps("inputs")), 1: ("off", maps("outputs")), 2: ("off", lambda: w.string("serving_default")), 4: ("I", 0)})

    model_fields = {
        0: ("I", 3),
        1: ("off", lambda: w.tables([opcode(c) for c in codes])),
        2: ("off", lambda: w.tables([subgraph])),
        3: ("off", lambda: w.string("irforge test model")),
        4: ("off", lambda: w.tables([buffer(k) for k in range(len(buffers))])),
    }
    if signature is not None:
        model_fields[7] = ("off", lambda: w.tables([signature_def]))
    root = w.table(model_fields)
    struct.pack_into("<I", w.buf, 0, root)
    for pos, k in patches:  # the large-model form: data after the flatbuffer, 16-aligned
        w.align(16)
        at = len(w.buf)
        w.buf += buffers[k]
        # the Buffer table's first field (offset, u64) sits 8-aligned right after its soffset
        struct.pack_into("<Q", w.buf, pos + 8 if (pos + 4) % 8 else pos + 4, at)
    return bytes(w.buf)


def small_cnn(**kw) -> bytes:
    """x[1,8,8,3] → CONV_2D (SAME, stride 2, ReLU) → RESHAPE [1,48] → FULLY_CONNECTED (10) → GELU
    (code 150) → SOFTMAX."""
    rng = np.random.default_rng(0)
    ts = [
        Tensor("x", [1, 8, 8, 3]),
        Tensor("conv/w", [3, 3, 3, 3], data=rng.normal(size=(3, 3, 3, 3)).astype(np.float32)),
        Tensor("conv/b", [3], data=rng.normal(size=3).astype(np.float32)),
        Tensor("conv", [1, 4, 4, 3]),
        Tensor("shape", [2], INT32, data=np.array([1, 48], np.int32)),
        Tensor("flat", [1, 48]),
        Tensor("fc/w", [10, 48], data=rng.normal(size=(10, 48)).astype(np.float32) * 0.2),
        Tensor("fc/b", [10], data=rng.normal(size=10).astype(np.float32)),
        Tensor("fc", [1, 10]),
        Tensor("gelu", [1, 10]),
        Tensor("probs", [1, 10]),
    ]
    ops = [
        Op(CONV_2D, [0, 1, 2], [3], {0: ("b", 0), 1: ("i", 2), 2: ("i", 2), 3: ("b", 1), 4: ("i", 1), 5: ("i", 1)}),
        Op(RESHAPE, [3, 4], [5]),
        Op(FULLY_CONNECTED, [5, 6, 7], [8], {0: ("b", 0)}),
        Op(GELU, [8], [9], {0: ("B", 0)}),
        Op(SOFTMAX, [9], [10], {0: ("f", 1.0)}),
    ]
    return build(ts, ops, [0], [10], **kw)


def quantized_fc(batch: int = 1, k: int = 8, n: int = 4, seed: int = 5) -> bytes:
    """A full-integer FULLY_CONNECTED as the converter writes it: int8 input and output with
    per-tensor scale/zero point, per-channel int8 weights, int32 bias (scale = input x weight
    scale), then DEQUANTIZE to a float output."""
    rng = np.random.default_rng(seed)
    w_scales = list(rng.uniform(0.005, 0.02, n).astype(np.float32))
    x_scale = 0.05
    ts = [
        Tensor("x", [batch, k], INT8, scale=[x_scale], zero_point=[3]),
        Tensor("w", [n, k], INT8, data=rng.integers(-127, 128, (n, k)), scale=w_scales, zero_point=[0] * n),
        Tensor("b", [n], INT32, data=rng.integers(-300, 300, n), scale=[x_scale * s for s in w_scales], zero_point=[0] * n),
        Tensor("y", [batch, n], INT8, scale=[0.04], zero_point=[-2]),
        Tensor("f", [batch, n]),
    ]
    ops = [Op(FULLY_CONNECTED, [0, 1, 2], [3], {0: ("b", 1)}), Op(DEQUANTIZE, [3], [4])]
    return build(ts, ops, [0], [4])


def integer_lstm(steps: int = 5, batch: int = 2, n_in: int = 4, cells: int = 6, cell_scale: float = 2.0**-12,
                 cell_clip: float = 0.0, time_major: bool = False, intermediates: int = 5, seed: int = 3) -> bytes:
    """A full-integer UNIDIRECTIONAL_SEQUENCE_LSTM as TFLiteConverter writes one (int8 input and
    output, per-tensor int8 weights, int32 biases at input x weight scale, int8 output state and
    int16 cell state as variable tensors, five intermediates of which the fifth carries the hidden
    scale) between QUANTIZE and DEQUANTIZE."""
    rng = np.random.default_rng(seed)
    x_scale, h_scale, h_zp = 1 / 128, 1 / 127, 1
    w_scales = rng.uniform(0.004, 0.012, 8).astype(np.float32)
    shape = [steps, batch, n_in] if time_major else [batch, steps, n_in]
    out_shape = [steps, batch, cells] if time_major else [batch, steps, cells]
    ts = [Tensor("x", shape), Tensor("xq", shape, INT8, scale=[x_scale], zero_point=[0])]
    for k in range(8):  # input weights i, f, g, o, then recurrent weights
        cols = n_in if k < 4 else cells
        ts.append(Tensor(f"w{k}", [cells, cols], INT8, data=rng.integers(-127, 128, (cells, cols)), scale=[float(w_scales[k])], zero_point=[0]))
    for k in range(4):
        ts.append(Tensor(f"b{k}", [cells], INT32, data=rng.integers(-3000, 3000, cells), scale=[x_scale * float(w_scales[k])], zero_point=[0]))
    ts += [
        Tensor("h", [batch, cells], INT8, scale=[h_scale], zero_point=[h_zp], is_variable=True),
        Tensor("c", [batch, cells], INT16, scale=[cell_scale], zero_point=[0], is_variable=True),
        Tensor("yq", out_shape, INT8, scale=[h_scale], zero_point=[h_zp]),
        Tensor("y", out_shape),
    ]
    first_inter = len(ts)
    ts += [Tensor(f"inter{k}", [0]) for k in range(4)] + [Tensor("hidden", [0], INT8, scale=[h_scale], zero_point=[h_zp])]
    ts += [Tensor(f"inter{k}", [0]) for k in range(5, intermediates)]  # 12: the 8x8_8 kernel's count
    x, xq, w, b, h, c, yq, y = 0, 1, 2, 10, 14, 15, 16, 17
    lstm_in = [xq] + list(range(w, w + 8)) + [-1] * 3 + list(range(b, b + 4)) + [-1, -1, h, c] + [-1] * 4
    opts = {0: ("b", 4), 1: ("f", cell_clip), 3: ("B", int(time_major))}  # tanh, cell_clip, time_major
    inter = list(range(first_inter, first_inter + max(5, intermediates)))[:intermediates]
    ops = [Op(QUANTIZE, [x], [xq]), Op(UNIDIRECTIONAL_SEQUENCE_LSTM, lstm_in, [yq], opts, inter), Op(DEQUANTIZE, [yq], [y])]
    return build(ts, ops, [x], [y])
