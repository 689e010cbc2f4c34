import pytest

from fusion_testing import check_fusion, model, to_float16

HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"

FORMS = {
    "silu": "{ s = Sigmoid(x) y = Mul(x, s) }",
    "silu_sigmoid_first": "{ s = Sigmoid(x) y = Mul(s, x) }",
    "beta": "{ b = Constant <value = float {1.702}> () bx = Mul(x, b) s = Sigmoid(bx) y = Mul(x, s) }",
    "beta_left": "{ b = Constant <value = float[1] {0.5}> () bx = Mul(b, x) s = Sigmoid(bx) y = Mul(s, x) }",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    fused = check_fusion(model(HEAD + SIG + FORMS[form]), "fuse-swish,dce", fires=True, op="Swish", since=24)
    assert ("alpha" in fused.dump()) == form.startswith("beta")


def test_fuses_float16_and_keeps_the_output_name():
    fused = check_fusion(to_float16(model(HEAD + SIG + FORMS["beta"])), "fuse-swish,dce", fires=True, op="Swish", since=24, rtol=1e-2, atol=1e-2)
    assert [o.name for o in fused.outputs] == ["y"]


def test_swiglu_keeps_the_gate_product():
    text = HEAD + "g (float[2,16] x, float[2,16] u) => (float[2,16] y) { s = Sigmoid(x) a = Mul(x, s) y = Mul(a, u) }"
    check_fusion(model(text), "fuse-swish,dce", fires=True, op="Swish", since=24, leftover=("Mul",))


MUST_NOT = {
    "sigmoid_of_other": "g (float[2,16] x, float[2,16] z) => (float[2,16] y) { s = Sigmoid(z) y = Mul(x, s) }",
    "sigmoid_used_twice": "g (float[2,16] x) => (float[2,16] y, float[2,16] s) { s = Sigmoid(x) y = Mul(x, s) }",
    "beta_not_constant": "g (float[2,16] x, float[2,16] b) => (float[2,16] y) { bx = Mul(x, b) s = Sigmoid(bx) y = Mul(x, s) }",
    "beta_broadcasts": "g (float[16] x) => (float[1,16] y) { b = Constant <value = float[1,1] {2.0}> () bx = Mul(x, b) s = Sigmoid(bx) y = Mul(x, s) }",
    "sigmoid_squared": "g (float[2,16] x) => (float[2,16] y) { s = Sigmoid(x) y = Mul(s, s) }",
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    # OpenVINO's own Swish fusion ignores the broadcast (returns shape (16,)): not compared there.
    check_fusion(model(HEAD + MUST_NOT[case]), "fuse-swish,dce", fires=False, op="Swish", since=24, openvino=case != "beta_broadcasts")
