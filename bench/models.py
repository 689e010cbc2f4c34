"""Benchmark model generators: real architectures as ONNX graphs with random weights.

Each generator builds the graph the way ``torch.onnx.export`` (TorchScript exporter) emits it
for the Hugging Face / torchvision module: decomposed ops only (no LayerNormalization, Gelu,
Attention, ... even where opset 17 would allow them), dynamic ``batch`` / ``sequence`` dims, shape
arithmetic through Shape/Gather/Unsqueeze/Concat, ``Linear`` as MatMul (+ Add bias) on 3-D
inputs and Gemm(transB=1) on 2-D inputs, module-path node names
(``/model/layers.0/self_attn/q_proj/MatMul``) and ``<node>_output_0`` value names.

Opset 17 (default domain), IR version 8, weights drawn from a seeded ``np.random.default_rng``
(same arguments -> byte-identical files).

Large models (``llama(size="3b")``) are streamed: every weight is generated in bounded chunks,
appended to ``model.onnx.data`` at a 4096-byte aligned offset and referenced from the
TensorProto by (location, offset, length). Peak memory stays ~100 MB whatever the model size.

Usage as a script::

    python bench/models.py --out /tmp/irforge-bench                 # all full-size models
    python bench/models.py --out /tmp/irforge-bench --small         # all tiny variants
    python bench/models.py --out /tmp/irforge-bench --only llama    # llama 3b only

Each model goes to ``OUT/<name>/model.onnx`` (names: see ``MODELS``; ``--small`` picks the
``-tiny`` variants).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what torch.onnx.export writes for opset 17
ALIGN = 4096  # external-data offset alignment (page size: lets readers mmap tensors)
INLINE_LIMIT = 1024  # bytes; smaller initializers stay inline even in external-data models
CHUNK_ELEMS = 1 << 22  # elements per RNG chunk when streaming (16 MiB of float32)
F32_MIN = float(np.finfo(np.float32).min)



# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


class WeightStore:
    """Creates initializers directly inside ``model.graph``, inline or in an external file.

    With ``data_path`` set, every tensor of at least ``INLINE_LIMIT`` bytes is appended to that
    file (aligned to ``ALIGN``) and only its (location, offset, length) is kept in the proto, so
    the generator never holds more than one chunk of one weight in memory.
    """

    def __init__(self, model: onnx.ModelProto, seed: int = 0, data_path: str | None = None):
        self.graph = model.graph
        self.rng = np.random.default_rng(seed)
        self.data_path = data_path
        self.location = os.path.basename(data_path) if data_path else None
        self._file = open(data_path, "wb") if data_path else None
        self.num_params = 0
        self.num_bytes = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- creation ---------------------------------------------------------------------------

    def array(self, name: str, value: np.ndarray) -> str:
        """Adds a given array as initializer ``name``."""
        value = np.ascontiguousarray(value)
        return self._add(name, value.shape, value.dtype, lambda: iter([value]))

    def normal(self, name: str, shape: Sequence[int], std: float = 0.02, mean: float = 0.0) -> str:
        """Adds a float32 N(mean, std^2) initializer, generated in chunks."""

        def chunks() -> Iterable[np.ndarray]:
            remaining = int(np.prod(shape))
            while remaining > 0:
                n = min(remaining, CHUNK_ELEMS)
                chunk = self.rng.standard_normal(n, dtype=np.float32)
                chunk *= np.float32(std)
                if mean:
                    chunk += np.float32(mean)
                remaining -= n
                yield chunk

        return self._add(name, shape, np.dtype(np.float32), chunks)

    def uniform(self, name: str, shape: Sequence[int], low: float, high: float) -> str:
        value = self.rng.uniform(low, high, size=shape).astype(np.float32)
        return self.array(name, value)

    # -- plumbing ---------------------------------------------------------------------------

    def _add(self, name, shape, dtype, chunks: Callable[[], Iterable[np.ndarray]]) -> str:
        shape = [int(d) for d in shape]
        nbytes = int(np.prod(shape)) * dtype.itemsize
        tensor = self.graph.initializer.add()
        tensor.name = name
        tensor.dims.extend(shape)
        tensor.data_type = helper.np_dtype_to_tensor_dtype(dtype)
        if self._file is not None and nbytes >= INLINE_LIMIT:
            f = self._file
            pad = -f.tell() % ALIGN
            if pad:
                f.write(b"\0" * pad)
            offset = f.tell()
            for chunk in chunks():
                f.write(memoryview(chunk).cast("B"))
            assert f.tell() - offset == nbytes, name
            tensor.data_location = TensorProto.EXTERNAL
            for key, val in (("location", self.location), ("offset", offset), ("length", nbytes)):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, str(val)
        else:
            data = np.concatenate([c.reshape(-1) for c in chunks()]) if nbytes else np.zeros(0, dtype)
            tensor.raw_data = data.astype(dtype, copy=False).tobytes()
        if dtype.kind == "f":
            self.num_params += int(np.prod(shape))
        self.num_bytes += nbytes
        return name


# --------------------------------------------------------------------------------------------
# Graph builder
# --------------------------------------------------------------------------------------------


class GraphBuilder:
    """Appends nodes with torch-exporter style names; owns the model being built."""

    def __init__(self, name: str, data_path: str | None = None, seed: int = 0):
        self.model = onnx.ModelProto()
        self.model.ir_version = IR_VERSION
        self.model.producer_name = "irforge-bench"
        self.model.producer_version = "1"
        opset = self.model.opset_import.add()
        opset.domain, opset.version = "", OPSET
        self.model.graph.name = name
        self.w = WeightStore(self.model, seed=seed, data_path=data_path)
        self._scope: list[str] = []
        self._used: dict[str, int] = {}

    # -- naming -----------------------------------------------------------------------------

    @contextmanager
    def scope(self, *names: str):
        """Module scope, e.g. ``with b.scope("model", "layers.0", "self_attn"):``."""
        self._scope.extend(names)
        try:
            yield
        finally:
            del self._scope[len(self._scope) - len(names):]

    def _node_name(self, op_type: str) -> str:
        base = "/" + "/".join(self._scope + [op_type])
        n = self._used.get(base, 0)
        self._used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    # -- nodes ------------------------------------------------------------------------------

    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attrs):
        name = self._node_name(op_type)
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.model.graph.node.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, dtype=None) -> str:
        """A Constant node (torch emits one per use for scalars and shape pieces)."""
        arr = np.asarray(value, dtype=dtype)
        name = self._node_name("Constant")
        out = f"{name}_output_0"
        node = helper.make_node("Constant", [], [out], name=name, value=numpy_helper.from_array(arr))
        self.model.graph.node.append(node)
        return out

    def f32(self, value: float) -> str:
        return self.const(value, np.float32)

    def i64(self, value) -> str:
        return self.const(value, np.int64)

    # -- shape arithmetic (as traced by torch: x.size(i) -> Shape, Gather) ------------------

    def dim(self, x: str, axis: int) -> str:
        """Scalar int64 tensor holding ``x.shape[axis]``."""
        return self.op("Gather", [self.op("Shape", [x]), self.i64(axis)], axis=0)

    def shape(self, dims: Sequence) -> str:
        """1-D int64 shape tensor from static ints and scalar dim tensors."""
        parts = []
        for d in dims:
            if isinstance(d, str):
                parts.append(self.op("Unsqueeze", [d, self.i64([0])]))
            else:
                parts.append(self.i64([int(d)]))
        return self.op("Concat", parts, axis=0)

    # -- module building blocks -------------------------------------------------------------

    def linear(self, x: str, prefix: str, n_in: int, n_out: int, bias: bool = True) -> str:
        """nn.Linear on a >=3-D input: MatMul with the transposed weight (+ Add(bias, y)).

        The exporter folds ``weight.t()`` into the initializer, so ``<prefix>.weight`` is stored
        as [n_in, n_out] (torch itself would name it ``onnx::MatMul_<n>``)."""
        w = self.w.normal(f"{prefix}.weight", [n_in, n_out])
        y = self.op("MatMul", [x, w])
        if bias:
            y = self.op("Add", [self.w.normal(f"{prefix}.bias", [n_out]), y])
        return y

    def layer_norm(self, x: str, prefix: str, n: int, eps: float) -> str:
        """nn.LayerNorm as exported at opset <= 16 (opset 17 torch would emit LayerNormalization)."""
        mean = self.op("ReduceMean", [x], axes=[-1], keepdims=1)
        d = self.op("Sub", [x, mean])
        var = self.op("ReduceMean", [self.op("Pow", [d, self.f32(2.0)])], axes=[-1], keepdims=1)
        std = self.op("Sqrt", [self.op("Add", [var, self.f32(eps)])])
        y = self.op("Div", [d, std])
        y = self.op("Mul", [y, self.w.normal(f"{prefix}.weight", [n], std=0.02, mean=1.0)])
        return self.op("Add", [y, self.w.normal(f"{prefix}.bias", [n])])

    def rms_norm(self, x: str, prefix: str, n: int, eps: float) -> str:
        """LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight (rsqrt -> Div(1, Sqrt))."""
        var = self.op("ReduceMean", [self.op("Pow", [x, self.f32(2.0)])], axes=[-1], keepdims=1)
        std = self.op("Sqrt", [self.op("Add", [var, self.f32(eps)])])
        y = self.op("Mul", [x, self.op("Div", [self.f32(1.0), std])])
        return self.op("Mul", [self.w.normal(f"{prefix}.weight", [n], std=0.02, mean=1.0), y])

    def gelu_erf(self, x: str) -> str:
        """nn.GELU() / F.gelu exported at opset < 20: x * 0.5 * (1 + erf(x / sqrt(2)))."""
        e = self.op("Erf", [self.op("Div", [x, self.f32(math.sqrt(2.0))])])
        y = self.op("Mul", [x, self.op("Add", [e, self.f32(1.0)])])
        return self.op("Mul", [y, self.f32(0.5)])

    def gelu_tanh(self, x: str) -> str:
        """HF NewGELUActivation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
        half_x = self.op("Mul", [self.f32(0.5), x])
        cube = self.op("Mul", [self.f32(0.044715), self.op("Pow", [x, self.f32(3.0)])])
        inner = self.op("Mul", [self.f32(math.sqrt(2.0 / math.pi)), self.op("Add", [x, cube])])
        return self.op("Mul", [half_x, self.op("Add", [self.f32(1.0), self.op("Tanh", [inner])])])

    def split_heads(self, x: str, batch: str, seq: str, heads: int, head_dim: int, perm) -> str:
        """view(batch, seq, heads, head_dim) then permute: [B, S, H*D] -> [B, H, S, D]-like."""
        x = self.op("Reshape", [x, self.shape([batch, seq, heads, head_dim])])
        return self.op("Transpose", [x], perm=list(perm))

    def merge_heads(self, x: str, batch: str, seq: str, hidden: int) -> str:
        """[B, H, S, D] -> transpose(1, 2) -> reshape(B, S, H*D)."""
        x = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        return self.op("Reshape", [x, self.shape([batch, seq, hidden])])

    def sdpa(self, q: str, k_t: str, v: str, head_dim: int, mask: str | None, mask_kind: str) -> str:
        """softmax(q @ k^T / sqrt(d) (+ additive mask | Where(bool mask))) @ v."""
        scores = self.op("MatMul", [q, k_t])
        scores = self.op("Div", [scores, self.f32(math.sqrt(head_dim))])
        if mask_kind == "add":
            scores = self.op("Add", [scores, mask])
        elif mask_kind == "where":
            scores = self.op("Where", [mask, scores, self.f32(F32_MIN)])
        probs = self.op("Softmax", [scores], axis=-1)
        return self.op("MatMul", [probs, v])

    # -- output -----------------------------------------------------------------------------

    def finish(self, path: str, inputs, outputs) -> str:
        """Adds graph inputs/outputs and writes ``path`` (temp name, renamed at the end)."""
        g = self.model.graph
        for name, elem, shape in inputs:
            g.input.append(helper.make_tensor_value_info(name, elem, shape))
        for name, elem, shape in outputs:
            g.output.append(helper.make_tensor_value_info(name, elem, shape))
        self.w.close()
        tmp = path + ".tmp"
        # Serialize ourselves: onnx.save would look for raw_data to externalize (there is none).
        with open(tmp, "wb") as f:
            f.write(self.model.SerializeToString())
        os.replace(tmp, path)
        return path


