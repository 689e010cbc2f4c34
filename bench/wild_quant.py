"""onnxruntime-quantized models (issue 20 item 5): irforge's IR vs ovc's, layers and accuracy.

    /work/venv/bin/python bench/wild_quant.py [--models mnv2_qdq,...] [--details]

Each model is made by the real tools: torchvision MobileNetV2 (weights=None) and ResNet-18
exported by torch.onnx.export (dynamic batch), then onnxruntime.quantization.quantize_static
(QDQ and QOperator formats, random calibration data) or quantize_dynamic; a tiny transformers
BERT exported and quantize_dynamic'd; an LSTM quantize_dynamic'd (DynamicQuantizeLSTM); a small
MLP whose MatMuls MatMulNBitsQuantizer turns into MatMulNBits. The same quantized ONNX file is
converted by ovc (`openvino.convert_model`) and by irforge (compress_to_fp16=False for both);
non-Const layers are counted and both IRs are run on the CPU plugin against onnxruntime on the
quantized model, on inputs of two shapes (the batch / sequence dims are dynamic). Prints a
markdown table. tests/test_wild_quant.py uses the builders and the comparison below.
"""

import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "python"))
import ovc_table  # noqa: E402  (the table of this bench and wild_contrib.py)
from layer_count import layer_types, rel_err, run_ir  # noqa: E402  (shared bench helpers)


def run_ort(path, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


# ---- float models, exported by torch.onnx.export (TorchScript) with a dynamic batch ----

def _export(module, args, path, names, axes, out_names=("y",)):
    import torch

    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=list(names), output_names=list(out_names), dynamic_axes=axes, opset_version=17, dynamo=False)


def _conv_bn(cin, cout, k=3, stride=1, groups=1, act=True):
    import torch.nn as nn

    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


def mobilenet_v2(num_classes=10):
    """torchvision's MobileNetV2 (width 1.0, its inverted-residual table), written out here: the
    torchvision wheel PyPI serves is built for CUDA and does not import beside torch 2.13.0+cpu."""
    import torch.nn as nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hidden = cin * t
            layers = ([_conv_bn(cin, hidden, 1)] if t != 1 else []) + [_conv_bn(hidden, hidden, 3, stride, hidden), _conv_bn(hidden, cout, 1, act=False)]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    layers, cin = [_conv_bn(3, 32, 3, 2)], 32
    for t, c, n, s in table:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers.append(_conv_bn(cin, 1280, 1))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, num_classes))


