"""The onnx node test cases through irforge's OpenVINO IR on the CPU plugin.

tests/openvino_node_cases_passing.txt lists the cases that must pass, generated from a real run
(the command is in its header and in irforge._node_suite.LIST_COMMAND); this test fails naming
each listed case that no longer passes, and why. bench/ov_node_suite.py also compares irforge
with OpenVINO's own ONNX frontend in one run (figures in bench/RESULTS.md).
"""

import os

import pytest

from irforge._node_suite import LIST_COMMAND, cases, installed_versions, run_suite

PASSING = os.path.join(os.path.dirname(__file__), "openvino_node_cases_passing.txt")


def _read_list():
    versions, names = None, []
    with open(PASSING) as f:
        for line in f:
            line = line.strip()
            if line.startswith("# versions:"):
                versions = line.split(":", 1)[1].strip()
            elif line and not line.startswith("#"):
                names.append(line)
    return versions, names


@pytest.mark.slow
def test_listed_node_cases_pass():
    recorded, must_pass = _read_list()
    # The expected outputs (onnx, ml_dtypes) and the plugin's numerics move with these versions;
    # the test extra pins them, so a mismatch means the pins moved without the list.
    assert recorded == installed_versions(), (
        f"{PASSING} was generated with {recorded}, installed: {installed_versions()}; regenerate it: {LIST_COMMAND}")
    unknown = sorted(set(must_pass) - set(cases()))
    assert not unknown, f"listed cases the installed onnx does not have: {unknown}; regenerate: {LIST_COMMAND}"
    results = run_suite("irforge", sorted(cases()), processes=2)
    passed = {n for n, (ok, _) in results.items() if ok}
    regressed = [f"{n}: {results[n][1]}" for n in must_pass if n not in passed]
    new = sorted(passed - set(must_pass))
    print(f"\nirforge -> OpenVINO IR -> CPU: {len(passed)}/{len(results)} node cases pass, {len(must_pass)} listed")
    if new:
        print(f"passing but not listed (add them: {LIST_COMMAND}): {', '.join(new)}")
    assert len(must_pass) > 1500 and len(results) > 1500
    assert not regressed, f"{len(regressed)} listed node cases fail:\n" + "\n".join(regressed)


def _fake_case(name, tool):
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
    # The timeout also covers a fresh worker's start-up (imports), which takes seconds on a
    # loaded machine: 15 s keeps "segfaults" from timing out before it runs.
    results = _node_suite.run_suite("irforge", names, processes=2, timeout=15, cases_per_worker=2)
    assert list(results) == names
    assert [n for n, (ok, _) in results.items() if ok] == ["pass_a", "pass_b", "pass_c", "pass_d"]
    assert results["segfaults"][1].startswith("worker died")
    assert results["hangs"][1] == "timed out after 15 s"
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
