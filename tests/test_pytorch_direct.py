"""PyTorch frontend: torch.export's own graph translated as it is, without `run_decompositions`
(a second trace of the whole program that cost more than the rest of a conversion), and the
decomposition still used wherever an in-place op could be seen through an alias or an op has a
form only its decomposition handles. Outputs are compared with PyTorch's (fp32, 1e-4)."""

import json
import subprocess
import sys

import pytest

import torch
import torch.nn.functional as F

import irforge
from irforge.frontends import pytorch
from test_pytorch_frontend import _check, _reshaped


def _refuse_decomposition(monkeypatch):
    def refuse(ep):
        raise AssertionError("run_decompositions was called")

    monkeypatch.setattr(pytorch, "_decompose", refuse)


class _Composite(torch.nn.Module):
    """The composite ATen ops torch.export leaves in its graph, in-place ops on fresh tensors."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.bn.running_mean.uniform_(-1, 1)
        self.bn.running_var.uniform_(0.5, 2)
        self.gn = torch.nn.GroupNorm(2, 8)
        self.conv1d = torch.nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x, ids):
        h = torch.relu_(self.bn(self.conv(x)))  # relu_ overwrites the batch norm's fresh result
        g = self.gn(h)
        g.add_(h)  # in place on the group norm's result, which nothing else reads
        p = F.pad(g, (1, 1, 0, 0), value=0.5)
        a, b = p.chunk(2, dim=1)
        s = torch.stack([a, b], dim=1).flatten(2)
        seq = self.conv1d(s.reshape(-1, 4, 72))
        mask = (ids > 0) & (ids < 7)
        steps = torch.diff(ids, prepend=ids[:, :1], dim=1)
        square = torch.ones(ids.shape[1], ids.shape[1])
        causal = torch.tril(square) + torch.triu(square, diagonal=2) * 3
        return s, seq, mask.to(torch.float32) * steps, causal


def test_composite_ops_translate_without_decomposition(monkeypatch):
    module = _Composite().eval()
    x, ids = torch.randn(2, 3, 6, 4), torch.randint(0, 9, (2, 5))
    with torch.no_grad():
        ep = torch.export.export(module, (x, ids))
    ops = {pytorch._op_key(n.target) for n in ep.graph_module.graph.nodes if n.op == "call_function"}
    # The test means what it says only while export keeps these ops composite and in place.
    assert {"aten.conv2d.default", "aten.batch_norm.default", "aten.relu_.default", "aten.add_.Tensor",
            "aten.flatten.using_ints", "aten.chunk.default", "aten.stack.default", "aten.diff.default"} <= ops
    _refuse_decomposition(monkeypatch)
    model = irforge.convert_model(module, example_input=(x, ids))
    _check(model, module, [x, ids])


def test_dynamic_batch_without_decomposition(monkeypatch):
    module = _Composite().eval()
    x, ids = torch.randn(2, 3, 6, 4), torch.randint(0, 9, (2, 5))
    _refuse_decomposition(monkeypatch)
    model = irforge.convert_model(module, example_input=(x, ids), input={"x": [-1, 3, 6, 4], "ids": [-1, 5]})
    for batch in (1, 3):
        args = _reshaped([x, ids], ["x", "ids"], {"x": {0: "b"}, "ids": {0: "b"}}, batch, 0)
        _check(model, module, args)


class _AliasedInPlace(torch.nn.Module):
    def forward(self, x):
        h = x * 2
        view = h[:, :2]  # a view of h: the add_ below changes it too
        h.add_(1)
        return torch.cat([view, h], dim=1)


class _InPlaceOnInput(torch.nn.Module):
    def forward(self, x):
        y = x.relu_()
        return y * 3


def test_in_place_through_an_alias_is_decomposed():
    for module, x in ((_AliasedInPlace(), torch.randn(3, 4)), (_InPlaceOnInput(), torch.randn(3, 4))):
        with torch.no_grad():
            ep = torch.export.export(module, (x.clone(),))
        assert not pytorch._direct_translatable(ep.graph_module)
        model = irforge.convert_model(module, example_input=(x.clone(),))
        _check(model, module, [x.clone()])


class _FlattenDynamicTail(torch.nn.Module):
    def forward(self, x):
        return torch.flatten(x, 0, 1) * 2  # the dynamic last dim stays: flatten then needs it


def test_op_form_only_the_decomposition_handles_falls_back(monkeypatch):
    """flatten in front of a dynamic dim starts directly, gives up, and converts the decomposed program."""
    module = _FlattenDynamicTail()
    x = torch.randn(2, 3, 5)
    calls = []
    decompose = pytorch._decompose
    monkeypatch.setattr(pytorch, "_decompose", lambda ep: calls.append(1) or decompose(ep))
    model = irforge.convert_model(module, example_input=(x,), input={"x": [2, 3, -1]})
    assert calls == [1]
    for length in (5, 7):
        _check(model, module, [torch.randn(2, 3, length)])


class _TrainingDropout(torch.nn.Module):
    def forward(self, x):
        return F.dropout(x, 0.5, training=True)


def test_training_dropout_is_not_taken_for_an_identity():
    with pytest.raises(irforge.UnsupportedError) as info:
        irforge.convert_model(_TrainingDropout(), example_input=(torch.randn(4, 4),))
    assert "TrainingDropout" in str(info.value)


CHILD = r"""
import gc, json, sys, time, torch
import irforge

def field(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

torch.manual_seed(0)
layers = []
for _ in range(4):  # 512x512x3x3 kernels (9 MiB each) with a BatchNorm folded into each
    bn = torch.nn.BatchNorm2d(512)
    bn.running_var.uniform_(0.5, 2)
    layers += [torch.nn.Conv2d(512, 512, 3, padding=1, bias=False), bn, torch.nn.ReLU(inplace=True)]
module = torch.nn.Sequential(*layers).eval()
x = torch.randn(1, 512, 7, 7)
weights = sum(p.numel() * p.element_size() for p in module.parameters())
out = sys.argv[1]
with torch.no_grad():
    irforge.save_model(irforge.convert_model(module, example_input=(x,)), out)  # torch.export's one-time cost
    gc.collect()
    base = field("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    irforge.save_model(irforge.convert_model(module, example_input=(x,)), out)
    print(json.dumps(dict(extra=field("VmHWM") - base, weights=weights)))
"""


@pytest.mark.slow  # measures peak RSS, which a sanitizer build inflates (CI runs slow tests without one)
def test_conversion_with_folded_batchnorm_peaks_under_a_tenth_of_the_weights(tmp_path):
    """convert + fp16 save of BN-folded convs: the scaled kernels are streamed through small
    pieces (they peaked at 23 MiB, 2.5 pieces of a kernel, with 16 MiB pieces)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "m.xml")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["weights"] > 36 << 20
    assert r["extra"] < r["weights"] // 10, f"peak RSS above the module: {r['extra'] >> 20} MiB for {r['weights'] >> 20} MiB of weights"
