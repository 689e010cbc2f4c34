"""The .bin writing path of a Hugging Face LLM conversion (issue 17): direct I/O and blocked int4.

The .bin is written with O_DIRECT in 4 MiB blocks from a background thread, and int4/int8 scales
are computed in ~8 MiB source blocks released as they go. These tests use a checkpoint whose
embedding and LM head (33.8 MB each) span several of both, written with NumPy in safetensors
format, and check that:
  - the IR is byte-identical with direct I/O and with buffered writes (IRFORGE_DIRECT_IO=0),
    for the fp16 IR, int4_asym, and a weight kept f32 (mostly out of f16 range) whose rewrite
    goes back over blocks already on the file;
  - the LM head's int8 scales and zero points (every row, across the source blocks) follow
    NNCF's formulas and dequantize to within half a step of the weights;
  - NaN in a later block is an error naming the weight and its element index in the whole
    weight, and leaves no output files.
"""

import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

HIDDEN, INTER, VOCAB = 512, 1024, 33000  # LM head: 33000 x 512 bf16 = 33.8 MB


def _tensors():
    h, i, v = HIDDEN, INTER, VOCAB
    kv = 2 * (h // 8)
    p = "model.layers.0."
    return [("model.embed_tokens.weight", [v, h]), (p + "input_layernorm.weight", [h]), (p + "self_attn.q_proj.weight", [h, h]),
            (p + "self_attn.k_proj.weight", [kv, h]), (p + "self_attn.v_proj.weight", [kv, h]), (p + "self_attn.o_proj.weight", [h, h]),
            (p + "post_attention_layernorm.weight", [h]), (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
            (p + "mlp.down_proj.weight", [h, i]), ("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def to_bf16(x):
    """float32 -> bf16 bits, round to nearest even (as torch and the checkpoint writers do)."""
    b = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


def write_checkpoint(folder, dtype="BF16", edit=None):
    """A one-layer Llama checkpoint with N(0, 0.02) weights; edit(name, array) may change a tensor."""
    os.makedirs(folder, exist_ok=True)
    config = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=1,
                  num_attention_heads=8, num_key_value_heads=2, vocab_size=VOCAB, hidden_act="silu", rms_norm_eps=1e-5,
                  max_position_embeddings=256, rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="bfloat16" if dtype == "BF16" else "float32")
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    rng = np.random.default_rng(0)
    header, blobs, offset = {}, [], 0
    for name, dims in _tensors():
        x = np.ones(dims, np.float32) if name.endswith("norm.weight") else rng.standard_normal(dims, dtype=np.float32) * np.float32(0.02)
        if edit:
            x = edit(name, x)
        blob = to_bf16(x).tobytes() if dtype == "BF16" else x.astype(np.float32).tobytes()
        header[name] = {"dtype": dtype, "shape": dims, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)
    return folder


def convert(folder, out, *args, direct=True):
    env = dict(os.environ, IRFORGE_DIRECT_IO="1" if direct else "0")
    return subprocess.run([sys.executable, "-m", "irforge", "convert", folder, "--output_model", out, *args], env=env, capture_output=True, text=True)


def read_ir(out):
    with open(os.path.join(out, "openvino_model.xml"), "rb") as f:
        xml = f.read()
    with open(os.path.join(out, "openvino_model.bin"), "rb") as f:
        return xml, f.read()


def const(xml, name):
    m = re.search(rb'name="' + re.escape(name.encode()) + rb'" type="Const"[^>]*>\s*<data ([^/]*)/>', xml)
    assert m, name
    return {k.decode(): v.decode() for k, v in re.findall(rb'(\w+)="([^"]*)"', m.group(1))}


def data(xml, bin_bytes, name, dtype):
    c = const(xml, name)
    off, size = int(c["offset"]), int(c["size"])
    return np.frombuffer(bin_bytes[off:off + size], dtype), c


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory):
    return write_checkpoint(str(tmp_path_factory.mktemp("llm_bin") / "ckpt"))


@pytest.mark.parametrize("mode", [[], ["--compress_weights", "int4_asym"]], ids=["fp16", "int4_asym"])
def test_direct_and_buffered_writes_give_the_same_ir(bf16_checkpoint, tmp_path, mode):
    runs = {}
    for direct in (True, False):
        out = str(tmp_path / f"out-{direct}")
        r = convert(bf16_checkpoint, out, *mode, direct=direct)
        assert r.returncode == 0, r.stderr
        runs[direct] = read_ir(out)
    assert runs[True] == runs[False]
    xml, bin_bytes = runs[True]
    if not mode:  # the fp16 IR: the LM head's f16 (at an odd .bin offset) is the bf16 weight's value
        head, c = data(xml, bin_bytes, "lm_head.weight", np.float16)
        assert c["element_type"] == "f16"
        want = rng_weight("lm_head.weight")
        np.testing.assert_array_equal(head.reshape(VOCAB, HIDDEN), want.astype(np.float16))


def rng_weight(name):
    """The bf16 values write_checkpoint stored for `name`, as float32."""
    rng = np.random.default_rng(0)
    for n, dims in _tensors():
        x = np.ones(dims, np.float32) if n.endswith("norm.weight") else rng.standard_normal(dims, dtype=np.float32) * np.float32(0.02)
        if n == name:
            return bf16_to_f32(to_bf16(x)).reshape(dims)
    raise KeyError(name)


def test_weight_kept_f32_is_rewritten_over_blocks_already_written(tmp_path):
    # Values around 1e6 are out of f16 range: the LM head is first written as f16 (several 4 MiB
    # blocks, already on the file), then rewound and written as f32.
    folder = write_checkpoint(str(tmp_path / "ckpt"), dtype="F32", edit=lambda n, x: x * np.float32(5e7) if n == "lm_head.weight" else x)
    runs = {}
    for direct in (True, False):
        out = str(tmp_path / f"out-{direct}")
        r = convert(folder, out, direct=direct)
        assert r.returncode == 0, r.stderr
        runs[direct] = read_ir(out)
    assert runs[True] == runs[False]
    xml, bin_bytes = runs[True]
    # An f32 LM head reaches the IR transposed (folded lazily, streamed by the writer).
    m = re.search(rb'<data element_type="f32" shape="512,33000" offset="(\d+)" size="(\d+)"', xml)
    assert m, "the LM head is not kept f32"
    off, size = int(m.group(1)), int(m.group(2))
    head = np.frombuffer(bin_bytes[off:off + size], np.float32)
    rng = np.random.default_rng(0)
    want = None
    for n, dims in _tensors():
        x = np.ones(dims, np.float32) if n.endswith("norm.weight") else rng.standard_normal(dims, dtype=np.float32) * np.float32(0.02)
        if n == "lm_head.weight":
            want = x * np.float32(5e7)
    np.testing.assert_array_equal(head.reshape(HIDDEN, VOCAB), want.T)


def test_int8_scales_across_source_blocks_follow_nncf(bf16_checkpoint, tmp_path):
    out = str(tmp_path / "int4")
    r = convert(bf16_checkpoint, out, "--compress_weights", "int4_asym")
    assert r.returncode == 0, r.stderr
    xml, bin_bytes = read_ir(out)
    # The LM head is NNCF's backup int8_asym, per output channel (one scale per row).
    scale, c = data(xml, bin_bytes, "lm_head.weight_scale", np.uint16)
    assert c["element_type"] == "bf16" and c["shape"] == str(VOCAB)
    zero, c = data(xml, bin_bytes, "lm_head.weight_zero_point", np.uint8)
    assert c["element_type"] == "u8"
    q, c = data(xml, bin_bytes, "lm_head.weight_quantized", np.uint8)
    q = q.reshape(VOCAB, HIDDEN).astype(np.float32)
    w = rng_weight("lm_head.weight")
    lo = np.minimum(w.min(axis=1), 0).astype(np.float32)
    hi = np.maximum(w.max(axis=1), 0).astype(np.float32)
    s = (hi - lo) / np.float32(255)
    want_zero = np.clip(-np.round(lo / s), 0, 255)
    np.testing.assert_array_equal(zero, want_zero)
    np.testing.assert_array_equal(scale, to_bf16(s))
    # Every row, the last block's included, dequantizes to within half a step (+ bf16 rounding of s).
    dq = (q - zero[:, None]) * s[:, None]
    assert np.all(np.abs(dq - w) <= s[:, None] * 0.5001)


def test_nan_in_a_later_block_names_the_weight_and_leaves_no_output(tmp_path):
    bad = 30000 * HIDDEN + 7  # row 30000 of the LM head: past the first 8 MiB source blocks

    def edit(name, x):
        if name == "lm_head.weight":
            x = x.copy()
            x.reshape(-1)[bad] = np.nan
        return x

    folder = write_checkpoint(str(tmp_path / "ckpt"), edit=edit)
    out = str(tmp_path / "out")
    r = convert(folder, out, "--compress_weights", "int4_asym")
    assert r.returncode != 0
    assert "lm_head.weight" in r.stderr and f"element {bad}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not os.path.exists(out) or not [n for n in os.listdir(out) if n.endswith((".bin", ".xml"))]


def test_grouped_scales_of_a_mapped_matmul_weight_match_the_unblocked_ones(tmp_path):
    """A MatMul weight [K, N] (A == 1 in the quantizer's layout) is blocked along K in whole
    groups when it is mapped; the same weight held in memory is computed in one piece."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import irforge
    from irforge import _core

    k, n = 8192, 512  # 16 MiB of f32: two 8 MiB blocks of 32 groups of 128
    ws = [(np.random.default_rng(i).standard_normal((k, n)) * 0.05).astype(np.float32) for i in range(2)]
    ws[1][5000:5128, 3] = 0.0  # an all-zero group in the second block
    # Two MatMuls, so that the second is not the int8 "last layer"; a Tile widens 512 back to K.
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h"], name="mm0"), helper.make_node("Tile", ["h", "reps"], ["t"]),
             helper.make_node("MatMul", ["t", "W1"], ["y"], name="mm1")]
    inits = [numpy_helper.from_array(ws[0], "W0"), numpy_helper.from_array(ws[1], "W1"), numpy_helper.from_array(np.array([1, k // n], np.int64), "reps")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    in_memory_bytes = proto.SerializeToString()  # before save_model moves the weights out
    path = str(tmp_path / "m.onnx")
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True, location="m.data", size_threshold=1024)

    results = []
    for source in (path, in_memory_bytes):
        model = irforge.convert_model(source)
        results.append(_core.constant_is_mapped(model._core, "W1"))
        model = irforge.compress_weights(model, mode="int4_asym", group_size=128, ratio=1.0, all_layers=True)
        out = str(tmp_path / f"c{len(results)}.onnx")
        irforge.save_model(model, out)
        results.append({t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer})
    mapped, blocked, in_memory, whole = results
    assert mapped and not in_memory
    scales = [name for name in whole if name.endswith("_scale")]
    assert len(scales) == 2
    assert blocked.keys() == whole.keys()
    for name in whole:
        np.testing.assert_array_equal(blocked[name], whole[name], err_msg=name)



def test_weights_quantized_with_their_scales_match_nncf_and_save_the_same_twice(tmp_path, monkeypatch):
    """A weight whose Q is small is quantized block by block right after its scales, while its
    source is read, and held until the writer asks for it. With 12000 tokens the LM head (int8,
    per row) is two ~8 MiB source blocks whose Q is held: its integers and zero points must be
    NNCF's, as must a grouped int4 weight's, and a second save of the same model (parameters
    computed again) must give the same bytes."""
    import irforge

    monkeypatch.setattr(sys.modules[__name__], "VOCAB", 12000)
    folder = write_checkpoint(str(tmp_path / "ckpt"))
    model = irforge.compress_weights(irforge.convert_model(folder), "int4_asym", 128)
    irs = []
    for k in range(2):
        os.makedirs(tmp_path / f"s{k}")
        irforge.save_model(model, str(tmp_path / f"s{k}" / "openvino_model.xml"))
        irs.append(read_ir(str(tmp_path / f"s{k}")))
    assert irs[0] == irs[1]
    xml, bin_bytes = irs[0]
    values, rng = {}, np.random.default_rng(0)
    for name, dims in _tensors():  # the checkpoint's values, regenerated in order
        x = np.ones(dims, np.float32) if name.endswith("norm.weight") else rng.standard_normal(dims, dtype=np.float32) * np.float32(0.02)
        values[name] = bf16_to_f32(to_bf16(x)).reshape(dims)
    unpack4 = lambda b: np.stack([b & 15, b >> 4], -1).reshape(-1)  # noqa: E731 (first value in the low nibble)
    for name, suffix, levels, group, unpack in (("model.layers.0.mlp.gate_proj.weight", "_quantized_1", 15, 128, unpack4),
                                                ("lm_head.weight", "_quantized", 255, HIDDEN, lambda b: b)):
        rows = values[name].shape[0]
        packed, c = data(xml, bin_bytes, name + suffix, np.uint8)
        assert c["element_type"] == ("u4" if levels == 15 else "u8") and c["shape"] == f"{rows},{HIDDEN}", c
        zp_packed, _ = data(xml, bin_bytes, name + "_zero_point", np.uint8)
        w = values[name].reshape(rows, HIDDEN // group, group)
        mn, mx = np.minimum(w.min(-1), 0), np.maximum(w.max(-1), 0)
        s = ((mx - mn) / np.float32(levels)).astype(np.float32)
        zp = np.clip(-np.round(mn / s), 0, levels)
        q = np.clip(np.round(w / s[..., None] + zp[..., None]), 0, levels)
        assert np.array_equal(unpack(zp_packed), zp.reshape(-1).astype(np.uint8)), name
        assert np.array_equal(unpack(packed), q.reshape(-1).astype(np.uint8)), name
