"""PyTorch frontend: torch.export's ATen graph → irforge IR → OpenVINO IR and ONNX, compared
with PyTorch's own outputs (fp32 within 1e-4 of the output's scale).

Models are tiny (tests/torch_models/architectures.py); dynamic dims are checked at two shapes.
"""

import numpy as np
import pytest

import torch

import irforge  # noqa: E402
from irforge import _core  # noqa: E402
from irforge.testing import run_onnxruntime, run_openvino  # noqa: E402
from torch_models import architectures as arch  # noqa: E402
from torch_models import more_architectures as more_arch  # noqa: E402


def _rel_err(ref, out):
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    assert ref.shape == out.shape, f"shape {out.shape} != {ref.shape}"
    assert ref.size > 0
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))


def _torch_outputs(module, args):
    with torch.no_grad():
        out = module(*args)
    if isinstance(out, dict):
        out = list(out.values())
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o.float().numpy() if o.dtype == torch.bfloat16 else o.numpy() for o in outs]


def _feeds(model, args):
    return {i.name: (a.float().numpy() if a.dtype == torch.bfloat16 else a.numpy()) for i, a in zip(model.inputs, args)}


def _check(model, module, args, rtol=1e-4, onnx=True):
    reference = _torch_outputs(module, args)
    feeds = _feeds(model, args)
    ov = run_openvino(model, feeds)
    assert len(ov) == len(reference)
    for r, o in zip(reference, ov):
        assert _rel_err(r, o) <= rtol, f"OpenVINO IR differs from PyTorch: {_rel_err(r, o):.2e}"
    if onnx:
        ort = run_onnxruntime(model.to_onnx_bytes(), feeds)
        for r, o in zip(reference, ort):
            assert _rel_err(r, o) <= rtol, f"ONNX output differs from PyTorch: {_rel_err(r, o):.2e}"


def _reshaped(args, names, axes, batch, seq):
    """The example inputs with their dynamic dims set to `batch` (axis 0) and `seq` (others)."""
    out = []
    for n, a in zip(names, args):
        shape = list(a.shape)
        for d in axes.get(n, {}):
            shape[d] = batch if d == 0 else seq
        gen = torch.Generator().manual_seed(batch)
        if a.dtype.is_floating_point:
            out.append(torch.randn(shape, generator=gen).to(a.dtype))
        else:
            out.append(torch.randint(0, max(int(a.max()) + 1, 2), shape, generator=gen, dtype=a.dtype))
    return out


ALL = {**arch.ARCHITECTURES, **more_arch.ARCHITECTURES}
# The small ones run by default; the rest are marked slow (2 shared cores).
FAST = {"cnn", "llama"}


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in sorted(ALL)])
def test_architecture_matches_pytorch_with_dynamic_dims(name):
    module, args, names, axes = ALL[name]()
    dynamic = {n: [-1 if d in axes.get(n, {}) else s for d, s in enumerate(a.shape)] for n, a in zip(names, args)}
    model = irforge.convert_model(module, example_input=tuple(args), input=dynamic)
    assert [i.name for i in model.inputs] == names  # forward() argument names
    for i in model.inputs:
        for d in axes.get(i.name, {}):
            assert isinstance(i.shape[d], str), f"{i.name} dim {d} is not dynamic: {i.shape}"
    _check(model, module, args)
    _check(model, module, _reshaped(args, names, axes, 3, 11))


def _layer_types(xml):
    import re

    with open(xml) as f:
        return re.findall(r'<layer id="\d+" name="[^"]*" type="([^"]+)"', f.read())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALL))
def test_layer_count_no_higher_than_ovc(tmp_path, name):
    import openvino as ov

    module, args, names, axes = ALL[name]()
    ours = str(tmp_path / "irforge.xml")
    irforge.save_model(irforge.convert_model(module, example_input=tuple(args)), ours)
    theirs = str(tmp_path / "ovc.xml")
    ov.save_model(ov.convert_model(module, example_input=tuple(args)), theirs)
    n_ours, n_theirs = len(_layer_types(ours)), len(_layer_types(theirs))
    assert 0 < n_ours <= n_theirs, f"irforge IR has {n_ours} layers, ovc's {n_theirs}"


