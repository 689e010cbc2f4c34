"""PyTorch frontend speed and memory: irforge.convert_model(module) + save_model beside
openvino.convert_model(module, example_input=...) + openvino.save_model, on the same modules
(random weights, real sizes), fp16 IR as both default to: a ResNet-50 in torchvision's layout
(plain torch.nn: torchvision's wheel needs CUDA torch) and transformers 5.23.0's BertModel
(bert-base), GPT2Model (gpt2) and LlamaForCausalLM with TinyLlama-1.1B's config, built from
configs (nothing downloaded). Run it with /work/venv/bin/python (transformers is there).

Each tool runs in a fresh child: the child builds the module (seeded), resets its peak-RSS mark
(/proc/self/clear_refs 5), converts and saves, and reports wall time and the peak RSS above the
RSS it had with the module built (the conversion's own memory: weights shared with the module
cost nothing, a copy costs the model size). It then converts the same module a second time,
again from a reset mark: "cold" is the first conversion in the process, which also pays the tool's
one-time imports and caches (for irforge most of it is torch.export's own machinery, ~100 MiB
whatever the model's size), "warm" is what one conversion costs once the tool is loaded.

    /work/venv/bin/python bench/torch_frontend.py       # all four
    /work/venv/bin/python bench/torch_frontend.py --models gpt2 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
MODELS = "resnet50,bert-base,gpt2,llama-1.1b"

CHILD = r"""
import gc, json, os, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {tests!r})
import torch
torch.manual_seed(0)

def build(name):
    if name == "resnet50":
        from torch_models.more_architectures import ResNetBottleneck
        return ResNetBottleneck().eval(), (torch.randn(1, 3, 224, 224),)
    import transformers as T
    if name == "bert-base":
        m = T.BertModel(T.BertConfig()).eval()
        ids = torch.randint(0, 30522, (1, 128))
        return m, (ids, torch.ones_like(ids))
    if name == "gpt2":
        return T.GPT2Model(T.GPT2Config(use_cache=False)).eval(), (torch.randint(0, 50257, (1, 128)),)
    if name == "llama-1.1b":  # TinyLlama-1.1B's shape: 22 layers, 2048 wide, GQA 32/4, SwiGLU 5632
        config = T.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                               num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048, use_cache=False)
        return T.LlamaForCausalLM(config).eval(), (torch.randint(0, 32000, (1, 64)),)
    raise SystemExit("unknown model " + name)

def field(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

module, args = build({model!r})
params = sum(p.numel() * p.element_size() for p in module.parameters())
if {tool!r} == "irforge":
    import irforge
else:
    import openvino as ov

def convert():
    gc.collect()
    base = field("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS mark := current RSS
    t0 = time.perf_counter()
    if {tool!r} == "irforge":
        irforge.save_model(irforge.convert_model(module, example_input=args), {out!r})
    elif {tool!r} == "ovc":
        ov.save_model(ov.convert_model(module, example_input=args), {out!r})
    else:  # ovc's torch.export route, where its TorchScript route fails (transformers 5's GPT-2)
        ov.save_model(ov.convert_model(torch.export.export(module, args)), {out!r})
    return time.perf_counter() - t0, field("VmHWM") - base

with torch.no_grad():
    cold = convert()
    warm = convert()
print(json.dumps(dict(wall=cold[0], extra_peak=cold[1], warm_wall=warm[0], warm_extra_peak=warm[1], weights=params)))
"""


def run(model: str, tool: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(tests=TESTS, model=model, tool=tool, out=os.path.join(tmp, "out.xml"))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_irforge() -> None:
    """irforge's modules as `pip install` leaves them, byte-compiled: from a source tree run with
    PYTHONDONTWRITEBYTECODE every child would compile them again (~6 MiB of peak RSS and ~1 s for
    the PyTorch frontend alone), a cost no installed irforge pays."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("irforge")
    for folder in spec.submodule_search_locations if spec else []:
        compileall.compile_dir(folder, quiet=1)
        for entry in os.scandir(folder):  # compile_dir skips symlinked folders (a dev build's stage)
            if entry.is_dir() and entry.is_symlink():
                compileall.compile_dir(os.path.realpath(entry.path), quiet=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=MODELS)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--tools", default="irforge,ovc,ovc-ep", help="a subset to re-measure one side")
    args = p.parse_args()
    compile_irforge()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'model':<12} {'tool':<8} {'weights MiB':>11} {'cold s':>8} {'cold extra MiB':>15} {'warm s':>8} {'warm extra MiB':>15}")
    for model in args.models.split(","):
        results = {}
        for tool in args.tools.split(","):
            if tool == "ovc-ep" and "ovc" in results:
                continue
            runs = [run(model, tool) for _ in range(args.repeat)]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                print(f"{model:<12} {tool:<8} error: {runs[0]['error']}", flush=True)
                continue
            best = min(ok, key=lambda r: r["wall"])
            results["ovc" if tool == "ovc-ep" else tool] = best
            print(f"{model:<12} {tool:<8} {best['weights'] / 2**20:>11.0f} {best['wall']:>8.2f} {best['extra_peak'] / 2**20:>15.0f}"
                  f" {best['warm_wall']:>8.2f} {best['warm_extra_peak'] / 2**20:>15.0f}", flush=True)
        if len(results) == 2:
            a, b = results["irforge"], results["ovc"]
            print(f"{model:<12} ovc/irforge time {b['wall'] / a['wall']:.2f}x cold, {b['warm_wall'] / a['warm_wall']:.2f}x warm;"
                  f" extra peak / weights: irforge {a['extra_peak'] / a['weights']:.1%} cold, {a['warm_extra_peak'] / a['weights']:.1%} warm,"
                  f" ovc {b['extra_peak'] / b['weights']:.1%} cold, {b['warm_extra_peak'] / b['weights']:.1%} warm", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
