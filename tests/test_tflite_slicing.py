"""MIRROR_PAD (REFLECT and SYMMETRIC) from TFLiteConverter, and STRIDED_SLICE with the masks the
converter folds away (ellipsis_mask, new_axis_mask, offset): a converted STRIDED_SLICE is given
those options and constants through the schema's object API, and irforge (OpenVINO and
onnxruntime) must equal the TFLite interpreter exactly (slicing and padding copy elements)."""

from __future__ import annotations

import numpy as np
import pytest

import irforge

pytestmark = pytest.mark.slow  # imports TensorFlow (~10 s)

SHAPE = (2, 3, 4, 5)


@pytest.fixture(scope="module")
def converted():
    import tensorflow as tf

    spec = tf.TensorSpec(SHAPE)

    def conv(fn):
        return tf.lite.TFLiteConverter.from_concrete_functions([tf.function(fn).get_concrete_function(spec)]).convert()

    return {
        "symmetric": conv(lambda x: tf.pad(x, [[0, 0], [1, 3], [2, 1], [0, 5]], mode="SYMMETRIC")),
        "reflect": conv(lambda x: tf.pad(x, [[1, 1], [0, 2], [3, 0], [0, 4]], mode="REFLECT")),
        "slice": conv(lambda x: x[..., 1:4:2]),
    }


def _run(tmp_path, data, x):
    import onnxruntime as ort
    import openvino as ov
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    model = irforge.convert_model(str(path))
    irforge.save_model(model, tmp_path / "m.xml", compress_to_fp16=False)
    irforge.save_model(model, tmp_path / "m.onnx")
    got_ov = ov.Core().compile_model(str(tmp_path / "m.xml"), "CPU")([x])[0]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got_ort = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_array_equal(got_ov, want)
    np.testing.assert_array_equal(got_ort, want)
    return want


X = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


@pytest.mark.parametrize("mode", ["symmetric", "reflect"])
def test_mirror_pad(converted, tmp_path, mode):
    want = _run(tmp_path, converted[mode], X)
    pads = [[0, 0], [1, 3], [2, 1], [0, 5]] if mode == "symmetric" else [[1, 1], [0, 2], [3, 0], [0, 4]]
    np.testing.assert_array_equal(want, np.pad(X, pads, mode=mode))  # the interpreter agrees with numpy


def _strided(data, starts, stops, steps, **masks):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    g = m.subgraphs[0]
    (op,) = [o for o in g.operators if isinstance(o.builtinOptions, s.StridedSliceOptionsT)]
    for i, v in zip(op.inputs[1:4], (starts, stops, steps)):
        t = g.tensors[i]
        t.shape = np.array([len(v)], np.int32)
        t.shapeSignature = None
        m.buffers[t.buffer].data = np.frombuffer(np.array(v, np.int32).tobytes(), np.uint8)
    o = op.builtinOptions
    o.beginMask, o.endMask = masks.get("begin", 0), masks.get("end", 0)
    o.ellipsisMask, o.newAxisMask = masks.get("ellipsis", 0), masks.get("new_axis", 0)
    o.shrinkAxisMask, o.offset = masks.get("shrink", 0), masks.get("offset", False)
    out = g.tensors[op.outputs[0]]
    out.shape, out.shapeSignature = None, None  # the interpreter infers it
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize(
    "args, expected",
    [
        # x[..., 1:4:2]
        (([0, 1], [0, 4], [1, 2], dict(ellipsis=1)), lambda x: x[..., 1:4:2]),
        # x[1, ..., ::-1]: shrink before the ellipsis, reversal after it
        (([1, 0, 0], [2, 0, 0], [1, 1, -1], dict(ellipsis=2, shrink=1, begin=4, end=4)), lambda x: x[1, ..., ::-1]),
        # x[:, newaxis, 1:, ..., 2]
        (([0, 0, 1, 0, 2], [0, 0, 0, 0, 3], [1, 1, 1, 1, 1], dict(begin=1, end=5, new_axis=2, ellipsis=8, shrink=16)), lambda x: x[:, None, 1:, ..., 2]),
        # x[newaxis, 0, 1:3] (implied ellipsis at the end)
        (([0, 0, 1], [0, 1, 3], [1, 1, 1], dict(new_axis=1, shrink=2)), lambda x: x[None, 0, 1:3]),
        # offset: end is a size from begin: x[:, 1:1+2, 0:0+3, 1:1+4]
        (([0, 1, 0, 1], [2, 2, 3, 4], [1, 1, 1, 1], dict(offset=True)), lambda x: x[:, 1:3, 0:3, 1:5]),
    ],
    ids=["ellipsis", "shrink-ellipsis-reverse", "newaxis-ellipsis-shrink", "newaxis-implied-ellipsis", "offset"],
)
def test_strided_slice_masks(converted, tmp_path, args, expected):
    want = _run(tmp_path, _strided(converted["slice"], *args[:3], **args[3]), X)
    np.testing.assert_array_equal(want, expected(X))  # the interpreter agrees with numpy


def test_symmetric_pad_wider_than_the_axis_is_invalid(converted, tmp_path):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(converted["symmetric"], 0))
    g = m.subgraphs[0]
    (op,) = [o for o in g.operators if isinstance(o.builtinOptions, s.MirrorPadOptionsT)]
    pads = np.array([[0, 0], [4, 0], [0, 0], [0, 0]], np.int32)  # axis 1 has 3 elements
    m.buffers[g.tensors[op.inputs[1]].buffer].data = np.frombuffer(pads.tobytes(), np.uint8)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "wide.tflite"
    path.write_bytes(bytes(b.Output()))
    with pytest.raises(irforge.InvalidModelError, match=r"wide\.tflite: operator MIRROR_PAD#\d+: SYMMETRIC padding of 4 on axis 1 exceeds its size 3"):
        irforge.convert_model(str(path))