def resnet(num_classes=10, blocks=(2, 2, 2, 2)):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) written out, for the same reason."""
    import torch.nn as nn

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.down(x))

    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for i, n in enumerate(blocks):
        cout = 64 << i
        for j in range(n):
            layers.append(Basic(cin, cout, 2 if (j == 0 and i > 0) else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))


def _image_model(kind, path, size):
    import torch

    torch.manual_seed(0)
    m = mobilenet_v2() if kind == "mnv2" else resnet()
    # Fresh BatchNorm statistics are identities; give them real ones so folding matters.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    _export(m, (torch.randn(1, 3, size, size),), path, ["x"], {"x": {0: "batch"}, "y": {0: "batch"}})


class _Reader:
    """Random calibration data for quantize_static."""

    def __init__(self, name, shape, n=4):
        rng = np.random.default_rng(1)
        self.data = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.data, None)


def _quantize_static(src, dst, fmt, size):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(_Reader, CalibrationDataReader):
        pass

    quantize_static(src, dst, Reader("x", (1, 3, size, size)), quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)


def _quantize_dynamic(src, dst, **kw):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, **kw)


def _image_feeds(size):
    def feeds(b):
        return {"x": np.random.default_rng(b).standard_normal((b, 3, size, size)).astype(np.float32)}

    return feeds


def build_image(kind, fmt, d, size=64):
    f = os.path.join(d, f"{kind}.onnx")
    if not os.path.exists(f):
        _image_model(kind, f, size)
    q = os.path.join(d, f"{kind}_{fmt}.onnx")
    if fmt == "dynamic":
        _quantize_dynamic(f, q)
    else:
        _quantize_static(f, q, fmt, size)
    return q, [_image_feeds(size)(1), _image_feeds(size)(2)]


def _transformers():
    """transformers, importable even when the installed torchvision is not (transformers only
    uses it for image processors, which BERT does not need)."""
    import importlib

    try:
        importlib.import_module("torchvision")
    except Exception:
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
        sys.modules["torchvision"] = None
    import transformers

    return transformers


def build_bert(d):
    import torch

    tr = _transformers()

    torch.manual_seed(0)
    cfg = tr.BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=64)
    m = tr.BertModel(cfg, add_pooling_layer=False)
    f = os.path.join(d, "bert.onnx")
    ids = torch.randint(0, 500, (1, 8))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}}

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    _export(Wrap(), (ids, torch.ones_like(ids)), f, ["input_ids", "attention_mask"], axes)
    q = os.path.join(d, "bert_dynamic.onnx")
    _quantize_dynamic(f, q)

    def feeds(b, s):
        rng = np.random.default_rng(b * 100 + s)
        mask = np.ones((b, s), np.int64)
        mask[0, -2:] = 0
        return {"input_ids": rng.integers(0, 500, (b, s)).astype(np.int64), "attention_mask": mask}

    return q, [feeds(1, 8), feeds(2, 13)]


def build_lstm(d, bidirectional=False, per_channel=False):
    """LSTM(16 -> 32) + Linear, quantize_dynamic'd; the variant is bidirectional with weights
    quantized per channel (scale / zero point per direction and gate column)."""
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(16, 32, batch_first=True, bidirectional=bidirectional)
            self.fc = torch.nn.Linear(64 if bidirectional else 32, 4)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    stem = "lstm2bi_dynamic_pc" if bidirectional else "lstm_dynamic"
    f = os.path.join(d, f"{stem}_fp32.onnx")
    _export(Net(), (torch.randn(1, 5, 16),), f, ["x"], {"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    q = os.path.join(d, f"{stem}.onnx")
    _quantize_dynamic(f, q, op_types_to_quantize=["LSTM", "MatMul"], per_channel=per_channel)

    def feeds(b, s):
        return {"x": np.random.default_rng(b * 10 + s).standard_normal((b, s, 16)).astype(np.float32)}

    return q, [feeds(1, 5), feeds(3, 9)]


def build_nbits(d):
    import onnx
    import torch
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
    f = os.path.join(d, "mlp.onnx")
    # [batch, tokens, 64]: Linear on a 3-D input is a MatMul, which the quantizer rewrites.
    _export(m, (torch.randn(1, 3, 64),), f, ["x"], {"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    cfg = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False, accuracy_level=None)
    qz = MatMulNBitsQuantizer(onnx.load(f), algo_config=cfg)
    qz.process()
    q = os.path.join(d, "mlp_nbits.onnx")
    qz.model.save_model_to_file(q, False)

    def feeds(b, s):
        return {"x": np.random.default_rng(b).standard_normal((b, s, 64)).astype(np.float32)}

    return q, [feeds(1, 3), feeds(4, 7)]


MODELS = {
    "mnv2_qdq": lambda d: build_image("mnv2", "qdq", d),
    "mnv2_qop": lambda d: build_image("mnv2", "qop", d),
    "mnv2_dynamic": lambda d: build_image("mnv2", "dynamic", d),
    "resnet18_qdq": lambda d: build_image("resnet18", "qdq", d),
    "resnet18_qop": lambda d: build_image("resnet18", "qop", d),
    "bert_dynamic": build_bert,
    "lstm_dynamic": build_lstm,
    "lstm2bi_dynamic_pc": lambda d: build_lstm(d, bidirectional=True, per_channel=True),
    "mlp_nbits": build_nbits,
}


def op_histogram(path):
    import onnx

    m = onnx.load(path, load_external_data=False)
    return collections.Counter(f"{n.domain + '::' if n.domain else ''}{n.op_type}" for n in m.graph.node)


def compare(name, d, build=None):
    """Converts the model `name` (built into folder d by `build`, default MODELS[name]) with ovc
    and irforge; returns a dict of layer counts, per-shape errors against onnxruntime and the
    IRs' op histograms."""
    import irforge
    import openvino as ov

    path, feeds = (build or MODELS[name])(d)
    ovc_xml = os.path.join(d, f"{name}_ovc.xml")
    try:
        ov.save_model(ov.convert_model(path), ovc_xml, compress_to_fp16=False)
    except Exception as e:  # ovc refuses some of these models (QOperator QLinearConv); irforge must not
        ovc_xml = None
        print(f"{name}: ovc failed: {str(e).splitlines()[-1][:200]}", file=sys.stderr)
    irf_xml = os.path.join(d, f"{name}_irforge.xml")
    irforge.save_model(irforge.convert_model(path), irf_xml, compress_to_fp16=False)
    res = {"model": name, "ovc_types": layer_types(ovc_xml) if ovc_xml else collections.Counter(), "irforge_types": layer_types(irf_xml),
           "ovc_err": 0.0 if ovc_xml else None, "irforge_err": 0.0, "onnx": op_histogram(path), "path": path, "irforge_xml": irf_xml, "feeds": feeds}
    for f in feeds:
        ref = run_ort(path, f)
        for key, xml in (("ovc_err", ovc_xml), ("irforge_err", irf_xml)):
            if xml:
                out = run_ir(xml, f)
                res[key] = max(res[key], max(rel_err(r, o) for r, o in zip(ref, out)))
    res["ovc"] = sum(res["ovc_types"].values()) if ovc_xml else None
    res["irforge"] = sum(res["irforge_types"].values())
    return res


def main():
    ovc_table.main(MODELS, compare)


if __name__ == "__main__":
    main()