def test_fusions_fire_as_on_onnx_exports():
    module, args, names, axes = arch.llama()
    model = irforge.convert_model(module, example_input=args)
    hist = model.op_histogram
    assert hist.get("RMSNormalization", 0) == 5, hist  # 2 layers x 2 + final
    assert "Sqrt" not in hist and "ReduceMean" not in hist
    module, args, names, axes = arch.bert()
    hist = irforge.convert_model(module, example_input=args).op_histogram
    assert hist.get("LayerNormalization", 0) == 5 and hist.get("Gelu", 0) == 2, hist


def test_weights_are_shared_with_the_module_not_copied():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 8)).eval()
    model = irforge.convert_model(module, example_input=torch.randn(2, 512), transform="none")
    addresses = {name: _core.constant_data_address(model._core, name) for name in ("0.weight", "0.bias", "2.weight")}
    assert addresses["0.weight"] == module[0].weight.data_ptr()
    assert addresses["0.bias"] == module[0].bias.data_ptr()
    assert addresses["2.weight"] == module[2].weight.data_ptr()
    # The default pipeline leaves a 2 MiB weight in place too (MatMul reads it transposed).
    optimized = irforge.convert_model(module, example_input=torch.randn(2, 512))
    assert _core.constant_data_address(optimized._core, "0.weight") == module[0].weight.data_ptr()
    _check(optimized, module, [torch.randn(2, 512)])


PEAK_CHILD = r"""
import json, sys, torch, irforge

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

def mlp(width, layers):
    torch.manual_seed(0)
    return torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)]).eval()

out = sys.argv[1]
# A small conversion first, so torch's lazily imported machinery is not counted below.
irforge.save_model(irforge.convert_model(mlp(8, 2), example_input=torch.randn(1, 3, 8)), out)
module = mlp(2048, 8)  # 128 MiB of fp32 weights, read through Transposes (3-D inputs)
weights = sum(p.numel() * 4 for p in module.parameters())
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak mark starts from here
irforge.save_model(irforge.convert_model(module, example_input=torch.randn(1, 3, 2048)), out)
print(json.dumps({"weights": weights, "extra": status("VmHWM") - base}))
"""


def test_conversion_peak_memory_stays_far_below_the_weights(tmp_path):
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", PEAK_CHILD, str(tmp_path / "m.xml")], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    # Weights are viewed, never copied (nor folded into transposed copies): the conversion's own
    # peak is torch.export's tracing plus the streaming writer, a fraction of the weights.
    assert figures["extra"] < figures["weights"] / 2, figures


class _Outputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, features, scale):
        y = self.proj(features)
        return {"logits": y * scale, "hidden": torch.relu(y)}


def test_input_and_output_names():
    module = _Outputs().eval()
    args = (torch.randn(2, 4), torch.tensor(3.0))
    model = irforge.convert_model(module, example_input=args)
    assert [i.name for i in model.inputs] == ["features", "scale"]
    assert [o.name for o in model.outputs] == ["logits", "hidden"]
    _check(model, module, args)
    kw = irforge.convert_model(module, example_input={"features": args[0], "scale": args[1]})
    assert [i.name for i in kw.inputs] == ["features", "scale"]


class _Unsupported(torch.nn.Module):
    def forward(self, x):
        values, _ = torch.topk(x, 2)
        return torch.linalg.det(x[..., :2, :2]) + values.sum() + torch.topk(x * 2, 1).values.sum()


def test_unsupported_ops_are_listed_together_and_nothing_is_built():
    with pytest.raises(irforge.UnsupportedError) as info:
        irforge.convert_model(_Unsupported(), example_input=torch.randn(3, 3))
    text = str(info.value)
    assert "aten.topk.default: 2 node(s), first: topk, topk_1" in text
    assert "linalg" in text or "det" in text or "lu" in text
    assert "custom-layer" in text


class _InPlace(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("offset", torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x):
        y = x.clone()
        y.mul_(2).add_(self.offset)
        y[:, 0] = 0.5
        torch.relu_(y)
        return y


def test_in_place_ops():
    module = _InPlace().eval()
    args = (torch.randn(4, 3),)
    _check(irforge.convert_model(module, example_input=args), module, args)


class _Cond(torch.nn.Module):
    def forward(self, x, flag):
        return torch.cond(flag, lambda a: a.sin() * 2, lambda a: a.cos() - 1, (x,))


def test_torch_cond_becomes_if():
    module = _Cond()
    x = torch.randn(3, 4)
    model = irforge.convert_model(module, example_input=(x, torch.tensor(True)), transform="none")
    assert model.op_histogram.get("If") == 1
    for flag in (True, False):
        _check(model, module, (x, torch.tensor(flag)))


class _Typed(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 8).to(dtype)
        self.proj = torch.nn.Linear(8, 8).to(dtype)

    def forward(self, ids, keep):
        h = self.proj(self.emb(ids))
        return torch.where(keep[..., None], h, torch.zeros_like(h)).float().sum(-1)


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float16, 2e-3), (torch.bfloat16, 2e-2)])
def test_int64_bool_inputs_and_low_precision_weights(dtype, rtol):
    torch.manual_seed(0)
    module = _Typed(dtype).eval()
    args = (torch.randint(0, 10, (2, 5)), torch.rand(2, 5) > 0.3)
    model = irforge.convert_model(module, example_input=args)
    assert [i.dtype for i in model.inputs] == ["int64", "bool"]
    # onnxruntime has no bfloat16 MatMul on the CPU; OpenVINO runs every type.
    _check(model, module, args, rtol=rtol, onnx=dtype != torch.bfloat16)


