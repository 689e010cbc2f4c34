"""`If` that OpenVINO can run (issue 20, item 6), on a Silero-VAD-like model built in torch: a
scripted forward with `if sr == 16000: ... else: ...`, a nested `if` whose branches differ in
rank, and an LSTM after them, exported by torch.jit.script + torch.onnx.export so the Ifs
survive.

Converted as is, the nested If's output rank is dynamic, which the CPU plugin refuses (so does
ovc's IR): irforge must say so, naming the If and the input to freeze, and write nothing. With
`--input "sr->16000"` (or 8000) the conditions fold, the branches are inlined, and the IR runs and
matches onnxruntime on inputs of two lengths. A model whose branches agree in rank converts
with its If kept and runs in OpenVINO.
"""

import numpy as np
import pytest
import torch

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino


class _Vad(torch.nn.Module):
    def __init__(self, rank_changing):
        super().__init__()
        self.enc16 = torch.nn.Conv1d(1, 16, 8, stride=4)
        self.enc8 = torch.nn.Conv1d(1, 16, 4, stride=2)
        self.lstm = torch.nn.LSTM(16, 16)
        self.out = torch.nn.Linear(16, 1)
        self.rank_changing = rank_changing

    def forward(self, x, sr: int):
        if sr == 16000:
            f = torch.relu(self.enc16(x.unsqueeze(1)))
            if sr > 8000:
                f = f.unsqueeze(0) if self.rank_changing else f * 0.5
            else:
                f = f * 2.0
        else:
            f = torch.relu(self.enc8(x.unsqueeze(1)))
        f = f.reshape(-1, 16, f.shape[-1])
        y, _ = self.lstm(f.permute(2, 0, 1))
        return torch.sigmoid(self.out(y[-1]))


def _export(tmp_path, rank_changing):
    torch.manual_seed(0)
    module = torch.jit.script(_Vad(rank_changing).eval())
    path = str(tmp_path / "vad.onnx")
    torch.onnx.export(module, (torch.randn(2, 128), torch.tensor(16000)), path, input_names=["x", "sr"], output_names=["p"],
                      dynamic_axes={"x": {0: "batch", 1: "samples"}}, opset_version=17, dynamo=False)
    return path


def _inputs(n, sr, seed):
    return {"x": np.random.default_rng(seed).standard_normal((2, n)).astype(np.float32), "sr": np.array(sr, np.int64)}


@pytest.fixture(scope="module")
def vad_path(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("vad"), rank_changing=True)


def test_dynamic_rank_if_is_a_clear_error_naming_the_input_to_freeze(vad_path, tmp_path):
    out = tmp_path / "vad.xml"
    with pytest.raises(irforge.ConversionError) as info:
        irforge.save_model(irforge.convert_model(vad_path), str(out))
    message = str(info.value)
    assert "If" in message and "rank" in message and '--input "sr->' in message, message
    assert not out.exists() and not (tmp_path / "vad.bin").exists()


@pytest.mark.parametrize("sr", [16000, 8000])
def test_frozen_rate_folds_the_ifs_and_runs(vad_path, sr, tmp_path):
    model = irforge.convert_model(vad_path, input=f"sr->{sr}")
    xml = tmp_path / "vad.xml"
    irforge.save_model(model, str(xml))
    assert 'type="If"' not in xml.read_text()
    for n, seed in [(128, 0), (200, 1)]:
        feeds = _inputs(n, sr, seed)
        expected = run_onnxruntime(vad_path, feeds)
        actual = run_openvino(model, {"x": feeds["x"]})
        assert actual and all(np.asarray(a).size for a in actual)
        assert_outputs_close(expected, actual, rtol=1e-4, atol=1e-6)


def test_same_rank_branches_keep_the_if_and_run(tmp_path):
    path = _export(tmp_path, rank_changing=False)
    model = irforge.convert_model(path)
    for n, sr, seed in [(128, 16000, 0), (200, 8000, 1)]:
        feeds = _inputs(n, sr, seed)
        assert_outputs_close(run_onnxruntime(path, feeds), run_openvino(model, feeds), rtol=1e-4, atol=1e-6)
