"""After compress_weights, ONNX output is valid or refused: model.to_onnx_bytes(), a copy's, and
save_model(.onnx) either pass onnx.checker (full_check) and run in onnxruntime, or raise an
UnsupportedError naming the DequantizeLinear whose form the opset lacks. The refusal is made by
the C++ ONNX writer, so it holds for copies and every other path to ONNX too."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge
from irforge.testing import run_onnxruntime

MODES = ["int8_asym", "int8_sym", "int4_asym", "int4_sym"]


def _model(opset: int, dtype) -> bytes:
    rng = np.random.default_rng(0)
    ttype = T.FLOAT if dtype == np.float32 else T.FLOAT16
    inits = [
        numpy_helper.from_array((rng.standard_normal((64, 96)) * 0.1).astype(dtype), "w_up"),
        numpy_helper.from_array((rng.standard_normal((96, 32)) * 0.1).astype(dtype), "w_down"),
        numpy_helper.from_array((rng.standard_normal((100, 64)) * 0.1).astype(dtype), "embed"),
    ]
    nodes = [
        h.make_node("Gather", ["embed", "ids"], ["e"], name="lookup"),
        h.make_node("MatMul", ["e", "w_up"], ["u"], name="up"),
        h.make_node("Relu", ["u"], ["r"], name="act"),
        h.make_node("MatMul", ["r", "w_down"], ["y"], name="down"),
    ]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("ids", T.INT64, [1, 5])], [h.make_tensor_value_info("y", ttype, [1, 5, 32])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 7
    return m.SerializeToString()


# (opset, weight type, whether irforge can raise the opset to what the compressed form needs)
CASES = [(17, np.float32, True), (13, np.float16, True), (11, np.float32, False), (12, np.float16, False), (9, np.float32, False)]


@pytest.mark.parametrize("kw", [{}, {"all_layers": True}, {"group_size": -1}, {"ratio": 0.5}, {"backup_mode": "none"}],
                         ids=["default", "all_layers", "per_channel", "ratio", "no_backup"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opset,dtype,raisable", CASES, ids=[f"opset{o}-{d.__name__}" for o, d, _ in CASES])
def test_onnx_output_is_valid_or_refused(tmp_path, opset, dtype, raisable, mode, kw):
    model = irforge.compress_weights(irforge.convert_model(_model(opset, dtype)), mode, group_size=kw.pop("group_size", 32), **kw)
    compressed = [r for r in model.compression_report() if r["mode"] != "float"]
    assert compressed
    feeds = {"ids": np.array([[1, 5, 99, 0, 42]], np.int64)}
    outputs = {
        "to_onnx_bytes": lambda: model.to_onnx_bytes(),
        "copy": lambda: model.copy().to_onnx_bytes(),
        "copy_reoptimized": lambda: irforge.convert_model(model.copy()).to_onnx_bytes(),
        "save_model": lambda: (irforge.save_model(model, str(tmp_path / "m.onnx")), (tmp_path / "m.onnx").read_bytes())[1],
        "save_copy": lambda: (irforge.save_model(model.copy(), str(tmp_path / "c.onnx")), (tmp_path / "c.onnx").read_bytes())[1],
    }
    for how, produce in outputs.items():
        if raisable:
            data = produce()
            onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
            got = run_onnxruntime(data, feeds)[0]
            assert got.shape == (1, 5, 32) and np.isfinite(got).all(), how
        else:
            with pytest.raises(irforge.UnsupportedError, match=r"DequantizeLinear.*from opset (13|19|21).*opset is|opset could not be raised"):
                produce()
    assert not (tmp_path / "m.onnx").exists() or raisable


def test_refusal_names_the_node_and_what_it_needs():
    model = irforge.compress_weights(irforge.convert_model(_model(11, np.float32)), "int4_asym", group_size=32, all_layers=True)
    with pytest.raises(irforge.UnsupportedError) as e:
        model.copy().to_onnx_bytes()
    msg = str(e.value)
    assert "node 'embed/DequantizeLinear' (DequantizeLinear) (node #0 of graph 'g')" in msg
    assert "UINT4 input" in msg and "from opset 21" in msg and "opset is 11" in msg and "OpenVINO IR" in msg


def test_openvino_output_still_written_when_onnx_is_refused(tmp_path):
    model = irforge.compress_weights(irforge.convert_model(_model(11, np.float32)), "int4_asym", group_size=32, all_layers=True)
    irforge.save_model(model, str(tmp_path / "m.xml"))
    assert (tmp_path / "m.bin").stat().st_size > 0
