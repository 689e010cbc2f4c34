"""Fresh-init Hugging Face transformers and torch RNNs (issue 20): non-Const layers in irforge's
IR vs ovc's.

    /work/venv/bin/python bench/wild_layer_counts.py [--models bert,vit,gpt2] [--layers N] [--details]
    /work/venv/bin/python bench/wild_layer_counts.py --models lstm1,lstm2bi_bf_h0,gru2_bf,rnn2bi_h0,lstm2bi_bf_dynamo

`--ort-optimize` passes the transformer exports through onnxruntime.transformers.optimizer
(contrib Attention, SkipLayerNormalization, EmbedLayerNormalization, FastGelu/BiasGelu) first.

`bert_dynamo`, `gpt2_dynamo`, `vit_dynamo`: the same transformers exported by the dynamo exporter
(torch.export, dynamic batch and sequence) instead of TorchScript.

RNN models (`lstm|gru|rnn` + layers, `bi` bidirectional, `_bf` batch_first, `_h0` initial states
as inputs, `_dynamo` the dynamo exporter): nn.LSTM/GRU/RNN(8 → 16), dynamic batch and sequence.

Builds BERT, ViT and GPT-2 from their transformers configs with fresh weights (zero biases,
unit LayerNorm scales: what makes `x + 0` and `x * 1` appear), exports each with
torch.onnx.export (TorchScript, dynamic batch and sequence dims), converts the same ONNX file
with ovc (`openvino.convert_model`, compress_to_fp16=False) and irforge (default pipeline,
compress_to_fp16=False), counts layers other than Const, and checks both IRs against
onnxruntime on inputs of two shapes (the dims are dynamic). Prints a markdown table.
"""

import argparse
import collections
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "python"))
from layer_count import layer_types, rel_err, run_ir  # noqa: E402  (shared bench helpers)


