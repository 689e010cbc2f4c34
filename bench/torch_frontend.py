"""PyTorch frontend speed and memory: irforge.convert_model(module) + save_model beside
openvino.convert_model(module, example_input=...) + openvino.save_model, on the same modules
(random weights, real sizes, tests/torch_models architectures), fp16 IR as both default to.

Each tool runs in a fresh child: the child builds the module (seeded), resets its peak-RSS mark
(/proc/self/clear_refs 5), converts and saves, and reports wall time and the peak RSS above the
RSS it had with the module built (the conversion's own memory: weights shared with the module
cost nothing, a copy costs the model size).

    python bench/torch_frontend.py                      # bert-base, gpt2
    python bench/torch_frontend.py --models gpt2 --repeat 2
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

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {tests!r})
import torch
torch.manual_seed(0)
from torch_models import architectures as A

def build(name):
    if name == "bert-base":
        m = A.BertLike(vocab=30522, hidden=768, heads=12, inter=3072, layers=12, max_pos=512).eval()
        ids = torch.randint(0, 30522, (1, 128))
        return m, (ids, torch.ones_like(ids), torch.zeros_like(ids))
    if name == "gpt2":
        return A.GptLike(vocab=50257, hidden=768, heads=12, layers=12, max_pos=1024).eval(), (torch.randint(0, 50257, (1, 128)),)
    if name == "llama-small":  # Llama layout (GQA, rotary, SwiGLU) at 1/5 of TinyLlama's depth
        return A.LlamaLike(vocab=32000, hidden=2048, heads=32, kv_heads=4, inter=5632, layers=4, max_pos=256).eval(), (torch.randint(0, 32000, (1, 64)),)
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
base = field("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # peak RSS mark := current RSS
t0 = time.perf_counter()
if {tool!r} == "irforge":
    irforge.save_model(irforge.convert_model(module, example_input=args), {out!r})
else:
    ov.save_model(ov.convert_model(module, example_input=args), {out!r})
wall = time.perf_counter() - t0
print(json.dumps(dict(wall=wall, extra_peak=field("VmHWM") - base, weights=params)))
"""


def run(model: str, tool: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(tests=TESTS, model=model, tool=tool, out=os.path.join(tmp, "out.xml"))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="bert-base,gpt2")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    print(f"{'model':<12} {'tool':<8} {'weights MiB':>11} {'wall s':>8} {'extra peak MiB':>15}")
    for model in args.models.split(","):
        results = {}
        for tool in ("irforge", "ovc"):
            runs = [run(model, tool) for _ in range(args.repeat)]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                print(f"{model:<12} {tool:<8} error: {runs[0]['error']}")
                continue
            best = min(ok, key=lambda r: r["wall"])
            results[tool] = best
            print(f"{model:<12} {tool:<8} {best['weights'] / 2**20:>11.0f} {best['wall']:>8.2f} {best['extra_peak'] / 2**20:>15.0f}")
        if len(results) == 2:
            a, b = results["irforge"], results["ovc"]
            print(f"{model:<12} ratio ovc/irforge: time {b['wall'] / a['wall']:.2f}x, extra memory {b['extra_peak'] / max(a['extra_peak'], 1):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
