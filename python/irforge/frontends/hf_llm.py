"""Hugging Face decoder-only LLM folders (config.json + *.safetensors) to a stateful irforge Model,
without PyTorch or transformers: the graph is built from config.json through irforge.Builder and
every weight is a view of the memory-mapped safetensors shards (cpp/io/safetensors).

The result is what OpenVINO GenAI's LLMPipeline runs, shaped like optimum-intel's stateful export:
inputs input_ids, attention_mask, position_ids (int64 [batch, seq]) and beam_idx (int32 [batch]),
output logits (float32 [batch, seq, vocab]); the KV cache of each layer is a pair of variables
(irforge::ReadValue / irforge::Assign) reordered by beam_idx (Gather on the batch axis) before
use. Attention is ONNX Attention-23 (lowered to ScaledDotProductAttention), RMSNorm is
RMSNormalization-23 (lowered to OpenVINO's RMS form), RoPE is the rotate-half form computed from
position_ids; all in the forms the CPU plugin fuses (stateful SDPA with its KV cache, RoPE).

Families: Llama (rope scaling: default, linear, "llama3", yarn, longrope), Mistral (sliding window), Qwen2
(q/k/v biases), Qwen3 (q/k RMSNorm), Phi-3 (fused qkv and gate_up), Gemma 2 (scaled embedding,
(1 + w) norms around attention and MLP, GELU-tanh MLP, attention and final logit soft-capping,
sliding-window layers alternating with full ones), Gemma 3 text (Gemma 2's blocks with q/k
norms, a rope per layer type: the local base frequency on sliding layers), Mixtral (mixture of experts: softmax router,
top-k experts renormalized; every expert is computed and weighted, zero outside the top k). A model_type or a
config field that would change the math in a way not built here is an UnsupportedError, never a
silently different model.
"""

from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional

import numpy as np

from irforge.errors import InvalidModelError, ModelFileError, UnsupportedError

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text", "mixtral")
LAYER_TYPES = ("full_attention", "sliding_attention")

# Config fields whose non-default value changes the math, per family, with the value built here.
_MUST_BE = {
    "use_bidirectional_attention": (None, False),
    "pretraining_tp": (1, None),
    "attention_dropout": (0.0, 0, None),
    "mlp_bias": (False, None),
    "use_sliding_window": (False, None),  # Qwen2/3 set it False and ignore sliding_window
    "partial_rotary_factor": (1.0, None),
    "router_jitter_noise": (0.0, 0, None),
    "use_qk_norm": (None,),
}


def is_hf_folder(path: str) -> bool:
    """A folder holding config.json and safetensors weights (one file or an index of shards)."""
    if not os.path.isdir(path) or not os.path.isfile(os.path.join(path, "config.json")):
        return False
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(n.endswith(".safetensors") or n == "model.safetensors.index.json" for n in names)


def _load_config(folder: str) -> dict:
    path = os.path.join(folder, "config.json")
    try:
        with open(path, "rb") as f:
            cfg = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidModelError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise InvalidModelError(f"{path}: not a JSON object")
    return cfg


