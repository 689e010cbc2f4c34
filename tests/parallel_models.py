"""Models for the determinism and concurrency tests: big enough that the writer's parallel
fp32->fp16 conversion splits every large weight into many pool chunks (cpp/support/parallel.h;
the .bin writer uses 65,536-element chunks), built in code with a fixed seed."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

# Elements per pool task in cpp/io/openvino/bin_writer.cc (kParallelGrain).
PARALLEL_GRAIN = 1 << 16


def weighty_model(hidden: int = 512, inner: int = 2048, vocab: int = 4096, seed: int = 0) -> onnx.ModelProto:
    """An embedding + MLP + conv model with ~18 MiB of float32 weights (each large weight spans
    4-32 pool chunks). One weight is mostly beyond fp16 range, so it stays f32 after the
    parallel out-of-range count; another mixes in values that fp16 must clamp or flush."""
    rng = np.random.default_rng(seed)

    def w(name, shape, scale=0.05):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    clamped = (rng.standard_normal([hidden, hidden]) * 0.05).astype(np.float32)
    clamped.flat[::7] = 1e5  # beyond fp16 max: clamped to 65504 in f16 weights
    clamped.flat[3::11] = 1e-9  # below fp16 subnormals: flushed to zero
    huge = (rng.standard_normal([hidden, hidden]) * 1e6).astype(np.float32)  # kept as f32
    inits = [
        w("embed", [vocab, hidden]),
        w("w_up", [hidden, inner]),
        numpy_helper.from_array(np.zeros([inner], np.float32) + 0.01, "b_up"),
        w("w_down", [inner, hidden]),
        numpy_helper.from_array(clamped, "w_clamped"),
        numpy_helper.from_array(huge, "w_huge"),
        numpy_helper.from_array(np.float32(1e-6).reshape([]), "tiny_scale"),
        w("conv_w", [64, 8, 3, 3]),
        numpy_helper.from_array(np.array([1, -1, hidden], np.int64), "flat_shape"),
    ]
    nodes = [
        h.make_node("Gather", ["embed", "ids"], ["e"], name="embed_lookup"),
        h.make_node("MatMul", ["e", "w_up"], ["u"], name="up"),
        h.make_node("Add", ["u", "b_up"], ["ub"], name="up_bias"),
        h.make_node("Relu", ["ub"], ["r"], name="act"),
        h.make_node("MatMul", ["r", "w_down"], ["d"], name="down"),
        h.make_node("MatMul", ["d", "w_clamped"], ["c"], name="clamped_proj"),
        h.make_node("MatMul", ["c", "w_huge"], ["hh"], name="huge_proj"),
        h.make_node("Mul", ["hh", "tiny_scale"], ["hidden_out"], name="rescale"),
        h.make_node("Conv", ["img", "conv_w"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
    ]
    graph = h.make_graph(
        nodes,
        "weighty",
        [h.make_tensor_value_info("ids", T.INT64, ["batch", "seq"]), h.make_tensor_value_info("img", T.FLOAT, [1, 8, 16, 16])],
        [
            h.make_tensor_value_info("hidden_out", T.FLOAT, ["batch", "seq", hidden]),
            h.make_tensor_value_info("conv_out", T.FLOAT, [1, 64, 16, 16]),
        ],
        inits,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def largest_weight_elements(model: onnx.ModelProto) -> int:
    return max(int(np.prod(t.dims)) for t in model.graph.initializer)


def digest_outputs(model, folder: str, tag: str) -> dict:
    """Writes `model` (an irforge.Model) as fp16 IR, f32 IR and ONNX into `folder` and returns the
    SHA-256 of every file written, keyed by file kind."""
    import irforge

    out = {}
    irforge.save_model(model, os.path.join(folder, f"{tag}_f16.xml"), compress_to_fp16=True)
    irforge.save_model(model, os.path.join(folder, f"{tag}_f32.xml"), compress_to_fp16=False)
    irforge.save_model(model, os.path.join(folder, f"{tag}.onnx"))
    for kind in ("_f16.xml", "_f16.bin", "_f32.xml", "_f32.bin", ".onnx"):
        out[kind] = file_digest(os.path.join(folder, tag + kind))
    return out


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
