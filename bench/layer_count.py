"""Graph quality: non-Const layers in irforge's OpenVINO IR vs ovc's IR of the same ONNX file.

    python bench/layer_count.py [--archs cnn,bert,gpt,vit,llama] [--exporters torchscript,dynamo]

Exports each architecture from PyTorch (tests/torch_models/architectures.py), converts it with
ovc (`openvino.convert_model` + `save_model`, compress_to_fp16=False) and with irforge (default
pipeline, compress_to_fp16=False), counts layers other than Const (and Result/Parameter are
counted for both alike), checks both IRs give the same outputs as onnxruntime, and prints a
markdown table for bench/RESULTS.md.
"""

import argparse
import collections
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.append(os.path.join(HERE, "..", "python"))


def layer_types(xml_path):
    root = ET.parse(xml_path).getroot()
    return collections.Counter(l.get("type") for l in root.find("layers") if l.get("type") != "Const")


def run_ir(xml_path, feeds):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    res = compiled.create_infer_request().infer(feeds)
    return [res[o] for o in compiled.outputs]


def rel_err(ref, out):
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(out, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-12))


def main():
    import openvino as ov

    import irforge
    from irforge.testing import run_onnxruntime
    from torch_models.architectures import export

    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", default="cnn,bert,gpt,vit,llama")
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--details", action="store_true", help="print per-type counts where they differ")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            for exporter in args.exporters.split(","):
                path = os.path.join(tmp, f"{arch}_{exporter}.onnx")
                feeds = export(arch, path, exporter == "dynamo")
                ref = run_onnxruntime(path, feeds)
                ovc_xml = os.path.join(tmp, f"{arch}_{exporter}_ovc.xml")
                ov.save_model(ov.convert_model(path), ovc_xml, compress_to_fp16=False)
                ir_xml = os.path.join(tmp, f"{arch}_{exporter}_irforge.xml")
                status = "ok"
                try:
                    irforge.save_model(irforge.convert_model(path), ir_xml, compress_to_fp16=False)
                    ours = layer_types(ir_xml)
                    err = max(rel_err(r, o) for r, o in zip(ref, run_ir(ir_xml, feeds)))
                except Exception as e:  # noqa: BLE001 - report, don't hide
                    ours, err, status = collections.Counter(), float("nan"), f"{type(e).__name__}: {str(e)[:80]}"
                theirs = layer_types(ovc_xml)
                ovc_err = max(rel_err(r, o) for r, o in zip(ref, run_ir(ovc_xml, feeds)))
                rows.append((arch, exporter, sum(ours.values()), sum(theirs.values()), err, ovc_err, status))
                if args.details:
                    diff = {t: (ours[t], theirs[t]) for t in set(ours) | set(theirs) if ours[t] != theirs[t]}
                    print(f"{arch}/{exporter}: {diff}", file=sys.stderr)
    print("| model | exporter | irforge layers | ovc layers | irforge / ovc | irforge max rel err | ovc max rel err | status |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for arch, exp, ours, theirs, err, ovc_err, status in rows:
        ratio = f"{ours / theirs:.2f}" if theirs and ours else "-"
        print(f"| {arch} | {exp} | {ours} | {theirs} | {ratio} | {err:.1e} | {ovc_err:.1e} | {status} |")


if __name__ == "__main__":
    main()
