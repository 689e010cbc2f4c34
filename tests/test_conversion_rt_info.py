"""Every conversion option is recorded in the OpenVINO IR's rt_info (irforge.api.conversion_rt_info)
and read back by irforge.reproduce, so `irforge check ORIGINAL CONVERTED` judges a conversion made
with --input and --compress_weights without being told those options again."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge import cli
from irforge.checking import _openvino_rt_info
from irforge.reproduce import Recipe


def _mlp(path):
    # y = relu(x @ W1 * scale) @ W2, with a dynamic batch and a `scale` input to freeze.
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array((rng.standard_normal((64, 128)) * 0.1).astype(np.float32), "W1"),
        numpy_helper.from_array((rng.standard_normal((128, 64)) * 0.1).astype(np.float32), "W2"),
    ]
    nodes = [
        h.make_node("MatMul", ["x", "W1"], ["a"], name="up"),
        h.make_node("Mul", ["a", "scale"], ["b"], name="scale_mul"),
        h.make_node("Relu", ["b"], ["c"], name="act"),
        h.make_node("MatMul", ["c", "W2"], ["y"], name="down"),
    ]
    graph = h.make_graph(
        nodes, "mlp",
        [h.make_tensor_value_info("x", T.FLOAT, ["batch", 64]), h.make_tensor_value_info("scale", T.FLOAT, [])],
        [h.make_tensor_value_info("y", T.FLOAT, ["batch", 64])],
        inits,
    )
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(path))
    return str(path)


CONVERT_OPTIONS = [
    "--input", "x[3,64],scale->0.75",
    "--compress_weights", "int4_asym", "--group_size", "32", "--ratio", "0.5", "--all_layers",
    "--backup_mode", "int8_sym", "--ignored_scope", "nothing_matches_this",
]


def test_rt_info_records_every_option(tmp_path):
    original = _mlp(tmp_path / "mlp.onnx")
    xml = str(tmp_path / "mlp.xml")
    assert cli.main(["convert", original, "--output_model", xml, "--transform", "default", *CONVERT_OPTIONS]) == 0
    rt = _openvino_rt_info(xml)
    p = "conversion_parameters/"
    assert rt[p + "input"] == "x[3,64],scale[]->0.75"
    assert rt[p + "transform"] == "default"
    assert rt[p + "compress_to_fp16"] == "True"
    cw = {k[len(p + "compress_weights/"):]: v for k, v in rt.items() if k.startswith(p + "compress_weights/")}
    assert cw == {
        "mode": "int4_asym", "group_size": "32", "ratio": "0.5", "all_layers": "True", "backup_mode": "int8_sym",
        "group_size_fallback": "adjust",
        "ignored_scope": '{"names": [], "patterns": ["nothing_matches_this"], "types": []}',
    }
    recipe = Recipe.from_rt_info(rt)
    assert recipe.compress == [{
        "mode": "int4_asym", "group_size": 32, "ratio": 0.5, "all_layers": True, "backup_mode": "int8_sym",
        "group_size_fallback": "adjust", "ignored_scope": {"names": [], "patterns": ["nothing_matches_this"], "types": []},
    }]
    # The reproduction makes the same weights: the same .bin, byte for byte.
    again = str(tmp_path / "again.xml")
    irforge.save_model(recipe.convert(original), again)
    assert open(again[:-4] + ".bin", "rb").read() == open(xml[:-4] + ".bin", "rb").read()


def test_check_reproduces_input_and_compression(tmp_path, capsys):
    original = _mlp(tmp_path / "mlp.onnx")
    xml = str(tmp_path / "mlp.xml")
    assert cli.main(["convert", original, "--output_model", xml, *CONVERT_OPTIONS]) == 0
    capsys.readouterr()
    assert cli.main(["check", original, xml]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "compared with the original compressed alike" in out and "PASS" in out


def test_check_catches_a_conversion_that_differs_from_the_record(tmp_path, capsys):
    # The record must matter: a model frozen with another value than rt_info says fails the check.
    original = _mlp(tmp_path / "mlp.onnx")
    xml = str(tmp_path / "mlp.xml")
    model = irforge.convert_model(original, input="x[3,64],scale->0.75")
    model.input = "x[3,64],scale[]->0.25"  # a false record
    irforge.save_model(model, xml)
    assert cli.main(["check", original, xml, "--no_bisect"]) == 1


def test_pipelines_after_compression_are_recorded_apart(tmp_path):
    original = _mlp(tmp_path / "mlp.onnx")
    model = irforge.convert_model(original, transform="remove-identity")
    irforge.compress_weights(model, "int8_asym")
    irforge.convert_model(model, transform="dce")
    xml = str(tmp_path / "m.xml")
    irforge.save_model(model, xml)
    rt = _openvino_rt_info(xml)
    assert rt["conversion_parameters/transform"] == "remove-identity"
    assert rt["conversion_parameters/transform_after_compression"] == "dce"
    assert "conversion_parameters/input" not in rt
