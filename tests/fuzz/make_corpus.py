"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/ (or the folder given).

Small models covering what the reader decodes: a handful of the onnx package's node test cases
(including subgraphs: If/Loop/Scan/SequenceMap, sequences, optionals), plus hand-built models for
what those cases lack: model-local functions, sparse tensors, every typed-data field, string
tensors, symbolic dims, map/opaque types, inputs with defaults, unknown fields and metadata.
Then models the default pipeline rewrites (fusions, shape simplification, If pruning), for
fuzz_pipeline. No external data (the fuzz targets refuse it). The output is deterministic.

    python3 tests/fuzz/make_corpus.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Node test cases: a spread of op families plus every control-flow / sequence / optional case
# that is small enough.
NODE_CASES = [
    "test_add",
    "test_conv_with_strides_padding",
    "test_batchnorm_example",
    "test_reshape_reordered_all_dims",
    "test_gather_0",
    "test_cast_FLOAT_to_FLOAT16",
    "test_constant",
    "test_constantofshape_int_zeros",
    "test_if",
    "test_if_seq",
    "test_if_opt",
    "test_loop11",
    "test_loop13_seq",
    "test_loop16_seq_none",
    "test_scan_sum",
    "test_scan9_sum",
    "test_sequence_map_add_2_sequences",
    "test_sequence_map_identity_1_sequence_1_tensor_expanded",
    "test_sequence_insert_at_back",
    "test_identity_sequence",
    "test_optional_get_element_optional_sequence",
    "test_optional_has_element_empty_optional_input",
    "test_split_variable_parts_1d_opset18",
    "test_range_float_type_positive_delta_expanded",
    "test_layer_normalization_2d_axis0_expanded",
    "test_dequantizelinear_int4",
    "test_quantizelinear_uint4",
    "test_string_concat",
    "test_regex_full_match_basic",
    "test_affine_grid_2d_expanded",
    "test_bernoulli_expanded",
    "test_softmax_example_expanded",
]
MAX_CASE_BYTES = 24 * 1024


def node_cases() -> dict:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {c.name: c for c in collect_testcases(None)}
    out = {}
    for name in NODE_CASES:
        case = cases.get(name)
        if case is None:
            print(f"note: node case {name} not in this onnx version", file=sys.stderr)
            continue
        data = case.model.SerializeToString()
        if len(data) <= MAX_CASE_BYTES:
            out[name] = data
    return out


def _model(graph, opset=21, **kw) -> bytes:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)] + kw.pop("extra_opsets", []), **kw)
    return m.SerializeToString()


def _with_attr(node, attr):
    node.attribute.append(attr)
    return node


