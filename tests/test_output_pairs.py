"""Outputs made of two files are committed as a pair (cpp/support/atomic_file.h,
commit_together): an OpenVINO .xml and its .bin, an .onnx and its external .onnx.data. Both are
written and synced under temporary names and renamed only when both are complete; a failure at
any point, a rename included, leaves an existing pair byte for byte as it was and no stray file."""

from __future__ import annotations

import os

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import irforge


def _model(nan_in_second: bool = False, scale: float = 0.05) -> bytes:
    # Two large MatMul weights; the NaN sits deep in the second, so the failure comes while the
    # .bin is being streamed, after the first weight was written.
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((256, 512)) * scale).astype(np.float32)
    w2 = (rng.standard_normal((512, 256)) * scale).astype(np.float32)
    if nan_in_second:
        w2[400, 7] = np.nan
    g = h.make_graph(
        [h.make_node("MatMul", ["x", "w1"], ["a"], name="up"), h.make_node("MatMul", ["a", "w2"], ["y"], name="down")],
        "pair",
        [h.make_tensor_value_info("x", T.FLOAT, [1, 256])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, 256])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()


def _snapshot(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        out[name] = open(path, "rb").read() if os.path.isfile(path) else "<folder>"
    return out


@pytest.fixture
def old_pair(tmp_path):
    model = irforge.convert_model(_model(scale=0.01))
    irforge.save_model(model, str(tmp_path / "m.xml"))
    irforge.save_model(model, str(tmp_path / "m.onnx"), external_data=True)
    before = _snapshot(tmp_path)
    assert set(before) == {"m.xml", "m.bin", "m.onnx", "m.onnx.data"}
    return before


@pytest.mark.parametrize("name", ["m.xml", "m.onnx"])
def test_nan_found_while_streaming_int4_keeps_the_old_pair(tmp_path, old_pair, name):
    model = irforge.compress_weights(irforge.convert_model(_model(nan_in_second=True)), "int4_asym", group_size=64, all_layers=True)
    with pytest.raises(irforge.InvalidModelError, match=r"weight 'w2' holds NaN"):
        irforge.save_model(model, str(tmp_path / name), external_data=True)
    assert _snapshot(tmp_path) == old_pair


def test_progress_callback_failure_mid_bin_keeps_the_old_pair(tmp_path, old_pair):
    # An injected failure while the .bin is half written (the writer reports progress per 64 MiB).
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((4096, 4096 + 512)).astype(np.float32), "w")  # 72 MiB
    g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "big",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 4096])], [h.make_tensor_value_info("y", T.FLOAT, [1, 4096 + 512])], [w])
    model = irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]).SerializeToString())
    calls = []

    def progress(done, total):
        calls.append(done)
        raise RuntimeError("injected failure")

    for name in ("m.xml", "m.onnx"):
        with pytest.raises(RuntimeError, match="injected failure"):
            irforge.save_model(model, str(tmp_path / name), compress_to_fp16=False, external_data=True, progress=progress)
    assert len(calls) == 2 and all(0 < d < 72 << 20 for d in calls), calls
    assert _snapshot(tmp_path) == old_pair


@pytest.mark.parametrize("second", [True, False], ids=["second-rename-fails", "first-rename-fails"])
@pytest.mark.parametrize("fmt", ["xml", "onnx"])
def test_failed_rename_rolls_the_pair_back(tmp_path, old_pair, fmt, second):
    # A folder where a file must go makes its rename fail. The .bin / .onnx.data is renamed
    # first: when the second rename fails, the first is undone (the old file restored).
    first, last = ("m.bin", "m.xml") if fmt == "xml" else ("m.onnx.data", "m.onnx")
    blocked = last if second else first
    os.remove(tmp_path / blocked)
    os.mkdir(tmp_path / blocked)
    (tmp_path / blocked / "keep").write_bytes(b"")
    before = _snapshot(tmp_path)
    model = irforge.convert_model(_model())
    with pytest.raises(irforge.ModelFileError, match=f"cannot rename .* to '.*{blocked}'"):
        irforge.save_model(model, str(tmp_path / f"m.{fmt}"), external_data=True)
    assert _snapshot(tmp_path) == before
    assert os.listdir(tmp_path / blocked) == ["keep"]


def test_successful_save_replaces_both_files(tmp_path, old_pair):
    model = irforge.convert_model(_model())
    irforge.save_model(model, str(tmp_path / "m.xml"))
    irforge.save_model(model, str(tmp_path / "m.onnx"), external_data=True)
    after = _snapshot(tmp_path)
    assert set(after) == set(old_pair)  # no backups or temporaries left
    assert all(after[k] != old_pair[k] for k in ("m.bin", "m.onnx.data"))
