"""Format detection (irforge.frontends): object type, magic bytes, extension; clear errors for
known-but-unsupported formats, for files whose bytes contradict their name and for a missing
framework package."""

import subprocess
import sys
import textwrap
import zipfile

import onnx
import pytest
from onnx import helper

import irforge
from irforge import frontends


def _onnx_bytes():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_onnx_bytes_decide_whatever_the_name(tmp_path):
    for name in ("model.onnx", "model", "model.pt"):
        path = tmp_path / name
        path.write_bytes(_onnx_bytes())
        assert frontends.detect_file(str(path)) == frontends.ONNX
        model = irforge.convert_model(str(path))
        assert [o.name for o in model.outputs] == ["y"]


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_torch_archives_are_told_apart_by_their_members(tmp_path):
    pt2 = tmp_path / "a.bin"
    _zip(pt2, {"a/archive_format": "pt2", "a/version": "0", "a/models/model.json": "{}"})
    assert frontends.detect_file(str(pt2)) == frontends.PYTORCH_EXPORTED
    script = tmp_path / "b.pt"
    _zip(script, {"b/code/__torch__.py": "", "b/constants.pkl": "", "b/data.pkl": ""})
    assert frontends.detect_file(str(script)) == frontends.PYTORCH_SCRIPT
    pickle = tmp_path / "c.pth"
    _zip(pickle, {"c/data.pkl": "", "c/data/0": ""})
    with pytest.raises(irforge.UnsupportedError, match=r"torch.save\(\) pickle .* holds weights but no graph"):
        frontends.detect_file(str(pickle))
    other = tmp_path / "d.pt2"
    _zip(other, {"readme.txt": "hello"})
    with pytest.raises(irforge.UnsupportedError, match="neither a torch.export"):
        irforge.convert_model(str(other))


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("m.pt", b"\x80\x02garbage", "named like a PyTorch file but not a torch.export or TorchScript archive"),
        ("m.xyz", b"\x01\x02\x03", r"unknown model format \(extension '.xyz', first bytes 010203\)"),
    ],
)
def test_unsupported_and_contradictory_files(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(irforge.UnsupportedError, match=message):
        irforge.convert_model(str(path))


def test_cli_reports_detection_errors_in_one_line(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 8)
    from irforge.cli import main

    assert main(["convert", str(path), "--output_model", str(tmp_path / "o.xml")]) == 1
    assert not (tmp_path / "o.xml").exists()


def test_example_input_with_onnx_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_onnx_bytes())
    with pytest.raises(ValueError, match="example_input= is for PyTorch models"):
        irforge.convert_model(str(path), example_input=[1])


def test_unknown_objects_are_a_type_error():
    with pytest.raises(TypeError, match="or a PyTorch model, not object"):
        irforge.convert_model(object())


def test_missing_torch_names_the_extra(tmp_path):
    # A .pt2 archive with torch made unimportable: the error says what to install.
    pt2 = tmp_path / "m.pt2"
    _zip(pt2, {"m/archive_format": "pt2", "m/version": "0", "m/models/model.json": "{}"})
    child = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # import torch now raises ImportError
        import irforge
        try:
            irforge.convert_model({str(pt2)!r})
        except irforge.UnsupportedError as e:
            print("ERROR:", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert "pip install irforge[torch]" in out.stdout, out.stdout + out.stderr


def test_detection_does_not_import_torch_for_onnx(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_onnx_bytes())
    child = f"import sys, irforge; irforge.convert_model({str(path)!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
