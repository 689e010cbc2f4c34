"""Hugging Face LLM folders (config.json + safetensors) straight to stateful OpenVINO IR.

Tiny random checkpoints of each supported family are written with transformers' own
save_pretrained (safetensors); irforge converts them without torch, and the IR's logits in
OpenVINO (f32 inference precision) must equal transformers' in PyTorch: prompts of two lengths,
then one more token through the KV cache (ReadValue/Assign state). openvino_genai.LLMPipeline
runs the fp16 IR and its greedy tokens must equal transformers'. Malformed checkpoints give
errors naming the tensor.
"""

import json
import os
import struct

import numpy as np
import pytest

import irforge
from irforge import _core

import openvino as ov
import torch
import transformers

SMALL = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.1)


def _configs():
    t = transformers
    return {
        "llama": lambda: t.LlamaConfig(**SMALL),
        "llama3-rope": lambda: t.LlamaConfig(**SMALL, rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                                       "original_max_position_embeddings": 16}),
        "mistral": lambda: t.MistralConfig(**SMALL, sliding_window=4),
        "qwen2": lambda: t.Qwen2Config(**SMALL, tie_word_embeddings=True),
        "qwen3": lambda: t.Qwen3Config(**SMALL, head_dim=16),
        "phi3": lambda: t.Phi3Config(**SMALL, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        "gemma2": lambda: t.Gemma2Config(**SMALL, head_dim=16, sliding_window=4, query_pre_attn_scalar=16, attn_logit_softcapping=5.0,
                                         final_logit_softcapping=3.0),
        "mixtral": lambda: t.MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2),
        # Sliding layers (window 4, local rope base) alternate with global ones (linear-scaled rope).
        "gemma3": lambda: t.Gemma3TextConfig(**SMALL, head_dim=16, sliding_window=4, query_pre_attn_scalar=16,
                                             layer_types=["sliding_attention", "full_attention"],
                                             rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                                              "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}}),
        "llama-yarn": lambda: t.LlamaConfig(**SMALL, rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                                                      "original_max_position_embeddings": 64}),
        # Prompts of 5 and 11 tokens: short factors below 8 positions, long ones beyond.
        "phi3-longrope": lambda: t.Phi3Config(**SMALL, pad_token_id=0, bos_token_id=1, eos_token_id=2, original_max_position_embeddings=8,
                                              rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                                               "original_max_position_embeddings": 8,
                                                               "short_factor": [1.0 + 0.1 * i for i in range(8)],
                                                               "long_factor": [2.0 + 0.5 * i for i in range(8)]}),
    }


FAMILIES = list(_configs())


def make_checkpoint(folder, family, dtype=torch.float32, **save_kwargs):
    torch.manual_seed(0)
    config = _configs()[family]()
    model = transformers.AutoModelForCausalLM.from_config(config).eval().to(dtype)
    model.save_pretrained(folder, **save_kwargs)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {f: make_checkpoint(str(root / f), f) for f in FAMILIES}


def reference(folder):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def to_ir(folder, out_dir, compress_to_fp16=False):
    model = irforge.convert_model(folder)
    os.makedirs(out_dir, exist_ok=True)
    xml = os.path.join(out_dir, "openvino_model.xml")
    irforge.save_model(model, xml, compress_to_fp16=compress_to_fp16)
    return xml


def compiled(xml):
    core = ov.Core()
    # The fused stateful SDPA keeps its cache in u8 by default: f32 so that logits compare exactly.
    return core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"})


def feeds(ids, mask, positions):
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "beam_idx": np.arange(ids.shape[0], dtype=np.int32)}


def run_prompt_then_step(req, ids, nxt, mask=None):
    """Logits of the prompt, then of one more token through the KV cache."""
    mask = np.ones_like(ids) if mask is None else mask
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    req.reset_state()
    first = req.infer(feeds(ids, mask, positions))["logits"].copy()
    mask2 = np.concatenate([mask, np.ones_like(nxt)], axis=1)
    second = req.infer(feeds(nxt, mask2, positions[:, -1:] + 1))["logits"].copy()
    return first, second


