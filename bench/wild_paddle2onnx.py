"""Paddle models exported by paddle2onnx (issue 20): non-Const layers and conversion time of
irforge's OpenVINO IR vs ovc's, on the same ONNX file.

    /work/venv/bin/python bench/wild_paddle2onnx.py [--repeat 3] [--formats pir,legacy] [--keep DIR]

Builds the models of tests/wild_paddle2onnx_models.py (DB-style OCR detector, CRNN recognizer,
YOLO-style detector with its decode; dynamic batch and size), saves them with Paddle 3.3.1 in
both formats (PIR .json, legacy .pdmodel), exports each with the paddle2onnx CLI (its time is
reported too), then converts the ONNX file with irforge (convert_model + save_model) and ovc
(openvino.convert_model + save_model), both uncompressed, in this process: best of --repeat
runs, wall seconds, imports excluded. Both IRs are checked against onnxruntime on the exported
file at the models' two input shapes (max error relative to max |expected|). Prints a markdown
table for bench/RESULTS.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
sys.path.insert(0, TESTS)
sys.path.append(os.path.join(HERE, "..", "python"))
from layer_count import rel_err, run_ir  # noqa: E402  (shared bench helpers)
from wild_layer_util import non_const_layers  # noqa: E402


def save_models(root, fmt):
    env = dict(os.environ, FLAGS_enable_pir_api="1" if fmt == "pir" else "0", GLOG_minloglevel="2")
    proc = subprocess.run([sys.executable, os.path.join(TESTS, "wild_paddle2onnx_models.py"), os.path.join(root, fmt), fmt],
                          capture_output=True, text=True, env=env)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise SystemExit(f"saving the {fmt} models failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][7:])


def paddle2onnx(model_file, onnx_file):
    folder, name = os.path.split(model_file)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "paddle2onnx.command", "--model_dir", folder, "--model_filename", name,
                           "--params_filename", "model.pdiparams", "--save_file", onnx_file, "--opset_version", "11"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0 or not os.path.exists(onnx_file):
        return None, (proc.stdout + proc.stderr)[-500:]
    return seconds, None


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    import openvino as ov

    import irforge
    from irforge.testing import run_onnxruntime

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="pir,legacy")
    ap.add_argument("--keep", help="folder to keep the models and IRs in")
    args = ap.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="wild_p2o_")
    rows = []
    for fmt in args.formats.split(","):
        for name, info in save_models(root, fmt).items():
            if not isinstance(info, dict):
                rows.append({"model": name, "format": fmt, "error": info})
                continue
            folder = os.path.dirname(info["file"])
            onnx_file = os.path.join(folder, "p2o.onnx")
            p2o_s, err = paddle2onnx(info["file"], onnx_file)
            if err:
                rows.append({"model": name, "format": fmt, "error": "paddle2onnx: " + err})
                continue
            ours, theirs = os.path.join(folder, "irforge.xml"), os.path.join(folder, "ovc.xml")
            irf_s = best(lambda: irforge.save_model(irforge.convert_model(onnx_file), ours, compress_to_fp16=False), args.repeat)
            ovc_s = best(lambda: ov.save_model(ov.convert_model(onnx_file), theirs, compress_to_fp16=False), args.repeat)
            io = np.load(os.path.join(folder, "io.npz"))
            errs = {"irforge": 0.0, "ovc": 0.0}
            for k in range(len([f for f in io.files if f.startswith("in")])):
                feeds = {info["inputs"][0]: io[f"in{k}"]}
                expected = run_onnxruntime(onnx_file, feeds)[0]
                errs["irforge"] = max(errs["irforge"], rel_err(expected, run_ir(ours, feeds)[0]))
                errs["ovc"] = max(errs["ovc"], rel_err(expected, run_ir(theirs, feeds)[0]))
            a, b = non_const_layers(ours), non_const_layers(theirs)
            row = {"model": name, "format": fmt, "irforge": sum(a.values()), "ovc": sum(b.values()), "irforge_s": irf_s, "ovc_s": ovc_s,
                   "paddle2onnx_s": p2o_s, "err": errs, "diff": {t: (a[t], b[t]) for t in sorted(set(a) | set(b)) if a[t] != b[t]}}
            rows.append(row)
            print(json.dumps(row), flush=True)

    print("\n| model | Paddle format | paddle2onnx s | layers irforge / ovc | convert s irforge / ovc | max rel. err vs ORT irforge / ovc | types that differ (irforge, ovc) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['format']} | fails: {r['error'][:120]} | | | | |")
            continue
        diff = ", ".join(f"{t} {x}/{y}" for t, (x, y) in r["diff"].items()) or "none"
        print(f"| {r['model']} | {r['format']} | {r['paddle2onnx_s']:.1f} | {r['irforge']} / {r['ovc']} | {r['irforge_s']:.2f} / {r['ovc_s']:.2f} | "
              f"{r['err']['irforge']:.1e} / {r['err']['ovc']:.1e} | {diff} |")


if __name__ == "__main__":
    main()
