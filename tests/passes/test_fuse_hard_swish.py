import pytest

from fusion_testing import check_fusion, model

HEAD = '<ir_version: 8, opset_import: ["" : 13]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"
C = 'Constant <value = float {{{}}}> ()'
RELU6 = "three = " + C.format(3.0) + " zero = " + C.format(0.0) + " six = " + C.format(6.0) + " a = Add(x, three) c = Clip(a, zero, six) "

FORMS = {
    # x * relu6(x + 3) / 6 (MobileNetV3 written by hand), the scale last
    "mul_then_div": HEAD + SIG + "{ " + RELU6 + "m = Mul(x, c) y = Div(m, six) }",
    # x * (relu6(x + 3) / 6)
    "div_then_mul": HEAD + SIG + "{ " + RELU6 + "h = Div(c, six) y = Mul(h, x) }",
    # torch below opset 14: x * HardSigmoid(x; 1/6, 0.5)
    "hardsigmoid": HEAD + SIG + "{ h = HardSigmoid <alpha = 0.16666667, beta = 0.5> (x) y = Mul(x, h) }",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    check_fusion(model(FORMS[form]), "fuse-hard-swish,dce", fires=True, op="HardSwish", since=14)


def test_after_fuse_hard_sigmoid():
    check_fusion(model(FORMS["div_then_mul"]), "fuse-hard-sigmoid,fuse-hard-swish,dce", fires=True, op="HardSwish", since=14)


MUST_NOT = {
    "default_hardsigmoid": HEAD + SIG + "{ h = HardSigmoid(x) y = Mul(x, h) }",  # alpha 0.2: not hard swish
    "extra_scale": HEAD + SIG + "{ h = HardSigmoid <alpha = 0.16666667, beta = 0.5> (x) two = " + C.format(2.0) + " h2 = Mul(h, two) y = Mul(x, h2) }",
    "other_x": HEAD + "g (float[2,16] x, float[2,16] z) => (float[2,16] y) { h = HardSigmoid <alpha = 0.16666667, beta = 0.5> (z) y = Mul(x, h) }",
    "clip_used_twice": HEAD + "g (float[2,5,16] x) => (float[2,5,16] y, float[2,5,16] c) { " + RELU6 + "m = Mul(x, c) y = Div(m, six) }",
    "wrong_shift": HEAD + SIG + "{ " + RELU6.replace(C.format(3.0), C.format(2.0)) + "m = Mul(x, c) y = Div(m, six) }",
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    check_fusion(model(MUST_NOT[case]), "fuse-hard-swish,dce", fires=False, op="HardSwish", since=14)
