"""Decoders with onnxruntime's KV-cache attention ops (issue 20 item 5, transformers family), built
with onnx.helper as onnxruntime-genai's model builder writes them, irforge's IR vs ovc's: layers
and accuracy against onnxruntime over a prefill and two decode steps.

    PYTHONPATH=build/NAME/stage /work/venv/bin/python bench/wild_contrib_decoders.py

- gqa_decoder: two GroupQueryAttention layers (packed and separate QKV, rotary, one interleaved)
  whose seqlens_k / total_sequence_length come from the attention mask, batch 3 over right-padded
  prompts of 2, 6 and 4 tokens, so the decode steps have a ragged past.
- rotary_decoder: phi-style partial com.microsoft RotaryEmbedding on q and k (one layer
  interleaved, with a scale) in front of MultiHeadAttention with a 4-D KV cache, batch 2.
tests/test_wild_contrib_gqa.py and tests/test_wild_contrib_attention.py use the builders.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wild_quant  # noqa: E402  (the shared comparison against ovc and onnxruntime)

F, I64 = T.FLOAT, T.INT64


def _run_ort(model, feeds):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feeds)


N, NK, HD, D, MAX_POS = 4, 2, 16, 32, 64  # onnxruntime's rotary kernel wants head sizes of multiples of 16


def decoder():
    rng = np.random.default_rng(7)
    inits = {}

    def weight(name, *shape):
        inits[name] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)
        return name

    angles = np.arange(MAX_POS)[:, None] * (1.0 / 10000 ** (np.arange(HD // 2) / (HD // 2)))[None, :]
    inits["cos_cache"] = np.cos(angles).astype(np.float32)
    inits["sin_cache"] = np.sin(angles).astype(np.float32)
    inits["axis1"] = np.array([1], np.int64)
    inits["one"] = np.array(1, np.int64)
    nodes = [
        # The model builder's attention-mask preprocessing.
        h.make_node("ReduceSum", ["attention_mask", "axis1"], ["mask_sum"], keepdims=0),
        h.make_node("Sub", ["mask_sum", "one"], ["seqlens_k_i64"]),
        h.make_node("Cast", ["seqlens_k_i64"], ["seqlens_k"], to=T.INT32),
        h.make_node("Shape", ["attention_mask"], ["mask_shape"]),
        h.make_node("Gather", ["mask_shape", "one"], ["total_i64"], axis=0),
        h.make_node("Cast", ["total_i64"], ["total_seq_len"], to=T.INT32),
    ]
    inputs = [h.make_tensor_value_info("hidden", T.FLOAT, ["batch", "seq", D]),
              h.make_tensor_value_info("attention_mask", T.INT64, ["batch", "total"])]
    outputs = []
    x = "hidden"
    for layer in range(2):
        past = [f"past_key_values.{layer}.key", f"past_key_values.{layer}.value"]
        present = [f"present.{layer}.key", f"present.{layer}.value"]
        inputs += [h.make_tensor_value_info(p, T.FLOAT, ["batch", NK, "past", HD]) for p in past]
        outputs += [h.make_tensor_value_info(p, T.FLOAT, ["batch", NK, "present", HD]) for p in present]
        if layer == 0:  # packed QKV projection
            nodes.append(h.make_node("MatMul", [x, weight("qkv_w0", D, (N + 2 * NK) * HD)], ["qkv0"]))
            qkv = ["qkv0", "", ""]
        else:
            qkv = [f"{p}{layer}" for p in "qkv"]
            nodes += [h.make_node("MatMul", [x, weight(f"{p}_w{layer}", D, n * HD)], [f"{p}{layer}"]) for p, n in zip("qkv", (N, NK, NK))]
        nodes.append(h.make_node("GroupQueryAttention", qkv + past + ["seqlens_k", "total_seq_len", "cos_cache", "sin_cache"],
                                 [f"attn{layer}"] + present, domain="com.microsoft", name=f"gqa_{layer}",
                                 num_heads=N, kv_num_heads=NK, do_rotary=1, rotary_interleaved=layer))
        nodes.append(h.make_node("MatMul", [f"attn{layer}", weight(f"o_w{layer}", N * HD, D)], [f"out{layer}"]))
        x = f"out{layer}"
    outputs.insert(0, h.make_tensor_value_info(x, T.FLOAT, ["batch", "seq", D]))
    g = h.make_graph(nodes, "gqa_decoder", inputs, outputs, initializer=[onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def generation(lengths, prompt, steps=2):
    """Feeds for the prefill and `steps` decode steps of right-padded prompts of `lengths` tokens,
    each step's past being onnxruntime's present of the step before (on the original model)."""
    model = decoder()
    rng = np.random.default_rng(len(lengths) * 10 + prompt)
    b = len(lengths)
    mask = (np.arange(prompt)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    past = {f"past_key_values.{i}.{kv}": np.zeros((b, NK, 0, HD), np.float32) for i in range(2) for kv in ("key", "value")}
    feeds = []
    s = prompt
    for _ in range(steps + 1):
        f = {"hidden": rng.standard_normal((b, s, D)).astype(np.float32), "attention_mask": mask, **past}
        feeds.append(f)
        out = _run_ort(model, f)
        past = {f"past_key_values.{i}.{kv}": out[1 + 2 * i + j] for i in range(2) for j, kv in enumerate(("key", "value"))}
        mask = np.concatenate([mask, np.ones((b, 1), np.int64)], axis=1)
        s = 1
    return model, feeds


def rotary_decoder(layers=2):
    """Phi-style: q/k/v projections, partial RotaryEmbedding on q and k as onnxruntime-genai's
    builder writes it (3-D, num_heads + rotary_embedding_dim, position_ids [B, S]; one layer
    interleaved with a scale), then MultiHeadAttention with a 4-D KV cache, unidirectional."""
    n, hd, d, rot, max_pos = 2, 16, 32, 8, 64
    rng = np.random.default_rng(3)
    angles = np.arange(max_pos)[:, None] * (1.0 / 10000 ** (np.arange(rot // 2) / (rot // 2)))[None, :]
    inits = {"cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
    ins = [h.make_tensor_value_info("x0", F, ["b", "s", d]), h.make_tensor_value_info("position_ids", I64, ["b", "s"])]
    outs, nodes = [], []
    for i in range(layers):
        for p in "qkvo":
            inits[f"{p}{i}_w"] = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
        for p in "qkv":
            nodes.append(h.make_node("MatMul", [f"x{i}", f"{p}{i}_w"], [f"{p}{i}"]))
        rot_attrs = {"num_heads": n, "rotary_embedding_dim": rot, "interleaved": i % 2}
        if i % 2:
            rot_attrs["scale"] = 0.25
        for p in "qk":
            nodes.append(h.make_node("RotaryEmbedding", [f"{p}{i}", "position_ids", "cos", "sin"], [f"{p}{i}_rot"], domain="com.microsoft", **rot_attrs))
        past = [f"past_key_{i}", f"past_value_{i}"]
        present = [f"present_key_{i}", f"present_value_{i}"]
        ins += [h.make_tensor_value_info(p, F, ["b", n, "p", hd]) for p in past]
        outs += [h.make_tensor_value_info(p, F, ["b", n, "t", hd]) for p in present]
        nodes.append(h.make_node("MultiHeadAttention", [f"q{i}_rot", f"k{i}_rot", f"v{i}", "", "", ""] + past, [f"a{i}"] + present,
                                 domain="com.microsoft", num_heads=n, unidirectional=1))
        nodes.append(h.make_node("MatMul", [f"a{i}", f"o{i}_w"], [f"x{i + 1}"]))
    outs.insert(0, h.make_tensor_value_info(f"x{layers}", F, ["b", "s", d]))
    g = h.make_graph(nodes, "rotary_decoder", ins, outs, initializer=[onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m, n, hd, d




def rotary_steps(b=2, prompt=5, steps=1):
    """Feeds for the prefill and `steps` decode steps of rotary_decoder, positions 0.. per row."""
    model, n, hd, d = rotary_decoder()
    rng = np.random.default_rng(b + prompt)
    past = {f"past_{kv}_{i}": np.zeros((b, n, 0, hd), np.float32) for i in range(2) for kv in ("key", "value")}
    feeds, start, s = [], 0, prompt
    for _ in range(steps + 1):
        f = {"x0": rng.standard_normal((b, s, d)).astype(np.float32), "position_ids": np.tile(np.arange(start, start + s, dtype=np.int64), (b, 1)), **past}
        feeds.append(f)
        out = _run_ort(model, f)
        past = {f"past_{kv}_{i}": out[1 + 2 * i + j] for i in range(2) for j, kv in enumerate(("key", "value"))}
        start, s = start + s, 1
    return model, feeds


def _saved(name, model, feeds):
    def build(d):
        path = os.path.join(d, f"{name}.onnx")
        onnx.save(model, path)
        return path, feeds

    return build


MODELS = {
    "gqa_decoder": lambda: _saved("gqa_decoder", *generation((2, 6, 4), 6)),
    "rotary_decoder": lambda: _saved("rotary_decoder", *rotary_steps(2, 5, 2)),
}


def compare(name, d, build):
    """wild_quant.compare's figures, with ovc's model compiled in memory: ovc keeps
    GroupQueryAttention as an internal op that its own saved IR cannot be read back with
    ("unsupported opset: extension"). Layers are the non-Constant ops of each model."""
    import collections

    import irforge
    import openvino as ov

    path, feeds = build(d)
    core = ov.Core()
    ovc_model = ov.convert_model(path)
    irf_xml = os.path.join(d, f"{name}_irforge.xml")
    irforge.save_model(irforge.convert_model(path), irf_xml, compress_to_fp16=False)
    irf_model = core.read_model(irf_xml)
    res = {"model": name}
    for key, model in (("ovc", ovc_model), ("irforge", irf_model)):
        res[f"{key}_types"] = collections.Counter(op.get_type_name() for op in model.get_ordered_ops() if op.get_type_name() != "Constant")
        res[key] = sum(res[f"{key}_types"].values())
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        res[f"{key}_err"] = 0.0
        for step, f in enumerate(feeds):
            try:
                out = compiled.create_infer_request().infer(f)
            except RuntimeError as e:  # ovc's IR of some of these fails at run time; a row, not the end
                res[f"{key}_err"] = f"fails at step {step}: " + [ln for ln in str(e).splitlines() if ln.strip()][-1][:120]
                break
            ref = wild_quant.run_ort(path, f)
            res[f"{key}_err"] = max(res[f"{key}_err"], max(wild_quant.rel_err(r, out[o]) for r, o in zip(ref, compiled.outputs)))
    return res


def _fmt(err):
    return err if isinstance(err, str) else f"{err:.1e}"


def main():
    import tempfile

    print("| model | irforge | ovc | irforge / ovc | irforge max rel err | ovc max rel err |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for name, make in MODELS.items():
            r = compare(name, d, make())
            print(f"| {name} | {r['irforge']} | {r['ovc']} | {r['irforge'] / r['ovc']:.2f} | {_fmt(r['irforge_err'])} | {_fmt(r['ovc_err'])} |")
            keys = sorted(set(r["ovc_types"]) | set(r["irforge_types"]))
            diff = {k: (r["irforge_types"][k], r["ovc_types"][k]) for k in keys if r["irforge_types"][k] != r["ovc_types"][k]}
            print(f"{name}: irforge vs ovc differing types: {diff}", file=sys.stderr)


if __name__ == "__main__":
    main()
