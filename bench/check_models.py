"""Sanity checks for the generated benchmark models.

For every model: ``onnx.checker.check_model(path, full_check=True)`` (shape inference included),
an onnxruntime CPU run with fixed-seed inputs (outputs must be finite and non-empty), and the
same inputs through OpenVINO's CPU plugin, compared with onnxruntime. Decoders (llama, gpt2)
also get a causality check: changing the last token must not change earlier positions' logits.

    python bench/check_models.py --root /tmp/irforge-bench              # tiny variants
    python bench/check_models.py --root /tmp/irforge-bench --full bert  # full-size ones too
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def feeds_for(name: str, path: str, batch: int = 2, seq: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    m = onnx.load(path, load_external_data=False)
    inputs = {i.name: i for i in m.graph.input}
    if name == "cnn":
        image = inputs["input"].type.tensor_type.shape.dim[2].dim_value
        return {"input": rng.standard_normal((batch, 3, image, image), dtype=np.float32)}
    vocab = int(min(
        t.dims[0] for t in m.graph.initializer
        if t.name in ("model.embed_tokens.weight", "embeddings.word_embeddings.weight", "transformer.wte.weight")
    ))
    feeds = {"input_ids": rng.integers(0, vocab, (batch, seq), dtype=np.int64)}
    if "attention_mask" in inputs:
        mask = np.ones((batch, seq), np.int64)
        mask[1, seq - 2:] = 0  # some padding in the second row
        feeds["attention_mask"] = mask
        feeds["token_type_ids"] = np.zeros((batch, seq), np.int64)
        feeds["token_type_ids"][:, seq // 2:] = 1
    return feeds


# ---- numpy reference implementations (from the initializers), to check the graphs' math ----


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def _heads(x, n):  # [B, S, n*D] -> [B, n, S, D]
    B, S, _ = x.shape
    return x.reshape(B, S, n, -1).transpose(0, 2, 1, 3)


def _unheads(x):  # [B, H, S, D] -> [B, S, H*D]
    B, H, S, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, S, H * D)


def ref_llama(W, feeds, c):
    ids = feeds["input_ids"]
    S = ids.shape[1]
    H, KV = c["heads"], c["kv_heads"]
    D = c["hidden"] // H

    def rms(x, w):
        return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + c["eps"]))

    def rot(x):
        return np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1)

    cos, sin = W["model.rotary_emb.cos_cached"][:S], W["model.rotary_emb.sin_cached"][:S]
    mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
    h = W["model.embed_tokens.weight"][ids]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        x = rms(h, W[p + "input_layernorm.weight"])
        q = _heads(x @ W[p + "self_attn.q_proj.weight"], H)
        k = _heads(x @ W[p + "self_attn.k_proj.weight"], KV)
        v = _heads(x @ W[p + "self_attn.v_proj.weight"], KV)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
        a = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(D) + mask) @ v
        h = h + _unheads(a) @ W[p + "self_attn.o_proj.weight"]
        x = rms(h, W[p + "post_attention_layernorm.weight"])
        g = x @ W[p + "mlp.gate_proj.weight"]
        h = h + (g / (1 + np.exp(-g)) * (x @ W[p + "mlp.up_proj.weight"])) @ W[p + "mlp.down_proj.weight"]
    return [rms(h, W["model.norm.weight"]) @ W["lm_head.weight"]]


def ref_bert(W, feeds, c):
    from math import erf

    ids, S = feeds["input_ids"], feeds["input_ids"].shape[1]
    H, D = c["heads"], c["hidden"] // c["heads"]
    e = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][
        feeds["token_type_ids"]] + W["embeddings.position_embeddings.weight"][:S])
    ln = lambda x, p: _layer_norm(x, W[p + ".weight"], W[p + ".bias"], 1e-12)  # noqa: E731
    lin = lambda x, p: x @ W[p + ".weight"] + W[p + ".bias"]  # noqa: E731
    h = ln(e, "embeddings.LayerNorm")
    mask = (1.0 - feeds["attention_mask"][:, None, None, :].astype(np.float32)) * -10000.0
    verf = np.vectorize(erf)
    for i in range(c["layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (_heads(lin(h, p + "attention.self." + n), H) for n in ("query", "key", "value"))
        a = _unheads(_softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(D) + mask) @ v)
        h = ln(lin(a, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
        x = lin(h, p + "intermediate.dense")
        x = 0.5 * x * (1 + verf(x / np.sqrt(2)))
        h = ln(lin(x, p + "output.dense") + h, p + "output.LayerNorm")
    pooled = np.tanh(h[:, 0] @ W["pooler.dense.weight"].T + W["pooler.dense.bias"])
    return [h, pooled]


def ref_gpt2(W, feeds, c):
    ids, S = feeds["input_ids"], feeds["input_ids"].shape[1]
    H, D = c["heads"], c["hidden"] // c["heads"]
    ln = lambda x, p: _layer_norm(x, W[p + ".weight"], W[p + ".bias"], 1e-5)  # noqa: E731
    lin = lambda x, p: x @ W[p + ".weight"] + W[p + ".bias"]  # noqa: E731
    mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
    h = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][:S]
    for i in range(c["layers"]):
        p = f"transformer.h.{i}."
        q, k, v = np.split(lin(ln(h, p + "ln_1"), p + "attn.c_attn"), 3, axis=-1)
        q, k, v = _heads(q, H), _heads(k, H), _heads(v, H)
        a = _unheads(_softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(D) + mask) @ v)
        h = h + lin(a, p + "attn.c_proj")
        x = lin(ln(h, p + "ln_2"), p + "mlp.c_fc")
        x = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        h = h + lin(x, p + "mlp.c_proj")
    return [ln(h, "transformer.ln_f") @ W["transformer.wte.weight"].T]


REFERENCES = {"llama": (ref_llama, models.LLAMA), "bert": (ref_bert, models.BERT), "gpt2": (ref_gpt2, models.GPT2)}


def check_reference(name: str, size: str, path: str, feeds, outs) -> float:
    from onnx import numpy_helper

    fn, configs = REFERENCES[name]
    m = onnx.load(path)
    W = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type == onnx.TensorProto.FLOAT
         else numpy_helper.to_array(t) for t in m.graph.initializer}
    expected = fn(W, feeds, configs[size])
    worst = 0.0
    for e, o in zip(expected, outs):
        worst = max(worst, float(np.abs(e - o).max() / np.abs(e).max()))
    assert worst < 1e-4, (name, worst)
    return worst


def check(name: str, path: str, size: str, use_openvino: bool = True) -> None:
    import onnxruntime as ort

    t0 = time.perf_counter()
    onnx.checker.check_model(path, full_check=True)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = feeds_for(name, path)
    outs = sess.run(None, feeds)
    for o, meta in zip(outs, sess.get_outputs()):
        assert o.size > 0 and np.isfinite(o).all(), (name, meta.name)
    msg = ", ".join(f"{m.name}{list(o.shape)} std={o.std():.3g}" for o, m in zip(outs, sess.get_outputs()))

    if name in ("llama", "gpt2"):
        changed = dict(feeds)
        ids = feeds["input_ids"].copy()
        ids[:, -1] = (ids[:, -1] + 1) % 200
        changed["input_ids"] = ids
        logits2 = sess.run(None, changed)[0]
        assert np.array_equal(outs[0][:, :-1], logits2[:, :-1]), f"{name}: earlier logits changed"
        assert not np.allclose(outs[0][:, -1], logits2[:, -1]), f"{name}: last logits did not change"
        msg += ", causal ok"

    if name in REFERENCES and size in ("tiny",):
        err = check_reference(name, size, path, feeds, outs)
        msg += f", numpy reference matches ({err:.1e})"

    if use_openvino:
        import openvino as ov

        compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        res = compiled(feeds)
        for i, o in enumerate(outs):
            got = res[compiled.output(i)]
            err = np.abs(got - o).max() / (np.abs(o).max() + 1e-12)
            assert err < 1e-4, (name, i, err)
        msg += ", openvino matches"
    print(f"OK {name:5s} {path}: {msg} ({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="/tmp/irforge-bench")
    ap.add_argument("--full", nargs="*", default=[], choices=sorted(models.MODELS),
                    help="also check these full-size models (generated if missing)")
    ap.add_argument("--no-openvino", action="store_true")
    args = ap.parse_args()
    jobs = [(n, True) for n in models.MODELS] + [(n, False) for n in args.full]
    for name, small in jobs:
        fn, size, dirname = (models.SMALL if small else models.MODELS)[name]
        path = os.path.join(args.root, dirname, "model.onnx")
        if not os.path.exists(path):
            models.generate(name, args.root, small)
        check(name, path, size, use_openvino=not args.no_openvino)
    return 0


if __name__ == "__main__":
    sys.exit(main())
