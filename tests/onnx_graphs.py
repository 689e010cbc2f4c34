"""Small ONNX graphs built in tests, and the check most op tests make on them: irforge's
OpenVINO IR computes what onnxruntime (or ONNX's reference evaluator) computes on the model."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino


def onnx_model(nodes, inputs, outputs, opset=18, initializers=()):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def vi(name, elem=T.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def i64(name, values, dims=None):
    values = list(values)
    return h.make_tensor(name, T.INT64, [len(values)] if dims is None else dims, values)


def run_ir(model, feeds):
    """The model converted by irforge, run by OpenVINO; at least one output is not empty, so a
    comparison cannot pass on nothing."""
    actual = run_openvino(irforge.convert_model(model), feeds)
    assert actual and any(np.asarray(a).size for a in actual)
    return actual


def check_ir(model, feeds, expected=None, rtol=1e-5, atol=1e-6, reference=False):
    """irforge -> OpenVINO outputs against `expected`, by default onnxruntime's outputs on the same
    model (ONNX's reference evaluator with reference=True, for ops onnxruntime lacks)."""
    if expected is None:
        if reference:
            from onnx.reference import ReferenceEvaluator

            expected = ReferenceEvaluator(model).run(None, feeds)
        else:
            expected = run_onnxruntime(model.SerializeToString(), feeds)
    actual = run_ir(model, feeds)
    assert_outputs_close(expected, actual, rtol=rtol, atol=atol)
    return actual
