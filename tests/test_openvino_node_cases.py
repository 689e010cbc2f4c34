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
