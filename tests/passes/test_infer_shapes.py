"""infer-shapes against onnx's own shape inference on real architectures (tiny variants)."""

import numpy as np
import onnx
import pytest

import irforge
from irforge.testing import assert_outputs_close, random_feeds, run_onnxruntime

from bench_models import tiny


def _shapes(graph):
    out = {}
    for vi in list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = (t.elem_type, [d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in t.shape.dim])
    return out


@pytest.mark.parametrize("arch", ["llama", "bert", "gpt2", "cnn"])
def test_agrees_with_onnx_shape_inference(tmp_path, arch):
    proto = onnx.load(tiny(arch, tmp_path))
    del proto.graph.value_info[:]
    reference = _shapes(onnx.shape_inference.infer_shapes(proto, data_prop=True).graph)
    model = irforge.convert_model(proto, transform="infer-shapes", verify=True)
    assert model.pass_log[0]["changed"]
    ours = _shapes(onnx.load_from_string(model.to_onnx_bytes()).graph)
    compared = 0
    for name, (etype, dims) in ours.items():
        if name not in reference:
            continue
        ref_type, ref_dims = reference[name]
        assert etype == ref_type, name
        assert len(dims) == len(ref_dims), f"{name}: rank {dims} vs onnx {ref_dims}"
        for d, r in zip(dims, ref_dims):
            if isinstance(d, int) and isinstance(r, int):
                assert d == r, f"{name}: {dims} vs onnx {ref_dims}"
        compared += 1
    # Coverage: we type most of what onnx types.
    assert compared >= 0.8 * len(reference), f"typed {compared} of {len(reference)} values onnx types"
    again = irforge.convert_model(model.to_onnx_bytes(), transform="infer-shapes")
    assert not again.pass_log[0]["changed"]
    # The written value_info must be acceptable to onnxruntime and keep results.
    feeds = random_feeds(irforge.convert_model(proto, transform="none"), dim_values={"batch": 2, "sequence": 5})
    assert_outputs_close(run_onnxruntime(proto.SerializeToString(), feeds), run_onnxruntime(model.to_onnx_bytes(), feeds), rtol=1e-5, atol=1e-5)


def test_range_length_and_torch_expand_idiom_keep_symbolic_dims():
    # Range(0, n, 1) has n elements; torchscript's expand writes its target shape as
    # Where(Equal(shape, -1), 1, shape), which is the shape itself (dims are never -1).
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper

    c = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    nodes = [
        h.make_node("Shape", ["x"], ["shape"]),
        h.make_node("Gather", ["shape", "one"], ["n"], axis=0),
        h.make_node("Range", ["zero", "n", "step"], ["positions"]),
        h.make_node("Unsqueeze", ["x", "ax1"], ["x5"]),
        h.make_node("Concat", ["shape_b", "two", "shape_rest"], ["target"], axis=0),
        h.make_node("Slice", ["shape", "s0", "s1"], ["shape_b"]),
        h.make_node("Slice", ["shape", "s1", "s3"], ["shape_rest"]),
        h.make_node("Reshape", ["target", "minus_one"], ["flat"]),
        h.make_node("Equal", ["flat", "neg"], ["is_neg"]),
        h.make_node("Where", ["is_neg", "ones", "flat"], ["expand_to"]),
        h.make_node("Expand", ["x5", "expand_to"], ["y"]),
    ]
    inits = [c("one", 1), c("zero", 0), c("step", 1), c("ax1", [1]), c("two", [2]), c("s0", [0]), c("s1", [1]), c("s3", [3]),
             c("minus_one", [-1]), c("neg", [-1, -1, -1, -1]), c("ones", [1, 1, 1, 1])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", 4])],
                     [h.make_tensor_value_info("positions", T.INT64, None), h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model = irforge.convert_model(proto, transform="infer-shapes", verify=True)
    shapes = {o.name: o.shape for o in model.outputs}
    assert shapes == {"positions": ("s",), "y": ("b", 2, "s", 4)}


def test_onnx_made_up_dim_names_give_way_to_inferred_ones():
    # onnxruntime's quantization tools save onnx's value_info, whose fresh dims are "unk__N":
    # the inferred names (relating dims to the inputs, which shape folding needs) replace them;
    # a name the model chose stays, and so does a made-up name where nothing better is inferred.
    from onnx import TensorProto as T
    from onnx import helper as h

    nodes = [h.make_node("Relu", ["x"], ["a"]), h.make_node("Relu", ["a"], ["b"]), h.make_node("Relu", ["b"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["batch", None])], [h.make_tensor_value_info("y", T.FLOAT, None)],
                     value_info=[h.make_tensor_value_info("a", T.FLOAT, ["unk__0", "unk__1"]),
                                 h.make_tensor_value_info("b", T.FLOAT, ["my_batch", "unk__2"])])
    model = irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), transform="infer-shapes", verify=True)
    shapes = _shapes(onnx.load_from_string(model.to_onnx_bytes()).graph)
    assert shapes["a"][1] == ["batch", "unk__1"]
    assert shapes["b"][1] == ["my_batch", "unk__2"]
    again = irforge.convert_model(model.to_onnx_bytes(), transform="infer-shapes")
    assert not again.pass_log[0]["changed"]

