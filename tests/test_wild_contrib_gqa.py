"""GroupQueryAttention as onnxruntime-genai's model builder writes it (issue 20 item 5): a two-layer
decoder whose seqlens_k / total_sequence_length come from the attention mask (ReduceSum - 1,
Shape[1]), one packed-QKV and one separate-QKV GQA with rotary caches, and a KV cache fed back
step by step. Batched generation over right-padded prompts gives each batch row its own valid
length — a ragged past: onnxruntime writes a row's new keys right after its own valid ones, not
after the end of the shared past buffer. irforge's IR on the CPU plugin and its ONNX output in
onnxruntime are checked against onnxruntime on the original, for the prefill and two decode steps,
on two batch sizes.
"""

import os
import sys

import numpy as np
import onnx
import pytest

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from wild_contrib_decoders import generation  # noqa: E402

@pytest.mark.parametrize("lengths,prompt", [((5, 3), 5), ((2, 6, 4), 6)])
def test_genai_decoder_with_ragged_past(lengths, prompt, tmp_path):
    model, feeds = generation(lengths, prompt)
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
    model, feeds = generation((5, 3), 5, steps=1)
    f = feeds[1]
    expected = run_onnxruntime(model.SerializeToString(), f)
    uniform = dict(f, attention_mask=np.ones_like(f["attention_mask"]))  # every row: past buffer all valid
    appended = run_onnxruntime(model.SerializeToString(), uniform)
    assert np.abs(expected[0][0] - appended[0][0]).max() < 1e-5  # the full row is the same
    assert np.abs(expected[0][1] - appended[0][1]).max() > 1e-2  # the short row is not


def test_explicit_position_ids():
    """GroupQueryAttention's position_ids input (9) for the rotary, positions other than those
    seqlens_k implies: onnxruntime uses them (the output changes), and so does irforge."""
    from test_wild_contrib_attention import _gqa_feeds, _gqa_model

    n, nk, hd = 4, 2, 16
    model = _gqa_model(n, nk, hd, past=True, rotary=True)
    node = model.graph.node[0]
    node.input.extend([""] * (10 - len(node.input)))
    node.input[9] = "position_ids"
    model.graph.input.append(onnx.helper.make_tensor_value_info("position_ids", onnx.TensorProto.INT64, ["b", "s"]))
    converted = irforge.convert_model(model)
    for b, s, p in [(1, 1, 5), (2, 1, 4)]:
        f = dict(_gqa_feeds(n, nk, hd, b, s, p), position_ids=np.full((b, s), p + 3, np.int64))
        expected = run_onnxruntime(model.SerializeToString(), f)
        implied = run_onnxruntime(model.SerializeToString(), dict(f, position_ids=np.full((b, s), p, np.int64)))
        assert np.abs(expected[0] - implied[0]).max() > 1e-2
        assert_outputs_close(expected, run_openvino(converted, f), rtol=1e-4, atol=1e-5)
