import re

import numpy as np
import pytest

from fusion_testing import check_fusion, model, to_float16

HEAD = '<ir_version: 8, opset_import: ["" : 14]>\n'
HEAD18 = '<ir_version: 8, opset_import: ["" : 18]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"
RNG = np.random.default_rng(0)
GAMMA = RNG.uniform(0.5, 1.5, 16).astype(np.float32)
BETA = RNG.standard_normal(16).astype(np.float32)
EPS = "eps = Constant <value = float {1e-5}> ()"
# torch.onnx below opset 17: ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta
TORCH = ("{ m = ReduceMean <axes = [-1]> (x) d = Sub(x, m) two = Constant <value = float {2.0}> () p = Pow(d, two)"
         " v = ReduceMean <axes = [-1]> (p) " + EPS + " a = Add(v, eps) s = Sqrt(a) n = Div(d, s) gn = Mul(n, gamma) y = Add(gn, beta) }")

FORMS = {
    "torch": HEAD + SIG + TORCH,
    # HF "TF-style" LayerNorm: x - u computed twice, weight * x + bias
    "tf_style": HEAD + SIG + "{ u = ReduceMean <axes = [-1]> (x) d1 = Sub(x, u) two = Constant <value = float {2.0}> () p = Pow(d1, two)"
                " v = ReduceMean <axes = [-1]> (p) " + EPS + " a = Add(v, eps) s = Sqrt(a) d2 = Sub(x, u) n = Div(d2, s) gn = Mul(gamma, n) y = Add(beta, gn) }",
    # axes as inputs (opset 18), d*d, Reciprocal, positive axis, no beta
    "opset18_reciprocal": HEAD18 + SIG + "{ ax = Constant <value = int64[1] {2}> () m = ReduceMean(x, ax) d = Sub(x, m) p = Mul(d, d)"
                          " v = ReduceMean(p, ax) " + EPS + " a = Add(eps, v) s = Sqrt(a) r = Reciprocal(s) n = Mul(d, r) y = Mul(n, gamma) }",
    # nn.LayerNorm(elementwise_affine=False)
    "no_affine": HEAD + SIG + "{ m = ReduceMean <axes = [-1]> (x) d = Sub(x, m) p = Mul(d, d) v = ReduceMean <axes = [-1]> (p) " + EPS +
                 " a = Add(v, eps) s = Sqrt(a) y = Div(d, s) }",
}


def _model(text, gamma=GAMMA, beta=BETA):
    inits = {}
    if re.search(r"[(, ]gamma[,)]", text):
        inits["gamma"] = gamma
    if re.search(r"[(, ]beta[,)]", text):
        inits["beta"] = beta
    return model(text, **inits)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    check_fusion(_model(FORMS[form]), "fuse-layer-norm,dce", fires=True, op="LayerNormalization", since=17, rtol=1e-5, atol=1e-5)


def test_fuses_two_trailing_axes():
    text = HEAD + "g (float[2,3,8] x) => (float[2,3,8] y)" + TORCH.replace("axes = [-1]", "axes = [-2, -1]")
    fused = check_fusion(_model(text, RNG.uniform(0.5, 1.5, (3, 8)).astype(np.float32), RNG.standard_normal((3, 8)).astype(np.float32)),
                         "fuse-layer-norm,dce", fires=True, op="LayerNormalization", since=17, rtol=1e-5, atol=1e-5)
    assert "-2" in fused.dump()


def test_broadcasting_gamma_and_beta_stay_outside():
    fused = check_fusion(_model(FORMS["torch"], GAMMA.reshape(1, 1, 16), BETA.reshape(1, 1, 16)), "fuse-layer-norm,dce", fires=True,
                         op="LayerNormalization", since=17, leftover=("Mul", "Add"), rtol=1e-5, atol=1e-5)
    assert fused.op_histogram["Mul"] == 1 and fused.op_histogram["Add"] == 1


MUST_NOT = {
    "different_axes": HEAD + "g (float[2,5,16] x) => (float[2,5,16] y)" + TORCH.replace("v = ReduceMean <axes = [-1]>", "v = ReduceMean <axes = [-2, -1]>"),
    "leading_axis": HEAD + SIG + TORCH.replace("axes = [-1]", "axes = [1]"),
    "keepdims_0": HEAD + "g (float[16] x) => (float[16] y) { m = ReduceMean <axes = [0], keepdims = 0> (x) d = Sub(x, m) p = Mul(d, d)"
                  " v = ReduceMean <axes = [0]> (p) " + EPS + " a = Add(v, eps) s = Sqrt(a) y = Div(d, s) }",
    "centered_used_elsewhere": HEAD + "g (float[2,5,16] x) => (float[2,5,16] y, float[2,5,16] d)" + TORCH,
    "not_centered_on_x": HEAD + "g (float[2,5,16] x, float[2,5,16] z) => (float[2,5,16] y)" + TORCH.replace("m = ReduceMean <axes = [-1]> (x)",
                                                                                                           "m = ReduceMean <axes = [-1]> (z)"),
    "cube": HEAD + SIG + TORCH.replace("{2.0}", "{3.0}"),
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    check_fusion(_model(MUST_NOT[case]), "fuse-layer-norm,dce", fires=False, op="LayerNormalization", since=17, rtol=1e-5, atol=1e-5)


def test_must_not_fire_on_float16():
    # LayerNormalization computes in float32; a float16 pattern would change the numerics.
    check_fusion(to_float16(_model(FORMS["no_affine"])), "fuse-layer-norm,dce", fires=False, op="LayerNormalization", since=17,
                 rtol=1e-2, atol=1e-2)