def hand_built() -> dict:
    out = {}
    f32 = TensorProto.FLOAT

    # Model-local function called twice, with an attribute parameter and a default.
    fn = helper.make_function(
        "custom",
        "ScaledAdd",
        ["a", "b"],
        ["y"],
        [
            helper.make_node("Add", ["a", "b"], ["s"]),
            _with_attr(helper.make_node("Constant", [], ["k"]),
                       helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="alpha")),
            helper.make_node("Mul", ["s", "k"], ["y"]),
        ],
        opset_imports=[helper.make_opsetid("", 21)],
        attributes=["alpha"],
    )
    g = helper.make_graph(
        [
            helper.make_node("ScaledAdd", ["x", "x"], ["t"], domain="custom", alpha=2.0),
            helper.make_node("ScaledAdd", ["t", "x"], ["y"], domain="custom"),
        ],
        "functions",
        [helper.make_tensor_value_info("x", f32, ["N", 4])],
        [helper.make_tensor_value_info("y", f32, ["N", 4])],
    )
    out["function_call"] = _model(g, extra_opsets=[helper.make_opsetid("custom", 1)], functions=[fn])

    # Function whose body holds a subgraph (If) and a ref_attr_name attribute.
    then_g = helper.make_graph([helper.make_node("Identity", ["a"], ["r"])], "then", [], [helper.make_tensor_value_info("r", f32, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["a"], ["r2"])], "else", [], [helper.make_tensor_value_info("r2", f32, None)])
    ref = onnx.AttributeProto()
    ref.name = "axis"
    ref.ref_attr_name = "ax"
    ref.type = onnx.AttributeProto.INT
    body_nodes = [
        helper.make_node("If", ["c"], ["o"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Flatten", ["o"], ["y"]),
    ]
    body_nodes[1].attribute.append(ref)
    fn2 = helper.make_function("custom", "CondNeg", ["a", "c"], ["y"], body_nodes, [helper.make_opsetid("", 21)], attributes=["ax"])
    fn2.attribute_proto.append(helper.make_attribute("ax", 1))
    g = helper.make_graph(
        [helper.make_node("CondNeg", ["x", "c"], ["y"], domain="custom")],
        "function_subgraph",
        [helper.make_tensor_value_info("x", f32, [2, 3]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", f32, None)],
    )
    out["function_subgraph"] = _model(g, extra_opsets=[helper.make_opsetid("custom", 1)], functions=[fn2])

    # Sparse initializer and a Constant with sparse_value.
    vals = numpy_helper.from_array(np.array([1.5, -2.0, 3.25], np.float32), "sp")
    idx = numpy_helper.from_array(np.array([1, 4, 7], np.int64), "sp_idx")
    sparse = helper.make_sparse_tensor(vals, idx, [3, 3])
    vals2 = numpy_helper.from_array(np.array([5, 6], np.int32), "sv")
    idx2 = numpy_helper.from_array(np.array([[0, 1], [2, 0]], np.int64), "sv_idx")
    sparse2 = helper.make_sparse_tensor(vals2, idx2, [3, 2])
    g = helper.make_graph(
        [
            helper.make_node("Add", ["x", "sp"], ["y"]),
            helper.make_node("Constant", [], ["c"], sparse_value=sparse2),
        ],
        "sparse",
        [helper.make_tensor_value_info("x", f32, [3, 3])],
        [helper.make_tensor_value_info("y", f32, [3, 3]), helper.make_tensor_value_info("c", TensorProto.INT32, [3, 2])],
        sparse_initializer=[sparse],
    )
    out["sparse"] = _model(g)

    # Every typed-data field, raw_data, strings, and sub-byte packing.
    inits = [
        helper.make_tensor("f", f32, [2, 2], [1.0, 2.0, 3.0, 4.0]),
        helper.make_tensor("f_raw", f32, [2], np.array([1.0, 2.0], np.float32).tobytes(), raw=True),
        helper.make_tensor("d", TensorProto.DOUBLE, [2], [1.0, -1.0]),
        helper.make_tensor("i64", TensorProto.INT64, [3], [1, -2, 3]),
        helper.make_tensor("i32", TensorProto.INT32, [2], [7, -8]),
        helper.make_tensor("u64", TensorProto.UINT64, [1], [2**63 + 5]),
        helper.make_tensor("u32", TensorProto.UINT32, [2], [1, 2**32 - 1]),
        helper.make_tensor("i8", TensorProto.INT8, [3], [-1, 0, 1]),
        helper.make_tensor("u16", TensorProto.UINT16, [2], [1, 65535]),
        helper.make_tensor("h", TensorProto.FLOAT16, [2], np.array([1.0, 0.5], np.float16)),
        helper.make_tensor("bf", TensorProto.BFLOAT16, [2], [1.0, 2.0]),
        helper.make_tensor("b", TensorProto.BOOL, [2], [True, False]),
        helper.make_tensor("c64", TensorProto.COMPLEX64, [1], [complex(1, 2)]),
        helper.make_tensor("c128", TensorProto.COMPLEX128, [1], [complex(3, 4)]),
        helper.make_tensor("i4", TensorProto.INT4, [3], [1, -2, 3]),
        helper.make_tensor("u4", TensorProto.UINT4, [2], [1, 15]),
        helper.make_tensor("f8", TensorProto.FLOAT8E4M3FN, [2], [1.0, 2.0]),
        helper.make_tensor("s", TensorProto.STRING, [2], [b"hello", b"world"]),
        helper.make_tensor("empty", f32, [0, 3], []),
        helper.make_tensor("scalar", f32, [], [3.0]),
    ]
    nodes = [helper.make_node("Identity", [t.name], [t.name + "_out"]) for t in inits]
    g = helper.make_graph(
        nodes,
        "typed_data",
        [],
        [helper.make_tensor_value_info(t.name + "_out", t.data_type, list(t.dims)) for t in inits],
        initializer=inits,
    )
    out["typed_data"] = _model(g, opset=23)

    # Symbolic dims, value_info, denotations, map/opaque/optional/sequence types, metadata, doc.
    x = helper.make_tensor_value_info("x", f32, ["batch", None, 3])
    x.type.denotation = "TENSOR"
    x.type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
    seq = helper.make_tensor_sequence_value_info("seq", f32, [2])
    opt = helper.make_value_info("opt", helper.make_optional_type_proto(helper.make_tensor_type_proto(f32, [2])))
    mp = helper.make_value_info("mp", helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(f32, [])))
    opq = onnx.ValueInfoProto()
    opq.name = "opq"
    opq.type.opaque_type.domain = "com.example"
    opq.type.opaque_type.name = "Handle"
    g = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu0", doc_string="a relu"),
            helper.make_node("Identity", ["r"], ["y"], name="id0"),
            helper.make_node("Identity", ["seq"], ["seq_out"]),
            helper.make_node("Identity", ["opt"], ["opt_out"]),
        ],
        "types",
        [x, seq, opt, mp, opq],
        [
            helper.make_tensor_value_info("y", f32, ["batch", None, 3]),
            helper.make_tensor_sequence_value_info("seq_out", f32, [2]),
            helper.make_value_info("opt_out", helper.make_optional_type_proto(helper.make_tensor_type_proto(f32, [2]))),
        ],
        value_info=[helper.make_tensor_value_info("r", f32, ["batch", None, 3])],
        doc_string="graph doc",
    )
    g.metadata_props.add(key="gk", value="gv")
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], producer_name="make_corpus", doc_string="model doc")
    m.model_version = 7
    helper.set_model_props(m, {"author": "fuzz"})
    m.graph.node[0].metadata_props.add(key="nk", value="nv")
    out["types_and_metadata"] = m.SerializeToString()

    # An input with a default (IR < 4 style), an attribute of every kind, an unknown field.
    const_t = helper.make_tensor("w", f32, [2], [0.5, 0.25])
    g = helper.make_graph(
        [
            helper.make_node(
                "CustomOp",
                ["x", "w", ""],
                ["y"],
                domain="com.example",
                f=1.5,
                i=-3,
                s="text",
                t=helper.make_tensor("t", TensorProto.INT32, [1], [9]),
                floats=[1.0, 2.0],
                ints=[1, 2, 3],
                strings=["a", "b"],
                tensors=[helper.make_tensor("t2", f32, [1], [1.0])],
                tp=helper.make_tensor_type_proto(f32, [1, "n"]),
            ),
        ],
        "attrs",
        [helper.make_tensor_value_info("x", f32, [2]), helper.make_tensor_value_info("w", f32, [2])],
        [helper.make_tensor_value_info("y", f32, [2])],
        initializer=[const_t],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.example", 1)], ir_version=3)
    data = m.SerializeToString()
    data += bytes([0xA8, 0x06, 0x2A])  # unknown field 101 (varint 42) at model level
    out["attributes_and_defaults"] = data

    # Nested control flow: Loop containing If containing Scan, capturing outer values.
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["st", "e"], ["st2"]), helper.make_node("Mul", ["st2", "outer_w"], ["o"])],
        "scan_body",
        [helper.make_tensor_value_info("st", f32, [2]), helper.make_tensor_value_info("e", f32, [2])],
        [helper.make_tensor_value_info("st2", f32, [2]), helper.make_tensor_value_info("o", f32, [2])],
    )
    then_g = helper.make_graph(
        [helper.make_node("Scan", ["v", "seqin"], ["fin", "scanned"], num_scan_inputs=1, body=scan_body)],
        "then",
        [],
        [helper.make_tensor_value_info("fin", f32, [2])],
    )
    else_g = helper.make_graph([helper.make_node("Identity", ["v"], ["v2"])], "else", [], [helper.make_tensor_value_info("v2", f32, [2])])
    loop_body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("If", ["cond_in"], ["v_next"], then_branch=then_g, else_branch=else_g),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", f32, [2]),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_next", f32, [2])],
    )
    g = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "v0"], ["v_final"], body=loop_body)],
        "nested",
        [
            helper.make_tensor_value_info("trip", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v0", f32, [2]),
            helper.make_tensor_value_info("seqin", f32, [3, 2]),
        ],
        [helper.make_tensor_value_info("v_final", f32, [2])],
        initializer=[helper.make_tensor("outer_w", f32, [2], [2.0, 3.0])],
    )
    out["nested_control_flow"] = _model(g, opset=16)

    # Nodes listed out of topological order (the reader sorts them).
    g = helper.make_graph(
        [helper.make_node("Relu", ["a"], ["y"]), helper.make_node("Neg", ["x"], ["a"])],
        "unsorted",
        [helper.make_tensor_value_info("x", f32, [1])],
        [helper.make_tensor_value_info("y", f32, [1])],
    )
    out["unsorted_nodes"] = _model(g)

    # A bigger raw weight (> 4 KiB, so the writer keeps it as a view).
    w = numpy_helper.from_array(np.arange(2048, dtype=np.float32).reshape(32, 64), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", f32, [1, 32])],
        [helper.make_tensor_value_info("y", f32, [1, 64])],
        initializer=[w],
    )
    out["matmul_8k_weight"] = _model(g)
    return out