class _Config:
    """The config fields the graph needs, checked: each missing or wrong field is named."""

    def __init__(self, cfg: dict, path: str):
        self.raw, self.path = cfg, path
        self.model_type = cfg.get("model_type")
        if self.model_type not in FAMILIES:
            raise UnsupportedError(
                f"{path}: model_type {self.model_type!r} is not supported; irforge builds {', '.join(FAMILIES)}"
            )
        for key, allowed in _MUST_BE.items():
            if key in cfg and cfg[key] not in allowed:
                raise UnsupportedError(f"{path}: {key}={cfg[key]!r} changes the model's math and is not supported (supported: {allowed[0]!r})")
        self.hidden = self._int("hidden_size")
        self.layers = self._int("num_hidden_layers")
        self.heads = self._int("num_attention_heads")
        self.kv_heads = self._int("num_key_value_heads", self.heads)
        self.vocab = self._int("vocab_size")
        self.inter = self._int("intermediate_size")
        hd = cfg.get("head_dim")
        self.head_dim = self.hidden // self.heads if hd is None else self._int("head_dim")
        if self.heads % self.kv_heads:
            raise InvalidModelError(f"{path}: num_attention_heads={self.heads} is not a multiple of num_key_value_heads={self.kv_heads}")
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.gemma = self.model_type in ("gemma2", "gemma3_text")
        act = cfg.get("hidden_activation") or cfg.get("hidden_act")
        want = "gelu_pytorch_tanh" if self.gemma else "silu"
        if act != want:
            raise UnsupportedError(f"{path}: hidden_act={act!r} changes the model's math and is not supported for {self.model_type} (supported: {want!r})")
        self.scale = float(cfg.get("query_pre_attn_scalar", 0)) ** -0.5 if self.gemma else self.head_dim**-0.5
        self.attn_softcap = float(cfg.get("attn_logit_softcapping") or 0.0) if self.gemma else 0.0
        self.final_softcap = float(cfg.get("final_logit_softcapping") or 0.0) if self.gemma else 0.0
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        self.bias_qkv = bool(cfg.get("attention_bias", False)) or self.model_type == "qwen2"
        self.bias_o = bool(cfg.get("attention_bias", False)) and self.model_type != "qwen2"
        self.qk_norm = self.model_type in ("qwen3", "gemma3_text")
        self.experts = self._int("num_local_experts") if self.model_type == "mixtral" else 0
        self.top_k = self._int("num_experts_per_tok") if self.experts else 0
        if self.top_k > self.experts:
            raise InvalidModelError(f"{path}: num_experts_per_tok={self.top_k} exceeds num_local_experts={self.experts}")
        window = cfg.get("sliding_window")
        layer_types = cfg.get("layer_types")
        if layer_types is not None and (len(layer_types) != self.layers or not set(layer_types) <= {"full_attention", "sliding_attention"}):
            raise UnsupportedError(f"{path}: layer_types {layer_types!r} is not a list of full_attention/sliding_attention per layer")
        if layer_types is None and self.model_type == "gemma3_text":  # older configs: every n-th layer is global
            n = self._int("sliding_window_pattern", 6)
            layer_types = ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(self.layers)]
        if layer_types is None:
            layer_types = ["sliding_attention" if self.model_type in ("mistral", "phi3", "mixtral") and window else "full_attention"] * self.layers
        if "sliding_attention" in layer_types and self.model_type not in ("mistral", "phi3", "gemma2", "gemma3_text", "mixtral"):
            raise UnsupportedError(f"{path}: sliding-window layers are not supported for {self.model_type}")
        if "sliding_attention" in layer_types and not window:
            raise InvalidModelError(f"{path}: sliding_attention layers without a sliding_window")
        # Per layer: the window (keys within `window` positions of the query), or None.
        self.windows = [int(window) if t == "sliding_attention" else None for t in layer_types]
        self.layer_types = layer_types
        self._rope(cfg)

    def _int(self, key, default=None) -> int:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise InvalidModelError(f"{self.path}: {key} must be a positive integer, not {v!r}")
        return v

    def _rope(self, cfg):
        """self.ropes: per layer type, (inv_freq, attention scaling, longrope's long inv_freq or
        None, longrope's original_max_position_embeddings)."""
        # transformers 5 writes rope_parameters (Gemma 3: one dict per layer type); older configs
        # rope_theta + rope_scaling (Gemma 3: + rope_local_base_freq for the sliding layers).
        params = cfg.get("rope_parameters") or {}
        per_type = isinstance(params, dict) and params and set(params) <= set(LAYER_TYPES) and all(isinstance(v, dict) for v in params.values())
        if not per_type:
            if not params:
                params = dict(cfg.get("rope_scaling") or {})
                params.setdefault("rope_theta", cfg.get("rope_theta", 1e6 if self.model_type == "gemma3_text" else 10000.0))
            if self.model_type == "gemma3_text":
                params = {"full_attention": params, "sliding_attention": {"rope_type": "default", "rope_theta": cfg.get("rope_local_base_freq", 10000.0)}}
            else:
                params = {t: params for t in LAYER_TYPES}
        self.ropes = {t: self._rope_of(dict(params[t]), cfg) for t in set(self.layer_types) if t in params}
        missing = set(self.layer_types) - set(self.ropes)
        if missing:
            raise InvalidModelError(f"{self.path}: rope_parameters has no entry for layer type {sorted(missing)[0]!r}")

    def _rope_of(self, params, cfg):
        kind = params.get("rope_type", params.get("type", "default"))
        theta = float(params.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        if params.get("partial_rotary_factor", cfg.get("partial_rotary_factor", 1.0)) != 1.0:
            raise UnsupportedError(f"{self.path}: partial_rotary_factor={params.get('partial_rotary_factor', cfg.get('partial_rotary_factor'))} is not supported")
        d = self.head_dim
        exponents = np.arange(0, d, 2, dtype=np.int64).astype(np.float32) / d
        inv = 1.0 / (theta**exponents)
        scale, long_inv, original = 1.0, None, None  # scale (attention_scaling) multiplies cos and sin
        orig_max = params.get("original_max_position_embeddings", cfg.get("original_max_position_embeddings"))
        if kind == "default":
            pass
        elif kind == "linear":
            inv = inv / float(params["factor"])
        elif kind == "llama3":
            factor = float(params["factor"])
            low, high = float(params["low_freq_factor"]), float(params["high_freq_factor"])
            old = float(params["original_max_position_embeddings"])
            low_wl, high_wl = old / low, old / high
            wl = 2 * math.pi / inv
            scaled = np.where(wl > low_wl, inv / factor, inv)
            smooth = (old / wl - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wl < high_wl) & ~(wl > low_wl)
            inv = np.where(medium, smoothed, scaled).astype(np.float32)
        elif kind == "yarn":
            # transformers' _compute_yarn_parameters: a ramp between interpolated (/factor) and
            # extrapolated frequencies over the dims whose rotations fall between beta_slow and beta_fast.
            if orig_max is None:
                raise InvalidModelError(f"{self.path}: rope type 'yarn' needs original_max_position_embeddings")
            factor = params.get("factor") or cfg["max_position_embeddings"] / orig_max
            factor = float(factor)
            att = params.get("attention_factor")
            mscale = lambda f, m=1.0: 1.0 if f <= 1 else 0.1 * m * math.log(f) + 1.0  # noqa: E731
            if att is None:
                m, m_all = params.get("mscale"), params.get("mscale_all_dim")
                att = mscale(factor, m) / mscale(factor, m_all) if m and m_all else mscale(factor)
            fast, slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1
            corr = lambda rot: d * math.log(orig_max / (rot * 2 * math.pi)) / (2 * math.log(theta))  # noqa: E731
            lo, hi = corr(fast), corr(slow)
            if params.get("truncate", True):
                lo, hi = math.floor(lo), math.ceil(hi)
            lo, hi = max(lo, 0), min(hi, d - 1)
            if lo == hi:
                hi += 0.001
            ramp = np.clip((np.arange(d // 2, dtype=np.float32) - lo) / (hi - lo), 0, 1)
            extrapolate = 1 - ramp
            pos = (theta**exponents).astype(np.float32)
            inv = (1.0 / (factor * pos)) * (1 - extrapolate) + (1.0 / pos) * extrapolate
            scale = float(att)
        elif kind == "longrope":
            # Short factors while max(position_ids) + 1 <= original_max_position_embeddings, long ones
            # beyond (transformers re-selects on every forward call; so does the graph).
            if orig_max is None:
                raise InvalidModelError(f"{self.path}: rope type 'longrope' needs original_max_position_embeddings")
            short, long_ = (np.asarray(params[k], dtype=np.float32) for k in ("short_factor", "long_factor"))
            if short.shape != (d // 2,) or long_.shape != (d // 2,):
                raise InvalidModelError(f"{self.path}: longrope short_factor/long_factor must have head_dim/2 = {d // 2} values")
            factor = params.get("factor") or cfg["max_position_embeddings"] / orig_max
            att = params.get("attention_factor")
            if att is None:
                att = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig_max))
            base = (theta**exponents).astype(np.float32)
            inv, long_inv, original = 1.0 / (short * base), (1.0 / (long_ * base)).astype(np.float32), int(orig_max)
            scale = float(att)
        else:
            raise UnsupportedError(f"{self.path}: rope type {kind!r} is not supported (default, linear, llama3, yarn, longrope)")
        return np.asarray(inv, dtype=np.float32), scale, long_inv, original


class _Graph:
    """Shorthands over the Builder for the decoder graph."""

    def __init__(self, b, ckpt, cfg: _Config, folder: str):
        self.b, self.ckpt, self.cfg, self.folder = b, ckpt, cfg, folder
        self.tensors = ckpt.tensors()  # name -> (elem type, dims, shard)
        self.used = set()

    def op(self, op_type, inputs, **attrs):
        return self.b.node(op_type, inputs, attrs)[0]

    def i64(self, name, values):
        return self.b.constant(name, np.asarray(values, dtype=np.int64))

    def f32(self, name, values):
        return self.b.constant(name, np.asarray(values, dtype=np.float32))

    def weight(self, name: str, dims: List[int]):
        """A checkpoint tensor of the given dims as a float32 value (a view; Cast for bf16/fp16)."""
        if name not in self.tensors:
            raise InvalidModelError(f"{self.folder}: tensor '{name}' is missing from the checkpoint (needed by {self.cfg.model_type} with this config.json)")
        elem, have, shard = self.tensors[name]
        if list(have) != list(dims):
            raise InvalidModelError(f"{shard}: tensor '{name}' has shape {list(have)} but config.json implies {list(dims)}")
        if elem not in (1, 10, 16):
            raise InvalidModelError(f"{shard}: tensor '{name}' has element type {_ELEM_NAMES.get(elem, elem)}; expected F32, F16 or BF16")
        self.used.add(name)
        v = self.b._b.constant_safetensors(name, self.ckpt, name, None)
        return v if elem == 1 else self.op("Cast", [v], to=1)

    def linear(self, x, prefix: str, out: int, inp: int, bias: bool):
        w = self.weight(prefix + ".weight", [out, inp])
        y = self.op("MatMul", [x, self.op("Transpose", [w], perm=[1, 0])])
        return self.op("Add", [y, self.weight(prefix + ".bias", [out])]) if bias else y

    def rms_norm(self, x, name: str, dim: int):
        w = self.weight(name, [dim])
        if self.cfg.gemma:  # Gemma stores w - 1: the scale is (1 + w)
            w = self.op("Add", [w, self.b.constant(name + "/one", np.ones([1], np.float32))])
        return self.op("RMSNormalization", [x, w], axis=-1, epsilon=self.cfg.eps, stash_type=1)


_ELEM_NAMES = {1: "F32", 10: "F16", 16: "BF16", 11: "F64", 7: "I64", 6: "I32", 3: "I8", 2: "U8", 9: "BOOL"}


def convert(folder: str):
    """The stateful irforge Model of a Hugging Face decoder-only LLM folder."""
    from irforge import _core
    from irforge.builder import Builder

    folder = os.fspath(folder)
    cfg = _Config(_load_config(folder), os.path.join(folder, "config.json"))
    ckpt = _core.SafetensorsCheckpoint(folder)
    b = Builder(folder)
    b.set_opset("", 23)
    g = _Graph(b, ckpt, cfg, folder)
    c = cfg
    H, D, Hq, Hkv = c.hidden, c.head_dim, c.heads, c.kv_heads

    ids = b.input("input_ids", "int64", ["batch", "sequence"])
    mask = b.input("attention_mask", "int64", ["batch", "total_sequence"])
    pos = b.input("position_ids", "int64", ["batch", "sequence"])
    beam = b.input("beam_idx", "int32", ["batch"])

    zero, one = g.i64("zero", [0]), g.i64("one", [1])
    # Lengths: q_len from input_ids, kv_len (past + current) from attention_mask.
    ids_shape = g.op("Shape", [ids])
    batch = g.op("Slice", [ids_shape, zero, one])
    q_len = g.op("Slice", [ids_shape, one, g.i64("two", [2])])
    kv_len = g.op("Slice", [g.op("Shape", [mask]), one, g.i64("two_", [2])])
    past_len = g.op("Sub", [kv_len, q_len])

    # Which keys each query sees: [batch, 1, q, kv] booleans, causal from the past length on, and
    # not padding; Mistral/Phi-3 also within the sliding window.
    scalar = lambda v: g.op("Squeeze", [v, zero])  # noqa: E731
    qi = g.op("Add", [g.op("Range", [g.i64("r0", 0), scalar(q_len), g.i64("r1", 1)]), past_len])
    qi = g.op("Unsqueeze", [qi, one])  # [q, 1] absolute positions
    kj = g.op("Range", [g.i64("r0_", 0), scalar(kv_len), g.i64("r1_", 1)])  # [kv]
    causal = g.op("LessOrEqual", [kj, qi])
    keep = g.op("Cast", [g.op("Unsqueeze", [mask, g.i64("axes12", [1, 2])])], to=9)  # [b, 1, 1, kv]
    masks = {}

    def attn_mask(window):
        if window not in masks:
            allowed = causal
            if window:
                allowed = g.op("And", [allowed, g.op("Less", [g.op("Sub", [qi, kj]), g.i64(f"window{window}", window)])])
            masks[window] = g.op("And", [keep, allowed])
        return masks[window]

    # RoPE angles from position_ids: [b, 1, q, D] cos and sin per layer type (halves repeated,
    # as HF computes), times the rope's attention scaling.
    pos_f = g.op("Unsqueeze", [g.op("Cast", [pos], to=1), g.i64("m1", [-1])])
    angles = {}

    def cos_sin(layer_type):
        key = layer_type if len({(r[0].tobytes(), r[1], None if r[2] is None else r[2].tobytes()) for r in c.ropes.values()}) > 1 else "all"
        if key in angles:
            return angles[key]
        inv, scale, long_inv, original = c.ropes[layer_type]
        freq = g.f32(f"inv_freq_{key}", inv)
        if long_inv is not None:  # longrope: long factors once max(position_ids) + 1 exceeds the original length
            longest = g.op("ReduceMax", [pos], keepdims=0)
            use_long = g.op("Greater", [longest, g.i64(f"rope_original_{key}", original - 1)])
            freq = g.op("Where", [use_long, g.f32(f"long_inv_freq_{key}", long_inv), freq])
        freqs = g.op("Mul", [pos_f, freq])
        emb = g.op("Concat", [freqs, freqs], axis=-1)
        cs = [g.op("Unsqueeze", [g.op(f, [emb]), one]) for f in ("Cos", "Sin")]
        if scale != 1.0:
            cs = [g.op("Mul", [x, g.f32(f"rope_scale_{key}_{i}", np.float32(scale))]) for i, x in enumerate(cs)]
        angles[key] = tuple(cs)
        return angles[key]

    half = D // 2
    split = g.i64("rope_split", [half, half])

    minus_one = g.f32("rope_minus_one", np.float32(-1.0))

    def rope(x, layer_type):
        cos, sin = cos_sin(layer_type)
        # The form of OpenVINO's RoPE fusion (GPT-NeoX): split on axis 3 (not -1), the negation
        # as a Multiply by -1, Concat on -1; x is [b, heads, q, D] behind the heads Transpose.
        x1, x2 = b.node("Split", [x, split], outputs=2, axis=3)
        rotated = g.op("Concat", [g.op("Mul", [x2, minus_one]), x1], axis=-1)
        return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])])

    heads_shape = lambda n: g.i64(f"heads_{n}", [0, 0, n, D])  # noqa: E731
    merge_shape = g.i64("merge_heads", [0, 0, Hq * D])
    empty_cache_shape = g.op("Concat", [batch, g.i64("cache_tail", [Hkv, 0, D])], axis=0)
    empty_cache = g.op("ConstantOfShape", [empty_cache_shape], value=np.zeros([1], np.float32))

    def split_heads(x, n, norm: Optional[str] = None):
        x = g.op("Reshape", [x, heads_shape(n)])  # [b, q, n, D]
        if norm:
            x = g.rms_norm(x, norm, D)
        return g.op("Transpose", [x], perm=[0, 2, 1, 3])

    def cached(x, layer: int, kind: str):
        # optimum-intel's variable names: the cache input's name + the present output's name.
        vid = f"past_key_values.{layer}.{kind}present.{layer}.{kind}"
        (past,) = b.node("ReadValue", [empty_cache], domain="irforge", variable_id=vid, variable_type=1, variable_shape=[-1, Hkv, -1, D])
        b.set_type(past, "float32", ["batch", Hkv, "past_sequence", D])
        past = g.op("Gather", [past, beam], axis=0)
        full = g.op("Concat", [past, x], axis=2)
        b.node("Assign", [full], outputs=0, domain="irforge", variable_id=vid)
        return full

    def moe(x, p: str, layer: int):
        # Mixtral: probs = softmax(router(x)); the top k renormalized weight their experts. Dense:
        # weights outside the top k are zero, so the weighted sum over all experts is exact.
        probs = g.op("Softmax", [g.linear(x, f"{p}.gate", c.experts, H, False)], axis=-1)
        top, _ = b.node("TopK", [probs, g.i64(f"top_k{layer}", [c.top_k])], outputs=2, axis=-1)
        last = g.i64(f"last_axis{layer}", [-1])
        kth = g.op("ReduceMin", [top, last], keepdims=1)
        chosen = g.op("Mul", [probs, g.op("Cast", [g.op("GreaterOrEqual", [probs, kth])], to=1)])
        weights = g.op("Div", [chosen, g.op("ReduceSum", [chosen, last], keepdims=1)])  # [b, q, E]
        outs = []
        for e in range(c.experts):
            q = f"{p}.experts.{e}"
            gate = g.linear(x, f"{q}.w1", c.inter, H, False)
            act = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
            y = g.linear(g.op("Mul", [act, g.linear(x, f"{q}.w3", c.inter, H, False)]), f"{q}.w2", H, c.inter, False)
            outs.append(g.op("Unsqueeze", [y, g.i64(f"expert_axis{layer}_{e}", [-2])]))
        stacked = g.op("Concat", outs, axis=-2)  # [b, q, E, H]
        weighted = g.op("Mul", [stacked, g.op("Unsqueeze", [weights, last])])
        return g.op("ReduceSum", [weighted, g.i64(f"expert_sum{layer}", [-2])], keepdims=0)

    h = g.op("Gather", [g.weight("model.embed_tokens.weight", [c.vocab, H]), ids], axis=0)
    if c.gemma:
        h = g.op("Mul", [h, g.f32("embed_scale", np.float32(H**0.5))])
    for i in range(c.layers):
        p = f"model.layers.{i}"
        x = g.rms_norm(h, f"{p}.input_layernorm.weight", H)
        if c.model_type == "phi3":
            qkv = g.linear(x, f"{p}.self_attn.qkv_proj", (Hq + 2 * Hkv) * D, H, False)
            q, k, v = b.node("Split", [qkv, g.i64(f"qkv_split{i}", [Hq * D, Hkv * D, Hkv * D])], outputs=3, axis=-1)
        else:
            q = g.linear(x, f"{p}.self_attn.q_proj", Hq * D, H, c.bias_qkv)
            k = g.linear(x, f"{p}.self_attn.k_proj", Hkv * D, H, c.bias_qkv)
            v = g.linear(x, f"{p}.self_attn.v_proj", Hkv * D, H, c.bias_qkv)
        q = rope(split_heads(q, Hq, f"{p}.self_attn.q_norm.weight" if c.qk_norm else None), c.layer_types[i])
        k = rope(split_heads(k, Hkv, f"{p}.self_attn.k_norm.weight" if c.qk_norm else None), c.layer_types[i])
        v = split_heads(v, Hkv)
        k, v = cached(k, i, "key"), cached(v, i, "value")
        attrs = dict(scale=float(c.scale))
        if c.attn_softcap:
            attrs["softcap"] = c.attn_softcap
        a = g.op("Attention", [q, k, v, attn_mask(c.windows[i])], **attrs)
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), merge_shape])
        a = g.linear(a, f"{p}.self_attn.o_proj", H, Hq * D, c.bias_o)
        if c.gemma:  # Gemma 2 normalizes each block's output too, and the MLP input separately
            a = g.rms_norm(a, f"{p}.post_attention_layernorm.weight", H)
            h = g.op("Add", [h, a])
            x = g.rms_norm(h, f"{p}.pre_feedforward_layernorm.weight", H)
        else:
            h = g.op("Add", [h, a])
            x = g.rms_norm(h, f"{p}.post_attention_layernorm.weight", H)
        if c.experts:
            h = g.op("Add", [h, moe(x, f"{p}.block_sparse_moe", i)])
            continue
        if c.model_type == "phi3":
            gate_up = g.linear(x, f"{p}.mlp.gate_up_proj", 2 * c.inter, H, False)
            gate, up = b.node("Split", [gate_up, g.i64(f"gate_up_split{i}", [c.inter, c.inter])], outputs=2, axis=-1)
        else:
            gate = g.linear(x, f"{p}.mlp.gate_proj", c.inter, H, False)
            up = g.linear(x, f"{p}.mlp.up_proj", c.inter, H, False)
        act = g.op("Gelu", [gate], approximate="tanh") if c.gemma else g.op("Mul", [gate, g.op("Sigmoid", [gate])])
        m = g.linear(g.op("Mul", [act, up]), f"{p}.mlp.down_proj", H, c.inter, False)
        if c.gemma:
            m = g.rms_norm(m, f"{p}.post_feedforward_layernorm.weight", H)
        h = g.op("Add", [h, m])
    h = g.rms_norm(h, "model.norm.weight", H)
    head = "model.embed_tokens" if c.tied and "lm_head.weight" not in g.tensors else "lm_head"
    logits = g.linear(h, head, c.vocab, H, False)
    if c.final_softcap:
        cap = g.f32("final_softcap", np.float32(c.final_softcap))
        logits = g.op("Mul", [g.op("Tanh", [g.op("Div", [logits, cap])]), cap])
    b.output(logits, "logits")
    unused = sorted(set(g.tensors) - g.used - {"lm_head.weight"} if c.tied else set(g.tensors) - g.used)
    unused = [n for n in unused if not n.endswith("rotary_emb.inv_freq")]
    if unused:
        raise UnsupportedError(
            f"{folder}: the checkpoint has {len(unused)} tensor(s) the {c.model_type} graph built from config.json does not use "
            f"(e.g. '{unused[0]}'): a config field that changes the model is probably not supported"
        )
    return b.finish()


