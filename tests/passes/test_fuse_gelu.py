import numpy as np
import pytest

from fusion_testing import check_fusion, model, to_float16

HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"

ERF_FORMS = {
    # torch.onnx (TorchScript): Div by sqrt2, Erf, Add 1, Mul x, Mul 0.5
    "torch": "{ s = Constant <value = float {1.4142135}> () a = Div(x, s) e = Erf(a) one = Constant <value = float {1.0}> ()"
             " b = Add(e, one) m = Mul(x, b) h = Constant <value = float {0.5}> () y = Mul(m, h) }",
    # 0.5 first, 1/sqrt2 as a Mul, constants on the left
    "half_first": "{ h = Constant <value = float {0.5}> () r = Constant <value = float {0.70710678}> () hx = Mul(h, x) a = Mul(r, x)"
                  " e = Erf(a) one = Constant <value = float {1.0}> () b = Add(one, e) y = Mul(hx, b) }",
    # divided by 2 at the end, scalar constants of rank 1
    "div_two": "{ s = Constant <value = float[1] {1.4142135}> () a = Div(x, s) e = Erf(a) one = Constant <value = float[1] {1.0}> ()"
               " b = Add(e, one) m = Mul(b, x) two = Constant <value = float {2.0}> () y = Div(m, two) }",
}

TANH_FORMS = {
    # torch.onnx GPT-2 "new GELU": x*x*x, 0.044715, sqrt(2/pi), Tanh, 1+, x*, 0.5*
    "torch": "{ x2 = Mul(x, x) x3 = Mul(x, x2) c = Constant <value = float {0.044715}> () t = Mul(c, x3) i = Add(x, t)"
             " k = Constant <value = float {0.7978845608}> () a = Mul(k, i) th = Tanh(a) one = Constant <value = float {1.0}> ()"
             " b = Add(one, th) m = Mul(x, b) h = Constant <value = float {0.5}> () y = Mul(h, m) }",
    # Pow(x, 3)
    "pow": "{ p = Constant <value = float {3.0}> () x3 = Pow(x, p) c = Constant <value = float {0.044715}> () t = Mul(x3, c) i = Add(t, x)"
           " k = Constant <value = float {0.7978845608}> () a = Mul(i, k) th = Tanh(a) one = Constant <value = float {1.0}> ()"
           " b = Add(th, one) h = Constant <value = float {0.5}> () hx = Mul(x, h) y = Mul(hx, b) }",
    # x * (1 + 0.044715 x^2)
    "factored": "{ x2 = Mul(x, x) c = Constant <value = float {0.044715}> () t = Mul(x2, c) one = Constant <value = float {1.0}> ()"
                " u = Add(t, one) i = Mul(x, u) k = Constant <value = float {0.7978845608}> () a = Mul(i, k) th = Tanh(a)"
                " b = Add(th, one) m = Mul(b, x) h = Constant <value = float {0.5}> () y = Mul(m, h) }",
}


@pytest.mark.parametrize("form", sorted(ERF_FORMS))
def test_fuses_erf_forms(form):
    fused = check_fusion(model(HEAD + SIG + ERF_FORMS[form]), "fuse-gelu,dce", fires=True, op="Gelu", since=20)
    assert "tanh" not in fused.dump()


@pytest.mark.parametrize("form", sorted(TANH_FORMS))
def test_fuses_tanh_forms(form):
    fused = check_fusion(model(HEAD + SIG + TANH_FORMS[form]), "fuse-gelu,dce", fires=True, op="Gelu", since=20, rtol=1e-5, atol=1e-6)
    assert "tanh" in fused.dump()


def test_fuses_inside_an_mlp_with_float16():
    text = ('<ir_version: 8, opset_import: ["" : 17]>\ng (float[4,8] x, float[8,8] w) => (float[4,8] y)'
            "{ z = MatMul(x, w) s = Constant <value = float {1.4142135}> () a = Div(z, s) e = Erf(a) one = Constant <value = float {1.0}> ()"
            " b = Add(e, one) m = Mul(z, b) h = Constant <value = float {0.5}> () g = Mul(m, h) y = MatMul(g, w) }")
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((4, 8)).astype(np.float16), "w": (rng.standard_normal((8, 8)) / 3).astype(np.float16)}
    check_fusion(to_float16(model(text)), "infer-shapes,fuse-gelu,dce", fires=True, op="Gelu", since=20, leftover=("MatMul",), rtol=2e-2, atol=2e-2, feeds=feeds)


MUST_NOT = {
    "wrong_half": ERF_FORMS["torch"].replace("{0.5}", "{0.6}"),
    "wrong_sqrt2": ERF_FORMS["torch"].replace("{1.4142135}", "{1.5}"),
    "wrong_cubic_coefficient": TANH_FORMS["torch"].replace("{0.044715}", "{0.05}"),
    "other_x_in_erf": ERF_FORMS["torch"].replace("a = Div(x, s)", "nx = Neg(x) a = Div(nx, s)"),
    "add_two": ERF_FORMS["torch"].replace("one = Constant <value = float {1.0}>", "one = Constant <value = float {2.0}>"),
    "x_squared_only": TANH_FORMS["torch"].replace("x3 = Mul(x, x2)", "x3 = Identity(x2)"),
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire_on_other_math(case):
    check_fusion(model(HEAD + SIG + MUST_NOT[case]), "fuse-gelu,dce", fires=False, op="Gelu", since=20)


def test_must_not_fire_when_an_intermediate_is_used_elsewhere():
    text = HEAD + "g (float[2,5,16] x) => (float[2,5,16] y, float[2,5,16] e)" + ERF_FORMS["torch"]
    check_fusion(model(text), "fuse-gelu,dce", fires=False, op="Gelu", since=20)


def test_must_not_fire_when_a_constant_broadcasts_x():
    text = HEAD + "g (float[16] x) => (float[1,16] y)" + ERF_FORMS["torch"].replace("float {0.5}", "float[1,1] {0.5}")
    # Not on OpenVINO: its own GELU fusion ignores the broadcast and returns shape (16,).
    check_fusion(model(text), "fuse-gelu,dce", fires=False, op="Gelu", since=20, openvino=False)


def test_graph_output_name_is_kept_and_opset_20_keeps_gelu():
    fused = check_fusion(model(HEAD.replace("17", "20") + SIG + ERF_FORMS["torch"]), "fuse-gelu,dce", fires=True, op="Gelu", since=20)
    assert [o.name for o in fused.outputs] == ["y"]
    import onnx

    assert "Gelu" in {n.op_type for n in onnx.load_from_string(fused.to_onnx_bytes()).graph.node}