def hf_logits(ref, ids, mask=None):
    ids_t = torch.from_numpy(ids)
    kwargs = {}
    if mask is not None:
        kwargs["attention_mask"] = torch.from_numpy(mask)
        kwargs["position_ids"] = torch.from_numpy(np.maximum(np.cumsum(mask, axis=1) - 1, 0))
    with torch.no_grad():
        return ref(ids_t, **kwargs).logits.numpy()


def rel_err(a, b):
    assert a.size and a.shape == b.shape
    return float(np.abs(a - b).max() / np.abs(b).max())


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(checkpoints, tmp_path, family):
    folder = checkpoints[family]
    xml = to_ir(folder, str(tmp_path / "ir"))
    req = compiled(xml).create_infer_request()
    ref = reference(folder)
    rng = np.random.default_rng(1)
    for length in (5, 11):  # 11 > Mistral's window of 4
        ids = rng.integers(3, 128, size=(1, length)).astype(np.int64)
        nxt = rng.integers(3, 128, size=(1, 1)).astype(np.int64)
        first, second = run_prompt_then_step(req, ids, nxt)
        want = hf_logits(ref, np.concatenate([ids, nxt], axis=1))
        assert rel_err(first, want[:, :length]) < 1e-4, family
        assert rel_err(second, want[:, length:]) < 1e-4, family


def test_batch_with_left_padding_and_beam_reorder(checkpoints, tmp_path):
    folder = checkpoints["llama"]
    req = compiled(to_ir(folder, str(tmp_path / "ir"))).create_infer_request()
    ref = reference(folder)
    rng = np.random.default_rng(2)
    ids = rng.integers(3, 128, size=(2, 7)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, :3] = 0  # the second prompt is 4 tokens, left-padded
    nxt = rng.integers(3, 128, size=(2, 1)).astype(np.int64)
    first, second = run_prompt_then_step(req, ids, nxt, mask)
    full_mask = np.concatenate([mask, np.ones_like(nxt)], axis=1)
    want = hf_logits(ref, np.concatenate([ids, nxt], axis=1), full_mask)
    assert rel_err(first[0], want[0, :7]) < 1e-4
    assert rel_err(first[1, 3:], want[1, 3:7]) < 1e-4  # padded positions are not compared
    assert rel_err(second, want[:, 7:]) < 1e-4
    # beam_idx reorders the cache: swapping the beams swaps the next logits.
    req.reset_state()
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    req.infer(feeds(ids, mask, positions))
    swapped = req.infer({"input_ids": nxt[::-1].copy(), "attention_mask": full_mask[::-1].copy(),
                         "position_ids": (positions[:, -1:] + 1)[::-1].copy(), "beam_idx": np.array([1, 0], np.int32)})["logits"]
    assert rel_err(swapped[::-1], second) < 1e-5


def test_fp16_ir_cosine_and_state_in_ir(checkpoints, tmp_path):
    folder = checkpoints["qwen3"]
    xml = to_ir(folder, str(tmp_path / "ir"), compress_to_fp16=True)
    model = ov.Core().read_model(xml)
    assert len(model.get_sinks()) == 4 and len(model.get_variables()) == 4  # 2 layers x (key, value)
    types = {op.get_type_name() for op in model.get_ops()}
    assert {"ReadValue", "Assign", "ScaledDotProductAttention", "Swish"} <= types
    # The CPU plugin fuses every RMSNorm (9 = 2 layers x (2 + q/k norms) + final) and keeps the state in memory nodes.
    runtime = [op.get_rt_info()["layerType"].astype(str) for op in compiled(xml).get_runtime_model().get_ops()]
    assert runtime.count("RMS") == 9 and runtime.count("MemoryInput") == 4
    assert {i.get_any_name(): str(i.get_element_type()) for i in model.inputs} == {
        "input_ids": "<Type: 'int64_t'>", "attention_mask": "<Type: 'int64_t'>", "position_ids": "<Type: 'int64_t'>", "beam_idx": "<Type: 'int32_t'>"}
    req = compiled(xml).create_infer_request()
    ids = np.random.default_rng(3).integers(3, 128, size=(1, 9)).astype(np.int64)
    nxt = np.array([[7]], np.int64)
    first, second = run_prompt_then_step(req, ids, nxt)
    want = hf_logits(reference(folder), np.concatenate([ids, nxt], axis=1))
    assert cosine(first, want[:, :9]) >= 0.9999 and cosine(second, want[:, 9:]) >= 0.9999


