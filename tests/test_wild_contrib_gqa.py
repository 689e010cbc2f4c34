"""GroupQueryAttention as onnxruntime-genai's model builder writes it (issue 20 item 5): a two-layer
decoder whose seqlens_k / total_sequence_length come from the attention mask (ReduceSum - 1,
Shape[1]), one packed-QKV and one separate-QKV GQA with rotary caches, and a KV cache fed back
step by step. Batched generation over right-padded prompts gives each batch row its own valid
length — a ragged past: onnxruntime writes a row's new keys right after its own valid ones, not
after the end of the shared past buffer. irforge's IR on the CPU plugin and its ONNX output in
onnxruntime are checked against onnxruntime on the original, for the prefill and two decode steps,
on two batch sizes.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

N, NK, HD, D, MAX_POS = 4, 2, 16, 32, 64  # onnxruntime's rotary kernel wants head sizes of multiples of 16


def _decoder():
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


def _generation(lengths, prompt, steps=2):
    """Feeds for the prefill and `steps` decode steps of right-padded prompts of `lengths` tokens,
    each step's past being onnxruntime's present of the step before (on the original model)."""
    model = _decoder()
    rng = np.random.default_rng(len(lengths) * 10 + prompt)
    b = len(lengths)
    mask = (np.arange(prompt)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    past = {f"past_key_values.{i}.{kv}": np.zeros((b, NK, 0, HD), np.float32) for i in range(2) for kv in ("key", "value")}
    feeds = []
    s = prompt
    for _ in range(steps + 1):
        f = {"hidden": rng.standard_normal((b, s, D)).astype(np.float32), "attention_mask": mask, **past}
        feeds.append(f)
        out = run_onnxruntime(model.SerializeToString(), f)
        past = {f"past_key_values.{i}.{kv}": out[1 + 2 * i + j] for i in range(2) for j, kv in enumerate(("key", "value"))}
        mask = np.concatenate([mask, np.ones((b, 1), np.int64)], axis=1)
        s = 1
    return model, feeds


@pytest.mark.parametrize("lengths,prompt", [((5, 3), 5), ((2, 6, 4), 6)])
def test_genai_decoder_with_ragged_past(lengths, prompt, tmp_path):
    model, feeds = _generation(lengths, prompt)
    converted = irforge.convert_model(model)
    out = str(tmp_path / "irforge.onnx")
    irforge.save_model(converted, out)
    assert sum(n.op_type == "GroupQueryAttention" and n.domain == "com.microsoft" for n in onnx.load(out).graph.node) == 2
    for step, f in enumerate(feeds):
        expected = run_onnxruntime(model.SerializeToString(), f)
        assert len(expected) == 5 and all(e.size for e in expected)
        if step:  # the past is ragged: the shorter rows' new keys land inside the past buffer
            row = int(np.argmin(lengths))
            at = lengths[row] + step - 1
            assert at < f["past_key_values.0.key"].shape[2]
            np.testing.assert_array_equal(expected[1][row, :, at + 1:], 0)
            assert np.abs(expected[1][row, :, at]).max() > 0
        assert_outputs_close(expected, run_openvino(converted, f), rtol=1e-4, atol=1e-5)
        assert_outputs_close(expected, run_onnxruntime(out, f), rtol=1e-5, atol=1e-6)


def test_ragged_past_differs_from_appending(tmp_path):
    """The case this covers must not pass by accident: appending the new keys after the shared past
    buffer (what a plain Concat does) gives another attention output on a ragged past."""
    model, feeds = _generation((5, 3), 5, steps=1)
    f = feeds[1]
    expected = run_onnxruntime(model.SerializeToString(), f)
    uniform = dict(f, attention_mask=np.ones_like(f["attention_mask"]))  # every row: past buffer all valid
    appended = run_onnxruntime(model.SerializeToString(), uniform)
    assert np.abs(expected[0][0] - appended[0][0]).max() < 1e-5  # the full row is the same
    assert np.abs(expected[0][1] - appended[0][1]).max() > 1e-2  # the short row is not
