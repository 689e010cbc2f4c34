import pytest

from fusion_testing import check_fusion, model

HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
SIG = "g (float[2,5,16] x) => (float[2,5,16] y)"

FORMS = {
    "softplus": "{ p = Softplus(x) t = Tanh(p) y = Mul(x, t) }",
    "log_exp": "{ e = Exp(x) one = Constant <value = float {1.0}> () a = Add(one, e) p = Log(a) t = Tanh(p) y = Mul(t, x) }",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_fuses(form):
    check_fusion(model(HEAD + SIG + FORMS[form]), "fuse-mish,dce", fires=True, op="Mish", since=18)


def test_kept_at_opset_18():
    import onnx

    fused = check_fusion(model(HEAD.replace("17", "18") + SIG + FORMS["softplus"]), "fuse-mish,dce", fires=True, op="Mish", since=18)
    assert "Mish" in {n.op_type for n in onnx.load_from_string(fused.to_onnx_bytes()).graph.node}


MUST_NOT = {
    "tanh_of_other": "g (float[2,16] x, float[2,16] z) => (float[2,16] y) { p = Softplus(z) t = Tanh(p) y = Mul(x, t) }",
    "log_of_two_plus_exp": "g (float[2,16] x) => (float[2,16] y) { e = Exp(x) c = Constant <value = float {2.0}> () a = Add(c, e)"
                           " p = Log(a) t = Tanh(p) y = Mul(t, x) }",
    "softplus_used_twice": "g (float[2,16] x) => (float[2,16] y, float[2,16] p) { p = Softplus(x) t = Tanh(p) y = Mul(x, t) }",
    "no_tanh": "g (float[2,16] x) => (float[2,16] y) { p = Softplus(x) y = Mul(x, p) }",
}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_fire(case):
    check_fusion(model(HEAD + MUST_NOT[case]), "fuse-mish,dce", fires=False, op="Mish", since=18)
