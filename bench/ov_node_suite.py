"""The onnx node test cases through OpenVINO: irforge's IR vs OpenVINO's own ONNX frontend.

    python bench/ov_node_suite.py [--tools irforge,openvino] [--filter SUBSTR] [--out results.json]

Prints both pass counts (same run) and writes per-case results as JSON. Each case runs alone in
a worker process; a case that crashes its worker or times out fails with that reason. The CI test
tests/test_openvino_node_cases.py runs irforge's side and fails below the recorded baseline in
bench/ov_node_suite_baseline.json.
"""

import argparse
import json
import os
import sys
import time

# An installed irforge (or PYTHONPATH) wins; the source tree is the fallback.
sys.path.append(os.path.join(os.path.dirname(__file__), "..", "python"))

from irforge._node_suite import cases, run_suite  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", default="irforge,openvino")
    ap.add_argument("--filter", default="")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case before its worker is replaced")
    ap.add_argument("--out", default="")
    ap.add_argument("--failures", action="store_true", help="print each failing case and why")
    args = ap.parse_args()
    names = sorted(n for n in cases() if args.filter in n)
    report = {}
    for tool in args.tools.split(","):
        t0 = time.time()
        res = run_suite(tool, names, args.processes, timeout=args.timeout)
        passed = sum(ok for ok, _ in res.values())
        print(f"{tool}: {passed}/{len(names)} cases pass ({time.time() - t0:.0f} s)")
        report[tool] = {n: {"pass": ok, "why": why} for n, (ok, why) in res.items()}
        if args.failures:
            for n, (ok, why) in sorted(res.items()):
                if not ok:
                    print(f"  FAIL {n}: {why}")
    if "irforge" in report and "openvino" in report:
        only_ov = sorted(n for n in names if report["openvino"][n]["pass"] and not report["irforge"][n]["pass"])
        only_ir = sorted(n for n in names if report["irforge"][n]["pass"] and not report["openvino"][n]["pass"])
        print(f"pass only with OpenVINO's frontend: {len(only_ov)}; only with irforge: {len(only_ir)}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