def test_pad_shapes():
    from onnx import TensorProto, helper, numpy_helper

    pads = numpy_helper.from_array(np.array([1, 2, 0, 3], np.int64), "p")
    axes = numpy_helper.from_array(np.array([-1, 1], np.int64), "ax")
    g = helper.make_graph([helper.make_node("Pad", ["x", "p", "", "ax"], ["y"]), helper.make_node("Pad", ["x", "q"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 5]), helper.make_tensor_value_info("q", TensorProto.INT64, [6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None), helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [pads, axes])
    m = irforge.convert_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), transform="infer-shapes", verify=True)
    out = {o.name: o.shape for o in m.outputs}
    assert list(out["y"]) == ["n", 8, 6]  # axis 1 grows by 2 + 3, axis -1 by 1 + 0
    assert out["z"] is not None and len(out["z"]) == 3 and out["z"][1] is None  # run-time pads: rank only


# ---- what cannot be computed is refused, naming the node -------------------------------------------


def _one_node(op, inputs, in_shapes, inits=(), **attrs):
    """One node whose graph inputs pass through Identity first: the reader's op validator sees
    only stated shapes, so what reaches the node's rule here is known by inference alone."""
    from onnx import TensorProto as T
    from onnx import helper as h

    xs = [h.make_tensor_value_info(f"{n}_in", T.FLOAT, s) for n, s in zip(inputs, in_shapes) if s is not None]
    ids = [h.make_node("Identity", [f"{n}_in"], [n], name=f"id_{n}") for n, s in zip(inputs, in_shapes) if s is not None]
    node = h.make_node(op, inputs, ["y"], name=f"the_{op.lower()}", **attrs)
    g = h.make_graph(ids + [node], "g", xs, [h.make_tensor_value_info("y", T.FLOAT, None)], initializer=list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", 21)])


@pytest.mark.parametrize(
    "op,shapes,attrs,rule",
    [
        ("MatMul", [[2, 3], [4, 5]], {}, "inner dimensions differ"),
        ("Add", [[2, 3], [4, 3]], {}, "do not broadcast"),
        ("Concat", [[2, 3], [4, 5]], {"axis": 0}, "differs from"),
        ("Transpose", [[2, 3]], {"perm": [1, 0, 2]}, "has 3 entries for an input of rank 2"),
        ("Conv", [[1, 3, 8, 8], [4, 2, 3, 3]], {}, "input channels"),
        ("Gemm", [[2, 3], [4, 5]], {}, "inner dimensions differ"),
        ("MaxPool", [[1, 1, 2, 2]], {"kernel_shape": [5, 5]}, "larger than the padded input"),
    ],
)
def test_static_impossibilities_are_refused_naming_the_node(op, shapes, attrs, rule):
    names = ["x", "w", "b"][: len(shapes)]
    model = _one_node(op, names, shapes, **attrs)
    with pytest.raises(irforge.InvalidModelError) as e:
        irforge.convert_model(model, transform="infer-shapes")
    msg = str(e.value)
    assert f"'the_{op.lower()}' ({op})" in msg and rule in msg, msg
    assert "\n" not in msg


def test_reshape_rules():
    from onnx import numpy_helper

    for target, rule in [([4, 2], "6 elements) to [4,2] (8 elements)"), ([4, -1], "which does not divide it"), ([0, 0, 0], "copies input dim 2")]:
        shape = numpy_helper.from_array(np.asarray(target, np.int64), "s")
        with pytest.raises(irforge.InvalidModelError, match=r"'the_reshape' \(Reshape\).*" + __import__("re").escape(rule)):
            irforge.convert_model(_one_node("Reshape", ["x", "s"], [[2, 3], None], [shape]), transform="infer-shapes")


def test_dynamic_dims_stay_allowed():
    # The same checks never fire on what is only known at run time.
    model = _one_node("MatMul", ["x", "w"], [["batch", "k"], [4, 5]])
    out = irforge.convert_model(model, transform="infer-shapes")
    y = onnx.load_from_string(out.to_onnx_bytes()).graph.output[0]
    assert [d.dim_param or d.dim_value for d in y.type.tensor_type.shape.dim] == ["batch", 5]


def test_a_branch_that_may_never_run_is_not_refused():
    # ONNX's own AffineGrid expansion splits a 4-element size 5 ways in its (dead) 3-D branch.
    from onnx import TensorProto as T
    from onnx import helper as h

    split = lambda n, tag: h.make_node("Split", ["size"], [f"{tag}{i}" for i in range(n)], num_outputs=n)  # noqa: E731
    out = lambda tag: [h.make_tensor_value_info(f"{tag}0", T.INT64, None)]  # noqa: E731
    node = h.make_node(
        "If", ["c"], ["first"], name="pick",
        then_branch=h.make_graph([split(4, "t")], "then", [], out("t")),
        else_branch=h.make_graph([split(5, "e")], "else", [], out("e")),
    )
    g = h.make_graph(
        [node], "g", [h.make_tensor_value_info("c", T.BOOL, []), h.make_tensor_value_info("size", T.INT64, [4])],
        [h.make_tensor_value_info("first", T.INT64, None)],
    )
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 21)])
    irforge.convert_model(model, transform="infer-shapes")  # no error


