"""fp16 OpenVINO IR size: irforge's .bin vs ovc's for the same ONNX file, and determinism.

    python bench/ir_size.py [--archs cnn,bert,gpt,vit,llama] [--exporters torchscript,dynamo] [--consts]

Exports each architecture from PyTorch (tests/torch_models/architectures.py), writes fp16 IR with
ovc (`openvino.convert_model` + `save_model`, compress_to_fp16=True) and with irforge (default
pipeline, compress_to_fp16=True, twice to check the .xml and .bin are byte-identical), and prints
a markdown table for bench/RESULTS.md. --consts prints, per model, the constants (type, shape,
bytes; each stored blob counted once) that only one of the two IRs holds: where a gap comes from.
"""

import argparse
import collections
import filecmp
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.append(os.path.join(HERE, "..", "python"))


def stored_constants(xml_path):
    """Counter of (element type, shape, bytes) over the distinct blobs of the .bin."""
    seen, out = set(), collections.Counter()
    for layer in ET.parse(xml_path).getroot().iter("layer"):
        if layer.get("type") != "Const":
            continue
        d = layer.find("data")
        if (d.get("offset"), d.get("size")) in seen:
            continue
        seen.add((d.get("offset"), d.get("size")))
        out[(d.get("element_type"), d.get("shape").replace(" ", ""), int(d.get("size")))] += 1
    return out


def main():
    import openvino as ov

    import irforge
    from torch_models.architectures import export

    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", default="cnn,bert,gpt,vit,llama")
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--consts", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            for exporter in args.exporters.split(","):
                base = os.path.join(tmp, f"{arch}_{exporter}")
                feeds = export(arch, base + ".onnx", exporter == "dynamo")
                del feeds
                ov.save_model(ov.convert_model(base + ".onnx"), base + "_ovc.xml", compress_to_fp16=True)
                for run in ("a", "b"):
                    irforge.save_model(irforge.convert_model(base + ".onnx"), f"{base}_{run}.xml", compress_to_fp16=True)
                same = all(filecmp.cmp(f"{base}_a.{e}", f"{base}_b.{e}", shallow=False) for e in ("xml", "bin"))
                ours, theirs = os.path.getsize(base + "_a.bin"), os.path.getsize(base + "_ovc.bin")
                rows.append((arch, exporter, ours, theirs, same))
                if args.consts:
                    a, b = stored_constants(base + "_a.xml"), stored_constants(base + "_ovc.xml")
                    print(f"{arch}/{exporter}: only irforge {sorted((a - b).items())}", file=sys.stderr)
                    print(f"{arch}/{exporter}: only ovc     {sorted((b - a).items())}", file=sys.stderr)
    print("| model | exporter | irforge .bin bytes | ovc .bin bytes | irforge − ovc | byte-identical rerun |")
    print("|---|---|---:|---:|---:|---|")
    for arch, exporter, ours, theirs, same in rows:
        print(f"| {arch} | {exporter} | {ours:,} | {theirs:,} | {ours - theirs:+,} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
