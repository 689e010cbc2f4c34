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


def test_default_pipeline_pre_transposes_an_unshared_weight_and_never_copies_a_shared_one():
    # rank-3 activations: no Gemm possible; folding stores the weight pre-transposed instead
    nodes = [N("Transpose", ["w"], ["wt"], perm=[1, 0]), N("MatMul", ["x", "wt"], ["y"])]
    m = check_pass(model(nodes, {"x": [2, 3, 8]}, [f32("w", (200, 8))]), "default", fires=True)
    assert m.op_histogram == {"MatMul": 1}
    inits = onnx.load_from_string(m.to_onnx_bytes()).graph.initializer
    assert [list(i.dims) for i in inits] == [[8, 200]]
    # the same weight also gathered: one copy of the 6.4 KB table stays, the Transpose with it
    nodes += [N("Cast", ["i"], ["ids"], to=onnx.TensorProto.INT64), N("Gather", ["w", "ids"], ["e"])]  # run-time ids
    m = check_pass(model(nodes, {"x": [2, 3, 8], "i": [4]}, [f32("w", (200, 8))], outputs=("y", "e")), "default", fires=False)
    assert m.op_histogram == {"Transpose": 1, "MatMul": 1, "Gather": 1, "Cast": 1}
    assert [list(i.dims) for i in onnx.load_from_string(m.to_onnx_bytes()).graph.initializer if i.data_type == onnx.TensorProto.FLOAT] == [[200, 8]]
