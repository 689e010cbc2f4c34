"""TFLite frontend speed and memory: `irforge convert M.tflite` beside `ovc M.tflite` (OpenVINO's
own TFLite frontend), both CLIs writing an fp16-compressed IR (both tools' default), on the same
.tflite files produced by TensorFlow's converter from Keras models built in code
(tests/tflite_models.py; plus a full-size MobileNetV2 224x224).

Each conversion runs in a fresh process under /usr/bin/time (wall seconds, max RSS); the best of
--repeat runs is kept. Needs tensorflow (to make the files), openvino (ovc) and irforge importable.

    python bench/tflite_frontend.py [--repeat 3] [--keep DIR] [--only lstm bert ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import tflite_models  # noqa: E402


def mobilenet_v2_224():
    tf = tflite_models._tf()
    tf.keras.utils.set_random_seed(1)
    return tf.keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)


CASES = [
    ("mobilenet_v2_224", mobilenet_v2_224, ("float32", "int8")),
    ("mobilenet_v2", tflite_models.mobilenet_v2, ("float32", "dynamic")),
    ("efficientnet_lite", tflite_models.efficientnet_lite, ("float32", "int8")),
    ("bert", tflite_models.bert_encoder, ("float32", "int8")),
    ("lstm", tflite_models.lstm_model, ("float32", "int8")),
]


def timed(cmd, env=None):
    """(wall seconds, max RSS MiB) of one run of cmd, or None when it fails."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.stderr.write(f"failed: {' '.join(cmd)}\n{out.stderr[-800:]}\n")
        return None
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def best(cmd, repeat, env=None):
    runs = [r for r in (timed(cmd, env) for _ in range(repeat)) if r]
    return (min(r[0] for r in runs), min(r[1] for r in runs)) if runs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="folder for the .tflite files (default: a temporary one)")
    ap.add_argument("--only", nargs="*", help="model names to run (default: all)")
    args = ap.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="tflite_bench_")
    os.makedirs(folder, exist_ok=True)
    ovc = shutil.which("ovc")
    rows = []
    for name, builder, modes in CASES:
        if args.only and name not in args.only:
            continue
        model = None
        for mode in modes:
            path = os.path.join(folder, f"{name}_{mode}.tflite")
            if not os.path.exists(path):
                model = model or builder()
                with open(path, "wb") as f:
                    f.write(tflite_models.convert(model, mode))
            out = os.path.join(folder, "out")
            ours = best([sys.executable, "-m", "irforge", "convert", path, "--output_model", out + "_irforge.xml"], args.repeat)
            theirs = best([ovc, path, "--output_model", out + "_ovc.xml"], args.repeat) if ovc else None
            rows.append((f"{name} {mode}", os.path.getsize(path) / 1e6, ours, theirs))
            print(rows[-1], flush=True)
    print("\n| model | .tflite MB | irforge s | ovc s | time ratio | irforge RSS MiB | ovc RSS MiB | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, mb, ours, theirs in rows:
        o = f"{ours[0]:.2f}" if ours else "fail"
        t = f"{theirs[0]:.2f}" if theirs else "fail"
        tr = f"{theirs[0] / ours[0]:.2f}×" if ours and theirs else "–"
        orss = f"{ours[1]:.0f}" if ours else "–"
        trss = f"{theirs[1]:.0f}" if theirs else "–"
        rr = f"{theirs[1] / ours[1]:.2f}×" if ours and theirs else "–"
        print(f"| {label} | {mb:.2f} | {o} | {t} | {tr} | {orss} | {trss} | {rr} |")


if __name__ == "__main__":
    main()
