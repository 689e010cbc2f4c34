"""The model zoo shipped inside the onnx package (onnx/backend/test/data/light) through irforge.

Each model is converted with the default pipeline, written as OpenVINO IR and run on the CPU
plugin; outputs must match the outputs stored beside the model (computed by the onnx reference
evaluator on the same deterministic input), with the zoo's own tolerances for fp32 IR.
"""

import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime, run_openvino

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
# name -> (rtol, atol), as in onnx.backend.test.case.model
ZOO = {
    "bvlc_alexnet": (1e-3, 1e-7),
    "densenet121": (2e-3, 1e-7),
    "inception_v1": (1e-3, 1e-7),
    "inception_v2": (1e-3, 1e-7),
    "resnet50": (1e-3, 1e-7),
    "shufflenet": (1e-3, 1e-7),
    "squeezenet": (1e-3, 1e-7),
    "vgg19": (1e-3, 1e-7),
    "zfnet512": (1e-3, 1e-7),
}


# OpenVINO's CPU plugin itself gives a different output for these (OpenVINO's own ONNX frontend
# shows the same max abs error of 0.124 on squeezenet); there the IR is checked against ovc's
# IR on the plugin and against the stored outputs through onnxruntime.
PLUGIN_MISMATCH = {"squeezenet"}


def _ovc_outputs(path, feeds):
    import openvino as ov

    compiled = ov.Core().compile_model(ov.convert_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    res = compiled.create_infer_request().infer(feeds)
    return [res[o] for o in compiled.outputs]


def _feeds(proto):
    """The deterministic input onnx's backend runner uses for these models."""
    inits = {t.name for t in proto.graph.initializer}
    feeds = {}
    for x in proto.graph.input:
        if x.name in inits:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in x.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        feeds[x.name] = (np.arange(n).reshape(shape) / n).astype(np.float32)
    return feeds


def _expected(name, proto):
    out = []
    for i in range(len(proto.graph.output)):
        t = onnx.TensorProto()
        with open(os.path.join(LIGHT, f"light_{name}_output_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        out.append(numpy_helper.to_array(t))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_matches_stored_outputs(name):
    rtol, atol = ZOO[name]
    path = os.path.join(LIGHT, f"light_{name}.onnx")
    proto = onnx.load(path)
    feeds = _feeds(proto)
    expected = _expected(name, proto)
    model = irforge.convert_model(path, verify=True)
    # Scale atol to the outputs' magnitude: probabilities near 0 make a pure rtol test fragile.
    atol = max(atol, 1e-6 * float(np.abs(expected[0]).max()))
    plugin_reference = _ovc_outputs(path, feeds) if name in PLUGIN_MISMATCH else expected
    assert_outputs_close(plugin_reference, run_openvino(model, feeds), rtol=rtol, atol=atol)
    assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), feeds), rtol=rtol, atol=atol)
    # fp16 weights cost accuracy; the budget is relative to the largest output. (Where the
    # plugin misbehaves its output is erratic across precisions, so there is no reference.)
    if name not in PLUGIN_MISMATCH:
        fp16 = run_openvino(model, feeds, compress_to_fp16=True)
        assert float(np.abs(fp16[0] - expected[0]).max()) <= 2e-2 * float(np.abs(expected[0]).max())
