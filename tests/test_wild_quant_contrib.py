"""onnxruntime's com.microsoft quantization ops (issue 20 item 5, quantization family) as its own
tools write them, each in a small MLP: MatMulNBitsQuantizer's 4/8-bit, symmetric, asymmetric and
HQQ (float zero point) MatMulNBits, GPTQ act-order MatMulNBits with g_idx (built per
ContribOperators.md: the quantizer's GPTQ path needs a package onnxruntime does not ship),
DynamicQuantizeMatMul / MatMulIntegerToFloat (what onnxruntime's extended graph optimizer makes of
quantize_dynamic's DynamicQuantizeLinear → MatMulInteger), QLinearAdd / QLinearMul /
QLinearSigmoid (quantize_static, QOperator) and com.microsoft QuantizeLinear / DequantizeLinear
(quantize_static, QDQ with UseQDQContribOps). irforge's IR on the CPU plugin against onnxruntime on
two input shapes, within a budget stated per case (ovc's own error where ovc converts the model),
and irforge's ONNX output, which keeps the ops, in onnxruntime.
"""

import collections
import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import irforge
from irforge.testing import run_onnxruntime, run_openvino

logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
K_IN = 64


def _mlp(k=K_IN):
    """x → MatMul(w1) + b1 → x·sigmoid(x) → MatMul(w2) → y·y, plus x → MatMul(w3) added: two
    MatMuls reading x make quantize_dynamic share one DynamicQuantizeLinear."""
    rng = np.random.default_rng(0)
    w = lambda name, *shape: nh.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)  # noqa: E731
    inits = [w("w1", k, 96), nh.from_array((rng.standard_normal(96) * 0.1).astype(np.float32), "b1"), w("w2", 96, 32), w("w3", k, 32)]
    nodes = [h.make_node("MatMul", ["x", "w1"], ["a"]), h.make_node("Add", ["a", "b1"], ["ab"]), h.make_node("Sigmoid", ["ab"], ["s"]),
             h.make_node("Mul", ["ab", "s"], ["sw"]), h.make_node("MatMul", ["sw", "w2"], ["m2"]), h.make_node("MatMul", ["x", "w3"], ["m3"]),
             h.make_node("Add", ["m2", "m3"], ["m"]), h.make_node("Mul", ["m", "m"], ["y"])]
    g = h.make_graph(nodes, "mlp", [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", k])], [h.make_tensor_value_info("y", T.FLOAT, ["b", "s", 32])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _feeds():
    return [{"x": np.random.default_rng(b * 10 + s).standard_normal((b, s, K_IN)).astype(np.float32)} for b, s in [(1, 3), (2, 5)]]


def _ops(model):
    return collections.Counter(f"{n.domain}::{n.op_type}" for n in model.graph.node)


def _errors(model, tmp_path, ovc=False):
    """Largest |irforge IR − onnxruntime| (and ovc's, if asked) over the feeds; irforge's ONNX
    output must keep the contrib ops and give onnxruntime's own results."""
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    converted = irforge.convert_model(path)
    out = str(tmp_path / "irforge.onnx")
    irforge.save_model(converted, out)
    contrib = {k for k in _ops(model) if k.startswith("com.microsoft::")}
    assert contrib and contrib <= set(_ops(onnx.load(out)))
    ours, theirs, size = 0.0, 0.0, 0.0
    compiled = None
    if ovc:
        import openvino as ov

        compiled = ov.Core().compile_model(ov.convert_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for f in _feeds():
        (expected,) = run_onnxruntime(path, f)
        (actual,) = run_openvino(converted, f)
        assert actual.size and actual.shape == expected.shape
        np.testing.assert_allclose(run_onnxruntime(out, f)[0], expected, rtol=1e-5, atol=1e-6)
        ours, size = max(ours, float(np.abs(actual - expected).max())), max(size, float(np.abs(expected).max()))
        if compiled is not None:
            theirs = max(theirs, float(np.abs(compiled(f)[0] - expected).max()))
    return ours, theirs, size


def _nbits(config):
    from onnxruntime.quantization import matmul_nbits_quantizer as mq

    q = mq.MatMulNBitsQuantizer(_mlp(), algo_config=config(mq))
    q.process()
    return q.model.model


NBITS = {
    "4bit_symmetric": lambda mq: mq.DefaultWeightOnlyQuantConfig(block_size=16, is_symmetric=True),
    "4bit_asymmetric": lambda mq: mq.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False),
    "8bit_asymmetric": lambda mq: mq.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False, bits=8),
    "8bit_symmetric": lambda mq: mq.DefaultWeightOnlyQuantConfig(block_size=16, is_symmetric=True, bits=8),
    "hqq_float_zero_point": lambda mq: mq.HQQWeightOnlyQuantConfig(block_size=32, bits=4),
}


@pytest.mark.parametrize("case", sorted(NBITS))
def test_matmul_nbits_variants(case, tmp_path):
    model = _nbits(NBITS[case])
    nodes = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert len(nodes) == 3 and {h.get_attribute_value(a) for n in nodes for a in n.attribute if a.name == "bits"} == {8 if "8bit" in case else 4}
    assert all(len(n.input) == (3 if "symmetric" in case and "asym" not in case else 4) for n in nodes)
    ours, theirs, size = _errors(model, tmp_path, ovc=True)
    # The CPU plugin runs u8 weights with a compressed kernel whose error ovc's IR shows as well.
    assert ours <= max(theirs * 1.1, 1e-5 * size), (ours, theirs)


def _act_order_nbits(rng, zero_points, block=16):
    """One 4-bit MatMulNBits with GPTQ act-order weights per ContribOperators.md: column k of B
    belongs to group g_idx[k] (a permutation's rank // block_size); zero points "none"
    (symmetric, 8), "float" ([N * blocks], the scales' type) or "uint8" (packed per row)."""
    k, n = K_IN, 24
    w = rng.standard_normal((k, n)).astype(np.float32)
    g_idx = (np.argsort(rng.permutation(k)) // block).astype(np.int32)
    blocks = k // block
    scale = np.zeros((n, blocks), np.float32)
    zp = np.full((n, blocks), 8, np.uint8)
    q = np.zeros((n, k), np.uint8)
    for g in range(blocks):
        cols = np.where(g_idx == g)[0]
        if zero_points == "none":
            scale[:, g] = np.abs(w[cols]).max(0) / 7
        else:
            lo, hi = np.minimum(w[cols].min(0), 0), np.maximum(w[cols].max(0), 0)
            scale[:, g] = (hi - lo) / 15
            zp[:, g] = np.clip(np.round(-lo / scale[:, g]), 0, 15)
        q[:, cols] = np.clip(np.round(w[cols].T / scale[:, g:g + 1] + zp[:, g:g + 1]), 0, 15)
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, blocks, block // 2)
    inits = [nh.from_array(packed, "B"), nh.from_array(scale.reshape(-1), "scales")]
    if zero_points == "uint8":
        zp_packed = np.zeros((n, (blocks + 1) // 2), np.uint8)
        for g in range(blocks):
            zp_packed[:, g // 2] |= zp[:, g] << (4 * (g % 2))
        inits.append(nh.from_array(zp_packed, "zero_points"))
    elif zero_points == "float":
        inits.append(nh.from_array(zp.astype(np.float32).reshape(-1), "zero_points"))
    inits.append(nh.from_array(g_idx, "g_idx"))
    names = ["x", "B", "scales", "zero_points" if zero_points != "none" else "", "g_idx"]
    node = h.make_node("MatMulNBits", names, ["y"], domain="com.microsoft", name="nbits_0", K=k, N=n, bits=4, block_size=block)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", k])], [h.make_tensor_value_info("y", T.FLOAT, ["b", "s", n])],
                     inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("zero_points", ["none", "float"])
def test_matmul_nbits_act_order_g_idx(zero_points, tmp_path):
    model = _act_order_nbits(np.random.default_rng(4), zero_points)
    ours, _, size = _errors(model, tmp_path)
    assert ours <= 1e-5 * size, (ours, size)
    # g_idx matters: the same weights read with contiguous groups give another result.
    plain = onnx.ModelProto()
    plain.CopyFrom(model)
    plain.graph.node[0].input[4] = ""
    f = _feeds()[0]
    assert np.abs(run_onnxruntime(plain.SerializeToString(), f)[0] - run_onnxruntime(model.SerializeToString(), f)[0]).max() > 1e-2 * size


def test_matmul_nbits_act_order_packed_zero_points(tmp_path):
    """With g_idx, onnxruntime 1.32's CPU kernel ignores uint8 zero points (it computes with 8;
    measured) but applies float ones. irforge applies both as the spec says: the packed form gives
    what onnxruntime gives for the same zero points as floats."""
    packed = _act_order_nbits(np.random.default_rng(4), "uint8")
    floats = _act_order_nbits(np.random.default_rng(4), "float")
    converted = irforge.convert_model(packed)
    for f in _feeds():
        (expected,) = run_onnxruntime(floats.SerializeToString(), f)
        (actual,) = run_openvino(converted, f)
        assert actual.size and actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_matmul_nbits_refuses_uneven_g_idx(tmp_path):
    model = _act_order_nbits(np.random.default_rng(4), "none")
    g_idx = next(i for i in model.graph.initializer if i.name == "g_idx")
    g_idx.CopyFrom(nh.from_array(np.zeros(K_IN, np.int32), "g_idx"))  # one group of all K columns
    with pytest.raises(irforge.ConversionError, match=r"nbits_0.*g_idx"):
        irforge.save_model(irforge.convert_model(model), str(tmp_path / "m.xml"))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_dynamic_quantize_matmul_and_matmul_integer_to_float(tmp_path):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dyn, fused = (str(tmp_path / n) for n in ("mlp.onnx", "dyn.onnx", "fused.onnx"))
    onnx.save(_mlp(), src)
    quantize_dynamic(src, dyn, weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = fused
    ort.InferenceSession(dyn, options, providers=["CPUExecutionProvider"])
    model = onnx.load(fused)
    ops = _ops(model)
    assert ops["com.microsoft::DynamicQuantizeMatMul"] == 1 and ops["com.microsoft::MatMulIntegerToFloat"] == 2, ops
    ours, theirs, size = _errors(model, tmp_path, ovc=True)
    # The CPU plugin requantizes the activations in its own float order, so a value can land on the
    # neighbouring level; ovc's IR of the same model shows that error too (0.4% of the output here,
    # irforge's a little less). Another CPU's kernels may round otherwise: half as much again.
    assert ours <= max(1.5 * theirs, 1e-4 * size), (ours, theirs, size)


class _Reader:
    def __init__(self):
        self.it = iter([{"x": np.random.default_rng(i).standard_normal((2, 3, K_IN)).astype(np.float32)} for i in range(8)])

    def get_next(self):
        return next(self.it, None)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq_contrib"])
def test_quantize_static_contrib_ops(fmt, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    reader = type("Reader", (_Reader, CalibrationDataReader), {})()
    src, dst = str(tmp_path / "mlp.onnx"), str(tmp_path / "q.onnx")
    onnx.save(_mlp(), src)
    if fmt == "qoperator":
        quantize_static(src, dst, reader, quant_format=QuantFormat.QOperator)
        expect = {"com.microsoft::QLinearAdd", "com.microsoft::QLinearMul", "com.microsoft::QLinearSigmoid"}
    else:
        quantize_static(src, dst, reader, quant_format=QuantFormat.QDQ, extra_options={"UseQDQContribOps": True})
        expect = {"com.microsoft::QuantizeLinear", "com.microsoft::DequantizeLinear"}
    model = onnx.load(dst)
    assert expect <= set(_ops(model)), _ops(model)
    y_scale = [nh.to_array(i) for i in model.graph.initializer if i.name.startswith("y_scale")]
    ours, _, size = _errors(model, tmp_path)
    # The same integer levels as onnxruntime's (exact on this machine); a requantization that rounds
    # the other way on another CPU moves the output by one level of its scale.
    step = float(y_scale[0]) if y_scale else size / 255
    assert ours <= step, (ours, step, size)
