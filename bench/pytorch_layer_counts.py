"""Layer counts of the PyTorch frontend's IR beside openvino.convert_model(module)'s, on the same
modules: the tests' architectures (tests/torch_models) and transformers 5.23.0's BertModel,
GPT2Model, LlamaForCausalLM and ViTModel at small configs. Counts are the IR's layers without
Const / Parameter / Result (the ops that run), fp32 IR; the types that differ are listed.

    /work/venv/bin/python bench/pytorch_layer_counts.py [--models bert,hf-llama]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import torch  # noqa: E402

from torch_models import architectures as arch  # noqa: E402
from torch_models import more_architectures as more_arch  # noqa: E402

IGNORED = {"Const", "Parameter", "Result"}


def _hf(name):
    import transformers as T

    torch.manual_seed(0)

    class First(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    class FirstImage(First):
        def forward(self, pixel_values):
            return self.model(pixel_values=pixel_values)[0]

    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    ids = torch.randint(0, 100, (2, 7))
    if name == "hf-bert":
        return First(T.BertModel(T.BertConfig(vocab_size=100, **small)).eval()), (ids, torch.ones_like(ids))
    if name == "hf-gpt2":
        config = T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=100, use_cache=False, bos_token_id=0, eos_token_id=0)
        return First(T.GPT2Model(config).eval()), (ids, torch.ones_like(ids))
    if name == "hf-llama":
        config = T.LlamaConfig(vocab_size=100, num_key_value_heads=2, use_cache=False, **small)
        return First(T.LlamaForCausalLM(config).eval()), (ids, torch.ones_like(ids))
    if name == "hf-vit":
        config = T.ViTConfig(image_size=32, patch_size=8, **small)
        return FirstImage(T.ViTModel(config, add_pooling_layer=False).eval()), (torch.randn(2, 3, 32, 32),)
    raise SystemExit("unknown model " + name)


def build(name):
    table = {**arch.ARCHITECTURES, **more_arch.ARCHITECTURES}
    if name in table:
        module, args, _, _ = table[name]()
        return module, tuple(args)
    return _hf(name)


def layer_types(xml):
    with open(xml) as f:
        return collections.Counter(t for t in re.findall(r'<layer id="\d+" name="[^"]*" type="([^"]+)"', f.read()) if t not in IGNORED)


def counts(name, tmp):
    import openvino as ov

    import irforge

    module, args = build(name)
    ours, theirs = os.path.join(tmp, name + "_irforge.xml"), os.path.join(tmp, name + "_ovc.xml")
    irforge.save_model(irforge.convert_model(module, example_input=args), ours, compress_to_fp16=False)
    try:
        ov.save_model(ov.convert_model(module, example_input=args), theirs, compress_to_fp16=False)
    except Exception:  # noqa: BLE001 - ovc's TorchScript route fails on some transformers 5 models
        ov.save_model(ov.convert_model(torch.export.export(module, args)), theirs, compress_to_fp16=False)
    return layer_types(ours), layer_types(theirs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = sorted({**arch.ARCHITECTURES, **more_arch.ARCHITECTURES}) + ["hf-bert", "hf-gpt2", "hf-llama", "hf-vit"]
    p.add_argument("--models", default=",".join(names))
    args = p.parse_args()
    print("| model | irforge | ovc | irforge / ovc | types irforge has more of | types ovc has more of |")
    print("|---|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            a, b = counts(name, tmp)
            more = ", ".join(f"{t} +{a[t] - b[t]}" for t in sorted(a) if a[t] > b[t])
            less = ", ".join(f"{t} +{b[t] - a[t]}" for t in sorted(b) if b[t] > a[t])
            n_a, n_b = sum(a.values()), sum(b.values())
            print(f"| {name} | {n_a} | {n_b} | {n_a / n_b:.2f} | {more} | {less} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
