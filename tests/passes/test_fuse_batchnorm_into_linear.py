import numpy as np
from onnx import helper

from _fusion_models import check_pass, f32, model

PIPE = "fuse-batchnorm-into-linear,dce"
N = helper.make_node


def _bn(n, x="a", y="y"):
    inits = [f32("bn.scale", (n,), low=0.5, high=1.5), f32("bn.bias", (n,)), f32("bn.mean", (n,)), f32("bn.var", (n,), low=0.5, high=1.5)]
    return N("BatchNormalization", [x, "bn.scale", "bn.bias", "bn.mean", "bn.var"], [y], epsilon=1e-3), inits


def test_gemm_bn():
    bn, inits = _bn(6)
    nodes = [N("Gemm", ["x", "w", "c"], ["a"], transB=1, beta=0.5), bn]
    m = check_pass(model(nodes, {"x": [3, 8]}, inits + [f32("w", (6, 8)), f32("c", (6,))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Gemm": 1}
    assert [o.name for o in m.outputs] == ["y"]


def test_gemm_without_bias_bn():
    bn, inits = _bn(6)
    m = check_pass(model([N("Gemm", ["x", "w"], ["a"]), bn], {"x": [3, 8]}, inits + [f32("w", (8, 6))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Gemm": 1}


def test_matmul_bn_becomes_matmul_add():
    bn, inits = _bn(6)
    m = check_pass(model([N("MatMul", ["x", "w"], ["a"]), bn], {"x": [3, 8]}, inits + [f32("w", (8, 6))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"MatMul": 1, "Add": 1}


def test_matmul_bias_add_bn():
    bn, inits = _bn(6, x="ab")
    nodes = [N("MatMul", ["x", "w"], ["a"]), N("Add", ["b", "a"], ["ab"]), bn]
    m = check_pass(model(nodes, {"x": [3, 8]}, inits + [f32("w", (8, 6)), f32("b", (6,))]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"MatMul": 1, "Add": 1}


def test_must_not_fire():
    bn, inits = _bn(5)
    # rank-3 MatMul result: BN normalizes axis 1 (the sequence), not the features
    check_pass(model([N("MatMul", ["x", "w"], ["a"]), bn], {"x": [2, 5, 8]}, inits + [f32("w", (8, 5))]), PIPE, fires=False)
    bn, inits = _bn(6)
    # the Gemm output is read elsewhere
    check_pass(model([N("Gemm", ["x", "w"], ["a"]), bn], {"x": [3, 8]}, inits + [f32("w", (8, 6))], outputs=("y", "a")), PIPE, fires=False)
    # a C that varies by row is not a per-feature bias
    check_pass(model([N("Gemm", ["x", "w", "c"], ["a"]), bn], {"x": [3, 8]}, inits + [f32("w", (8, 6)), f32("c", (3, 1))]), PIPE, fires=False)
    # runtime weight
    check_pass(model([N("MatMul", ["x", "w"], ["a"]), bn], {"x": [3, 8], "w": [8, 6]}, inits), PIPE, fires=False)
