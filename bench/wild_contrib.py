"""BERT through onnxruntime's transformers optimizer (issue 20 item 5, transformers family):
irforge's IR vs ovc's, layers and accuracy.

    PYTHONPATH=build/NAME/stage /work/venv/bin/python bench/wild_contrib.py [--models ...] [--details]

A tiny transformers BertModel (2 layers, hidden 64, 4 heads) with eager attention (the
MatMul/Softmax form the optimizer's attention fusion matches; torch's SDPA export form is not
fused) exported by torch.onnx.export (TorchScript, opset 17, dynamic batch and sequence), then
`onnxruntime.transformers.optimizer.optimize_model(model_type="bert")`: by default it writes
com.microsoft Attention, with FusionOptions.use_multi_head_attention MultiHeadAttention (plus
EmbedLayerNormalization, SkipLayerNormalization, BiasGelu in both). Each optimized file is
converted by ovc and irforge (compress_to_fp16=False) and run against onnxruntime on [1, 8] and
[2, 13] tokens (a padded row in the mask). tests/test_wild_contrib_models.py uses the builders.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ovc_table  # noqa: E402  (the table of this bench and wild_quant.py)
import wild_quant  # noqa: E402  (the shared comparison against ovc and onnxruntime)


def build_bert_optimized(d, multi_head):
    import torch

    tr = wild_quant._transformers()
    torch.manual_seed(0)
    cfg = tr.BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=64, attn_implementation="eager")
    bert = tr.BertModel(cfg, add_pooling_layer=False)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = bert

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    f = os.path.join(d, "bert_eager.onnx")
    if not os.path.exists(f):
        ids = torch.randint(0, 500, (1, 8))
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}}
        wild_quant._export(Wrap(), (ids, torch.ones_like(ids)), f, ["input_ids", "attention_mask"], axes)
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = multi_head
    out = os.path.join(d, f"bert_ort_{'mha' if multi_head else 'attention'}.onnx")
    optimize_model(f, model_type="bert", num_heads=4, hidden_size=64, optimization_options=options).save_model_to_file(out)

    def feeds(b, s):
        rng = np.random.default_rng(b * 100 + s)
        mask = np.ones((b, s), np.int64)
        mask[-1, -3:] = 0
        return {"input_ids": rng.integers(0, 500, (b, s)).astype(np.int64), "attention_mask": mask}

    return out, [feeds(1, 8), feeds(2, 13)]


MODELS = {
    "bert_ort_attention": lambda d: build_bert_optimized(d, False),
    "bert_ort_mha": lambda d: build_bert_optimized(d, True),
}


def compare(name, d):
    return wild_quant.compare(name, d, MODELS[name])


def main():
    ovc_table.main(MODELS, compare)


if __name__ == "__main__":
    main()
