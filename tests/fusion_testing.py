"""Shared checks for the fusion passes' tests (tests/passes/test_fuse_*.py).

Models are written in onnx.parser text. `check_fusion` runs irforge.testing.check_pass (fires or
not, idempotent, equal in onnxruntime and OpenVINO) and, when the pass fires, checks what the
fusion promises: the fused op replaced the pattern, ONNX output at the model's (low) opset is
expanded back and valid per onnx.checker, and ONNX output at the op's opset keeps it.
"""

import onnx
import onnx.parser

import irforge
from irforge.testing import assert_outputs_close, random_feeds, run_onnxruntime


def model(text: str, **initializers) -> onnx.ModelProto:
    """Parses `text`, adds numpy arrays as initializers, checks the result."""
    from onnx import numpy_helper

    m = onnx.parser.parse_model(text)
    for name, value in initializers.items():
        m.graph.initializer.append(numpy_helper.from_array(value, name))
    onnx.checker.check_model(m, full_check=True)
    return m


def to_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with every float tensor (inputs, outputs, constants) in float16."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    for vi in [*m.graph.input, *m.graph.output, *m.graph.value_info]:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    for n in m.graph.node:
        for a in n.attribute:
            if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
        for a in n.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == TensorProto.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    return m


def check_fusion(proto, pipeline, *, fires, op, since, leftover=(), rtol=1e-5, atol=1e-6, feeds=None, openvino=True):
    """`leftover`: op types the fused graph must still contain besides `op` (e.g. the MatMul
    around a fused activation); nothing else may remain."""
    from irforge.testing import check_pass

    fused = check_pass(proto, pipeline, fires=fires, rtol=rtol, atol=atol, feeds=feeds, openvino=openvino)
    if not fires:
        assert op not in fused.op_histogram
        return fused
    hist = fused.op_histogram
    assert set(hist) == {op, *leftover}, hist
    feeds = feeds or random_feeds(irforge.convert_model(proto.SerializeToString(), transform="none"), seed=0)
    expected = run_onnxruntime(proto.SerializeToString(), feeds)
    model_opset = fused.opset_imports[""]
    low = onnx.load_from_string(fused.to_onnx_bytes())
    onnx.checker.check_model(low, full_check=True)
    assert [o.version for o in low.opset_import if o.domain == ""] == [model_opset]
    if since > model_opset:
        assert op not in {n.op_type for n in low.graph.node}, "a fused op newer than the opset was written"
    high = fused.to_onnx_bytes(target_opset=max(since, model_opset))
    kept = onnx.load_from_string(high)
    onnx.checker.check_model(kept, full_check=True)
    assert op in {n.op_type for n in kept.graph.node}
    assert_outputs_close(expected, run_onnxruntime(high, feeds), rtol=rtol, atol=atol)
    return fused
