"""split-sizes-from-static-dim: Split-18 by num_outputs on a static axis of a dynamic tensor
(the dynamo exporter's qkv split) gets constant sizes, so the OpenVINO IR has one Split instead
of a run-time chunk computation."""

import os

import onnx
import pytest

import irforge
from wild_shape_util import check_at_shapes, model, node

PIPE = "infer-shapes,split-sizes-from-static-dim"
SHAPES = [(2, 3, 96), (3, 7, 96)]


def _split(parts, width=96, axis=2, opset=18):
    outs = [f"p{i}" for i in range(parts)]
    nodes = [node("Split", ["x"], outs, axis=axis, num_outputs=parts)]
    nodes += [node("Relu", [o], [f"y{i}"]) for i, o in enumerate(outs)]
    return model(nodes, [], x_shape=("batch", "seq", width), opset=opset, outputs=[f"y{i}" for i in range(parts)])


def _ov_layers(result, tmp_path):
    xml = os.path.join(tmp_path, "m.xml")
    irforge.save_model(result, xml, compress_to_fp16=False)
    import collections
    import xml.etree.ElementTree as ET

    return collections.Counter(l.get("type") for l in ET.parse(xml).getroot().iter("layer") if l.get("type") != "Const")


@pytest.mark.parametrize("parts, width", [(3, 96), (3, 100), (4, 97)])
def test_split_gets_constant_sizes(parts, width, tmp_path):
    # 96/3 even; 100/3 -> [34, 34, 32]; 97/4 -> [25, 25, 25, 22]: the last chunk takes the rest.
    result = check_at_shapes(_split(parts, width), PIPE, True, [(2, 3, width), (3, 7, width)])
    proto = onnx.load_from_string(result.to_onnx_bytes())
    split = [n for n in proto.graph.node if n.op_type == "Split"]
    assert len(split) == 1 and len(split[0].input) == 2 and not [a for a in split[0].attribute if a.name == "num_outputs"]
    layers = _ov_layers(result, str(tmp_path))
    assert not {"ShapeOf", "Divide", "Broadcast", "Concat"} & set(layers), layers


def test_dynamic_axis_must_not_fire():
    result = irforge.convert_model(_split(3, axis=1).SerializeToString(), transform=PIPE, verify=True)
    assert result.pass_log[1]["name"] == "split-sizes-from-static-dim" and not result.pass_log[1]["changed"]


def test_before_opset_18_must_not_fire():
    m = model([node("Split", ["x"], ["a", "b"], axis=2), node("Add", ["a", "b"], ["y"])], [], opset=17)
    result = irforge.convert_model(m.SerializeToString(), transform=PIPE, verify=True)
    assert not result.pass_log[1]["changed"]
