"""The activation/normalization fusions on real torch.onnx exports (TorchScript exporter, opset
17): the default pipeline leaves no decomposed GELU / RMSNorm / SiLU behind, ONNX output at the
model's opset is expanded and valid, and --target_opset keeps the fused ops and still matches
onnxruntime on the original. (The OpenVINO side is covered by tests/test_torch_architectures.py.)
"""

import onnx
import pytest

import torch

import irforge  # noqa: E402
from irforge.testing import assert_outputs_close, run_onnxruntime  # noqa: E402
from torch_models.architectures import export  # noqa: E402

EXPECTED = {
    "bert": ({"Gelu": 2, "LayerNormalization": 5}, {"Erf"}),
    "gpt": ({"Gelu": 2, "LayerNormalization": 5}, {"Tanh", "Pow"}),
    "vit": ({"Gelu": 2, "LayerNormalization": 5}, {"Erf"}),
    "llama": ({"RMSNormalization": 5, "Swish": 2}, {"Sigmoid", "Pow", "ReduceMean", "Sqrt"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_default_pipeline_fuses_torch_exports(tmp_path, arch):
    fused_ops, gone = EXPECTED[arch]
    path = str(tmp_path / f"{arch}.onnx")
    feeds = export(arch, path, False)
    ref = run_onnxruntime(path, feeds)
    model = irforge.convert_model(path, verify=True)
    hist = model.op_histogram
    assert {op: hist.get(op, 0) for op in fused_ops} == fused_ops, hist
    assert not gone & set(hist), hist
    if arch == "gpt":
        assert model.dump().count('"tanh"') == 2

    low = model.to_onnx_bytes()
    proto = onnx.load_from_string(low)
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [17]
    assert_outputs_close(ref, run_onnxruntime(low, feeds), rtol=1e-4, atol=1e-5)

    high = model.to_onnx_bytes(target_opset=24)
    proto = onnx.load_from_string(high)
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [24]
    ops = {n.op_type for n in proto.graph.node}
    assert set(fused_ops) <= ops
    assert_outputs_close(ref, run_onnxruntime(high, feeds), rtol=1e-4, atol=1e-5)


class _Activations(torch.nn.Module):
    """Every activation/normalization the fusions cover, as model code writes them."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(16, 16)
        self.ln = torch.nn.LayerNorm(16)
        self.ln_plain = torch.nn.LayerNorm(16, elementwise_affine=False)
        self.rms_weight = torch.nn.Parameter(torch.rand(16) + 0.5)

    def forward(self, x):
        F = torch.nn.functional
        h = self.lin(x)
        # Llama's RMSNorm: computed in float32, cast back, then scaled
        t = F.gelu(h, approximate="tanh")
        rms = self.rms_weight * (t.float() * torch.rsqrt(t.float().pow(2).mean(-1, keepdim=True) + 1e-6)).to(t.dtype)
        # hardsigmoid reads x, not h: at opset < 14 hardswish(h) exports as h * HardSigmoid(h), and
        # cse would share that HardSigmoid with hardsigmoid(h), leaving nothing to fuse.
        return self.ln(F.gelu(h)) + rms + self.ln_plain(F.silu(h)) + F.hardswish(h) + F.mish(h) + F.hardsigmoid(x)


@pytest.mark.slow
@pytest.mark.parametrize("opset", [11, 14, 17, "dynamo"])
def test_torch_activation_exports_at_several_opsets(tmp_path, opset):
    from irforge.testing import run_openvino

    path = str(tmp_path / "acts.onnx")
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        if opset == "dynamo":
            torch.onnx.export(_Activations().eval(), (x,), path, input_names=["x"], dynamo=True, external_data=False)
        else:
            torch.onnx.export(_Activations().eval(), (x,), path, input_names=["x"], opset_version=opset, dynamo=False)
    model = irforge.convert_model(path, verify=True)
    assert model.op_histogram == {"MatMul": 1, "Add": 6, "Gelu": 2, "LayerNormalization": 2, "RMSNormalization": 1, "Swish": 1,
                                  "HardSwish": 1, "Mish": 1, "HardSigmoid": 1}
    feeds = {"x": x.numpy()}
    ref = run_onnxruntime(path, feeds)
    data = model.to_onnx_bytes()
    onnx.checker.check_model(onnx.load_from_string(data))
    assert_outputs_close(ref, run_onnxruntime(data, feeds), rtol=1e-4, atol=1e-5)
    assert_outputs_close(ref, run_openvino(model, feeds), rtol=1e-4, atol=1e-4)