@pytest.mark.parametrize("family", ["llama", "qwen3", "phi3", "gemma3"])
def test_cpu_plugin_fuses_stateful_sdpa_and_rope(checkpoints, tmp_path, family):
    # The KV cache (ReadValue -> Gather(beam_idx) -> Concat -> SDPA, Assign of the Concat) must
    # become the CPU plugin's ScaledDotProductAttentionWithKVCache: an SDPA node reading beam_idx
    # and both memory inputs itself, no cache Concat left; RoPE on q and k becomes RoPE nodes.
    xml = to_ir(checkpoints[family], str(tmp_path / "ir"), compress_to_fp16=True)
    ops = compiled(xml).get_runtime_model().get_ops()
    kind = lambda op: op.get_rt_info()["layerType"].astype(str)  # noqa: E731
    sdpa = [op for op in ops if kind(op) == "ScaledDotProductAttention"]
    assert len(sdpa) == 2, [kind(op) for op in ops]
    for op in sdpa:
        sources = [kind(i.get_source_output().get_node()) for i in op.inputs()]
        assert sources.count("MemoryInput") == 2 and "Input" in sources, sources  # past k/v and beam_idx
    assert sum(kind(op) == "RoPE" for op in ops) == 4  # q and k of 2 layers


def test_genai_greedy_generation_equals_transformers(checkpoints, tmp_path):
    og = __import__("openvino_genai")
    folder = checkpoints["llama"]
    out = str(tmp_path / "ir")
    to_ir(folder, out, compress_to_fp16=True)
    from irforge.frontends import hf_llm

    assert "config.json" in hf_llm.copy_side_files(folder, out)
    pipe = og.LLMPipeline(out, "CPU", INFERENCE_PRECISION_HINT="f32")
    cfg = og.GenerationConfig()
    cfg.max_new_tokens, cfg.ignore_eos, cfg.do_sample = 20, True, False
    prompt = np.array([[5, 17, 33, 9, 100, 64]], np.int64)
    got = pipe.generate(og.TokenizedInputs(ov.Tensor(prompt), ov.Tensor(np.ones_like(prompt))), cfg).tokens[0]
    ref = reference(folder)
    with torch.no_grad():
        want = ref.generate(torch.from_numpy(prompt), max_new_tokens=20, min_new_tokens=20, do_sample=False)[0, prompt.shape[1]:].tolist()
    assert list(got) == want


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_checkpoint_matches_its_upcast(tmp_path, dtype):
    folder = make_checkpoint(str(tmp_path / "ckpt"), "llama", dtype=dtype)
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    assert header["model.layers.0.mlp.up_proj.weight"]["dtype"] == {torch.bfloat16: "BF16", torch.float16: "F16"}[dtype]
    req = compiled(to_ir(folder, str(tmp_path / "ir"))).create_infer_request()
    ids = np.arange(3, 11, dtype=np.int64)[None]
    first, second = run_prompt_then_step(req, ids, np.array([[50]], np.int64))
    want = hf_logits(reference(folder), np.concatenate([ids, [[50]]], axis=1))  # weights upcast to f32
    assert rel_err(first, want[:, :8]) < 1e-4 and rel_err(second, want[:, 8:]) < 1e-4


def test_bf16_checkpoint_gives_f16_weights_in_the_fp16_ir(tmp_path):
    folder = make_checkpoint(str(tmp_path / "ckpt"), "llama", dtype=torch.bfloat16)
    xml = to_ir(folder, str(tmp_path / "ir"), compress_to_fp16=True)
    consts = [op for op in ov.Core().read_model(xml).get_ops() if op.get_type_name() == "Constant"]
    types = {str(op.get_element_type()) for op in consts if op.get_output_partial_shape(0).is_static and op.get_output_shape(0) == [96, 64]}
    assert types == {"<Type: 'float16'>"}, types  # the MLP weights
    assert not [op for op in consts if str(op.get_element_type()) == "<Type: 'bfloat16'>"]
    req = compiled(xml).create_infer_request()
    ids = np.arange(3, 11, dtype=np.int64)[None]
    first, second = run_prompt_then_step(req, ids, np.array([[50]], np.int64))
    want = hf_logits(reference(folder), np.concatenate([ids, [[50]]], axis=1))
    assert cosine(first, want[:, :8]) >= 0.9999 and cosine(second, want[:, 8:]) >= 0.9999


