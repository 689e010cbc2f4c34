"""Shapes through onnxruntime's transformers-optimizer ops (issue 20 item 2).

The optimizer's FastGelu/BiasGelu/SkipLayerNormalization sit in the middle of the model; when
infer-shapes has no rule for them every value after the first one loses its shape, and the
Shape → Gather → Concat targets of the Reshapes behind them stay run-time arithmetic (ORT-optimized
GPT-2: 97 layers vs ovc's 63). With the rules they become constants like anywhere else.
"""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import assert_outputs_close, check_pass, run_onnxruntime

PIPE = "infer-shapes,simplify-shapes,fold,dce"


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _f32(name, shape, seed):
    return numpy_helper.from_array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def _dim(src, index, out):
    return [helper.make_node("Shape", [src], [out + "_shape"]),
            helper.make_node("Gather", [out + "_shape", f"i{index}"], [out + "_s"], axis=0),
            helper.make_node("Unsqueeze", [out + "_s", "zero"], [out])]


def _model(contrib_node, extra_inits):
    # x [batch, seq, 32] -> contrib op -> y.view(b, s, 4, 8) with b, s read from y's own shape.
    nodes = [contrib_node] + _dim("h", 0, "b") + _dim("h", 1, "s") + [
        helper.make_node("Concat", ["b", "s", "heads", "hdim"], ["target"], axis=0),
        helper.make_node("Reshape", ["h", "target"], ["y"])]
    inits = [_i64("i0", 0), _i64("i1", 1), _i64("zero", [0]), _i64("heads", [4]), _i64("hdim", [8])] + extra_inits
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def _feeds(batch, seq):
    return {"x": np.random.default_rng(batch * 10 + seq).standard_normal((batch, seq, 32)).astype(np.float32)}


CASES = {
    "FastGelu": (helper.make_node("FastGelu", ["x", "bias"], ["h"], domain="com.microsoft"), [_f32("bias", [32], 1)]),
    "BiasGelu": (helper.make_node("BiasGelu", ["x", "bias"], ["h"], domain="com.microsoft"), [_f32("bias", [32], 1)]),
    "SkipLayerNormalization": (
        helper.make_node("SkipLayerNormalization", ["x", "x", "gamma", "beta"], ["h"], domain="com.microsoft", epsilon=1e-5),
        [_f32("gamma", [32], 2), _f32("beta", [32], 3)]),
}


@pytest.mark.parametrize("op", sorted(CASES))
def test_shape_arithmetic_after_contrib_op_becomes_constant(op):
    node, inits = CASES[op]
    m = _model(node, inits)
    # The OpenVINO path of these ops is tested in test_wild_ms_transformer_ops.py; here the ONNX
    # result is compared with the original at two input shapes.
    model = check_pass(m, PIPE, fires=True, feeds=_feeds(2, 3), openvino=False)
    hist = model.op_histogram
    assert not {"Shape", "Gather", "Concat", "Unsqueeze"} & set(hist), hist
    feeds = _feeds(3, 7)
    assert_outputs_close(run_onnxruntime(m.SerializeToString(), feeds), run_onnxruntime(model.to_onnx_bytes(), feeds))


def test_skip_layer_norm_sum_output_keeps_the_input_shape():
    # Output 3 (input + skip) feeds the next residual: its shape must be known too.
    node = helper.make_node("SkipLayerNormalization", ["x", "x", "gamma", "beta"], ["ln", "", "", "h"],
                            domain="com.microsoft", epsilon=1e-5)
    m = _model(node, [_f32("gamma", [32], 2), _f32("beta", [32], 3)])
    model = check_pass(m, PIPE, fires=True, feeds=_feeds(2, 3), openvino=False)
    assert not {"Shape", "Gather", "Concat"} & set(model.op_histogram), model.op_histogram
