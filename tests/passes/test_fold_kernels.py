"""The folding kernels against the onnx package's node test cases.

For every case whose model is one default-domain node with tensor inputs: its inputs (first
data set) become initializers, `fold` runs, and the folded constants must equal the case's
expected outputs within the case's tolerances. Cases of ops with a kernel must fold unless
they involve a type the kernels do not take (strings, float8, 4/2-bit, complex); cases of
other ops must not fold and must not break the pass. Multi-node cases (the `_expanded`
function bodies, ...) that fold completely are compared the same way.
"""

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

import irforge
from irforge.testing import assert_outputs_close

# The ops that have a kernel (cpp/passes/fold/kernels_*.cc).
KERNEL_OPS = set("""
    Abs Add And Cast CastLike Ceil Concat Constant ConstantOfShape Div Equal Erf Exp Expand Flatten Floor
    Gather Greater GreaterOrEqual Identity Less LessOrEqual Log Max Mean Min Mod Mul Neg NonZero Not Or Pow
    Range Reciprocal ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum Relu Reshape Shape Sigmoid Size
    Slice Split Sqrt Squeeze Sub Sum Tanh Tile Transpose Trilu Unsqueeze Where Xor
""".split())

# Element types no kernel takes: a case touching one of them is expected not to fold.
UNSUPPORTED_TYPES = {
    TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.COMPLEX128,
    TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ,
    TensorProto.UINT4, TensorProto.INT4, TensorProto.FLOAT4E2M1,
}
for _name in ("FLOAT8E8M0", "UINT2", "INT2", "FLOAT6E2M3", "FLOAT6E3M2"):
    if hasattr(TensorProto, _name):
        UNSUPPORTED_TYPES.add(getattr(TensorProto, _name))

# With onnx 1.23, 387 single-node cases fold and match (plus 172 multi-node ones); the floor
# keeps the test from passing vacuously if the pass stopped running or the cases changed shape.
MIN_SINGLE_NODE_FOLDED = 380


def _elem_types(model):
    types = set()
    g = model.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type"):
            types.add(vi.type.tensor_type.elem_type)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                types.add(a.t.data_type)
            if a.name == "to" and a.type == onnx.AttributeProto.INT:
                types.add(a.i)
    return types


def _as_tensor(value, name, elem_type):
    """A case input (ndarray, numpy scalar or TensorProto) as a TensorProto of the declared type."""
    if isinstance(value, onnx.TensorProto):
        t = onnx.TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t
    t = numpy_helper.from_array(np.asarray(value), name)
    t.data_type = elem_type  # ml_dtypes arrays and the like keep the declared type
    return t


def _as_array(value):
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def _is_tensor(value):
    return isinstance(value, (np.ndarray, np.generic, onnx.TensorProto))


def _with_constant_inputs(case):
    """The case's model with its inputs as initializers, and the expected outputs as arrays;
    (None, None) when the case has non-tensor inputs or outputs."""
    inputs, expected = case.data_sets[0]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    g = model.graph
    init_names = {t.name for t in g.initializer}
    feed = [vi for vi in g.input if vi.name not in init_names]
    if len(feed) != len(inputs) or not all(_is_tensor(v) for v in list(inputs) + list(expected)):
        return None, None
    if not all(vi.type.HasField("tensor_type") for vi in list(feed) + list(g.output)):
        return None, None
    try:
        tensors = [_as_tensor(v, vi.name, vi.type.tensor_type.elem_type) for vi, v in zip(feed, inputs)]
        expected = [_as_array(e) for e in expected]
    except Exception:  # noqa: BLE001 - data numpy_helper cannot encode: not a kernel question
        return None, None
    names = {vi.name for vi in feed}
    kept = [vi for vi in g.input if vi.name not in names]
    del g.input[:]
    g.input.extend(kept)
    g.initializer.extend(tensors)
    return model, expected


def _folded_outputs(model_bytes):
    """Graph outputs as arrays if the folded graph has no nodes left, else None."""
    m = onnx.load_from_string(model_bytes)
    if len(m.graph.node) != 0:
        return None
    inits = {t.name: t for t in m.graph.initializer}
    return [numpy_helper.to_array(inits[o.name]) for o in m.graph.output]


def _comparable(a):
    a = np.asarray(a)
    if a.dtype.kind == "V" or a.dtype.name in ("bfloat16",) or "float8" in a.dtype.name:
        return a.astype(np.float32)
    return a


def test_fold_kernels_match_node_test_cases(node_cases):
    stats = {"single": 0, "folded": 0, "matched": 0, "multi_folded": 0, "multi_matched": 0}
    mismatches, not_folded, wrongly_folded, errors = [], [], [], []
    for case in node_cases:
        g = case.model.graph
        single = len(g.node) == 1 and g.node[0].domain in ("", "ai.onnx")
        op = g.node[0].op_type if single else None
        model, expected = _with_constant_inputs(case)
        if model is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = irforge.convert_model(model.SerializeToString(), transform="fold", verify=True)
        except irforge.ConversionError as e:
            # The reader may reject a case (e.g. an odd type); the pass itself must never fail.
            if "fold" in str(e):
                errors.append(f"{case.name}: {e}")
            continue
        actual = _folded_outputs(result.to_onnx_bytes())
        if single:
            stats["single"] += 1
            if op not in KERNEL_OPS:
                if actual is not None:
                    wrongly_folded.append(case.name)
                continue
            if actual is None:
                if not (_elem_types(case.model) & UNSUPPORTED_TYPES):
                    not_folded.append(case.name)
                continue
            stats["folded"] += 1
        else:
            if actual is None:
                continue
            stats["multi_folded"] += 1
        try:
            assert_outputs_close([_comparable(e) for e in expected], [_comparable(a) for a in actual], rtol=case.rtol, atol=case.atol)
            stats["matched" if single else "multi_matched"] += 1
        except AssertionError as e:
            mismatches.append(f"{case.name}: {str(e).strip().splitlines()[0:6]}")

    print(f"\nfold kernels vs node test cases: {stats}")
    assert not errors, "the pass failed:\n" + "\n".join(errors)
    assert not mismatches, f"{len(mismatches)} folded results differ from the expected outputs:\n" + "\n".join(mismatches)
    assert not wrongly_folded, f"ops without a kernel were folded: {wrongly_folded}"
    assert not not_folded, f"cases of ops with a kernel did not fold: {not_folded}"
    assert stats["folded"] >= MIN_SINGLE_NODE_FOLDED, stats
    assert stats["matched"] == stats["folded"] and stats["multi_matched"] == stats["multi_folded"]
