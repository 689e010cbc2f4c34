"""The onnx node test cases through OpenVINO: irforge's IR vs OpenVINO's own ONNX frontend.

    python bench/ov_node_suite.py [--tools irforge,openvino] [--filter SUBSTR] [--out results.json]
    python bench/ov_node_suite.py --tools irforge --repeat 2 --write-passing tests/openvino_node_cases_passing.txt

Prints both pass counts (same run) and writes per-case results as JSON. Each case runs alone in
a worker process; a case that crashes its worker or times out fails with that reason. The CI test
tests/test_openvino_node_cases.py runs irforge's side and fails, naming them, when cases of
tests/openvino_node_cases_passing.txt fail; --write-passing regenerates that list from a real run
(cases that passed in every one of --repeat runs, with the versions they ran on).
"""

import argparse
import json
import os
import sys
import time

# An installed irforge (or PYTHONPATH) wins; the source tree is the fallback.
sys.path.append(os.path.join(os.path.dirname(__file__), "..", "python"))

from irforge._node_suite import cases, list_header, run_suite  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", default="irforge,openvino")
    ap.add_argument("--filter", default="")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case before its worker is replaced")
    ap.add_argument("--out", default="")
    ap.add_argument("--failures", action="store_true", help="print each failing case and why")
    ap.add_argument("--repeat", type=int, default=1, help="run each tool this many times; a case passes only if it passes every time")
    ap.add_argument("--write-passing", default="", help="write irforge's passing cases to this file (the CI test's list)")
    args = ap.parse_args()
    names = sorted(n for n in cases() if args.filter in n)
    report = {}
    for tool in args.tools.split(","):
        t0 = time.time()
        res = run_suite(tool, names, args.processes, timeout=args.timeout)
        for _ in range(args.repeat - 1):
            again = run_suite(tool, names, args.processes, timeout=args.timeout)
            for n, (ok, why) in again.items():
                if res[n][0] and not ok:
                    res[n] = (False, f"unstable: failed in a repeat run ({why})")
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
    if args.write_passing:
        if args.filter or "irforge" not in report:
            sys.exit("--write-passing needs the irforge tool and all cases (no --filter)")
        passing = sorted(n for n, r in report["irforge"].items() if r["pass"])
        with open(args.write_passing, "w") as f:
            f.write(list_header(args.repeat))
            f.writelines(n + "\n" for n in passing)
        print(f"wrote {len(passing)} cases to {args.write_passing}")


if __name__ == "__main__":
    main()