def pipeline_seeds() -> dict:
    """Small valid models that the default pipeline rewrites, so fuzz_pipeline's mutations start
    next to each fusion (conv+bn, gelu, layernorm, rmsnorm, attention, activations, linear
    folds), the shape simplification, If pruning, CSE and weight dedupe, and control flow."""
    rng = np.random.default_rng(0)
    f32 = TensorProto.FLOAT

    def w(name, *dims, positive=False):
        a = rng.standard_normal(dims).astype(np.float32)
        return numpy_helper.from_array(np.abs(a) + 0.5 if positive else a, name)

    def c(name, value, dtype=np.float32):
        return numpy_helper.from_array(np.array(value, dtype), name)

    def vi(name, dims, t=f32):
        return helper.make_tensor_value_info(name, t, dims)

    node = helper.make_node
    out = {}

    # Pad → Conv → BatchNormalization → Relu, and Split → Conv ×2 → Concat (a grouped conv).
    g = helper.make_graph(
        [
            node("Pad", ["x", "pads"], ["xp"], mode="constant"),
            node("Conv", ["xp", "W", "B"], ["c"], kernel_shape=[3, 3]),
            node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], epsilon=1e-5),
            node("Relu", ["bn"], ["r"]),
            node("Split", ["r", "halves"], ["r0", "r1"], axis=1),
            node("Conv", ["r0", "W0"], ["c0"], kernel_shape=[1, 1]),
            node("Conv", ["r1", "W1"], ["c1"], kernel_shape=[1, 1]),
            node("Concat", ["c0", "c1"], ["y"], axis=1),
        ],
        "conv_bn",
        [vi("x", [1, 3, 6, 6])],
        [vi("y", [1, 4, 6, 6])],
        initializer=[
            c("pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), w("W", 4, 3, 3, 3), w("B", 4), w("s", 4), w("b", 4), w("m", 4),
            w("v", 4, positive=True), c("halves", [2, 2], np.int64), w("W0", 2, 2, 1, 1), w("W1", 2, 2, 1, 1),
        ],
    )
    out["pipeline_conv_bn"] = _model(g, opset=17)

    # GELU (erf form), and the tanh form, SiLU, hard swish and Mish side by side.
    g = helper.make_graph(
        [
            node("Div", ["x", "sqrt2"], ["d"]), node("Erf", ["d"], ["e"]), node("Add", ["e", "one"], ["e1"]),
            node("Mul", ["x", "e1"], ["xe"]), node("Mul", ["xe", "half"], ["gelu"]),
            node("Mul", ["x", "x"], ["x2"]), node("Mul", ["x2", "x"], ["x3"]), node("Mul", ["x3", "k"], ["kx3"]),
            node("Add", ["x", "kx3"], ["inner"]), node("Mul", ["inner", "s2pi"], ["si"]), node("Tanh", ["si"], ["t"]),
            node("Add", ["t", "one"], ["t1"]), node("Mul", ["x", "half"], ["hx"]), node("Mul", ["hx", "t1"], ["gelu_tanh"]),
            node("Sigmoid", ["x"], ["sg"]), node("Mul", ["x", "sg"], ["silu"]),
            node("Add", ["x", "three"], ["x3p"]), node("Clip", ["x3p", "zero", "six"], ["relu6"]),
            node("Mul", ["x", "relu6"], ["xr6"]), node("Div", ["xr6", "six"], ["hswish"]),
            node("Softplus", ["x"], ["sp"]), node("Tanh", ["sp"], ["tsp"]), node("Mul", ["x", "tsp"], ["mish"]),
        ],
        "activations",
        [vi("x", [2, 8])],
        [vi(n, [2, 8]) for n in ["gelu", "gelu_tanh", "silu", "hswish", "mish"]],
        initializer=[
            c("sqrt2", 1.4142135), c("one", 1.0), c("half", 0.5), c("k", 0.044715), c("s2pi", 0.7978846),
            c("three", 3.0), c("zero", 0.0), c("six", 6.0),
        ],
    )
    out["pipeline_activations"] = _model(g, opset=17)

    # LayerNorm written out (opset 18: ReduceMean axes as an input), then RMSNorm on its result.
    g = helper.make_graph(
        [
            node("ReduceMean", ["x", "axes"], ["mu"]), node("Sub", ["x", "mu"], ["d"]), node("Pow", ["d", "two"], ["d2"]),
            node("ReduceMean", ["d2", "axes"], ["var"]), node("Add", ["var", "eps"], ["ve"]), node("Sqrt", ["ve"], ["sd"]),
            node("Div", ["d", "sd"], ["n"]), node("Mul", ["n", "gamma"], ["ng"]), node("Add", ["ng", "beta"], ["ln"]),
            node("Pow", ["ln", "two"], ["sq"]), node("ReduceMean", ["sq", "axes"], ["ms"]), node("Add", ["ms", "eps"], ["mse"]),
            node("Sqrt", ["mse"], ["rms"]), node("Div", ["ln", "rms"], ["rn"]), node("Mul", ["rn", "wr"], ["y"]),
        ],
        "norms",
        [vi("x", ["batch", 4, 8])],
        [vi("y", ["batch", 4, 8])],
        initializer=[c("axes", [-1], np.int64), c("two", 2.0), c("eps", 1e-5), w("gamma", 8), w("beta", 8), w("wr", 8)],
    )
    out["pipeline_norms"] = _model(g, opset=18)

    # Scaled dot-product attention with an additive mask and a causal Where.
    g = helper.make_graph(
        [
            node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), node("MatMul", ["q", "kt"], ["qk"]),
            node("Mul", ["qk", "scale"], ["s"]), node("Where", ["causal", "s", "neg"], ["sm"]),
            node("Add", ["sm", "mask"], ["sa"]), node("Softmax", ["sa"], ["p"], axis=-1), node("MatMul", ["p", "v"], ["y"]),
        ],
        "attention",
        [vi("q", [1, 2, 4, 8]), vi("k", [1, 2, 4, 8]), vi("v", [1, 2, 4, 8]), vi("mask", [1, 1, 4, 4])],
        [vi("y", [1, 2, 4, 8])],
        initializer=[c("scale", 0.35355339), c("neg", -np.inf), c("causal", np.tril(np.ones((4, 4), bool)), np.bool_)],
    )
    out["pipeline_attention"] = _model(g, opset=17)

    # Shape arithmetic for a Reshape target (simplify-shapes, fold), Identity, a duplicated node
    # (cse), a Transpose pair that cancels (simplify-layout), MatMul + Add + Mul into the weight,
    # a transposed Gemm input, Gemm + BatchNormalization, and two equal constants (dedupe-weights).
    same = rng.standard_normal(6).astype(np.float32)
    g = helper.make_graph(
        [
            node("Identity", ["x"], ["xi"]), node("Shape", ["xi"], ["shp"]),
            node("Gather", ["shp", "zero_i"], ["n"], axis=0), node("Unsqueeze", ["n", "zero_1d"], ["n1"]),
            node("Concat", ["n1", "minus1"], ["target"], axis=0), node("Reshape", ["xi", "target"], ["flat"]),
            node("Relu", ["flat"], ["r1"]), node("Relu", ["flat"], ["r2"]), node("Add", ["r1", "r2"], ["r"]),
            node("Transpose", ["r"], ["rt"], perm=[1, 0]), node("Transpose", ["rt"], ["rtt"], perm=[1, 0]),
            node("MatMul", ["rtt", "Wa"], ["ma"]), node("Add", ["ma", "ba"], ["mab"]), node("Mul", ["mab", "sc"], ["lin"]),
            node("Transpose", ["lin"], ["lint"], perm=[1, 0]), node("Gemm", ["lint", "Wg", "Cg"], ["gm"], transA=1, transB=1),
            node("BatchNormalization", ["gm", "s", "b", "m", "v"], ["bn"]),
            node("Add", ["bn", "shift_a"], ["ya"]), node("Sub", ["ya", "shift_b"], ["y"]),
        ],
        "linear_and_shapes",
        [vi("x", ["N", 2, 4])],
        [vi("y", ["N", 6])],
        initializer=[
            c("zero_i", 0, np.int64), c("zero_1d", [0], np.int64), c("minus1", [-1], np.int64),
            w("Wa", 8, 8), w("ba", 8), c("sc", 2.0), w("Wg", 6, 8), w("Cg", 6), w("s", 6), w("b", 6), w("m", 6),
            w("v", 6, positive=True), numpy_helper.from_array(same, "shift_a"), numpy_helper.from_array(same.copy(), "shift_b"),
        ],
    )
    out["pipeline_linear_and_shapes"] = _model(g, opset=17)

    # If on a constant condition (prune-if) inside a Loop whose body folds and fuses.
    then_g = helper.make_graph([node("Mul", ["acc", "two"], ["t"])], "then", [], [vi("t", [2])])
    else_g = helper.make_graph([node("Neg", ["acc"], ["e"])], "else", [], [vi("e", [2])])
    body = helper.make_graph(
        [
            node("Identity", ["cond_in"], ["cond_out"]),
            node("If", ["flag"], ["picked"], then_branch=then_g, else_branch=else_g),
            node("Add", ["picked", "one"], ["acc_out"]),
        ],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("acc", [2])],
        [vi("cond_out", [], TensorProto.BOOL), vi("acc_out", [2])],
    )
    g = helper.make_graph(
        [
            node("If", ["flag"], ["start"], then_branch=helper.make_graph([node("Identity", ["x"], ["xt"])], "t0", [], [vi("xt", [2])]),
                 else_branch=helper.make_graph([node("Neg", ["x"], ["xn"])], "e0", [], [vi("xn", [2])])),
            node("Loop", ["trip", "cond", "start"], ["y"], body=body),
        ],
        "control_flow",
        [vi("x", [2])],
        [vi("y", [2])],
        initializer=[c("flag", True, np.bool_), c("trip", 3, np.int64), c("cond", True, np.bool_), c("one", 1.0), c("two", 2.0)],
    )
    out["pipeline_control_flow"] = _model(g, opset=17)
    for data in out.values():
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return out


def main() -> int:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out_dir, exist_ok=True)
    seeds = {**node_cases(), **hand_built(), **pipeline_seeds()}
    total = 0
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"wrote {len(seeds)} seeds ({total} bytes) to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
