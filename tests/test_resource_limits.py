"""Resource limits beyond tests/test_malformed_inputs.py (which covers tensors whose declared
size exceeds the limit or the file, nesting depth of subgraphs and types): static shapes in
value types that no tensor can have, and hostile constants that would make folding allocate
without bound. Nothing may crash, overflow (the sanitizer build runs this file) or exhaust
memory; rejections are ResourceLimitError naming the value."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import irforge
from irforge import InvalidModelError, ResourceLimitError
from protobuf_wire import field as _field
from protobuf_wire import varint as _varint

LIMIT = 1 << 40  # ReadLimits::max_elements


def _model(nodes, inputs, outputs, inits=()) -> bytes:
    graph = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()


def _input_of_shape(shape, where="input"):
    x = h.make_tensor_value_info("x", T.FLOAT, shape)
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    node = h.make_node("Relu", ["x"], ["y"], name="act")
    if where == "input":
        return _model([node], [x], [y])
    if where == "value_info":
        graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, [2])], [y], value_info=[h.make_tensor_value_info("y", T.FLOAT, shape)])
        return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()
    # inside a subgraph's value types
    body = h.make_graph([h.make_node("Relu", ["x"], ["z"], name="inner")], "body", [], [h.make_tensor_value_info("z", T.FLOAT, shape)])
    cond = nh.from_array(np.array(True), "cond")
    node = h.make_node("If", ["cond"], ["y"], name="branch", then_branch=body, else_branch=body)
    return _model([node], [h.make_tensor_value_info("x", T.FLOAT, [2])], [y], [cond])


@pytest.mark.parametrize(
    "shape,where",
    [
        ([2**62, 2**62, 4], "input"),  # the product overflows int64
        ([2**63 - 1], "input"),  # one absurd dim
        ([2**21, 2**20], "value_info"),  # just over 2^40 elements
        (["batch", 2**41, 1], "input"),  # symbolic dims do not hide a static absurd one
        ([1 << 30, 1 << 30], "subgraph"),
    ],
)
def test_absurd_static_shapes_in_types_are_refused(shape, where):
    with pytest.raises(ResourceLimitError, match=r"declares more than 1099511627776 elements") as e:
        irforge.convert_model(_input_of_shape(shape, where), transform="none")
    assert ("value 'x'" if where == "input" else "'y'" if where == "value_info" else "'z'") in str(e.value)


@pytest.mark.parametrize("shape", [[2**20, 2**20], ["batch", 2**39, 2], [None, 2**40], [0, 2**40]])
def test_large_but_possible_shapes_are_accepted(shape):
    model = irforge.convert_model(_input_of_shape(shape), transform="none")
    assert model.inputs[0].name == "x"


def _const(name, value, dtype=np.int64):
    return nh.from_array(np.array(value, dtype), name)


HOSTILE = {
    "ConstantOfShape 2^80": ([h.make_node("ConstantOfShape", ["s"], ["y"], name="c")], [_const("s", [2**40, 2**40])]),
    "ConstantOfShape overflow": ([h.make_node("ConstantOfShape", ["s"], ["y"], name="c")], [_const("s", [2**62, 2**62, 16])]),
    "ConstantOfShape negative": ([h.make_node("ConstantOfShape", ["s"], ["y"], name="c")], [_const("s", [-5, 3])]),
    "Range 2^62": ([h.make_node("Range", ["a", "b", "d"], ["y"], name="r")], [_const("a", 0), _const("b", 2**62), _const("d", 1)]),
    "Range full int64": ([h.make_node("Range", ["a", "b", "d"], ["y"], name="r")], [_const("a", -(2**63)), _const("b", 2**63 - 1), _const("d", 1)]),
    "Expand 2^93": (
        [h.make_node("Expand", ["x", "s"], ["y"], name="e")],
        [_const("x", [1.0], np.float32), _const("s", [2**31, 2**31, 2**31])],
    ),
    "Tile 2^63": ([h.make_node("Tile", ["x", "s"], ["y"], name="t")], [_const("x", [1.0, 2.0], np.float32), _const("s", [2**62])]),
    "Pad 2^62": ([h.make_node("Pad", ["x", "p"], ["y"], name="p")], [_const("x", [1.0, 2.0], np.float32), _const("p", [0, 2**62])]),
    "OneHot 2^62": (
        [h.make_node("OneHot", ["i", "d", "v"], ["y"], name="o")],
        [_const("i", [1]), _const("d", 2**62), _const("v", [0.0, 1.0], np.float32)],
    ),
    "Reshape huge": ([h.make_node("Reshape", ["x", "s"], ["y"], name="r")], [_const("x", [1.0], np.float32), _const("s", [2**40, 2**40])]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_constants_are_not_folded_into_huge_tensors(case, tmp_path):
    nodes, inits = HOSTILE[case]
    data = _model(nodes, [], [h.make_tensor_value_info("y", T.UNDEFINED, None)], inits)
    # A fold that tried would allocate petabytes: a bad_alloc would surface as ResourceLimitError,
    # and a wrapped element count as a small wrong tensor. Either way the node would be gone.
    try:
        model = irforge.convert_model(data, verify=True)
    except ResourceLimitError as e:  # refusing is fine too, if it says why
        assert "elements" in str(e) or "limit" in str(e)
        return
    except InvalidModelError as e:  # a negative dim is no size at all: infer-shapes names it
        assert "negative" in case and "'c' (ConstantOfShape)" in str(e) and "negative dim" in str(e), str(e)
        return
    assert model.op_histogram == {nodes[0].op_type: 1}, model.op_histogram
    assert model.weight_bytes < 1024
    irforge.save_model(model, tmp_path / "m.onnx")
    irforge.save_model(model, tmp_path / "m.xml")


@pytest.mark.skipif(
    bool(os.environ.get("IRFORGE_SANITIZER")), reason="sanitizer runtimes reserve terabytes of address space; there the allocator reports huge allocations instead"
)
def test_hostile_constants_stay_within_memory_in_a_child(tmp_path):
    # The same models in a child process capped at 6 GiB of address space (the interpreter,
    # numpy and thread stacks need ~1-2 GiB of it): nothing may try to materialize them.
    script = tmp_path / "child.py"
    script.write_text(
        "import sys, irforge\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        irforge.save_model(irforge.convert_model(path), path + '.xml')\n"
        "    except (irforge.ResourceLimitError, irforge.InvalidModelError):\n"
        "        pass\n"
        "print('ok')\n"
    )
    paths = []
    for i, case in enumerate(sorted(HOSTILE)):
        nodes, inits = HOSTILE[case]
        p = tmp_path / f"m{i}.onnx"
        p.write_bytes(_model(nodes, [], [h.make_tensor_value_info("y", T.UNDEFINED, None)], inits))
        paths.append(str(p))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    r = subprocess.run([sys.executable, str(script), *paths], capture_output=True, text=True, preexec_fn=cap, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_long_chain_does_not_recurse_deeply(tmp_path):
    # 20,000 nodes in one chain: any recursion over producers would need a deep stack.
    nodes, prev = [], "x"
    for i in range(20000):
        nodes.append(h.make_node("Neg" if i % 3 == 0 else "Relu", [prev], [f"v{i}"], name=f"n{i}"))
        prev = f"v{i}"
    data = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [2])], [h.make_tensor_value_info(prev, T.FLOAT, [2])])
    model = irforge.convert_model(data)
    irforge.save_model(model, tmp_path / "chain.xml")
    irforge.save_model(model, tmp_path / "chain.onnx")
    assert onnx.load(str(tmp_path / "chain.onnx")).graph.node[-1].output[0] == prev


def test_millions_of_tiny_nodes_are_refused():
    # 5 bytes of protobuf per node: 21 MB would ask for ~4.2 million graph nodes; the reader
    # stops counting at the limit before it builds any. (Initializers have the same limit.)
    count = (1 << 22) + 1
    graph = _field(2, b"g") + _field(1, _field(4, b"A")) * count
    data = b"\x08\x08" + _field(7, graph) + _field(8, b"\x10" + _varint(17))  # ir_version 8, opset 17
    with pytest.raises(ResourceLimitError, match="graph: more than 4194304 nodes in the model"):
        irforge.convert_model(data, transform="none")