def copy_side_files(folder: str, out_dir: str) -> List[str]:
    """Copies config.json, generation_config.json and tokenizer files beside the IR (as
    optimum-intel does); returns the names copied."""
    import shutil

    names = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"]
    copied = []
    for n in names:
        src = os.path.join(folder, n)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(out_dir, n))
            copied.append(n)
    return copied


def write_tokenizers(folder: str, out_dir: str) -> str:
    """openvino_tokenizer.xml / openvino_detokenizer.xml beside the IR when the folder has a
    tokenizer and the optional openvino-tokenizers (with transformers, which reads the tokenizer)
    is installed. Returns a note for the user: what was written, or why not; never raises for a
    tokenizer, which is an extra next to the model."""
    if not any(os.path.isfile(os.path.join(folder, n)) for n in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        return ""
    try:
        import openvino as ov
        import openvino_tokenizers
        from transformers import AutoTokenizer
    except ImportError:
        return "tokenizer not converted: install openvino-tokenizers and transformers to get openvino_tokenizer.xml"
    try:
        hf = AutoTokenizer.from_pretrained(folder)
        tokenizer, detokenizer = openvino_tokenizers.convert_tokenizer(hf, with_detokenizer=True)
        ov.save_model(tokenizer, os.path.join(out_dir, "openvino_tokenizer.xml"))
        ov.save_model(detokenizer, os.path.join(out_dir, "openvino_detokenizer.xml"))
    except Exception as e:  # a tokenizer openvino-tokenizers cannot convert leaves the model usable
        return f"tokenizer not converted ({type(e).__name__}: {e})"
    return "wrote openvino_tokenizer.xml and openvino_detokenizer.xml"