def test_sharded_checkpoint_and_weights_are_mapped(tmp_path):
    folder = make_checkpoint(str(tmp_path / "ckpt"), "llama", max_shard_size="100KB")
    assert os.path.exists(os.path.join(folder, "model.safetensors.index.json"))
    shards = [n for n in os.listdir(folder) if n.endswith(".safetensors")]
    assert len(shards) > 2
    model = irforge.convert_model(folder, transform="none")
    assert _core.constant_is_mapped(model._core, "model.layers.1.mlp.down_proj.weight")
    req = compiled(to_ir(folder, str(tmp_path / "ir"))).create_infer_request()
    ids = np.arange(3, 9, dtype=np.int64)[None]
    first, second = run_prompt_then_step(req, ids, np.array([[9]], np.int64))
    want = hf_logits(reference(folder), np.concatenate([ids, [[9]]], axis=1))
    assert rel_err(first, want[:, :6]) < 1e-4 and rel_err(second, want[:, 6:]) < 1e-4


def test_onnx_output_of_a_stateful_model_is_refused(checkpoints, tmp_path):
    model = irforge.convert_model(checkpoints["llama"])
    with pytest.raises(irforge.UnsupportedError, match=r"stateful.*past_key_values\.0\.key.*OpenVINO IR"):
        irforge.save_model(model, str(tmp_path / "m.onnx"))
    assert not os.listdir(tmp_path)


# ---- malformed checkpoints ----

def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rewrite_header(path, edit):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])


def _edit_config(folder, **fields):
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(fields)
    with open(path, "w") as f:
        json.dump(cfg, f)


def test_truncated_shard_names_the_tensor(checkpoints, tmp_path):
    folder = _copy(checkpoints["llama"], str(tmp_path / "c"))
    path = os.path.join(folder, "model.safetensors")
    os.truncate(path, os.path.getsize(path) - 100)
    with pytest.raises(irforge.InvalidModelError, match=r"model\.safetensors: tensor '[^']+'.*past the end.*truncated"):
        irforge.convert_model(folder)


def test_offsets_out_of_range_name_the_tensor(checkpoints, tmp_path):
    folder = _copy(checkpoints["llama"], str(tmp_path / "c"))
    path = os.path.join(folder, "model.safetensors")

    def edit(h):
        b, e = h["model.norm.weight"]["data_offsets"]
        h["model.norm.weight"]["data_offsets"] = [b + 10**9, e + 10**9]

    _rewrite_header(path, edit)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.norm\.weight'.*past the end"):
        irforge.convert_model(folder)


def test_shape_and_dtype_mismatches_name_the_tensor(checkpoints, tmp_path):
    folder = _copy(checkpoints["llama"], str(tmp_path / "c"))
    _edit_config(folder, intermediate_size=128)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[96, 64\] but config\.json implies \[128, 64\]"):
        irforge.convert_model(folder)
    folder = _copy(checkpoints["llama"], str(tmp_path / "d"))

    def to_int(h):
        h["model.norm.weight"]["dtype"] = "I32"

    _rewrite_header(os.path.join(folder, "model.safetensors"), to_int)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.norm\.weight' has element type I32"):
        irforge.convert_model(folder)


def test_missing_tensor_is_named(checkpoints, tmp_path):
    folder = _copy(checkpoints["llama"], str(tmp_path / "c"))

    def drop(h):
        del h["model.layers.1.self_attn.k_proj.weight"]

    _rewrite_header(os.path.join(folder, "model.safetensors"), drop)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' is missing"):
        irforge.convert_model(folder)


