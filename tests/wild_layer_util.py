"""Layer counts of the wild-model tests (issue 20): irforge's OpenVINO IR against ovc's IR of the
same ONNX file, both written uncompressed, counting every layer but Const."""

import collections
import os
import xml.etree.ElementTree as ET


def non_const_layers(xml_path):
    """Counter of layer types in an IR .xml, Const layers left out."""
    return collections.Counter(l.get("type") for l in ET.parse(xml_path).getroot().iter("layer") if l.get("type") != "Const")


def irforge_and_ovc_layers(onnx_path, out_dir):
    """(irforge's counts, ovc's counts, {type: (irforge, ovc)} where they differ) for one file."""
    import openvino as ov

    import irforge

    ours, theirs = os.path.join(out_dir, "irforge.xml"), os.path.join(out_dir, "ovc.xml")
    irforge.save_model(irforge.convert_model(onnx_path), ours, compress_to_fp16=False)
    ov.save_model(ov.convert_model(onnx_path), theirs, compress_to_fp16=False)
    a, b = non_const_layers(ours), non_const_layers(theirs)
    return a, b, {t: (a[t], b[t]) for t in sorted(set(a) | set(b)) if a[t] != b[t]}
