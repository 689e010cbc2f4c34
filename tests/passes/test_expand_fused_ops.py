"""ONNX output of fused ops newer than the model's opset: expanded in a copy (the Model is not
changed), valid per onnx.checker and equal in onnxruntime; --target_opset keeps them when safe."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime

X = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)

# op, since, attributes, inputs besides x
CASES = [
    ("Gelu", 20, {}, []),
    ("Gelu", 20, {"approximate": "tanh"}, []),
    ("LayerNormalization", 17, {"epsilon": 1e-3}, ["s", "b"]),
    ("LayerNormalization", 17, {"axis": 1}, ["s2"]),
    ("RMSNormalization", 23, {"epsilon": 1e-4}, ["s"]),
    ("Swish", 24, {"alpha": 1.5}, []),
    ("HardSwish", 14, {}, []),
    ("Mish", 18, {}, []),
]


def _model(op, opset, attrs, extra, extra_nodes=()):
    rng = np.random.default_rng(1)
    inits = {"s": rng.uniform(0.5, 1.5, 8), "b": rng.standard_normal(8), "s2": rng.uniform(0.5, 1.5, (3, 8))}
    nodes = [helper.make_node(op, ["x"] + extra, ["y"], **attrs), *extra_nodes]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8])],
        [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, [2, 3, 8 if n.op_type != "ReduceMean" else 1]) for n in nodes],
        [numpy_helper.from_array(inits[k].astype(np.float32), k) for k in extra])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("op,since,attrs,extra", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_expanded_below_since_version(op, since, attrs, extra):
    ref = run_onnxruntime(_model(op, since, attrs, extra).SerializeToString(), {"x": X})
    # The IR may hold an op newer than the model's opset (fusions create them).
    model = irforge.convert_model(_model(op, 13, attrs, extra).SerializeToString(), transform="none")
    before = model.dump()
    data = model.to_onnx_bytes()
    assert model.dump() == before, "writing ONNX changed the Model"
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert op not in {n.op_type for n in proto.graph.node}
    assert [o.version for o in proto.opset_import if o.domain == ""] == [13]
    assert_outputs_close(ref, run_onnxruntime(data, {"x": X}), rtol=1e-5, atol=1e-6)
    # Raising the opset keeps the op.
    kept = onnx.load_from_string(model.to_onnx_bytes(target_opset=since))
    onnx.checker.check_model(kept, full_check=True)
    assert op in {n.op_type for n in kept.graph.node}
    assert_outputs_close(ref, run_onnxruntime(kept.SerializeToString(), {"x": X}), rtol=1e-5, atol=1e-6)


def test_save_model_file_and_subgraph(tmp_path):
    then = helper.make_graph([helper.make_node("Gelu", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3, 8])])
    other = helper.make_graph([helper.make_node("Relu", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3, 8])])
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Greater", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 8])],
        [numpy_helper.from_array(np.array(-1e9, np.float32), "zero")])
    model = irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), transform="none")
    before = model.to_onnx_bytes(target_opset=20)
    path = tmp_path / "m.onnx"
    irforge.save_model(model, path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert "Gelu" not in str(proto.graph)
    assert model.to_onnx_bytes(target_opset=20) == before
    x = X.copy()
    expected = x * 0.5 * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2)))
    assert_outputs_close([expected.astype(np.float32)], run_onnxruntime(str(path), {"x": x}), rtol=1e-5, atol=1e-6)


def test_target_opset_refuses_ops_that_changed_meaning():
    # ReduceMean lost its `axes` attribute in opset 18: raising 17 -> 20 would change it.
    rm = helper.make_node("ReduceMean", ["y"], ["m"], axes=[-1])
    model = irforge.convert_model(_model("Gelu", 17, {}, [], [rm]).SerializeToString(), transform="none", target_opset=20)
    with pytest.raises(irforge.UnsupportedError, match=r"ReduceMean.*'axes'.*opset 18"):
        model.to_onnx_bytes()
    # Without the target the model is written at its own opset, Gelu expanded.
    assert "Gelu" not in str(onnx.load_from_string(model.to_onnx_bytes(target_opset=17)).graph)


def test_target_opset_raises_when_safe(tmp_path):
    relu = helper.make_node("Softmax", ["y"], ["m"], axis=-1)  # Softmax-13 keeps its meaning through 20
    model = irforge.convert_model(_model("Gelu", 17, {}, [], [relu]).SerializeToString(), transform="none", target_opset=20)
    path = tmp_path / "m.onnx"
    irforge.save_model(model, path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [20]
    assert "Gelu" in {n.op_type for n in proto.graph.node}


def test_target_opset_below_model_opset_is_refused():
    model = irforge.convert_model(_model("Relu", 17, {}, []).SerializeToString(), transform="none")
    with pytest.raises(irforge.UnsupportedError, match="lower than the model's opset 17"):
        model.to_onnx_bytes(target_opset=14)


def test_softmax_before_13_is_refused():
    model = irforge.convert_model(_model("Softmax", 11, {}, []).SerializeToString(), transform="none")
    with pytest.raises(irforge.UnsupportedError, match=r"Softmax.*changed meaning in opset 13"):
        model.to_onnx_bytes(target_opset=13)


def test_cli_target_opset(tmp_path):
    from irforge.cli import main

    src = tmp_path / "in.onnx"
    onnx.save(_model("Relu", 17, {}, []), src)
    out = tmp_path / "out.onnx"
    assert main(["convert", str(src), "--output_model", str(out), "--target_opset", "20"]) == 0
    assert [o.version for o in onnx.load(out).opset_import if o.domain == ""] == [20]


def test_all_fusions_then_onnx_output_without_openvino():
    # Every fusion in the default pipeline on one opset-14 graph, checked in onnxruntime only,
    # so the sanitizer build runs the fusion code too. HardSigmoid reads another tensor than
    # HardSwish: on the same x, cse would share their Add/Clip and neither would fuse (by design).
    import onnx.parser

    text = """<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,5,16] x, float[16] w) => (float[2,5,16] y) {
      r2 = Constant <value = float {1.4142135}> () half = Constant <value = float {0.5}> () one = Constant <value = float {1.0}> ()
      a = Div(x, r2) e = Erf(a) b = Add(e, one) m = Mul(x, b) gelu = Mul(m, half)
      x2 = Mul(x, x) x3 = Mul(x, x2) c = Constant <value = float {0.044715}> () t = Mul(c, x3) i = Add(x, t)
      k = Constant <value = float {0.7978845608}> () ka = Mul(k, i) th = Tanh(ka) tb = Add(one, th) tm = Mul(x, tb) tgelu = Mul(half, tm)
      mu = ReduceMean <axes = [-1]> (gelu) d = Sub(gelu, mu) two = Constant <value = float {2.0}> () p = Pow(d, two)
      v = ReduceMean <axes = [-1]> (p) eps = Constant <value = float {1e-5}> () ve = Add(v, eps) s = Sqrt(ve) ln = Div(d, s)
      q = Pow(tgelu, two) qm = ReduceMean <axes = [-1]> (q) qe = Add(qm, eps) qs = Sqrt(qe) qr = Reciprocal(qs) qn = Mul(tgelu, qr) rms = Mul(w, qn)
      sg = Sigmoid(x) silu = Mul(x, sg)
      three = Constant <value = float {3.0}> () zero = Constant <value = float {0.0}> () six = Constant <value = float {6.0}> ()
      h3 = Add(x, three) hc = Clip(h3, zero, six) hm = Mul(x, hc) hswish = Div(hm, six)
      g3 = Add(silu, three) gc = Clip(g3, zero, six) hsig = Div(gc, six)
      sp = Softplus(x) mt = Tanh(sp) mish = Mul(x, mt)
      s1 = Add(ln, rms) s2 = Add(s1, silu) s3 = Add(s2, hswish) s4 = Add(s3, hsig) y = Add(s4, mish)
    }"""
    proto = onnx.parser.parse_model(text)
    proto.graph.initializer.append(numpy_helper.from_array(np.random.default_rng(3).uniform(0.5, 1.5, 16).astype(np.float32), "w"))
    proto.graph.input.pop()  # w is an initializer, not an input
    model = irforge.convert_model(proto.SerializeToString(), verify=True)
    hist = model.op_histogram
    for op in ("Gelu", "LayerNormalization", "RMSNormalization", "Swish", "HardSwish", "HardSigmoid", "Mish"):
        assert op in hist, hist
    assert not {"Erf", "Tanh", "Sigmoid", "Pow", "ReduceMean", "Clip", "Softplus"} & set(hist), hist
    feeds = {"x": np.random.default_rng(4).standard_normal((2, 5, 16)).astype(np.float32) * 3}
    expected = run_onnxruntime(proto.SerializeToString(), feeds)
    data = model.to_onnx_bytes()
    onnx.checker.check_model(onnx.load_from_string(data))
    assert_outputs_close(expected, run_onnxruntime(data, feeds), rtol=1e-4, atol=1e-5)


def test_op_version_table_is_generated_from_the_installed_onnx():
    # The C++ table that decides whether an opset can be raised mirrors onnx's schema history;
    # when onnx is upgraded, rerun the generator.
    import os
    import subprocess
    import sys

    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "cpp", "passes", "legalize", "onnx_op_versions.inc")) as f:
        committed = f.read()
    # onnx is pinned in the test extra; a table from another version is stale, not untestable.
    regenerate = "python scripts/gen_onnx_op_versions.py > cpp/passes/legalize/onnx_op_versions.inc, then rebuild"
    assert f"from onnx {onnx.__version__} " in committed.splitlines()[0], (
        f"the table was generated from another onnx version than the installed {onnx.__version__}: {regenerate}")
    generated = subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_onnx_op_versions.py")], check=True,
                               capture_output=True, text=True).stdout
    assert committed == generated, regenerate
