import re

import numpy as np
import onnx
import pytest

from fusion_testing import check_fusion, model

HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
HEAD18 = '<ir_version: 8, opset_import: ["" : 18]>\n'
W = np.random.default_rng(0).uniform(0.5, 1.5, 16).astype(np.float32)
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"
EPS = "eps = Constant <value = float {1e-6}> ()"

FORMS = {
    # torch.onnx TorchScript of a Llama RMSNorm: Pow, ReduceMean, Add, Sqrt, Div(1, .), Mul, Mul(w, .)
    "torchscript": HEAD + SIG + "{ two = Constant <value = float {2.0}> () p = Pow(x, two) m = ReduceMean <axes = [-1]> (p) " + EPS +
                   " a = Add(m, eps) s = Sqrt(a) one = Constant <value = float {1.0}> () r = Div(one, s) n = Mul(x, r) y = Mul(w, n) }",
    # dynamo: axes as an input, Reciprocal
    "dynamo": HEAD18 + SIG + "{ two = Constant <value = float {2.0}> () p = Pow(x, two) ax = Constant <value = int64[1] {-1}> ()"
              " m = ReduceMean <keepdims = 1> (p, ax) " + EPS + " a = Add(m, eps) s = Sqrt(a) r = Reciprocal(s) n = Mul(x, r) y = Mul(w, n) }",
    "div_and_square_by_mul": HEAD + SIG + "{ p = Mul(x, x) m = ReduceMean <axes = [2]> (p) " + EPS +
                             " a = Add(eps, m) s = Sqrt(a) n = Div(x, s) y = Mul(n, w) }",
    "pow_minus_half": HEAD + SIG + "{ p = Mul(x, x) m = ReduceMean <axes = [-1]> (p) " + EPS +
                      " a = Add(m, eps) h = Constant <value = float {-0.5}> () r = Pow(a, h) n = Mul(r, x) y = Mul(n, w) }",
    "no_eps_no_weight": HEAD + SIG + "{ p = Mul(x, x) m = ReduceMean <axes = [-1]> (p) s = Sqrt(m) y = Div(x, s) }",
}


def _model(text, w=W):
    return model(text, w=w) if re.search(r"[(, ]w[,)]", text) else model(text)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    check_fusion(_model(FORMS[form]), "fuse-rms-norm,dce",
                 fires=True, op="RMSNormalization", since=23)


def test_fuses_two_trailing_axes():
    text = HEAD + "g (float[2,3,8] x) => (float[2,3,8] y) { p = Mul(x, x) m = ReduceMean <axes = [-1, 1]> (p) " + EPS + \
        " a = Add(m, eps) s = Sqrt(a) n = Div(x, s) y = Mul(n, w) }"
    fused = check_fusion(_model(text, np.random.default_rng(2).uniform(0.5, 1.5, (3, 8)).astype(np.float32)), "fuse-rms-norm,dce", fires=True, op="RMSNormalization", since=23)
    assert "axis: int = -2" in fused.dump() or "-2" in fused.dump()


def test_fuses_llama_float16_with_float32_casts():
    # HF Llama: h = x.to(float32); h * rsqrt(mean(h^2) + eps); weight * h.to(float16)
    text = ('<ir_version: 8, opset_import: ["" : 17]>\ng (float16[2,5,16] x) => (float16[2,5,16] y)'
            "{ h = Cast <to = 1> (x) two = Constant <value = float {2.0}> () p = Pow(h, two) m = ReduceMean <axes = [-1]> (p) " + EPS +
            " a = Add(m, eps) s = Sqrt(a) r = Reciprocal(s) n = Mul(h, r) c = Cast <to = 10> (n) y = Mul(w, c) }")
    proto = _model(text, W.astype(np.float16))
    x = np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float16)
    fused = check_fusion(proto, "fuse-rms-norm,dce", fires=True, op="RMSNormalization", since=23, rtol=2e-3, atol=2e-3, feeds={"x": x})
    assert fused.outputs[0].dtype == "float16"


def test_weight_with_leading_ones_stays_a_mul():
    text = FORMS["div_and_square_by_mul"]
    fused = check_fusion(_model(text, W.reshape(1, 1, 16)), "fuse-rms-norm,dce", fires=True, op="RMSNormalization", since=23,
                         leftover=("Mul",))
    assert fused.op_histogram["Mul"] == 1


MUST_NOT = {
    "leading_axis": FORMS["div_and_square_by_mul"].replace("axes = [2]", "axes = [1]"),
    "keepdims_0": HEAD + "g (float[2,16] x) => (float[2,16] y) { p = Mul(x, x) m = ReduceMean <axes = [0], keepdims = 0> (p) " + EPS +
                  " a = Add(m, eps) s = Sqrt(a) y = Div(x, s) }",
    "other_numerator": HEAD + "g (float[2,16] x, float[2,16] z) => (float[2,16] y) { p = Mul(x, x) m = ReduceMean <axes = [-1]> (p) " + EPS +
                       " a = Add(m, eps) s = Sqrt(a) y = Div(z, s) }",
    "mean_used_twice": HEAD + "g (float[2,16] x) => (float[2,16] y, float[2,1] m) { p = Mul(x, x) m = ReduceMean <axes = [-1]> (p) " + EPS +
                       " a = Add(m, eps) s = Sqrt(a) y = Div(x, s) }",
    "cube": HEAD + "g (float[2,16] x) => (float[2,16] y) { three = Constant <value = float {3.0}> () p = Pow(x, three) m = ReduceMean <axes = [-1]> (p) " +
            EPS + " a = Add(m, eps) s = Sqrt(a) y = Div(x, s) }",
    "float16_without_casts": None,
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    if case == "float16_without_casts":
        from fusion_testing import to_float16

        proto = to_float16(model(FORMS["no_eps_no_weight"]))
        check_fusion(proto, "fuse-rms-norm,dce", fires=False, op="RMSNormalization", since=23, rtol=1e-2, atol=1e-2)
        return
    check_fusion(_model(MUST_NOT[case]), "fuse-rms-norm,dce", fires=False, op="RMSNormalization", since=23)


def test_fuses_float32_with_no_op_casts():
    # The Llama code on a float32 model: both casts are float32 -> float32.
    text = (HEAD + SIG + "{ h = Cast <to = 1> (x) p = Mul(h, h) m = ReduceMean <axes = [-1]> (p) " + EPS +
            " a = Add(m, eps) s = Sqrt(a) r = Reciprocal(s) n = Mul(h, r) c = Cast <to = 1> (n) y = Mul(w, c) }")
    check_fusion(_model(text), "fuse-rms-norm,dce", fires=True, op="RMSNormalization", since=23)


def test_must_not_fire_when_the_cast_back_goes_elsewhere():
    text = ('<ir_version: 8, opset_import: ["" : 17]>\ng (float16[2,5,16] x) => (double[2,5,16] y)'
            "{ h = Cast <to = 1> (x) p = Mul(h, h) m = ReduceMean <axes = [-1]> (p) " + EPS +
            " a = Add(m, eps) s = Sqrt(a) n = Div(h, s) y = Cast <to = 11> (n) }")
    x = np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float16)
    check_fusion(_model(text), "fuse-rms-norm,dce", fires=False, op="RMSNormalization", since=23, feeds={"x": x})