@pytest.mark.parametrize("op", ["Equal", "Add", "Mul"])
def test_empty_shape_value_broadcast_against_one_element(op):
    # Shape(start=1, end=1) is an empty shape value; broadcast with a 1-element constant it stays
    # empty (it was indexed at [0]: a segfault). onnxruntime agrees on the empty result.
    from onnx import TensorProto, helper as h

    out_type = TensorProto.BOOL if op == "Equal" else TensorProto.INT64
    graph = h.make_graph(
        [h.make_node("Shape", ["x"], ["s"], start=1, end=1), h.make_node(op, ["s", "c"], ["y"])],
        "g",
        [h.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [h.make_tensor_value_info("y", out_type, None)],
        [onnx.numpy_helper.from_array(np.array([-1], np.int64), "c")],
    )
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    model = irforge.convert_model(proto, transform="infer-shapes,fold,dce", verify=True)
    feeds = random_feeds(model, seed=0)
    expected = run_onnxruntime(proto.SerializeToString(), feeds)
    actual = run_onnxruntime(model.to_onnx_bytes(), feeds)
    assert expected[0].shape == actual[0].shape == (0,)


def _onnx_dims(proto, name):
    out = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(proto, data_prop=True).graph.output}[name]
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in out.type.tensor_type.shape.dim)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 2]}, {"strides": [2, 3], "pads": [1, 0, 0, 2], "output_padding": [1, 0]},
                                   {"dilations": [2, 1], "group": 2}, {"strides": [2, 2], "auto_pad": "SAME_UPPER"}])
def test_conv_transpose_output_shape(attrs):
    """Channels from the weights x group, spatial dims by ONNX's formula where the attributes are
    plain (what onnx's own inference gives); auto_pad leaves the spatial dims unknown."""
    from onnx import numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 3, 3, 2), np.float32), "w")
    proto = _one_node("ConvTranspose", ["x", "w"], [["n", 4, 7, 5], None], [w], **attrs)
    got = irforge.convert_model(proto, transform="infer-shapes", verify=True).outputs[0].shape
    group = attrs.get("group", 1)
    if "auto_pad" in attrs:
        assert got == ("n", 3 * group, None, None)
    else:
        assert got == _onnx_dims(proto, "y") == ("n", 3 * group) + got[2:] and all(isinstance(d, int) for d in got[2:])


