import pytest

from fusion_testing import check_fusion, model

HEAD = '<ir_version: 8, opset_import: ["" : 13]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"
C = 'Constant <value = float {{{}}}> ()'

FORMS = {
    # relu6(x + 3) / 6, as torch exports F.hardsigmoid written by hand
    "relu6_div": HEAD + SIG + "{ three = " + C.format(3.0) + " zero = " + C.format(0.0) + " six = " + C.format(6.0) +
                 " a = Add(x, three) c = Clip(a, zero, six) y = Div(c, six) }",
    # clip(0.2 x + 0.5, 0, 1) with Min/Max
    "min_max": HEAD + SIG + "{ k = " + C.format(0.2) + " b = " + C.format(0.5) + " one = " + C.format(1.0) + " zero = " + C.format(0.0) +
               " m = Mul(x, k) a = Add(m, b) lo = Max(a, zero) y = Min(lo, one) }",
    # Min(Relu(x + 3), 6) * (1/6)
    "relu_min_mul": HEAD + SIG + "{ three = " + C.format(3.0) + " six = " + C.format(6.0) + " s = " + C.format(1 / 6) +
                    " a = Add(three, x) r = Relu(a) c = Min(r, six) y = Mul(s, c) }",
    # Clip with attributes (opset < 11), (x + 3) * 1/6 inside
    "clip_attrs": '<ir_version: 5, opset_import: ["" : 10]>\n' + SIG + "{ three = " + C.format(3.0) + " s = " + C.format(1 / 6) +
                  " a = Add(x, three) m = Mul(a, s) y = Clip <min = 0.0, max = 1.0> (m) }",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    fused = check_fusion(model(FORMS[form]), "fuse-hard-sigmoid,dce", fires=True, op="HardSigmoid", since=6)
    assert [o.name for o in fused.outputs] == ["y"]


MUST_NOT = {
    # a plain relu6 is not a hard sigmoid
    "relu6": HEAD + SIG + "{ zero = " + C.format(0.0) + " six = " + C.format(6.0) + " y = Clip(x, zero, six) }",
    "relu6_shifted": HEAD + SIG + "{ three = " + C.format(3.0) + " zero = " + C.format(0.0) + " six = " + C.format(6.0) +
                     " a = Add(x, three) y = Clip(a, zero, six) }",
    "wrong_scale": FORMS["relu6_div"].replace("y = Div(c, six)", "five = " + C.format(5.0) + " y = Div(c, five)"),
    "lower_bound_not_zero": FORMS["min_max"].replace(C.format(0.0), C.format(-1.0)),
    "plain_clip_0_1": HEAD + SIG + "{ zero = " + C.format(0.0) + " one = " + C.format(1.0) + " y = Clip(x, zero, one) }",
    "intermediate_used": FORMS["relu6_div"].replace(SIG, "g (float[2,5,16] x) => (float[2,5,16] y, float[2,5,16] a)"),
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    check_fusion(model(MUST_NOT[case]), "fuse-hard-sigmoid,dce", fires=False, op="HardSigmoid", since=6)
