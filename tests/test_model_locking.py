"""One irforge.Model shared by threads that save it (to .xml and .onnx), re-optimize it
(convert_model(model, transform=...)) and compress its weights, all at once: every Model method
and every API call that takes a Model holds the model's lock, so each file written is one
consistent state of the model (valid, loadable, and its rt_info describing its weights).

The threads run in a child process: without the locks they fail ("clone: value ... is used before
it is defined": a copy taken while compress_weights rewrites the graph) or crash the process,
which the parent reports instead of dying with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import onnx

import irforge
from bench_models import tiny
from irforge.testing import random_feeds, run_onnxruntime

ITERATIONS = 12

STRESS = r"""
import json, sys, threading
import irforge

source, folder, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = irforge.convert_model(source, transform="none")
# Each compress_weights call compresses one more weight (the others are in its ignored scope),
# so the number of calls recorded in rt_info tells how many weights a file must hold compressed.
probe = irforge.compress_weights(model.copy(), "int8_asym")
weights = [r["weight"] for r in probe.compression_report()]
errors, written = [], []

def guard(fn):
    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            errors.append(f"{type(e).__name__}: {e}")
    return run

def reoptimize():
    for i in range(iterations):
        irforge.convert_model(model, transform="default" if i % 2 else "remove-identity,infer-shapes,fold,dce")

def compress():
    import time
    for k in range(1, min(iterations, len(weights)) + 1):
        seen = len(written)
        deadline = time.monotonic() + 10
        while len(written) == seen and time.monotonic() < deadline:  # a save in between each step
            time.sleep(0.001)
        irforge.compress_weights(model, "int8_asym", ignored_scope={"names": weights[k:]})

def save(fmt, tag):
    def run():
        for i in range(iterations):
            path = f"{folder}/{tag}_{i}.{fmt}"
            irforge.save_model(model, path)
            written.append(path)
            model.summary(), model.compression_report(), repr(model)  # readers too
    return run

threads = [threading.Thread(target=guard(f)) for f in (reoptimize, compress, save("xml", "a"), save("onnx", "b"), save("xml", "c"))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"errors": errors, "written": sorted(set(written)), "weights": len(weights)}))
"""


def _cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _compressed_weights(xml_path):
    # int8_asym: each compressed weight is a u8 constant plus its u8 zero points.
    return sum(1 for el in ET.parse(xml_path).getroot().iter("data") if el.get("element_type") == "u8") // 2


def _recorded_compress_calls(xml_path):
    rt = ET.parse(xml_path).getroot().find("rt_info/conversion_parameters")
    return 0 if rt is None else sum(1 for child in rt if child.tag.startswith("compress_weights"))


def test_shared_model_save_reoptimize_compress(tmp_path):
    import openvino as ov

    source = tiny("llama", tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.run(
        [sys.executable, "-c", STRESS, source, str(out), str(ITERATIONS)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "IRFORGE_NUM_THREADS": "2"},
    )
    assert child.returncode == 0, f"the threads crashed the process (status {child.returncode}):\n{child.stderr[-3000:]}"
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert len(result["written"]) == 3 * ITERATIONS and result["weights"] >= 8

    reference_model = irforge.convert_model(source, transform="none")
    feeds = random_feeds(reference_model, seed=1, dim_values={"batch": 1, "seq": 5})
    expected = run_onnxruntime(source, feeds)[0]
    core = ov.Core()
    counts = set()
    for path in result["written"]:
        if path.endswith(".onnx"):
            proto = onnx.load(path)
            onnx.checker.check_model(proto, full_check=True)
            got = run_onnxruntime(path, feeds)[0]
        else:
            # The rt_info and the weights come from one state: as many u8 weights as recorded calls.
            calls, compressed = _recorded_compress_calls(path), _compressed_weights(path)
            assert compressed == calls, f"{path}: rt_info records {calls} compress_weights calls, the IR has {compressed} u8 weights"
            counts.add(calls)
            compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            got = compiled(feeds)[0]
        assert got.shape == expected.shape and _cosine(got, expected) > 0.99, path
    assert len(counts) > 1, f"no file was written while compression was under way: {counts}"