def test_resize_output_takes_sizes_rebuilt_from_shapes():
    """An FPN's upsampling as paddle2onnx writes it: sizes = Concat(Shape(x)[:2], Shape(lateral)[2:])
    gives the lateral's dims, so the Add after it (and a zero bias after the next Conv) has a
    known shape; scales of exactly 1 keep a dim, other scales leave it unknown."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper

    c = lambda name, v, t=np.int64: numpy_helper.from_array(np.asarray(v, t), name)  # noqa: E731
    nodes = [
        h.make_node("Shape", ["x"], ["sx"]),
        h.make_node("Slice", ["sx", "s0", "s2"], ["nc"]),
        h.make_node("Shape", ["lat"], ["sl"]),
        h.make_node("Slice", ["sl", "s2", "big"], ["hw"]),
        h.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
        h.make_node("Resize", ["x", "empty", "empty", "sizes"], ["up"], mode="nearest"),
        h.make_node("Add", ["up", "lat"], ["y"]),
        h.make_node("Resize", ["x", "empty", "scales"], ["z"], mode="nearest"),
    ]
    inits = [c("s0", [0]), c("s2", [2]), c("big", [2**31 - 1]), c("scales", [1, 1, 2, 1], np.float32),
             c("empty", np.zeros(0), np.float32)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 16, "h", "w"]),
                                  h.make_tensor_value_info("lat", T.FLOAT, ["n", 16, "H", "W"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("z", T.FLOAT, None)], inits)
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 11)])
    model = irforge.convert_model(proto, transform="infer-shapes", verify=True)
    assert {o.name: o.shape for o in model.outputs} == {"y": ("n", 16, "H", "W"), "z": ("n", 16, None, "w")}
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 16, 3, 4)).astype(np.float32),
             "lat": np.random.default_rng(1).standard_normal((2, 16, 6, 8)).astype(np.float32)}
    assert_outputs_close(run_onnxruntime(proto.SerializeToString(), feeds), run_onnxruntime(model.to_onnx_bytes(), feeds))


def _windows_on_one_input():
    """Convs and pools on x[n, 3, h, w]: a and b (different weights) both kernel 3, stride 2,
    pad 1; c kernel 3, stride 1, pad 1 (size-keeping); d a max pool kernel 3, stride 2, no pad;
    y = Reshape(a, Shape(b)) as paddle2onnx writes a broadcast (tests/test_wild_paddle2onnx.py)."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    w = lambda name: numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), name)  # noqa: E731
    nodes = [h.make_node("Conv", ["x", "wa"], ["a"], strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("Conv", ["x", "wb"], ["b"], strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1]),
             h.make_node("MaxPool", ["x"], ["d"], kernel_shape=[3, 3], strides=[2, 2]),
             h.make_node("Shape", ["b"], ["sb"]), h.make_node("Reshape", ["a", "sb"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, "h", "w"])],
                     [h.make_tensor_value_info(v, T.FLOAT, None) for v in "ycd"], [w("wa"), w("wb"), w("wc")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def test_window_output_sizes_are_named_by_their_arithmetic():
    """The same window on the same symbolic dim gives the same name (so a Shape of one is a
    Shape of the other and simplify-shapes makes the Reshape target constant); a size-keeping
    window keeps the input's name; another window gets another name."""
    from irforge.testing import check_pass

    proto = _windows_on_one_input()
    model = irforge.convert_model(proto, transform="infer-shapes", verify=True)
    shapes = _shapes(onnx.load_from_string(model.to_onnx_bytes()).graph)
    a, b, c, d = (shapes[v][1] for v in "abcd")
    assert a == b and a[0] == "n" and all(isinstance(x, str) and x not in ("h", "w") for x in a[2:]), (a, b)
    assert a[2] != a[3]  # from h and from w
    assert c == ["n", 4, "h", "w"], c
    assert d[2] != a[2] and d[2] is not None, d
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 3, 9, 6)).astype(np.float32)}
    out = check_pass(proto, "infer-shapes,simplify-shapes,fold,dce", fires=True, feeds=feeds)
    ops = [n.op_type for n in onnx.load_from_string(out.to_onnx_bytes()).graph.node]
    assert "Shape" not in ops, ops


def test_window_size_names_do_not_grow_without_bound():
    """Each unpadded conv nests the name once ("(h-2)", "((h-2)-2)", ...); after 256 characters
    the size stays unknown instead."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper

    depth = 80
    nodes = [h.make_node("Conv", [f"x{i}", "w"], [f"x{i + 1}"]) for i in range(depth)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x0", T.FLOAT, ["n", 1, "h", "w"])],
                     [h.make_tensor_value_info(f"x{depth}", T.FLOAT, None)],
                     [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")])
    model = irforge.convert_model(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), transform="infer-shapes", verify=True)
    shapes = _shapes(onnx.load_from_string(model.to_onnx_bytes()).graph)
    assert shapes["x1"][1] == ["n", 1, "(h-2)", "(w-2)"]
    assert shapes[f"x{depth}"][1] == ["n", 1, None, None]
    assert max(len(d) for _, dims in shapes.values() for d in dims if isinstance(d, str)) <= 300
