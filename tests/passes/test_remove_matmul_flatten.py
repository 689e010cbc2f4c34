"""remove-matmul-flatten: Reshape → Gemm/MatMul → Reshape around flattened leading dims → one MatMul."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass

PASS = "infer-shapes,simplify-shapes,fold,remove-matmul-flatten,fold,dce"
RNG = np.random.default_rng(0)


def _model(linear, x_shape=("batch", "seq", 8), k=8, n=6, target=None, flat=(-1, 8), inits=(), extra_nodes=()):
    # x → Relu → Reshape(flat) → linear → Reshape(target, default: x's leading dims rebuilt from its Shape) → Neg
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Reshape", ["h", "flat"], ["f"]), linear]
    base = [numpy_helper.from_array(np.array(flat, np.int64), "flat"), *inits]
    if target is None:
        nodes += [helper.make_node("Shape", ["h"], ["hs"], end=-1), helper.make_node("Concat", ["hs", "n"], ["t"], axis=0)]
        base.append(numpy_helper.from_array(np.array([n], np.int64), "n"))
    else:
        base.append(numpy_helper.from_array(np.array(target, np.int64), "t"))
    nodes += [helper.make_node("Reshape", ["l", "t"], ["u"]), *extra_nodes, helper.make_node("Neg", ["u"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], base)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _feeds(shape=(2, 5, 8)):
    return {"x": RNG.standard_normal(shape).astype(np.float32)}


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_with_bias(trans_b):
    w = _w(6, 8) if trans_b else _w(8, 6)
    m = _model(helper.make_node("Gemm", ["f", "w", "c"], ["l"], transB=trans_b),
               inits=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(_w(6), "c")])
    for shape in ((2, 5, 8), (1, 3, 8)):
        model = check_pass(m, PASS, fires=True, feeds=_feeds(shape))
    assert model.op_histogram == {"Relu": 1, "MatMul": 1, "Add": 1, "Neg": 1}


def test_matmul_and_row_bias_shapes():
    m = _model(helper.make_node("MatMul", ["f", "w"], ["l"]), inits=[numpy_helper.from_array(_w(8, 6), "w")])
    assert check_pass(m, PASS, fires=True, feeds=_feeds()).op_histogram == {"Relu": 1, "MatMul": 1, "Neg": 1}
    # Static leading dims, a [1, N] bias, a constant target shape.
    m = _model(helper.make_node("Gemm", ["f", "w", "c"], ["l"]), x_shape=(2, 3, 4, 8), target=(2, 3, 4, 6),
               inits=[numpy_helper.from_array(_w(8, 6), "w"), numpy_helper.from_array(_w(1, 6), "c")])
    assert check_pass(m, PASS, fires=True, feeds=_feeds((2, 3, 4, 8))).op_histogram == {"Relu": 1, "MatMul": 1, "Add": 1, "Neg": 1}


def test_must_not_fire():
    w = numpy_helper.from_array(_w(8, 6), "w")
    gemm = helper.make_node("Gemm", ["f", "w"], ["l"])
    cases = [
        # Unflattened to other leading dims (seq and batch swapped by a constant target).
        _model(gemm, x_shape=(2, 3, 8), target=(3, 2, 6), inits=[w]),
        # The first Reshape does not keep the last dim (it flattens [.., 4, 8] into [.., 16]... rows of 16).
        _model(helper.make_node("Gemm", ["f", "w16"], ["l"]), x_shape=(2, 4, 8), flat=(-1, 16), target=(2, 2, 6),
               inits=[numpy_helper.from_array(_w(16, 6), "w16")]),
        # alpha != 1; a per-row bias [M, 1] (M is the flattened dim).
        _model(helper.make_node("Gemm", ["f", "w"], ["l"], alpha=2.0), x_shape=(2, 3, 8), target=(2, 3, 6), inits=[w]),
        _model(helper.make_node("Gemm", ["f", "w", "c"], ["l"]), x_shape=(2, 3, 8), target=(2, 3, 6),
               inits=[w, numpy_helper.from_array(_w(6, 1), "c")]),
    ]
    for m in cases:
        shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        check_pass(m, "remove-matmul-flatten", fires=False, feeds=_feeds(tuple(shape)))
    # The flattened product is read elsewhere too.
    m = _model(gemm, inits=[w], extra_nodes=[helper.make_node("ReduceSum", ["l"], ["side"])])
    m.graph.output.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, None))
    check_pass(m, PASS.replace("remove-matmul-flatten,", ""), fires=True, feeds=_feeds())  # other passes may fire
    model = irforge.convert_model(m, transform=PASS, verify=True)
    assert [r for r in model.pass_log if r["name"] == "remove-matmul-flatten"][0]["changed"] is False


def test_gpt2_style_conv1d_export():
    # GPT-2's Conv1D: addmm on x.view(-1, K), then view(x.size()[:-1] + (N,)), exported by TorchScript.
    class Conv1D(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(8, 6))
            self.bias = torch.nn.Parameter(torch.randn(6))

        def forward(self, x):
            size_out = x.size()[:-1] + (6,)
            return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out).relu()

    torch.manual_seed(0)
    import io

    buf = io.BytesIO()
    torch.onnx.export(Conv1D(), (torch.randn(2, 5, 8),), buf, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "s"}},
                      opset_version=17, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    for shape in ((2, 5, 8), (3, 7, 8)):
        model = check_pass(proto, "default", fires=True, feeds=_feeds(shape))
    assert model.op_histogram == {"MatMul": 1, "Add": 1, "Relu": 1}, model.op_histogram