def rename_output(b: GraphBuilder, value: str, new_name: str) -> str:
    """Renames the value produced by the last node (graph outputs get user-facing names)."""
    node = b.model.graph.node[-1]
    assert list(node.output) == [value]
    node.output[0] = new_name
    return new_name


def _prepare(out_dir: str, external: bool) -> tuple[str, str | None]:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    data = path + ".data" if external else None
    for stale in (path, path + ".data"):
        if os.path.exists(stale):
            os.remove(stale)
    return path, data


# --------------------------------------------------------------------------------------------
# Llama (HF LlamaForCausalLM, transformers ~4.36 export)
# --------------------------------------------------------------------------------------------

LLAMA = {
    # TinyLlama-like widths, 16 layers: ~836M params, 3.35 GB fp32.
    "3b": dict(hidden=2048, heads=32, kv_heads=4, inter=5632, layers=16, vocab=32000,
               max_pos=2048, eps=1e-5, external=True),
    "tiny": dict(hidden=64, heads=4, kv_heads=2, inter=128, layers=2, vocab=256,
                 max_pos=128, eps=1e-5, external=False),
}


def llama(out_dir: str, size: str = "3b") -> str:
    """Llama decoder: RMSNorm, GQA attention with rotary embeddings, SwiGLU MLP, untied lm_head.

    Input ``input_ids`` int64 [batch, sequence]; output ``logits`` float [batch, sequence, vocab].
    """
    c = LLAMA[size]
    hidden, heads, kv_heads = c["hidden"], c["heads"], c["kv_heads"]
    head_dim, n_rep = hidden // heads, heads // kv_heads
    path, data = _prepare(out_dir, c["external"])
    b = GraphBuilder(f"llama_{size}", data_path=data)

    # Rotary tables (LlamaRotaryEmbedding cos_cached / sin_cached buffers).
    inv_freq = 1.0 / (10000.0 ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    freqs = np.outer(np.arange(c["max_pos"], dtype=np.float32), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos_table = b.w.array("model.rotary_emb.cos_cached", np.cos(emb).astype(np.float32))
    sin_table = b.w.array("model.rotary_emb.sin_cached", np.sin(emb).astype(np.float32))

    with b.scope("model"):
        with b.scope("embed_tokens"):
            h = b.op("Gather", [b.w.normal("model.embed_tokens.weight", [c["vocab"], hidden]), "input_ids"])
        seq = b.dim("input_ids", 1)
        # position_ids = torch.arange(seq).unsqueeze(0)
        pos_ids = b.op("Unsqueeze", [b.op("Range", [b.i64(0), seq, b.i64(1)]), b.i64([0])])
        # Causal mask: 0 on/below the diagonal, finfo.min above, shape [1, 1, S, S].
        ones = b.op("ConstantOfShape", [b.shape([seq, seq])],
                    value=numpy_helper.from_array(np.ones([1], np.float32)))
        above = b.op("Equal", [b.op("Trilu", [ones], upper=0), b.f32(0.0)])
        mask = b.op("Where", [above, b.f32(F32_MIN), b.f32(0.0)])
        mask = b.op("Unsqueeze", [mask, b.i64([0, 1])])

        for i in range(c["layers"]):
            p = f"model.layers.{i}"
            with b.scope(f"layers.{i}"):
                with b.scope("input_layernorm"):
                    x = b.rms_norm(h, f"{p}.input_layernorm", hidden, c["eps"])
                with b.scope("self_attn"):
                    x = _llama_attention(b, x, p + ".self_attn", c, pos_ids, mask, cos_table, sin_table)
                h = b.op("Add", [h, x])
                with b.scope("post_attention_layernorm"):
                    x = b.rms_norm(h, f"{p}.post_attention_layernorm", hidden, c["eps"])
                with b.scope("mlp"):
                    x = _swiglu(b, x, p + ".mlp", hidden, c["inter"])
                h = b.op("Add", [h, x])
        with b.scope("norm"):
            h = b.rms_norm(h, "model.norm", hidden, c["eps"])
    with b.scope("lm_head"):
        logits = b.op("MatMul", [h, b.w.normal("lm_head.weight", [hidden, c["vocab"]])])
    rename_output(b, logits, "logits")
    return b.finish(
        path,
        inputs=[("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        outputs=[("logits", TensorProto.FLOAT, ["batch", "sequence", c["vocab"]])],
    )


def _rotate_half(b: GraphBuilder, x: str, head_dim: int) -> str:
    """cat(-x[..., d/2:], x[..., :d/2])"""
    half = head_dim // 2
    x1 = b.op("Slice", [x, b.i64([0]), b.i64([half]), b.i64([-1]), b.i64([1])])
    x2 = b.op("Slice", [x, b.i64([half]), b.i64([np.iinfo(np.int64).max]), b.i64([-1]), b.i64([1])])
    return b.op("Concat", [b.op("Neg", [x2]), x1], axis=-1)


def _repeat_kv(b: GraphBuilder, x: str, batch: str, kv_heads: int, n_rep: int, head_dim: int) -> str:
    """x[:, :, None].expand(B, kv, n_rep, S, D).reshape(B, kv * n_rep, S, D)"""
    slen = b.dim(x, 2)
    x = b.op("Unsqueeze", [x, b.i64([2])])
    x = b.op("Expand", [x, b.shape([batch, kv_heads, n_rep, slen, head_dim])])
    return b.op("Reshape", [x, b.shape([batch, kv_heads * n_rep, slen, head_dim])])


def _llama_attention(b: GraphBuilder, x, prefix, c, pos_ids, mask, cos_table, sin_table) -> str:
    hidden, heads, kv_heads = c["hidden"], c["heads"], c["kv_heads"]
    head_dim = hidden // heads
    batch, q_len = b.dim(x, 0), b.dim(x, 1)
    proj = {}
    for name, n_out in (("q", hidden), ("k", kv_heads * head_dim), ("v", kv_heads * head_dim)):
        with b.scope(f"{name}_proj"):
            proj[name] = b.linear(x, f"{prefix}.{name}_proj", hidden, n_out, bias=False)
    perm = (0, 2, 1, 3)
    q = b.split_heads(proj["q"], batch, q_len, heads, head_dim, perm)
    k = b.split_heads(proj["k"], batch, q_len, kv_heads, head_dim, perm)
    v = b.split_heads(proj["v"], batch, q_len, kv_heads, head_dim, perm)

    with b.scope("rotary_emb"):
        # cos_cached[:seq_len] -> [position_ids] -> unsqueeze(1): [1, 1, S, D]
        kv_len = b.op("Unsqueeze", [b.dim(k, 2), b.i64([0])])
        cos = b.op("Slice", [cos_table, b.i64([0]), kv_len, b.i64([0])])
        sin = b.op("Slice", [sin_table, b.i64([0]), kv_len, b.i64([0])])
    cos = b.op("Unsqueeze", [b.op("Gather", [cos, pos_ids], axis=0), b.i64([1])])
    sin = b.op("Unsqueeze", [b.op("Gather", [sin, pos_ids], axis=0), b.i64([1])])
    q = b.op("Add", [b.op("Mul", [q, cos]), b.op("Mul", [_rotate_half(b, q, head_dim), sin])])
    k = b.op("Add", [b.op("Mul", [k, cos]), b.op("Mul", [_rotate_half(b, k, head_dim), sin])])

    n_rep = heads // kv_heads
    k = _repeat_kv(b, k, batch, kv_heads, n_rep, head_dim)
    v = _repeat_kv(b, v, batch, kv_heads, n_rep, head_dim)
    k_t = b.op("Transpose", [k], perm=[0, 1, 3, 2])
    out = b.sdpa(q, k_t, v, head_dim, mask, "add")
    out = b.merge_heads(out, batch, q_len, hidden)
    with b.scope("o_proj"):
        return b.linear(out, f"{prefix}.o_proj", hidden, hidden, bias=False)


def _swiglu(b: GraphBuilder, x: str, prefix: str, hidden: int, inter: int) -> str:
    """down_proj(silu(gate_proj(x)) * up_proj(x)); SiLU exported as x * Sigmoid(x)."""
    with b.scope("gate_proj"):
        gate = b.linear(x, f"{prefix}.gate_proj", hidden, inter, bias=False)
    with b.scope("act_fn"):
        gate = b.op("Mul", [gate, b.op("Sigmoid", [gate])])
    with b.scope("up_proj"):
        up = b.linear(x, f"{prefix}.up_proj", hidden, inter, bias=False)
    y = b.op("Mul", [gate, up])
    with b.scope("down_proj"):
        return b.linear(y, f"{prefix}.down_proj", inter, hidden, bias=False)


# --------------------------------------------------------------------------------------------
# BERT (HF BertModel)
# --------------------------------------------------------------------------------------------

BERT = {
    "base": dict(hidden=768, heads=12, inter=3072, layers=12, vocab=30522, max_pos=512, types=2),
    "tiny": dict(hidden=64, heads=4, inter=128, layers=2, vocab=256, max_pos=64, types=2),
}


def bert(out_dir: str, size: str = "base") -> str:
    """BERT encoder + pooler. Inputs input_ids, attention_mask, token_type_ids (int64 [B, S]);
    outputs last_hidden_state [B, S, hidden] and pooler_output [B, hidden]."""
    c = BERT[size]
    hidden, heads = c["hidden"], c["heads"]
    head_dim = hidden // heads
    eps = 1e-12
    path, _ = _prepare(out_dir, external=False)
    b = GraphBuilder(f"bert_{size}")

    with b.scope("embeddings"):
        we = b.op("Gather", [b.w.normal("embeddings.word_embeddings.weight", [c["vocab"], hidden]), "input_ids"])
        te = b.op("Gather", [b.w.normal("embeddings.token_type_embeddings.weight", [c["types"], hidden]),
                             "token_type_ids"])
        # position_ids = self.position_ids[:, :seq_length]  (a [1, max_pos] int64 buffer)
        seq = b.op("Unsqueeze", [b.dim("input_ids", 1), b.i64([0])])
        pos_buf = b.w.array("embeddings.position_ids", np.arange(c["max_pos"], dtype=np.int64)[None])
        pos_ids = b.op("Slice", [pos_buf, b.i64([0]), seq, b.i64([1]), b.i64([1])])
        pe = b.op("Gather", [b.w.normal("embeddings.position_embeddings.weight", [c["max_pos"], hidden]), pos_ids])
        e = b.op("Add", [b.op("Add", [we, te]), pe])
        with b.scope("LayerNorm"):
            h = b.layer_norm(e, "embeddings.LayerNorm", hidden, eps)

    # get_extended_attention_mask: (1 - mask[:, None, None, :].float()) * -10000
    m = b.op("Unsqueeze", [b.op("Unsqueeze", ["attention_mask", b.i64([1])]), b.i64([2])])
    m = b.op("Cast", [m], to=TensorProto.FLOAT)
    ext_mask = b.op("Mul", [b.op("Sub", [b.f32(1.0), m]), b.f32(-10000.0)])

    for i in range(c["layers"]):
        p = f"encoder.layer.{i}"
        with b.scope("encoder", f"layer.{i}"):
            with b.scope("attention", "self"):
                batch, seq_len = b.dim(h, 0), b.dim(h, 1)
                pa = p + ".attention.self"
                with b.scope("query"):
                    q = b.linear(h, pa + ".query", hidden, hidden)
                with b.scope("key"):
                    k = b.linear(h, pa + ".key", hidden, hidden)
                with b.scope("value"):
                    v = b.linear(h, pa + ".value", hidden, hidden)
                q = b.split_heads(q, batch, seq_len, heads, head_dim, (0, 2, 1, 3))
                # permute(0, 2, 1, 3) then transpose(-1, -2), fused by the exporter
                k_t = b.split_heads(k, batch, seq_len, heads, head_dim, (0, 2, 3, 1))
                v = b.split_heads(v, batch, seq_len, heads, head_dim, (0, 2, 1, 3))
                ctx = b.sdpa(q, k_t, v, head_dim, ext_mask, "add")
                ctx = b.merge_heads(ctx, batch, seq_len, hidden)
            with b.scope("attention", "output"):
                with b.scope("dense"):
                    x = b.linear(ctx, p + ".attention.output.dense", hidden, hidden)
                with b.scope("LayerNorm"):
                    h = b.layer_norm(b.op("Add", [x, h]), p + ".attention.output.LayerNorm", hidden, eps)
            with b.scope("intermediate"):
                with b.scope("dense"):
                    x = b.linear(h, p + ".intermediate.dense", hidden, c["inter"])
                with b.scope("intermediate_act_fn"):
                    x = b.gelu_erf(x)
            with b.scope("output"):
                with b.scope("dense"):
                    x = b.linear(x, p + ".output.dense", c["inter"], hidden)
                with b.scope("LayerNorm"):
                    h = b.layer_norm(b.op("Add", [x, h]), p + ".output.LayerNorm", hidden, eps)
    last = rename_output(b, h, "last_hidden_state")

    with b.scope("pooler"):
        first = b.op("Gather", [last, b.i64(0)], axis=1)  # hidden_states[:, 0]
        with b.scope("dense"):
            w = b.w.normal("pooler.dense.weight", [hidden, hidden])
            x = b.op("Gemm", [first, w, b.w.normal("pooler.dense.bias", [hidden])],
                     alpha=1.0, beta=1.0, transB=1)
        with b.scope("activation"):
            pooled = rename_output(b, b.op("Tanh", [x]), "pooler_output")
    ints = TensorProto.INT64
    return b.finish(
        path,
        inputs=[("input_ids", ints, ["batch", "sequence"]),
                ("attention_mask", ints, ["batch", "sequence"]),
                ("token_type_ids", ints, ["batch", "sequence"])],
        outputs=[(last, TensorProto.FLOAT, ["batch", "sequence", hidden]),
                 (pooled, TensorProto.FLOAT, ["batch", hidden])],
    )


# --------------------------------------------------------------------------------------------
# GPT-2 (HF GPT2LMHeadModel, tied embeddings)
# --------------------------------------------------------------------------------------------

GPT2 = {
    "small": dict(hidden=768, heads=12, layers=12, vocab=50257, n_pos=1024),
    "tiny": dict(hidden=64, heads=4, layers=2, vocab=256, n_pos=128),
}


def _conv1d(b: GraphBuilder, x: str, prefix: str, n_in: int, n_out: int, batch: str, seq: str) -> str:
    """HF Conv1D: addmm(bias, x.view(-1, n_in), weight).view(B, S, n_out) -> Reshape, Gemm, Reshape."""
    x2 = b.op("Reshape", [x, b.i64([-1, n_in])])
    y = b.op("Gemm", [x2, b.w.normal(f"{prefix}.weight", [n_in, n_out]), b.w.normal(f"{prefix}.bias", [n_out])],
             alpha=1.0, beta=1.0)
    return b.op("Reshape", [y, b.shape([batch, seq, n_out])])


def gpt2(out_dir: str, size: str = "small") -> str:
    """GPT-2 with LayerNorm, fused c_attn split into q/k/v, causal Where mask, gelu_new, and an
    lm_head tied to wte (MatMul with Transpose(wte)). Input input_ids; output logits."""
    c = GPT2[size]
    hidden, heads = c["hidden"], c["heads"]
    head_dim = hidden // heads
    eps = 1e-5
    path, _ = _prepare(out_dir, external=False)
    b = GraphBuilder(f"gpt2_{size}")
    causal = np.tril(np.ones((c["n_pos"], c["n_pos"]), dtype=bool))[None, None]

    with b.scope("transformer"):
        wte = b.w.normal("transformer.wte.weight", [c["vocab"], hidden])
        with b.scope("wte"):
            tok = b.op("Gather", [wte, "input_ids"])
        seq = b.dim("input_ids", 1)
        pos_ids = b.op("Unsqueeze", [b.op("Range", [b.i64(0), seq, b.i64(1)]), b.i64([0])])
        with b.scope("wpe"):
            pos = b.op("Gather", [b.w.normal("transformer.wpe.weight", [c["n_pos"], hidden]), pos_ids])
        h = b.op("Add", [tok, pos])

        for i in range(c["layers"]):
            p = f"transformer.h.{i}"
            with b.scope(f"h.{i}"):
                batch, seq_len = b.dim(h, 0), b.dim(h, 1)
                with b.scope("ln_1"):
                    x = b.layer_norm(h, p + ".ln_1", hidden, eps)
                with b.scope("attn"):
                    with b.scope("c_attn"):
                        qkv = _conv1d(b, x, p + ".attn.c_attn", hidden, 3 * hidden, batch, seq_len)
                    q, k, v = b.op("Split", [qkv, b.i64([hidden] * 3)], outputs=3, axis=2)
                    perm = (0, 2, 1, 3)
                    q = b.split_heads(q, batch, seq_len, heads, head_dim, perm)
                    k = b.split_heads(k, batch, seq_len, heads, head_dim, perm)
                    v = b.split_heads(v, batch, seq_len, heads, head_dim, perm)
                    # causal_mask = self.bias[:, :, key_len - query_len:key_len, :key_len]
                    q_len, k_len = b.dim(q, 2), b.dim(k, 2)
                    start = b.op("Unsqueeze", [b.op("Sub", [k_len, q_len]), b.i64([0])])
                    end = b.op("Unsqueeze", [k_len, b.i64([0])])
                    bias = b.w.array(p + ".attn.bias", causal)
                    cm = b.op("Slice", [bias, start, end, b.i64([2]), b.i64([1])])
                    cm = b.op("Slice", [cm, b.i64([0]), end, b.i64([3]), b.i64([1])])
                    k_t = b.op("Transpose", [k], perm=[0, 1, 3, 2])
                    a = b.sdpa(q, k_t, v, head_dim, cm, "where")
                    a = b.merge_heads(a, batch, seq_len, hidden)
                    with b.scope("c_proj"):
                        a = _conv1d(b, a, p + ".attn.c_proj", hidden, hidden, batch, seq_len)
                h = b.op("Add", [a, h])
                with b.scope("ln_2"):
                    x = b.layer_norm(h, p + ".ln_2", hidden, eps)
                with b.scope("mlp"):
                    with b.scope("c_fc"):
                        x = _conv1d(b, x, p + ".mlp.c_fc", hidden, 4 * hidden, batch, seq_len)
                    with b.scope("act"):
                        x = b.gelu_tanh(x)
                    with b.scope("c_proj"):
                        x = _conv1d(b, x, p + ".mlp.c_proj", 4 * hidden, hidden, batch, seq_len)
                h = b.op("Add", [h, x])
        with b.scope("ln_f"):
            h = b.layer_norm(h, "transformer.ln_f", hidden, eps)
    with b.scope("lm_head"):
        # lm_head.weight is transformer.wte.weight: the same initializer, transposed in-graph.
        logits = b.op("MatMul", [h, b.op("Transpose", [wte], perm=[1, 0])])
    rename_output(b, logits, "logits")
    return b.finish(
        path,
        inputs=[("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        outputs=[("logits", TensorProto.FLOAT, ["batch", "sequence", c["vocab"]])],
    )


# --------------------------------------------------------------------------------------------
# ResNet (torchvision resnet18, BatchNorm not folded)
# --------------------------------------------------------------------------------------------

CNN = {
    "resnet18": dict(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), classes=1000, image=224),
    "tiny": dict(widths=(8, 16, 32, 64), blocks=(1, 1, 1, 1), classes=10, image=64),
}


def _conv_bn(b: GraphBuilder, x, prefix, bn_prefix, c_in, c_out, k, stride, relu=True) -> str:
    std = math.sqrt(2.0 / (c_out * k * k))  # kaiming_normal_(mode="fan_out")
    w = b.w.normal(f"{prefix}.weight", [c_out, c_in, k, k], std=std)
    with b.scope(prefix.rsplit(".", 1)[-1]):
        y = b.op("Conv", [x, w], dilations=[1, 1], group=1, kernel_shape=[k, k],
                 pads=[k // 2] * 4, strides=[stride, stride])
    with b.scope(bn_prefix.rsplit(".", 1)[-1]):
        y = b.op("BatchNormalization", [
            y,
            b.w.normal(f"{bn_prefix}.weight", [c_out], std=0.1, mean=1.0),
            b.w.normal(f"{bn_prefix}.bias", [c_out], std=0.1),
            b.w.normal(f"{bn_prefix}.running_mean", [c_out], std=0.1),
            b.w.uniform(f"{bn_prefix}.running_var", [c_out], 0.5, 1.5),
        ], epsilon=1e-5, momentum=0.9)
    return b.op("Relu", [y]) if relu else y


def cnn(out_dir: str, size: str = "resnet18") -> str:
    """ResNet-18 (BasicBlocks [2, 2, 2, 2]): Conv -> BatchNormalization -> Relu, residual Adds,
    MaxPool, GlobalAveragePool, Flatten, Gemm. Input ``input`` [N, 3, 224, 224]."""
    c = CNN[size]
    path, _ = _prepare(out_dir, external=False)
    b = GraphBuilder(f"resnet_{size}")
    x = _conv_bn(b, "input", "conv1", "bn1", 3, c["widths"][0], 7, 2)
    with b.scope("maxpool"):
        x = b.op("MaxPool", [x], ceil_mode=0, dilations=[1, 1], kernel_shape=[3, 3],
                 pads=[1, 1, 1, 1], strides=[2, 2])
    c_in = c["widths"][0]
    for stage, (width, blocks) in enumerate(zip(c["widths"], c["blocks"])):
        for blk in range(blocks):
            stride = 2 if stage > 0 and blk == 0 else 1
            p = f"layer{stage + 1}.{blk}"
            with b.scope(f"layer{stage + 1}", str(blk)):
                y = _conv_bn(b, x, p + ".conv1", p + ".bn1", c_in, width, 3, stride)
                y = _conv_bn(b, y, p + ".conv2", p + ".bn2", width, width, 3, 1, relu=False)
                if stride != 1 or c_in != width:
                    with b.scope("downsample"):
                        x = _conv_bn(b, x, p + ".downsample.0", p + ".downsample.1", c_in, width, 1, stride,
                                     relu=False)
                x = b.op("Relu", [b.op("Add", [y, x])])
            c_in = width
    with b.scope("avgpool"):
        x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x], axis=1)
    with b.scope("fc"):
        w = b.w.normal("fc.weight", [c["classes"], c_in], std=0.01)
        x = b.op("Gemm", [x, w, b.w.normal("fc.bias", [c["classes"]], std=0.01)], alpha=1.0, beta=1.0, transB=1)
    rename_output(b, x, "output")
    return b.finish(
        path,
        inputs=[("input", TensorProto.FLOAT, ["batch", 3, c["image"], c["image"]])],
        outputs=[("output", TensorProto.FLOAT, ["batch", c["classes"]])],
    )


# --------------------------------------------------------------------------------------------
# Registry / CLI
# --------------------------------------------------------------------------------------------

# name -> (generator, size, directory name)
MODELS = {
    "llama": (llama, "3b", "llama3b"),
    "bert": (bert, "base", "bert"),
    "gpt2": (gpt2, "small", "gpt2"),
    "cnn": (cnn, "resnet18", "cnn"),
}
SMALL = {
    "llama": (llama, "tiny", "llama-tiny"),
    "bert": (bert, "tiny", "bert-tiny"),
    "gpt2": (gpt2, "tiny", "gpt2-tiny"),
    "cnn": (cnn, "tiny", "cnn-tiny"),
}


def generate(name: str, out_root: str, small: bool = False) -> str:
    """Generates model ``name`` (a MODELS key) into ``out_root/<dir>/model.onnx``."""
    fn, size, dirname = (SMALL if small else MODELS)[name]
    return fn(os.path.join(out_root, dirname), size)


def model_files(path: str) -> list[str]:
    """The .onnx file plus the external data files it references (no tensor data is loaded)."""
    m = onnx.load(path, load_external_data=False)
    locations = set()
    for t in _all_tensors(m.graph):
        if t.data_location == TensorProto.EXTERNAL:
            locations.update(e.value for e in t.external_data if e.key == "location")
    base = os.path.dirname(os.path.abspath(path))
    return [path] + sorted(os.path.join(base, loc) for loc in locations)


def _all_tensors(g: onnx.GraphProto):
    yield from g.initializer
    for n in g.node:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _all_tensors(a.g)
            for sub in a.graphs:
                yield from _all_tensors(sub)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output root; models go to OUT/<name>/model.onnx")
    ap.add_argument("--only", choices=sorted(MODELS), action="append", help="generate only NAME (repeatable)")
    ap.add_argument("--small", action="store_true", help="generate the tiny variants")
    ap.add_argument("--check", action="store_true", help="run onnx.checker on the result")
    args = ap.parse_args(argv)
    for name in args.only or list(MODELS):
        t0 = time.perf_counter()
        path = generate(name, args.out, args.small)
        dt = time.perf_counter() - t0
        size = sum(os.path.getsize(f) for f in model_files(path))
        print(f"{name:6s} {path}  {size / 1e6:10.1f} MB  {dt:6.1f} s", flush=True)
        if args.check:
            onnx.checker.check_model(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