def test_index_naming_a_missing_tensor_or_a_path_outside(tmp_path):
    folder = make_checkpoint(str(tmp_path / "ckpt"), "llama", max_shard_size="100KB")
    index = os.path.join(folder, "model.safetensors.index.json")
    with open(index) as f:
        data = json.load(f)
    shard = data["weight_map"]["model.norm.weight"]
    data["weight_map"]["model.extra.weight"] = shard
    with open(index, "w") as f:
        json.dump(data, f)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.extra\.weight', listed in model\.safetensors\.index\.json, is not in this shard"):
        irforge.convert_model(folder)
    del data["weight_map"]["model.extra.weight"]
    data["weight_map"]["model.norm.weight"] = "../" + shard
    with open(index, "w") as f:
        json.dump(data, f)
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 'model\.norm\.weight' names shard '\.\./"):
        irforge.convert_model(folder)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"model_type": "gpt_bigcode"}, r"model_type 'gpt_bigcode' is not supported"),
        ({"hidden_act": "gelu"}, r"hidden_act='gelu' changes the model's math"),
        ({"rope_parameters": {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 4.0}}, r"rope type 'dynamic' is not supported"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0}}, r"rope type 'yarn' needs original_max_position_embeddings"),
        ({"num_key_value_heads": 3}, r"not a multiple of num_key_value_heads=3"),
    ],
)
def test_unsupported_or_wrong_config_is_a_clear_error(checkpoints, tmp_path, fields, message):
    folder = _copy(checkpoints["llama"], str(tmp_path / "c"))
    _edit_config(folder, **fields)
    with pytest.raises(irforge.ConversionError, match=message):
        irforge.convert_model(folder)


def test_extra_tensors_mean_an_unsupported_config(checkpoints, tmp_path):
    # Qwen3's q/k norms in a checkpoint that says llama: the graph would ignore them.
    folder = _copy(checkpoints["qwen3"], str(tmp_path / "c"))
    _edit_config(folder, model_type="llama")
    with pytest.raises(irforge.UnsupportedError, match=r"does not use \(e\.g\. 'model\.layers\.0\.self_attn\.[qk]_norm\.weight'\)"):
        irforge.convert_model(folder)


# ---- the header parser itself ----

def _file(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def test_header_parser_accepts_the_format():
    h = json.dumps({"__metadata__": {"format": "pt"}, "a\u00e9\\\"": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "BF16", "shape": [], "data_offsets": [8, 10]}}).encode()
    got = _core.safetensors_parse_header(_file(h, bytes(10)))
    assert [(t[0], t[1], t[2], t[4]) for t in got] == [("a\u00e9\\\"", 1, [2], 8), ("b", 16, [], 2)]
    assert got[0][3] == 8 + len(h)


@pytest.mark.parametrize(
    "header, data, message",
    [
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', bytes(8), r"tensor 'a': data_offsets span 4 bytes but F32 of 2 elements takes 8"),
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', bytes(4), r"tensor 'a'.*past the end"),
        (b'{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}', bytes(8), r"tensor 'a': unknown or unsupported dtype 'Q4'"),
        (b'{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}', bytes(8), r"tensor 'a': a dim of 'shape' is not an integer >= 0"),
        (b'{"a": {"dtype": "F32", "shape": [1e2], "data_offsets": [0, 8]}}', bytes(8), r"tensor 'a': a dim of 'shape'"),
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99999999999999999999]}}', bytes(8), r"'data_offsets' must be two integers"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}', bytes(8), r"tensors 'a' and 'b' overlap"),
        (b'{"a": 1, "a": 2}', b"", r"duplicate key 'a'"),
        (b'{"a": "\\ud800"}', b"", r"high surrogate"),
        (b'{"a": [1, 2}', b"", r"expected"),
        (b'{} x', b"", r"unexpected bytes after the JSON value"),
        (b"[" * 100 + b"]" * 100, b"", r"nesting deeper than 64"),
        (b'"text"', b"", r"not a JSON object"),
    ],
)
def test_header_parser_refuses_malformed_headers(header, data, message):
    with pytest.raises((irforge.InvalidModelError, irforge.UnsupportedError), match=message):  # an unknown dtype is unsupported
        _core.safetensors_parse_header(_file(header, data))


