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


# ---- ResNet with bottleneck blocks (torchvision's resnet50 layout: [3, 4, 6, 3] at width 64) ------


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in, width, stride):
        super().__init__()
        c_out = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity  # in place, as torchvision writes it
        return self.relu(out)


class ResNetBottleneck(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), width=64, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, c_in = [], width
        for i, count in enumerate(layers):
            w = width * 2**i
            blocks = []
            for j in range(count):
                blocks.append(_Bottleneck(c_in, w, 2 if (j == 0 and i > 0) else 1))
                c_in = w * _Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_in, classes)

    def forward(self, pixel_values):
        x = self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_bottleneck():
    _seed()
    m = ResNetBottleneck(layers=(1, 1, 1, 1), width=8, classes=10).eval()
    _randomize_bn(m)
    return m, (torch.randn(2, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}


# ---- Detection: RetinaNet-style head over two FPN levels, with a YOLO-style box decode -----------


class _HeadBranch(nn.Module):
    """torchvision's RetinaNet classification/regression subnet: convs + GroupNorm + ReLU, then
    the per-anchor outputs flattened to (N, H*W*A, K) as RetinaNetHead does."""

    def __init__(self, channels, anchors, outputs):
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(4, channels), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.out = nn.Conv2d(channels, anchors * outputs, 3, padding=1)
        self.outputs = outputs

    def forward(self, features):
        flat = []
        for f in features:
            y = self.out(self.conv(f))
            n, _, h, w = y.shape
            y = y.view(n, -1, self.outputs, h, w).permute(0, 3, 4, 1, 2)
            flat.append(y.reshape(n, -1, self.outputs))
        return torch.cat(flat, dim=1)


class DetectionLike(nn.Module):
    def __init__(self, classes=5, anchors=3, channels=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.c3 = nn.Sequential(nn.Conv2d(channels, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.c4 = nn.Sequential(nn.Conv2d(channels, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.lateral = nn.Conv2d(channels, channels, 1)
        self.cls = _HeadBranch(channels, anchors, classes)
        self.box = _HeadBranch(channels, anchors, 4)
        self.anchors = anchors
        self.register_buffer("anchor_sizes", torch.tensor([1.0, 2.0, 4.0]))

    def _centers(self, feature, stride):
        """Anchor centres of one level in input pixels, (H*W*A, 2), from the level's own size."""
        h, w = feature.shape[-2:]
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 1, 2)
        return grid.expand(-1, self.anchors, 2).reshape(-1, 2), self.anchor_sizes.repeat(h * w) * stride

    def forward(self, images):
        p3 = self.c3(self.stem(images))
        p4 = self.c4(p3)
        p3 = p3 + F.interpolate(self.lateral(p4), size=p3.shape[-2:], mode="nearest")
        scores = torch.sigmoid(self.cls([p3, p4]))
        deltas = self.box([p3, p4])
        c3, s3 = self._centers(p3, 4)
        c4, s4 = self._centers(p4, 8)
        centers, sizes = torch.cat([c3, c4]), torch.cat([s3, s4])[:, None]
        xy = centers + deltas[..., :2].tanh() * sizes
        wh = deltas[..., 2:].clamp(max=4.0).exp() * sizes
        boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)
        best, label = scores.max(dim=-1)
        return boxes, best, label


def detection():
    _seed()
    m = DetectionLike().eval()
    _randomize_bn(m)
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    return m, (torch.randn(2, 3, 32, 40),), ["images"], axes


ARCHITECTURES = {"mobilenetv3": mobilenetv3, "efficientnet": efficientnet, "whisper": whisper,
                 "resnet_bottleneck": resnet_bottleneck, "detection": detection}


class Rnn(nn.Module):
    """nn.LSTM / nn.GRU / nn.RNN (8 -> 16) returning the output sequence, given initial states as
    extra forward() arguments when `with_state` (the wild-model RNN tests of both exporters)."""

    def __init__(self, kind, layers, bidirectional, batch_first, with_state):
        super().__init__()
        self.rnn = getattr(nn, kind)(8, 16, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        self.kind, self.with_state = kind, with_state

    def forward(self, x, *state):
        if not self.with_state:
            return self.rnn(x)[0]
        return self.rnn(x, state if self.kind == "LSTM" else state[0])[0]
