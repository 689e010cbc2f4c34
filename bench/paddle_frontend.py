"""Paddle frontend speed, memory and graph size: `irforge convert` on the legacy .pdmodel and on
the PIR .json, beside `ovc` on the .pdmodel (OpenVINO's Paddle frontend; it does not read PIR
JSON) and beside paddle2onnx (.pdmodel -> ONNX) followed by `irforge convert` of that ONNX. All
write an fp16-compressed OpenVINO IR (the CLIs' default). Models: tests/paddle_models.py (saved
by paddle 3.3.1 in both formats).

Each conversion runs in a fresh process under /usr/bin/time (wall seconds, max RSS); the best of
--repeat runs is kept. Layer counts are the IR's non-Const layers. Needs /work/venv's paddle and
paddle2onnx (PADDLE_PYTHON, PADDLE2ONNX), openvino (ovc) and irforge importable.

    python bench/paddle_frontend.py [--repeat 3] [--keep DIR] [--names lcnet,dbnet,svtr]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
PADDLE_PYTHON = os.environ.get("PADDLE_PYTHON", "/work/venv/bin/python")
PADDLE2ONNX = os.environ.get("PADDLE2ONNX", "/work/venv/bin/paddle2onnx")
NAMES = ("lcnet", "dbnet", "svtr")


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


def layers(xml_path):
    if not os.path.exists(xml_path):
        return None
    root = ET.parse(xml_path).getroot()
    return sum(collections.Counter(l.get("type") for l in root.find("layers") if l.get("type") != "Const").values())


def save_models(folder, names):
    for fmt in ("pir", "legacy"):
        if all(os.path.isdir(os.path.join(folder, fmt, n)) for n in names):
            continue
        env = dict(os.environ, FLAGS_enable_pir_api="1" if fmt == "pir" else "0", GLOG_minloglevel="2")
        subprocess.run([PADDLE_PYTHON, os.path.join(TESTS, "paddle_models.py"), os.path.join(folder, fmt), fmt, ",".join(names)],
                       check=True, env=env, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="folder for the Paddle models (default: a temporary one)")
    ap.add_argument("--names", default=",".join(NAMES), help="models of tests/paddle_models.py (e.g. crnn,loopy,branchy,yolohead)")
    args = ap.parse_args()
    names = args.names.split(",")
    folder = args.keep or tempfile.mkdtemp(prefix="paddle_bench_")
    save_models(folder, names)
    ovc = shutil.which("ovc")
    irforge = [sys.executable, "-m", "irforge", "convert"]
    rows = []
    for name in names:
        legacy = os.path.join(folder, "legacy", name, "model.pdmodel")
        pir = os.path.join(folder, "pir", name, "model.json")
        out = os.path.join(folder, f"{name}_")
        r = {"model": name, "pdiparams KB": os.path.getsize(legacy[:-8] + ".pdiparams") / 1e3}
        r["irforge legacy"] = best(irforge + [legacy, "--output_model", out + "irf_legacy.xml"], args.repeat)
        r["irforge pir"] = best(irforge + [pir, "--output_model", out + "irf_pir.xml"], args.repeat)
        r["ovc legacy"] = best([ovc, legacy, "--output_model", out + "ovc.xml"], args.repeat) if ovc else None
        r["ovc pir"] = timed([ovc, pir, "--output_model", out + "ovc_pir.xml"]) if ovc else None
        p2o = best([PADDLE2ONNX, "-m", os.path.dirname(legacy), "-mf", "model.pdmodel", "-pf", "model.pdiparams",
                    "--save_file", out + "p2o.onnx", "--optimize_tool", "None"], args.repeat)
        onnx_step = best(irforge + [out + "p2o.onnx", "--output_model", out + "p2o_irf.xml"], args.repeat) if p2o else None
        r["paddle2onnx"] = p2o
        r["irforge onnx"] = onnx_step
        r["layers"] = {k: layers(out + f) for k, f in (("irforge legacy", "irf_legacy.xml"), ("irforge pir", "irf_pir.xml"),
                                                         ("ovc", "ovc.xml"), ("paddle2onnx+irforge", "p2o_irf.xml"))}
        rows.append(r)
        print(json.dumps(r), flush=True)

    def cell(v, i):
        return f"{v[i]:.2f}" if i == 0 and v else (f"{v[i]:.0f}" if v else "fail")

    print("\n| model | irforge .pdmodel s / MiB | irforge PIR .json s / MiB | ovc .pdmodel s / MiB | ovc PIR .json | "
          "paddle2onnx s / MiB | + irforge ONNX s / MiB | layers irforge legacy / PIR / ovc / p2o+irforge |")
    print("|---|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        pair = lambda k: f"{cell(r[k], 0)} / {cell(r[k], 1)}"  # noqa: E731
        lc = r["layers"]
        print(f"| {r['model']} | {pair('irforge legacy')} | {pair('irforge pir')} | {pair('ovc legacy')} | "
              f"{'reads it' if r['ovc pir'] else 'cannot read it'} | {pair('paddle2onnx')} | {pair('irforge onnx')} | "
              f"{lc['irforge legacy']} / {lc['irforge pir']} / {lc['ovc']} / {lc['paddle2onnx+irforge']} |")


if __name__ == "__main__":
    main()
