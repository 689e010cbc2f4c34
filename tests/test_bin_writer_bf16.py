"""A bf16 weight read through a Cast to f32 is stored as f16 in an fp16 IR (issue 17): the .bin
writer widens bf16 to f32 and converts with the f32 weights' converter, chunk by chunk on the
pool. Its f16 values must be exactly numpy's bf16 -> f32 -> (clamped) f16, at chunk and vector
tails and for special values too."""
from __future__ import annotations

import numpy as np
import openvino as ov
from onnx import TensorProto as T
from onnx import helper as h

import irforge

# More than one 2^19-element conversion chunk, and not a multiple of the pool grain or of 8.
N = (1 << 19) + 3 * (1 << 16) + 5


def _bf16_bits(n: int) -> np.ndarray:
    x = np.random.default_rng(17).standard_normal(n).astype(np.float32) * 0.05
    special = np.array([0.0, -0.0, 1e5, -1e5, np.inf, -np.inf, np.nan, 1e-9, -1e-9, 3e-6, 65504.0, 65520.0, 70000.0, 6e-8, 1.0],
                       np.float32)
    x[:len(special)] = special
    x[-len(special):] = special  # in the scalar tail of the last chunk
    x[(1 << 19) - 7:(1 << 19) - 7 + len(special)] = special  # across the first chunk boundary
    return (x.view(np.uint32) >> 16).astype(np.uint16)


def _expected_f16(bits: np.ndarray) -> np.ndarray:
    f = (bits.astype(np.uint32) << 16).view(np.float32)
    finite = np.isfinite(f)
    f = np.where(finite, np.clip(f, -65504.0, 65504.0), f)  # OpenVINO's fp16 compression clamps
    return f.astype(np.float16)


def test_bf16_weight_becomes_the_exact_f16_values(tmp_path):
    bits = _bf16_bits(N)
    w = h.make_tensor("w", T.BFLOAT16, [N], bits.tobytes(), raw=True)
    graph = h.make_graph([h.make_node("Cast", ["w"], ["wf"], to=T.FLOAT), h.make_node("Add", ["x", "wf"], ["y"])], "g",
                         [h.make_tensor_value_info("x", T.FLOAT, [N])], [h.make_tensor_value_info("y", T.FLOAT, [N])], [w])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    xml = str(tmp_path / "m.xml")
    irforge.save_model(irforge.convert_model(model.SerializeToString()), xml, compress_to_fp16=True)
    consts = [op for op in ov.Core().read_model(xml).get_ops() if op.get_type_name() == "Constant" and list(op.get_output_shape(0)) == [N]]
    assert len(consts) == 1 and str(consts[0].get_element_type()) == "<Type: 'float16'>"
    got = np.array(consts[0].get_data()).view(np.uint16)
    want = _expected_f16(bits)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got.view(np.float16)), nan)
    assert np.array_equal(got[~nan], want.view(np.uint16)[~nan])
