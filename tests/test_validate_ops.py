"""The op validator (cpp/ir/validate_ops.cc) on valid models: it must not reject what is valid.

Every model of the onnx package's node test suite reads (the validator runs inside the reader),
the generated schema table matches the installed onnx package, and the validator stays cheap on
a real architecture. The malformed side is tests/test_malformed_ops.py.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest

import irforge
from irforge import _core

REPO = Path(__file__).resolve().parents[1]

# Node test cases that are genuinely invalid and that the validator therefore refuses, by name,
# with the reason. Empty today: every case of onnx 1.23.2 is valid at the op level.
GENUINELY_INVALID = {}


def test_every_node_test_case_reads(node_cases):
    refused = []
    for case in node_cases:
        try:
            _core.read_onnx_bytes(case.model.SerializeToString(), "", case.name)
        except irforge.ConversionError as e:
            if case.name not in GENUINELY_INVALID:
                refused.append(f"{case.name}: {e}")
    assert len(node_cases) > 1500
    assert not refused, f"{len(refused)} valid node cases refused:\n" + "\n".join(refused[:30])


def test_node_cases_have_no_op_problems(node_cases):
    """The same through op_problems on a model read without validation errors: nothing listed."""
    sample = [c for c in node_cases if c.name not in GENUINELY_INVALID][:200]
    for case in sample:
        model = _core.read_onnx_bytes(case.model.SerializeToString(), "", case.name)
        assert _core.op_problems(model) == [], case.name


def test_schema_table_matches_the_onnx_package():
    """cpp/ir/onnx_op_schemas.inc is generated; regenerate it when onnx is upgraded."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_onnx_op_schemas.py")], capture_output=True, text=True, check=True)
    committed = (REPO / "cpp" / "ir" / "onnx_op_schemas.inc").read_text()
    assert out.stdout == committed, "stale table: python scripts/gen_onnx_op_schemas.py > cpp/ir/onnx_op_schemas.inc"


@pytest.mark.slow
def test_validator_is_fast_on_bert(tmp_path):
    """Validation is a small share of reading: measured on the torch BERT export."""
    from torch_models.architectures import export

    path = str(tmp_path / "bert.onnx")
    export("bert", path, dynamo=False)
    model = _core.read_onnx(path)
    assert _core.op_problems(model) == []
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        _core.validate_ops(model)
    per_run = (time.perf_counter() - t0) / rounds
    nodes = model.node_count()
    print(f"\nvalidate_ops on BERT ({nodes} nodes): {per_run * 1e3:.2f} ms")
    assert per_run < 0.25  # generous on a loaded 2-core machine; measured ~1 ms


def _function_model(body_nodes):
    from onnx import TensorProto, helper

    fn = helper.make_function("custom", "Pick", ["a"], ["b"], body_nodes, [helper.make_opsetid("", 17)], attributes=["ax"])
    node = helper.make_node("Pick", ["x"], ["y"], domain="custom", name="call", ax=0)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, functions=[fn], opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])


def test_function_body_with_attribute_references_reads():
    """Inside a function, `axis` may refer to the caller's attribute: its value is unknown here."""
    from onnx import AttributeProto, helper

    softmax = helper.make_node("Softmax", ["a"], ["b"], name="body_softmax")
    ref = AttributeProto()
    ref.name, ref.ref_attr_name, ref.type = "axis", "ax", AttributeProto.INT
    softmax.attribute.append(ref)
    model = _core.read_onnx_bytes(_function_model([softmax]).SerializeToString(), "", "<fn>")
    assert _core.op_problems(model) == []


def test_function_body_is_checked_against_the_schema_table():
    from onnx import helper

    bad = helper.make_node("Softmax", ["a"], ["b"], name="body_softmax", alpha=1.0)
    with pytest.raises(irforge.InvalidModelError,
                       match=r"node 'body_softmax' \(Softmax, #0 in graph 'function custom::Pick'\): has attribute 'alpha'"):
        _core.read_onnx_bytes(_function_model([bad]).SerializeToString(), "", "<fn>")
