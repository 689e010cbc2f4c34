"""Hugging Face LLM checkpoint -> stateful OpenVINO IR: irforge vs the PyTorch route (issue 17).

Generates a Llama-shaped checkpoint with random bf16 weights (config.json + model.safetensors,
written with numpy: no torch, nothing committed), then times each tool in a fresh process under
/usr/bin/time -v (wall seconds, max RSS as a user measures it, mapped model pages included):

  irforge fp16   irforge convert CKPT --output_model OUT                 (fp16 weights, as ovc)
  irforge int4   irforge convert CKPT --output_model OUT --compress_weights int4_asym
  optimum        optimum-cli export openvino --weight-format fp16 / int4 from its own venv  [--optimum PY]
                 (optimum-intel 2.2.0 needs transformers <= 5.5: it does not install beside this
                 project's transformers 5.23; a venv of its own with torch==2.13.0 CPU works:
                 python -m venv V && V/bin/pip install "optimum-intel[openvino]" torch==2.13.0
                 && V/bin/pip uninstall torchvision  (the 0.28 it pulls breaks the import))
  peer fp16      what optimum does inside, in this Python: transformers from_pretrained +
                 openvino.convert_model (traced, no KV cache) + openvino.save_model (fp16)  [--peer]

    python bench/llm_convert.py --shape 1.1b [--peer] [--optimum V/bin/python] [--work /tmp/llm_bench] [--keep]

Shapes: 1.1b (TinyLlama: 2048 hidden, 22 layers, GQA 32/4), 7b (Llama-2-7B: 4096 hidden, 32
layers). Prints one Markdown table row per tool: wall s, user + system CPU s, peak RSS MiB, .bin
MiB, and the 1-minute load average when the run started.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

SHAPES = {
    "1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, vocab_size=32000),
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
}


def tensor_list(c):
    h, i, v, d = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["hidden_size"] // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * d
    out = [("model.embed_tokens.weight", [v, h])]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [(p + "input_layernorm.weight", [h]), (p + "self_attn.q_proj.weight", [h, h]), (p + "self_attn.k_proj.weight", [kv, h]),
                (p + "self_attn.v_proj.weight", [kv, h]), (p + "self_attn.o_proj.weight", [h, h]),
                (p + "post_attention_layernorm.weight", [h]), (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                (p + "mlp.down_proj.weight", [h, i])]
    return out + [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def generate(folder: str, shape: str) -> int:
    """Writes the checkpoint; returns its size in bytes. Norm weights are 1, the rest N(0, 0.02)."""
    os.makedirs(folder, exist_ok=True)
    c = dict(SHAPES[shape], model_type="llama", architectures=["LlamaForCausalLM"], hidden_act="silu", rms_norm_eps=1e-5,
             max_position_embeddings=2048, rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="bfloat16",
             bos_token_id=1, eos_token_id=2)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2}, f)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    tensors = tensor_list(c)
    for name, dims in tensors:
        n = int(np.prod(dims)) * 2
        header[name] = {"dtype": "BF16", "shape": dims, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    rng = np.random.default_rng(0)
    path = os.path.join(folder, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, dims in tensors:
            count = int(np.prod(dims))
            if name.endswith("norm.weight"):
                f.write(np.full(count, 0x3F80, np.uint16).tobytes())  # bf16 1.0
                continue
            for start in range(0, count, 1 << 24):
                x = rng.standard_normal(min(1 << 24, count - start), dtype=np.float32) * np.float32(0.02)
                f.write((x.view(np.uint32) >> 16).astype(np.uint16).tobytes())
    return os.path.getsize(path)


PEER_SCRIPT = r"""
import sys, torch, openvino as ov, transformers
ckpt, out = sys.argv[1], sys.argv[2]
model = transformers.AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.bfloat16).eval()

class Logits(torch.nn.Module):  # the traced function returns tensors only (no cache object)
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

ids = torch.ones((1, 8), dtype=torch.long)
with torch.no_grad():
    ov_model = ov.convert_model(Logits(model), example_input={"input_ids": ids, "attention_mask": torch.ones_like(ids)})
ov.save_model(ov_model, out, compress_to_fp16=True)
"""


def timed(cmd, env=None):
    t = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    cpu = [float(x.group(1)) if x else float("nan") for x in (re.search(rf"{k} time \(seconds\): ([\d.]+)", run.stderr) for k in ("User", "System"))]
    ok = run.returncode == 0
    if not ok:
        sys.stderr.write(run.stderr[-3000:])
    return ok, wall, rss, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1.1b")
    ap.add_argument("--work", default="/tmp/llm_bench")
    ap.add_argument("--peer", action="store_true", help="also run the PyTorch route (loads the whole model)")
    ap.add_argument("--optimum", metavar="PYTHON", help="also run optimum-cli export openvino (fp16, int4) with this Python (its own venv)")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint and outputs")
    ap.add_argument("--reuse", action="store_true", help="reuse a checkpoint generated by an earlier --keep run")
    args = ap.parse_args()
    ckpt = os.path.join(args.work, f"llama-{args.shape}")
    t = time.perf_counter()
    reuse = args.reuse and os.path.exists(os.path.join(ckpt, "model.safetensors"))
    size = os.path.getsize(os.path.join(ckpt, "model.safetensors")) if reuse else generate(ckpt, args.shape)
    print(f"checkpoint {ckpt}: {size / 2**30:.2f} GiB bf16, written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    py = sys.executable
    rows = []
    runs = [("irforge fp16", os.path.join(args.work, "irforge-fp16"), [py, "-m", "irforge", "convert", ckpt, "--output_model", os.path.join(args.work, "irforge-fp16")]),
            ("irforge int4_asym", os.path.join(args.work, "irforge-int4"),
             [py, "-m", "irforge", "convert", ckpt, "--output_model", os.path.join(args.work, "irforge-int4"), "--compress_weights", "int4_asym"])]
    if args.peer:
        script = os.path.join(args.work, "peer.py")
        with open(script, "w") as f:
            f.write(PEER_SCRIPT)
        runs.append(("transformers + openvino.convert_model fp16", os.path.join(args.work, "peer-fp16"),
                     [py, script, ckpt, os.path.join(args.work, "peer-fp16", "openvino_model.xml")]))
    if args.optimum:
        for fmt in ("fp16", "int4"):
            out = os.path.join(args.work, f"optimum-{fmt}")
            runs.append((f"optimum-cli export openvino --weight-format {fmt}", out,
                         [args.optimum, "-m", "optimum.commands.optimum_cli", "export", "openvino", "-m", ckpt, "--task", "text-generation-with-past",
                          "--weight-format", fmt, out]))
    for name, out_dir, cmd in runs:
        shutil.rmtree(out_dir, ignore_errors=True)
        if "irforge" not in name and "optimum" not in name:
            os.makedirs(out_dir)
        subprocess.run(["sync"])
        load = os.getloadavg()[0]
        ok, wall, rss, (user, system) = timed(cmd)
        bin_size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir) if n.endswith(".bin")) if os.path.isdir(out_dir) else 0
        rows.append((name, ok, wall, rss, bin_size))
        # CPU time too: on a shared machine wall time mostly measures the others' load.
        print(f"| {args.shape} | {name} | {'ok' if ok else 'FAILED'} | {wall:.1f} | {user:.1f} + {system:.1f} | {rss:.0f} | {bin_size / 2**20:.0f} | {load:.1f} |",
              flush=True)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