def test_pt2_file_and_cli(tmp_path):
    module, args, names, axes = arch.gpt()
    batch = torch.export.Dim("batch", min=1, max=8)
    ep = torch.export.export(module, args, dynamic_shapes=({0: batch},))
    path = tmp_path / "gpt.pt2"
    torch.export.save(ep, str(path))
    model = irforge.convert_model(str(path))
    assert [i.name for i in model.inputs] == ["input_ids"] and isinstance(model.inputs[0].shape[0], str)
    # The weights are views of the archive (memory-mapped), not of the program torch loaded
    # (before passes: folding may replace a small weight by its transposed copy).
    raw = irforge.convert_model(str(path), transform="none")
    for name in ("wte.weight", "wpe.weight", "blocks.0.attn.q.weight", "blocks.1.fc.bias"):
        assert _core.constant_is_mapped(raw._core, name), name
    _check(model, module, args)
    from irforge.cli import main

    out = tmp_path / "gpt.xml"
    assert main(["convert", str(path), "--output_model", str(out), "--compress_to_fp16", "False"]) == 0
    import openvino as ov

    compiled = ov.Core().compile_model(str(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(args[0].numpy())[0]
    assert _rel_err(_torch_outputs(module, args)[0], result) <= 1e-4


def test_exported_program_object():
    module, args, names, axes = arch.cnn()
    ep = torch.export.export(module, args)
    model = irforge.convert_model(ep)
    _check(model, module, args)


class _Recurrent(torch.nn.Module):
    def __init__(self, cell, **options):
        super().__init__()
        self.rnn = cell(6, 8, batch_first=True, **options)
        self.head = torch.nn.Linear(8 * (2 if options.get("bidirectional") else 1), 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True}], ids=["one-layer", "two-layer-bidirectional"])
def test_lstm_gru_with_dynamic_batch(cell, options):
    # torch.export itself fixes nn.LSTM/GRU's sequence length (it specializes that dim), so only
    # the batch is dynamic here; each layer is one ONNX LSTM/GRU, not an unrolled loop.
    torch.manual_seed(0)
    module = _Recurrent(cell, **options).eval()
    args = (torch.randn(2, 5, 6),)
    model = irforge.convert_model(module, example_input=args, input=[[-1, 5, 6]])
    assert model.op_histogram.get(cell.__name__) == options.get("num_layers", 1)
    _check(model, module, args)
    _check(model, module, (torch.randn(3, 5, 6),))


def test_torchscript_file(tmp_path):
    module, args, names, axes = arch.cnn()
    path = tmp_path / "cnn.pt"
    torch.jit.save(torch.jit.trace(module, args), str(path))
    model = irforge.convert_model(str(path), example_input=args)
    _check(model, module, args)


def test_module_needs_an_example():
    with pytest.raises(ValueError, match="needs example_input="):
        irforge.convert_model(torch.nn.ReLU())
    model = irforge.convert_model(torch.nn.ReLU(), input=[2, 3])
    assert model.inputs[0].shape == (2, 3)


class _DetectionOps(torch.nn.Module):
    """The forms of the ops detection heads use beside the ones DetectionLike takes."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.GroupNorm(2, 4, affine=False)

    def forward(self, x):
        up = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        tiled = x[0, 0].repeat(2, 1, 3)  # more repeats than dims
        return self.norm(up), tiled


def test_upsample_by_scale_repeat_and_group_norm_without_affine():
    module = _DetectionOps().eval()
    x = torch.randn(2, 4, 3, 5)
    model = irforge.convert_model(module, example_input=(x,))
    _check(model, module, [x])