def build(name, layers):
    import torch
    import transformers as tr

    torch.manual_seed(0)
    if name == "bert":
        cfg = tr.BertConfig(num_hidden_layers=layers) if layers else tr.BertConfig()
        model = tr.BertModel(cfg)
        names, axes = ["input_ids", "attention_mask"], {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}

        def feeds(b, s):
            rng = np.random.default_rng(b * 100 + s)
            return {"input_ids": rng.integers(0, cfg.vocab_size, (b, s)).astype(np.int64), "attention_mask": np.ones((b, s), np.int64)}

    elif name == "gpt2":
        cfg = tr.GPT2Config(n_layer=layers) if layers else tr.GPT2Config()
        model = tr.GPT2Model(cfg)
        names, axes = ["input_ids"], {"input_ids": {0: "batch", 1: "seq"}}

        def feeds(b, s):
            rng = np.random.default_rng(b * 100 + s)
            return {"input_ids": rng.integers(0, cfg.vocab_size, (b, s)).astype(np.int64)}

    elif name == "vit":
        cfg = tr.ViTConfig(num_hidden_layers=layers) if layers else tr.ViTConfig()
        model = tr.ViTModel(cfg, add_pooling_layer=False)
        names, axes = ["pixel_values"], {"pixel_values": {0: "batch"}}

        def feeds(b, s):
            rng = np.random.default_rng(b)
            return {"pixel_values": rng.standard_normal((b, 3, cfg.image_size, cfg.image_size)).astype(np.float32)}

    elif name.split("_")[0].rstrip("bi0123456789") in ("lstm", "gru", "rnn"):
        return build_rnn(name)
    else:
        raise SystemExit(f"unknown model {name}")
    model.eval()

    class FirstOutput(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return self.m(*args, return_dict=False)[0]

    return FirstOutput(model), names, axes, feeds


def build_rnn(name):
    import torch

    head, flags = name.split("_")[0], name.split("_")[1:]
    kind = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[head.rstrip("bi0123456789")]
    layers = int(head.rstrip("bi")[len(kind):] or 1)
    bidirectional, batch_first, with_state = head.endswith("bi"), "bf" in flags, "h0" in flags
    states = layers * (2 if bidirectional else 1)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(8, 16, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)

        def forward(self, x, *state):
            if not with_state:
                return self.rnn(x)[0]
            return self.rnn(x, state if kind == "LSTM" else state[0])[0]

    names = ["x"] + (["h0", "c0"] if kind == "LSTM" else ["h0"]) * with_state
    axes = {"x": {0: "batch", 1: "seq"} if batch_first else {0: "seq", 1: "batch"}}
    axes.update({n: {1: "batch"} for n in names[1:]})

    def feeds(b, s):
        rng = np.random.default_rng(b * 100 + s)
        out = {"x": rng.standard_normal((b, s, 8) if batch_first else (s, b, 8)).astype(np.float32)}
        out.update({n: rng.standard_normal((states, b, 16)).astype(np.float32) for n in names[1:]})
        return out

    return Net().eval(), names, axes, feeds


def export(name, path, layers):
    import torch

    base = name.split("_")[0]
    if base in ("bert", "gpt2", "vit") and name.endswith("_dynamo"):
        # The dynamo exporter (torch.export) with dynamic batch and sequence.
        module, names, axes, feeds = build(base, layers)
        example = feeds(2, 5)
        dims = {"batch": torch.export.Dim("batch", min=1, max=64), "seq": torch.export.Dim("seq", min=2, max=128)}
        shapes = tuple({i: dims[d] for i, d in axes[n].items()} for n in names)
        torch.onnx.export(module, tuple(torch.from_numpy(example[n]) for n in names), path, input_names=names,
                          output_names=["out"], dynamic_shapes=(shapes,), dynamo=True)
        return [feeds(2, 5), feeds(3, 7)]
    module, names, axes, feeds = build(name, layers)
    if "dynamo" in name.split("_"):
        example = feeds(2, 5)
        dims = {"x": {i: torch.export.Dim(d, min=1 if d == "batch" else 2, max=256) for i, d in axes["x"].items()}}
        torch.onnx.export(module, (torch.from_numpy(example["x"]),), path, input_names=names, output_names=["out"],
                          dynamic_shapes=dims, dynamo=True)
        return [feeds(2, 5), feeds(3, 7)]
    example = feeds(1, 8)
    with torch.no_grad():
        torch.onnx.export(module, tuple(torch.from_numpy(example[n]) for n in names), path, input_names=names,
                          output_names=["out"], dynamic_axes={**axes, "out": {0: "batch"}}, opset_version=17, dynamo=False)
    return [feeds(1, 8), feeds(2, 13)]


def main():
    import openvino as ov

    import irforge
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="bert,vit,gpt2")
    ap.add_argument("--layers", type=int, default=0, help="hidden layers (0 = the config's default, 12)")
    ap.add_argument("--transform", default="default", help="irforge pipeline")
    ap.add_argument("--details", action="store_true", help="per-type counts where they differ")
    ap.add_argument("--ort-optimize", action="store_true",
                    help="pass bert/gpt2 exports through onnxruntime.transformers.optimizer first (com.microsoft ops)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = os.path.join(tmp, f"{name}.onnx")
            all_feeds = export(name, path, args.layers)
            if args.ort_optimize:
                from onnxruntime.transformers.optimizer import optimize_model

                cfg = {"bert": (12, 768), "gpt2": (12, 768), "vit": (12, 768)}[name]
                opt = optimize_model(path, model_type="vit" if name == "vit" else name, num_heads=cfg[0], hidden_size=cfg[1])
                ops = collections.Counter(n.op_type for n in opt.model.graph.node if n.domain == "com.microsoft")
                print(f"{name} after onnxruntime's optimizer: {dict(ops)}", file=sys.stderr)
                opt.save_model_to_file(path)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            refs = [sess.run(None, f) for f in all_feeds]
            ovc_xml = os.path.join(tmp, f"{name}_ovc.xml")
            ov.save_model(ov.convert_model(path), ovc_xml, compress_to_fp16=False)
            ir_xml = os.path.join(tmp, f"{name}_irforge.xml")
            status = "ok"
            try:
                irforge.save_model(irforge.convert_model(path, transform=args.transform), ir_xml, compress_to_fp16=False)
                ours = layer_types(ir_xml)
                err = max(rel_err(r, o) for f, ref in zip(all_feeds, refs) for r, o in zip(ref, run_ir(ir_xml, f)))
            except Exception as e:  # noqa: BLE001 - report, don't hide
                ours, err, status = collections.Counter(), float("nan"), f"{type(e).__name__}: {str(e)[:80]}"
            theirs = layer_types(ovc_xml)
            ovc_err = max(rel_err(r, o) for f, ref in zip(all_feeds, refs) for r, o in zip(ref, run_ir(ovc_xml, f)))
            rows.append((name, sum(ours.values()), sum(theirs.values()), err, ovc_err, status))
            if args.details:
                diff = {t: (ours[t], theirs[t]) for t in sorted(set(ours) | set(theirs)) if ours[t] != theirs[t]}
                print(f"{name}: {diff}", file=sys.stderr)
    print("| model | irforge layers | ovc layers | irforge / ovc | irforge max rel err | ovc max rel err | status |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, ours, theirs, err, ovc_err, status in rows:
        ratio = f"{ours / theirs:.2f}" if theirs and ours else "-"
        print(f"| {name} | {ours} | {theirs} | {ratio} | {err:.1e} | {ovc_err:.1e} | {status} |")


if __name__ == "__main__":
    main()
