"""Small PyTorch models of real architectures, for export tests. Random weights, tiny sizes.

Each builder returns (module, example_inputs, input_names, dynamic_axes). The architectures are
written the way common model code writes them (HF-style attention, RMSNorm, rotary embeddings,
grouped-query attention), so their exports contain the subgraphs real models contain.
"""

import math
import os
import shutil
import tempfile

import torch
import torch.nn.functional as F
from torch import nn


def _seed():
    torch.manual_seed(0)


# ---- CNN with BatchNorm -----------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(_Block(16, 16, 1), _Block(16, 32, 2), _Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, pixel_values):
        x = self.layers(self.stem(pixel_values))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def cnn():
    _seed()
    m = ResNetLike().eval()
    for mod in m.modules():  # non-trivial BN statistics, as in a trained model
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m, (torch.randn(2, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}


# ---- BERT-style encoder ---------------------------------------------------------------------


class _SelfAttention(nn.Module):
    def __init__(self, hidden, heads, bias=True):
        super().__init__()
        self.heads, self.dim = heads, hidden // heads
        self.q = nn.Linear(hidden, hidden, bias=bias)
        self.k = nn.Linear(hidden, hidden, bias=bias)
        self.v = nn.Linear(hidden, hidden, bias=bias)
        self.o = nn.Linear(hidden, hidden, bias=bias)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.dim).transpose(1, 2)

    def forward(self, x, additive_mask=None, causal=False):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dim)
        if causal:
            s = x.shape[1]
            mask = torch.tril(torch.ones(s, s, dtype=torch.bool, device=x.device))
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        if additive_mask is not None:
            scores = scores + additive_mask
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, s, _ = ctx.shape
        return self.o(ctx.transpose(1, 2).reshape(b, s, self.heads * self.dim))


class _EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.attn = _SelfAttention(hidden, heads)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1 = nn.Linear(hidden, inter)
        self.fc2 = nn.Linear(inter, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask):
        x = self.ln1(x + self.attn(x, mask))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class BertLike(nn.Module):
    def __init__(self, vocab=100, hidden=64, heads=4, inter=128, layers=2, max_pos=64):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(_EncoderLayer(hidden, heads, inter) for _ in range(layers))
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask, token_type_ids):
        s = input_ids.shape[1]
        pos = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.token_type(token_type_ids))
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pool(x[:, 0]))


def bert():
    _seed()
    ids = torch.randint(0, 100, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.int64)
    mask[1, 9:] = 0
    types = torch.zeros(2, 12, dtype=torch.int64)
    types[:, 6:] = 1
    axes = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    return BertLike().eval(), (ids, mask, types), ["input_ids", "attention_mask", "token_type_ids"], axes


# ---- GPT-style decoder --------------------------------------------------------------------------


class _GptBlock(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden)
        self.attn = _SelfAttention(hidden, heads)
        self.ln2 = nn.LayerNorm(hidden)
        self.fc = nn.Linear(hidden, 4 * hidden)
        self.proj = nn.Linear(4 * hidden, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln1(x), causal=True)
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GptLike(nn.Module):
    def __init__(self, vocab=120, hidden=64, heads=4, layers=2, max_pos=64):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_pos, hidden)
        self.blocks = nn.ModuleList(_GptBlock(hidden, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)

    def forward(self, input_ids):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for b in self.blocks:
            x = b(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied embeddings


def gpt():
    _seed()
    return GptLike().eval(), (torch.randint(0, 120, (2, 10)),), ["input_ids"], {"input_ids": {0: "batch", 1: "sequence"}}


# ---- ViT --------------------------------------------------------------------------------------


class _VitBlock(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden, eps=1e-6)
        self.attn = _SelfAttention(hidden, heads)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class VitLike(nn.Module):
    def __init__(self, image=32, patch=8, hidden=64, heads=4, layers=2, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, hidden, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, hidden) * 0.02)
        self.blocks = nn.ModuleList(_VitBlock(hidden, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(hidden, eps=1e-6)
        self.head = nn.Linear(hidden, classes)

    def forward(self, pixel_values):
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x)[:, 0])


def vit():
    _seed()
    return VitLike().eval(), (torch.randn(2, 3, 32, 32),), ["pixel_values"], {"pixel_values": {0: "batch"}}


# ---- Llama-style decoder (RMSNorm, rotary, grouped-query attention, SwiGLU) ---------------------


class _RMSNorm(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden) + 0.1 * torch.randn(hidden))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _LlamaAttention(nn.Module):
    def __init__(self, hidden, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.dim = heads, kv_heads, hidden // heads
        self.q = nn.Linear(hidden, heads * self.dim, bias=False)
        self.k = nn.Linear(hidden, kv_heads * self.dim, bias=False)
        self.v = nn.Linear(hidden, kv_heads * self.dim, bias=False)
        self.o = nn.Linear(heads * self.dim, hidden, bias=False)

    def forward(self, x, cos, sin):
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.heads, self.dim).transpose(1, 2)
        k = self.k(x).view(b, s, self.kv_heads, self.dim).transpose(1, 2)
        v = self.v(x).view(b, s, self.kv_heads, self.dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k = k[:, :, None].expand(b, self.kv_heads, rep, s, self.dim).reshape(b, self.heads, s, self.dim)
        v = v[:, :, None].expand(b, self.kv_heads, rep, s, self.dim).reshape(b, self.heads, s, self.dim)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.dim)
        causal = torch.triu(torch.full((s, s), torch.finfo(x.dtype).min, device=x.device), 1)
        ctx = torch.matmul(torch.softmax(scores + causal, dim=-1), v)
        return self.o(ctx.transpose(1, 2).reshape(b, s, -1))


