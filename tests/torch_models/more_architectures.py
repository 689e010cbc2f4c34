"""More tiny PyTorch architectures for the PyTorch frontend tests, written in plain torch.nn as
torchvision / HF write them (torchvision cannot be installed beside this torch build).

Each builder returns (module, example_inputs, input_names, dynamic_axes), as architectures.py.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _seed():
    torch.manual_seed(0)


def _randomize_bn(module):
    for mod in module.modules():  # non-trivial statistics, as in a trained model
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)


# ---- MobileNetV3 (torchvision's InvertedResidual with SE, hardswish, hardsigmoid) ---------------


class _SqueezeExcite(nn.Module):
    def __init__(self, c, squeeze, gate):
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.gate = gate

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(F.relu(self.fc1(s))))


class _InvertedResidual(nn.Module):
    def __init__(self, c_in, expand, c_out, kernel, stride, se, act):
        super().__init__()
        self.use_res = stride == 1 and c_in == c_out
        layers = []
        if expand != c_in:
            layers += [nn.Conv2d(c_in, expand, 1, bias=False), nn.BatchNorm2d(expand), act()]
        layers += [nn.Conv2d(expand, expand, kernel, stride, kernel // 2, groups=expand, bias=False), nn.BatchNorm2d(expand), act()]
        if se:
            layers.append(_SqueezeExcite(expand, max(8, expand // 4), nn.Hardsigmoid()))
        layers += [nn.Conv2d(expand, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetV3Like(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(
            _InvertedResidual(16, 16, 16, 3, 2, True, nn.ReLU),
            _InvertedResidual(16, 64, 24, 3, 2, False, nn.ReLU),
            _InvertedResidual(24, 72, 24, 3, 1, False, nn.ReLU),
            _InvertedResidual(24, 96, 40, 5, 2, True, nn.Hardswish),
        )
        self.head = nn.Sequential(nn.Conv2d(40, 96, 1, bias=False), nn.BatchNorm2d(96), nn.Hardswish())
        self.classifier = nn.Sequential(nn.Linear(96, 128), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, pixel_values):
        x = self.head(self.blocks(self.stem(pixel_values)))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def mobilenetv3():
    _seed()
    m = MobileNetV3Like().eval()
    _randomize_bn(m)
    return m, (torch.randn(2, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}


# ---- EfficientNet (MBConv with SiLU and sigmoid SE, stochastic depth off in eval) -----------------


class _MBConv(nn.Module):
    def __init__(self, c_in, c_out, ratio, kernel, stride):
        super().__init__()
        mid = c_in * ratio
        self.use_res = stride == 1 and c_in == c_out
        layers = []
        if ratio != 1:
            layers += [nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU()]
        layers += [nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.SiLU()]
        layers.append(_SqueezeExcite(mid, max(1, c_in // 4), nn.Sigmoid()))
        layers += [nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class EfficientNetLike(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.blocks = nn.Sequential(_MBConv(16, 16, 1, 3, 1), _MBConv(16, 24, 6, 3, 2), _MBConv(24, 24, 6, 3, 1), _MBConv(24, 40, 6, 5, 2))
        self.head = nn.Sequential(nn.Conv2d(40, 128, 1, bias=False), nn.BatchNorm2d(128), nn.SiLU())
        self.fc = nn.Linear(128, classes)

    def forward(self, pixel_values):
        x = self.head(self.blocks(self.stem(pixel_values)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def efficientnet():
    _seed()
    m = EfficientNetLike().eval()
    _randomize_bn(m)
    return m, (torch.randn(2, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}


# ---- Whisper-style encoder-decoder (conv stem, sinusoidal positions, SDPA, cross-attention) -------


class _Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.dim = heads, hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden, bias=False)  # Whisper's key projection has no bias
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.dim).transpose(1, 2)

    def forward(self, x, memory=None, causal=False):
        kv = x if memory is None else memory
        ctx = F.scaled_dot_product_attention(self.split(self.q(x)), self.split(self.k(kv)), self.split(self.v(kv)), is_causal=causal)
        b, _, s, _ = ctx.shape
        return self.o(ctx.transpose(1, 2).reshape(b, s, -1))


class _EncoderLayer(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(hidden), _Attention(hidden, heads)
        self.ln2, self.fc1, self.fc2 = nn.LayerNorm(hidden), nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class _DecoderLayer(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.ln1, self.self_attn = nn.LayerNorm(hidden), _Attention(hidden, heads)
        self.ln2, self.cross_attn = nn.LayerNorm(hidden), _Attention(hidden, heads)
        self.ln3, self.fc1, self.fc2 = nn.LayerNorm(hidden), nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)

    def forward(self, x, memory):
        x = x + self.self_attn(self.ln1(x), causal=True)
        x = x + self.cross_attn(self.ln2(x), memory)
        return x + self.fc2(F.gelu(self.fc1(self.ln3(x))))


def _sinusoids(length, channels):
    inv = torch.exp(-math.log(10000) / (channels // 2 - 1) * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class WhisperLike(nn.Module):
    def __init__(self, mels=16, hidden=64, heads=4, vocab=96, max_frames=64, max_tokens=32):
        super().__init__()
        self.conv1 = nn.Conv1d(mels, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, stride=2, padding=1)
        self.register_buffer("enc_pos", _sinusoids(max_frames // 2, hidden))
        self.encoder = nn.ModuleList(_EncoderLayer(hidden, heads) for _ in range(2))
        self.enc_ln = nn.LayerNorm(hidden)
        self.tokens = nn.Embedding(vocab, hidden)
        self.dec_pos = nn.Parameter(torch.randn(max_tokens, hidden) * 0.02)
        self.decoder = nn.ModuleList(_DecoderLayer(hidden, heads) for _ in range(2))
        self.dec_ln = nn.LayerNorm(hidden)

    def forward(self, input_features, decoder_input_ids):
        x = F.gelu(self.conv2(F.gelu(self.conv1(input_features)))).transpose(1, 2)
        x = x + self.enc_pos[: x.shape[1]]
        for layer in self.encoder:
            x = layer(x)
        memory = self.enc_ln(x)
        y = self.tokens(decoder_input_ids) + self.dec_pos[: decoder_input_ids.shape[1]]
        for layer in self.decoder:
            y = layer(y, memory)
        return self.dec_ln(y) @ self.tokens.weight.t()


def whisper():
    _seed()
    feats = torch.randn(2, 16, 64)
    ids = torch.randint(0, 96, (2, 7))
    axes = {"input_features": {0: "batch"}, "decoder_input_ids": {0: "batch", 1: "sequence"}}
    return WhisperLike().eval(), (feats, ids), ["input_features", "decoder_input_ids"], axes


ARCHITECTURES = {"mobilenetv3": mobilenetv3, "efficientnet": efficientnet, "whisper": whisper}
