"""Lossless round trip on the onnx package's node test cases (the op-semantics suite).

For every case that onnxruntime passes on the original model, reading it into irforge and
writing it back must give a model that onnx.checker accepts and that onnxruntime still passes.
"""

import onnx
import pytest

import irforge
from irforge.testing import assert_outputs_close, run_onnxruntime


def _feeds(model: onnx.ModelProto, inputs):
    init_names = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init_names]
    return {n: v for n, v in zip(names, inputs)}


def _passes(model_bytes, model, case):
    for inputs, expected in case.data_sets:
        actual = run_onnxruntime(model_bytes, _feeds(model, inputs))
        assert_outputs_close(expected, actual, rtol=case.rtol, atol=case.atol)


@pytest.mark.slow
def test_round_trip_keeps_every_case_onnxruntime_passes(node_cases):
    ort_passes, kept, lost = 0, 0, []
    for case in node_cases:
        original = case.model.SerializeToString()
        try:
            _passes(original, case.model, case)
        except Exception:  # onnxruntime fails this case on the original: not ours to keep
            continue
        ort_passes += 1
        try:
            written = irforge.convert_model(original, transform="none").to_onnx_bytes()
            reread = onnx.load_from_string(written)
            onnx.checker.check_model(reread)
            _passes(written, reread, case)
            kept += 1
        except Exception as e:  # noqa: BLE001 - collect every loss, report them together
            lost.append(f"{case.name}: {type(e).__name__}: {str(e)[:300]}")
    print(f"\nnode cases: {len(node_cases)}, onnxruntime passes {ort_passes}, round trip keeps {kept}")
    assert len(node_cases) > 1500
    assert ort_passes > 1000
    assert not lost, f"{len(lost)} cases lost by the round trip:\n" + "\n".join(lost[:30])
