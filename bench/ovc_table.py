"""The ovc-vs-irforge table of the wild-model benches (wild_quant.py, wild_contrib.py): builds
and compares each model with the bench's `compare(name, folder)` (wild_quant.compare: layer
counts and max relative errors against onnxruntime), then prints one markdown row per model.
A model whose comparison raises is reported on stderr and left out of the table, so that one
failing converter does not end the run."""

import argparse
import sys
import tempfile


def print_details(r):
    """The ONNX op histogram and the layer types whose counts differ, on stderr (--details)."""
    print(f"## {r['model']}\nonnx: {dict(r['onnx'])}", file=sys.stderr)
    keys = sorted(set(r["ovc_types"]) | set(r["irforge_types"]))
    diff = {k: (r["irforge_types"][k], r["ovc_types"][k]) for k in keys if r["irforge_types"][k] != r["ovc_types"][k]}
    print(f"irforge vs ovc differing types: {diff}", file=sys.stderr)


def print_table(rows):
    print("| model | irforge | ovc | irforge / ovc | irforge max rel err | ovc max rel err |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["ovc"] is None:
            print(f"| {r['model']} | {r['irforge']} | fails | – | {r['irforge_err']:.1e} | – |")
        else:
            print(f"| {r['model']} | {r['irforge']} | {r['ovc']} | {r['irforge'] / r['ovc']:.2f} | {r['irforge_err']:.1e} | {r['ovc_err']:.1e} |")


def main(models, compare, argv=None):
    """Command line of a bench: --models (comma-separated names of `models`, default all) and
    --details."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(models))
    ap.add_argument("--details", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            try:
                rows.append(compare(name, d))
            except Exception as e:  # a failing converter is a row, not the end of the table
                print(f"{name}: {type(e).__name__}: {str(e)[:300]}", file=sys.stderr)
                continue
            if args.details:
                print_details(rows[-1])
    print_table(rows)
