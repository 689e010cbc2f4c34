"""Small builders shared by the fusion pass tests (not a test module)."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge import testing

# Under the ASan build (.ci/run step 2) OpenVINO cannot be loaded; the passes' C++ still runs
# sanitized and is checked against onnxruntime, OpenVINO is checked in the normal run.
OPENVINO = "libasan" not in os.environ.get("LD_PRELOAD", "")


def check_pass(model_proto, pipeline, *, openvino=True, **kw):
    """irforge.testing.check_pass, with the OpenVINO comparison left out under ASan."""
    return testing.check_pass(model_proto, pipeline, openvino=openvino and OPENVINO, **kw)


def f32(name, shape_or_values, rng=None, low=None, high=None):
    if isinstance(shape_or_values, np.ndarray):
        arr = shape_or_values
    else:
        rng = rng or np.random.default_rng(abs(hash(name)) % 1000)
        arr = rng.uniform(low, high, shape_or_values) if low is not None else rng.standard_normal(shape_or_values)
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def model(nodes, inputs, inits=(), outputs=("y",), opset=17):
    """A model with float inputs {name: shape}; shapes inferred by irforge up front, so a
    pipeline under test contains only the pass (and dce)."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.load_from_string(irforge.convert_model(m, transform="infer-shapes").to_onnx_bytes())
