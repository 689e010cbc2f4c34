"""int4 logits of irforge's IR vs optimum-intel's int4 export of the same checkpoint (issue 17).

Writes a random Llama-shaped checkpoint with transformers (save_pretrained, fp32), converts it
with `irforge convert --compress_weights int4_asym` and with `optimum-cli export openvino
--weight-format int4` (asymmetric, same group size and ratio), runs both IRs in OpenVINO (f32
inference, f32 KV cache) on the same prompt and prints each one's logits cosine to transformers'
fp32 logits. optimum-intel does not install beside this project's transformers, so it runs from
its own venv (--optimum-python, e.g. /work/venv-optimum/bin/python).

    python bench/llm_int4_cosine.py --optimum-python /work/venv-optimum/bin/python [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def ov_logits(xml, ids):
    import openvino as ov

    core = ov.Core()
    req = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}).create_infer_request()
    req.reset_state()
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None],
             "beam_idx": np.zeros([1], np.int32)}
    return req.infer(feeds)["logits"].copy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--optimum-python", required=True)
    ap.add_argument("--work", default="/tmp/llm_int4_cosine")
    ap.add_argument("--group-size", type=int, default=128)
    args = ap.parse_args()
    import torch
    import transformers

    shutil.rmtree(args.work, ignore_errors=True)
    ckpt = os.path.join(args.work, "ckpt")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=1024, hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                                   num_key_value_heads=4, max_position_embeddings=512, initializer_range=0.02)
    ref = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    ref.save_pretrained(ckpt)
    ids = np.random.default_rng(0).integers(3, 1024, size=(1, 32)).astype(np.int64)
    with torch.no_grad():
        want = ref(torch.from_numpy(ids)).logits.numpy()
    g = str(args.group_size)
    ir = os.path.join(args.work, "irforge-int4")
    subprocess.run([sys.executable, "-m", "irforge", "convert", ckpt, "--output_model", ir, "--compress_weights", "int4_asym",
                    "--group_size", g, "--ratio", "1.0"], check=True)
    opt = os.path.join(args.work, "optimum-int4")
    subprocess.run([args.optimum_python, "-m", "optimum.commands.optimum_cli", "export", "openvino", "-m", ckpt, "--task", "text-generation-with-past",
                    "--weight-format", "int4", "--group-size", g, "--ratio", "1.0", opt], check=True)
    a = cosine(ov_logits(os.path.join(ir, "openvino_model.xml"), ids), want)
    b = cosine(ov_logits(os.path.join(opt, "openvino_model.xml"), ids), want)
    print(f"int4_asym group {g} ratio 1.0, logits cosine to transformers fp32: irforge {a:.5f}, optimum-intel {b:.5f}, difference {a - b:+.5f}")


if __name__ == "__main__":
    main()
