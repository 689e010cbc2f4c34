"""A BERT passed through onnxruntime's transformers optimizer (issue 20 item 5): com.microsoft
Attention (the default) or MultiHeadAttention (FusionOptions.use_multi_head_attention), with
EmbedLayerNormalization, SkipLayerNormalization and BiasGelu. irforge converts it with no more
non-Const layers than ovc, matches onnxruntime on two input shapes as closely as ovc does, and its
ONNX output keeps the contrib ops and runs in onnxruntime. Models built by bench/wild_contrib.py.
"""

import os
import sys

import numpy as np
import onnx
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import wild_contrib  # noqa: E402
import wild_quant  # noqa: E402


@pytest.mark.slow  # about 20 s each: a transformers export, the optimizer and two converters
@pytest.mark.parametrize("name,op", [("bert_ort_attention", "Attention"), ("bert_ort_mha", "MultiHeadAttention")])
def test_optimized_bert(name, op, tmp_path):
    import irforge

    r = wild_contrib.compare(name, str(tmp_path))
    assert r["onnx"][f"com.microsoft::{op}"] == 2 and r["onnx"]["com.microsoft::SkipLayerNormalization"] == 4
    assert r["ovc"] is not None and r["irforge"] <= r["ovc"], (r["irforge_types"] - r["ovc_types"], r["ovc_types"] - r["irforge_types"])
    assert r["irforge_types"]["ScaledDotProductAttention"] == 2
    assert r["irforge_err"] <= max(r["ovc_err"], 1e-5), r
    out = str(tmp_path / "irforge.onnx")
    irforge.save_model(irforge.convert_model(r["path"]), out)
    assert ("com.microsoft", op) in {(n.domain, n.op_type) for n in onnx.load(out).graph.node}
    for f in r["feeds"]:
        for a, b in zip(wild_quant.run_ort(r["path"], f), wild_quant.run_ort(out, f)):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
