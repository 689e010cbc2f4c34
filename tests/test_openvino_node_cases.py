"""The onnx node test cases through irforge's OpenVINO IR on the CPU plugin.

bench/ov_node_suite.py compares irforge with OpenVINO's own ONNX frontend in one run; the
figures are recorded in bench/RESULTS.md and the floor in bench/ov_node_suite_baseline.json.
This test fails if irforge's pass count drops below that floor.
"""

import json
import os

import pytest

from irforge._node_suite import cases, run_suite

BASELINE = os.path.join(os.path.dirname(__file__), "..", "bench", "ov_node_suite_baseline.json")


@pytest.mark.slow
def test_pass_count_does_not_drop():
    with open(BASELINE) as f:
        floor = json.load(f)["irforge_passes"]
    results = run_suite("irforge", sorted(cases()), processes=2)
    passed = sorted(n for n, (ok, _) in results.items() if ok)
    print(f"\nirforge -> OpenVINO IR -> CPU: {len(passed)}/{len(results)} node cases pass (floor {floor})")
    assert len(results) > 1500
    assert len(passed) >= floor, f"{len(passed)} cases pass, below the recorded {floor}"


def _fake_case(name, tool):
    import os
    import signal
    import time

    if name == "segfaults":
        os.kill(os.getpid(), signal.SIGSEGV)
    if name == "hangs":
        time.sleep(60)
    return name, name.startswith("pass"), "" if name.startswith("pass") else "mismatch"


@pytest.mark.skipif(
    bool(os.environ.get("IRFORGE_SANITIZER")), reason="the deliberately crashing worker would be reported by the sanitizer runtime"
)
def test_suite_survives_crashing_and_hanging_cases(monkeypatch):
    # A case that kills its worker or runs past the timeout fails with that reason; the other
    # cases, including the ones queued behind it on the same worker, still run.
    from irforge import _node_suite

    monkeypatch.setattr(_node_suite, "run_case", _fake_case)
    monkeypatch.setattr(_node_suite, "_CASES", {})  # nothing to collect for fake cases
    names = ["pass_a", "segfaults", "pass_b", "hangs", "fails", "pass_c", "pass_d"]
    results = _node_suite.run_suite("irforge", names, processes=2, timeout=3, cases_per_worker=2)
    assert list(results) == names
    assert [n for n, (ok, _) in results.items() if ok] == ["pass_a", "pass_b", "pass_c", "pass_d"]
    assert results["segfaults"][1].startswith("worker died")
    assert results["hangs"][1] == "timed out after 3 s"
    assert results["fails"] == (False, "mismatch")


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "int4", "uint4"])
def test_suite_feeds_and_reads_types_numpy_lacks(dtype):
    # Odd element counts check the nibble packing of 4-bit types (first element in the low nibble).
    import ml_dtypes
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    from irforge._node_suite import _OV_TYPES, _from_ov, _to_ov

    t = getattr(ov.Type, _OV_TYPES[dtype])
    values = np.array([[0, 1, -2, 3, 0.5], [-1, 2, 1.5, -0.5, 4], [6, -6, 1, 0, 2]], np.float32)
    if dtype == "uint4":
        values = np.abs(np.round(values))
    elif dtype == "int4":
        values = np.round(values)
    typed = values.astype(getattr(ml_dtypes, dtype))
    p_typed, p_f32 = ops.parameter([3, 5], t), ops.parameter([3, 5], ov.Type.f32)
    model = ov.Model([ops.convert(p_typed, ov.Type.f32), ops.convert(p_f32, t)], [p_typed, p_f32])
    request = ov.Core().compile_model(model, "CPU").create_infer_request()
    result = request.infer([_to_ov(typed), values])
    np.testing.assert_array_equal(result[0], typed.astype(np.float32))  # typed input read right
    out = _from_ov(request.get_output_tensor(1), result[1])
    assert out.dtype == typed.dtype and out.shape == typed.shape
    np.testing.assert_array_equal(out.astype(np.float32), typed.astype(np.float32))  # typed output read right