def test_header_length_beyond_the_file_or_the_limit():
    with pytest.raises(irforge.InvalidModelError, match=r"truncated safetensors file: the header declares 100 bytes"):
        _core.safetensors_parse_header(struct.pack("<Q", 100) + b"{}")
    with pytest.raises(irforge.ResourceLimitError, match=r"beyond the limit"):
        _core.safetensors_parse_header(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(irforge.InvalidModelError, match=r"truncated safetensors file \(3 bytes"):
        _core.safetensors_parse_header(b"abc")


def test_cli_writes_a_genai_folder_with_int4_weights(checkpoints, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "llama-int4"
    folder = checkpoints["llama"]
    run = subprocess.run([sys.executable, "-m", "irforge", "convert", folder, "--output_model", str(out), "--compress_weights", "int4_asym",
                          "--group_size", "16"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(out)) == ["config.json", "generation_config.json", "openvino_model.bin", "openvino_model.xml"]
    xml = str(out / "openvino_model.xml")
    with open(xml) as f:
        text = f.read()
    assert 'element_type="u4"' in text and 'type="ReadValue"' in text
    # int4 logits stay close to transformers' (random weights with group 16: cosine 0.98 measured).
    req = compiled(xml).create_infer_request()
    ids = np.arange(3, 12, dtype=np.int64)[None]
    first, second = run_prompt_then_step(req, ids, np.array([[40]], np.int64))
    want = hf_logits(reference(folder), np.concatenate([ids, [[40]]], axis=1))
    assert cosine(first, want[:, :9]) > 0.95 and cosine(second, want[:, 9:]) > 0.95
    og = __import__("openvino_genai")
    pipe = og.LLMPipeline(str(out), "CPU")
    cfg = og.GenerationConfig()
    cfg.max_new_tokens, cfg.ignore_eos = 5, True
    assert len(pipe.generate(og.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids))), cfg).tokens[0]) == 5


def test_int4_reaches_weights_stored_transposed_and_in_bf16(tmp_path):
    # Weights above the folding limit keep their Transpose (and Cast from bf16): compress_weights
    # must still find them, or int4 silently leaves them in 16 bits.
    folder = str(tmp_path / "ckpt")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**dict(SMALL, hidden_size=512, intermediate_size=1024, num_hidden_layers=1, num_attention_heads=8,
                                             num_key_value_heads=8))
    transformers.AutoModelForCausalLM.from_config(config).eval().to(torch.bfloat16).save_pretrained(folder)
    model = irforge.convert_model(folder)
    irforge.compress_weights(model, mode="int4_asym", group_size=64)
    table = model.compression_table()
    for name in ("model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.gate_proj.weight"):
        assert name in table and "int4_asym" in table.split(name)[1].splitlines()[0], table
    xml = str(tmp_path / "ir" / "openvino_model.xml")
    os.makedirs(os.path.dirname(xml))
    irforge.save_model(model, xml)
    req = compiled(xml).create_infer_request()
    ids = np.arange(3, 10, dtype=np.int64)[None]
    first, _ = run_prompt_then_step(req, ids, np.array([[20]], np.int64))
    want = hf_logits(reference(folder), ids)
    assert cosine(first, want) > 0.95


def test_cli_converts_the_tokenizer_and_genai_generates_text_like_transformers(tmp_path):
    import subprocess
    import sys

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    og = __import__("openvino_genai")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    text = "the quick brown fox jumps over the lazy dog while a cat sat on the mat"
    tok.train_from_iterator([text] * 20, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    folder = str(tmp_path / "ckpt")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**dict(SMALL, vocab_size=len(fast), bos_token_id=1, eos_token_id=2))
    ref = transformers.AutoModelForCausalLM.from_config(config).eval()
    ref.save_pretrained(folder)
    fast.save_pretrained(folder)
    out = tmp_path / "ov"
    run = subprocess.run([sys.executable, "-m", "irforge", "convert", folder, "--output_model", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert {"openvino_tokenizer.xml", "openvino_detokenizer.xml", "tokenizer.json"} <= set(os.listdir(out))
    pipe = og.LLMPipeline(str(out), "CPU", INFERENCE_PRECISION_HINT="f32")
    cfg = og.GenerationConfig()
    cfg.max_new_tokens, cfg.ignore_eos, cfg.do_sample = 20, True, False
    got = pipe.generate("the lazy cat", cfg)
    ids = fast("the lazy cat", return_tensors="pt").input_ids
    with torch.no_grad():
        new = ref.generate(ids, max_new_tokens=20, min_new_tokens=20, do_sample=False)[0, ids.shape[1]:]
    want = fast.decode(new, skip_special_tokens=True)
    assert want and got == want


def test_a_lone_safetensors_file_points_to_the_folder(checkpoints):
    with pytest.raises(irforge.UnsupportedError, match=r"holds weights, not a graph; pass the Hugging Face model folder"):
        irforge.convert_model(os.path.join(checkpoints["llama"], "model.safetensors"))