class _LlamaLayer(nn.Module):
    def __init__(self, hidden, heads, kv_heads, inter):
        super().__init__()
        self.norm1 = _RMSNorm(hidden)
        self.attn = _LlamaAttention(hidden, heads, kv_heads)
        self.norm2 = _RMSNorm(hidden)
        self.gate = nn.Linear(hidden, inter, bias=False)
        self.up = nn.Linear(hidden, inter, bias=False)
        self.down = nn.Linear(inter, hidden, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class LlamaLike(nn.Module):
    def __init__(self, vocab=128, hidden=64, heads=4, kv_heads=2, inter=160, layers=2, max_pos=64, theta=10000.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(_LlamaLayer(hidden, heads, kv_heads, inter) for _ in range(layers))
        self.norm = _RMSNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        dim = hidden // heads
        inv = 1.0 / (theta ** (torch.arange(0, dim, 2).float() / dim))
        freqs = torch.outer(torch.arange(max_pos).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)

    def forward(self, input_ids):
        s = input_ids.shape[1]
        cos, sin = self.cos_cached[:s][None, None], self.sin_cached[:s][None, None]
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


def llama():
    _seed()
    return LlamaLike().eval(), (torch.randint(0, 128, (2, 9)),), ["input_ids"], {"input_ids": {0: "batch", 1: "sequence"}}


# ---- ConvNeXt/ResNeXt-style CNN: layouts and weight-adjacent arithmetic -------------------


class _MixBlock(nn.Module):
    """Depthwise conv, then pointwise Linears in channels-last layout with a layer scale (as
    ConvNeXt writes it), plus a split → per-part convs → concat group conv (as ResNeXt-style
    code without grouped kernels writes it)."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=0, groups=c)
        self.pw1 = nn.Linear(c, 2 * c)
        self.pw2 = nn.Linear(2 * c, c)
        self.gamma = nn.Parameter(torch.rand(c) + 0.5)
        self.parts = nn.ModuleList(nn.Conv2d(c // 2, c // 2, 3, padding=1) for _ in range(2))

    def forward(self, x):
        y = self.dw(F.pad(x, (1, 1, 1, 1)))  # explicit zero padding
        y = y.permute(0, 2, 3, 1)
        y = self.gamma * self.pw2(F.relu(self.pw1(y)))
        x = x + y.permute(0, 3, 1, 2)
        return F.relu(torch.cat([conv(p) for conv, p in zip(self.parts, x.chunk(2, dim=1))], dim=1))


class ConvMix(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(_MixBlock(32), _MixBlock(32))
        self.fc = nn.Linear(32, 64)
        self.bn = nn.BatchNorm1d(64)
        self.head = nn.Linear(64, classes)
        self.temperature = 1.7

    def forward(self, pixel_values):
        x = self.stem((pixel_values - self.mean) / self.std)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1), value=float("-inf")), 3, 2)
        x = F.avg_pool2d(F.pad(self.blocks(x), (1, 1, 1, 1)), 3, 1, count_include_pad=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(F.relu(self.bn(self.fc(x)))) / self.temperature


def convmix():
    _seed()
    m = ConvMix().eval()
    m.bn.running_mean.uniform_(-0.5, 0.5)
    m.bn.running_var.uniform_(0.5, 1.5)
    return m, (torch.randn(2, 3, 32, 32),), ["pixel_values"], {"pixel_values": {0: "batch"}}


ARCHITECTURES = {"cnn": cnn, "bert": bert, "gpt": gpt, "vit": vit, "llama": llama, "convmix": convmix}


# (name, dynamo) -> (file, feeds, torch RNG state after the export). Five test files export the
# same seeded architectures, 29 exports of 12 distinct files in one run (a dynamo export takes
# seconds to a minute): each is made once per process and copied.
_EXPORTS = {}
_EXPORT_DIR = None


def export(name: str, path: str, dynamo: bool) -> tuple:
    """Exports architecture `name` to `path`; returns the example inputs as numpy feeds. The
    builders are seeded, so a repeated export is the first one's file, copied (the caller may
    change its copy), and leaves torch's random state as the export did."""
    global _EXPORT_DIR
    key = (name, bool(dynamo))
    if key not in _EXPORTS:
        if _EXPORT_DIR is None:
            _EXPORT_DIR = tempfile.TemporaryDirectory(prefix="irforge_torch_exports_")
        first = os.path.join(_EXPORT_DIR.name, f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx")
        feeds = _export(name, first, dynamo)
        _EXPORTS[key] = (first, feeds, torch.get_rng_state())
    first, feeds, rng = _EXPORTS[key]
    shutil.copyfile(first, path)
    torch.set_rng_state(rng)
    return {n: a.copy() for n, a in feeds.items()}


def _export(name: str, path: str, dynamo: bool) -> dict:
    module, inputs, names, axes = ARCHITECTURES[name]()
    with torch.no_grad():
        if dynamo:
            torch.onnx.export(module, inputs, path, input_names=names, dynamo=True, external_data=False)
        else:
            torch.onnx.export(module, inputs, path, input_names=names, dynamic_axes=axes, opset_version=17, dynamo=False)
    return {n: t.numpy() for n, t in zip(names, inputs)}
