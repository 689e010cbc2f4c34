"""TensorFlow frontend speed and memory: `irforge convert SAVED_MODEL` beside `ovc SAVED_MODEL`
(OpenVINO's converter, whose TensorFlow frontend also reads SavedModels without TensorFlow) on
the same SavedModels, both writing fp16 OpenVINO IR (their default).

The SavedModels are made once by TensorFlow (random weights, BatchNorm statistics set) in
--root; each conversion then runs as a fresh process under /usr/bin/time (wall time, peak RSS),
TensorFlow not imported by either tool.

    python bench/tensorflow_frontend.py                        # mobilenet_v2, resnet50, bert
    python bench/tensorflow_frontend.py --models resnet50 --repeat 3
    python bench/tensorflow_frontend.py --transposes     # Transpose layers in each IR instead
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")

MAKE = r"""
import sys
sys.path.insert(0, {tests!r})
import tensorflow_models as tfm
name, folder = {name!r}, {folder!r}
if name == "mobilenet_v2":
    model = tfm.application("MobileNetV2", 224)
elif name == "resnet50":
    model = tfm.application("ResNet50", 224)
elif name == "densenet121":
    model = tfm.application("DenseNet121", 224)
elif name == "small_cnn":
    model = tfm.small_cnn()
elif name == "efficientnet_b0":
    model = tfm.application("EfficientNetB0", 224)
elif name == "bert":
    model = tfm.bert_encoder(vocab=30522, seq=128, dim=768, heads=12, layers=12)
tfm.save_saved_model(model, folder)
"""


def make(name: str, root: str, python: str) -> str:
    folder = os.path.join(root, name)
    if not os.path.isfile(os.path.join(folder, "saved_model.pb")):
        subprocess.run([python, "-c", MAKE.format(tests=TESTS, name=name, folder=folder)], check=True)
    return folder


def timed(cmd, env=None) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit " + str(proc.returncode)])[-25:]}
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    h, m, s = wall.groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"wall": int(h or 0) * 3600 + int(m) * 60 + float(s), "rss_mib": rss / 1024}


def folder_size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


COUNT = r"""
import json, sys
tool, folder = sys.argv[1], sys.argv[2]
if tool == "irforge":
    import irforge
    print(json.dumps(irforge.convert_model(folder).op_histogram.get("Transpose", 0)))
else:
    import openvino as ov
    model = ov.convert_model(folder)
    print(json.dumps(sum(1 for op in model.get_ordered_ops() if op.get_type_name() == "Transpose")))
"""


def transposes(folder: str) -> dict:
    out = {}
    for tool in ("irforge", "ovc"):
        proc = subprocess.run([sys.executable, "-c", COUNT, tool, folder], capture_output=True, text=True)
        out[tool] = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else "error"
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mobilenet_v2,resnet50,bert")
    p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "irforge-bench-tf"))
    p.add_argument("--repeat", type=int, default=2, help="runs per tool; the best is reported")
    p.add_argument("--tf-python", default=sys.executable, help="a Python with tensorflow, to make the SavedModels")
    p.add_argument("--ovc", default=shutil.which("ovc") or "ovc")
    p.add_argument("--transposes", action="store_true", help="count Transpose layers (irforge IR vs ovc's) instead of timing")
    args = p.parse_args()
    os.makedirs(args.root, exist_ok=True)
    if args.transposes:
        print("| model | irforge Transposes | ovc Transposes |")
        print("|---|---:|---:|")
        for name in args.models.split(","):
            t = transposes(make(name, args.root, args.tf_python))
            print(f"| {name} | {t['irforge']} | {t['ovc']} |")
        return 0
    print("| model | SavedModel MiB | tool | wall s | peak RSS MiB | irforge speed-up | RSS ratio |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        folder = make(name, args.root, args.tf_python)
        size = folder_size(folder) / 2**20
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for tool in ("ovc", "irforge"):
                out = os.path.join(tmp, tool + ".xml")
                cmd = ([args.ovc, folder, "--output_model", out] if tool == "ovc"
                       else [sys.executable, "-m", "irforge", "convert", folder, "--output_model", out])
                runs = [timed(cmd) for _ in range(args.repeat)]
                good = [r for r in runs if "error" not in r]
                if not good:
                    print(f"| {name} | {size:.0f} | {tool} | error: {' / '.join(runs[0]['error'][-3:])} | | | |")
                    continue
                results[tool] = min(good, key=lambda r: r["wall"])
        for tool, r in results.items():
            ratio = ""
            if tool == "irforge" and "ovc" in results:
                ratio = f"{results['ovc']['wall'] / r['wall']:.1f}× | {r['rss_mib'] / results['ovc']['rss_mib']:.2f}"
            else:
                ratio = " | "
            print(f"| {name} | {size:.0f} | {tool} | {r['wall']:.2f} | {r['rss_mib']:.0f} | {ratio} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
