import onnx
import numpy as np
from onnx import helper

from _fusion_models import check_pass, f32, model

PIPE = "fuse-transpose-into-gemm,dce"
N = helper.make_node


def test_gemm_flags_flip():
    nodes = [N("Transpose", ["x"], ["xt"], perm=[1, 0]), N("Transpose", ["w"], ["wt"]), N("Gemm", ["xt", "wt", "c"], ["y"], transB=1, alpha=0.5)]
    m = check_pass(model(nodes, {"x": [8, 3]}, [f32("w", (8, 5)), f32("c", (5,))]), PIPE, fires=True)
    assert m.op_histogram == {"Gemm": 1}


def test_matmul_with_transposed_shared_weight_becomes_gemm():
    # tied embedding: the table is gathered and also read transposed by the output projection
    from onnx import TensorProto, numpy_helper
    nodes = [N("Gather", ["w", "ids"], ["e"]), N("Transpose", ["w"], ["wt"], perm=[1, 0]), N("MatMul", ["x", "wt"], ["y"])]
    ids = numpy_helper.from_array(np.array([1, 3], np.int64), "ids")
    m = check_pass(model(nodes, {"x": [2, 8]}, [f32("w", (200, 8)), ids], outputs=("y", "e")), PIPE, fires=True)
    assert m.op_histogram == {"Gather": 1, "Gemm": 1}
    assert len([i for i in onnx.load_from_string(m.to_onnx_bytes()).graph.initializer if i.name.startswith("w")]) == 1


def test_must_not_fire():
    # batched MatMul: Gemm has no batch dims
    nodes = [N("Transpose", ["w"], ["wt"], perm=[1, 0]), N("MatMul", ["x", "wt"], ["y"])]
    check_pass(model(nodes, {"x": [2, 3, 8], "w": [5, 8]}, []), PIPE, fires=False)
    # a 3-D Transpose
    nodes = [N("Transpose", ["x"], ["xt"], perm=[0, 2, 1]), N("MatMul", ["xt", "w"], ["y"])]
    check_pass(model(nodes, {"x": [2, 8, 3]}, [f32("w", (8, 4))]), PIPE, fires=False)
