"""pytest-benchmark micro-benchmarks of irforge's hot kernels (not part of the test suite).

    python -m pytest bench/micro_benchmarks.py --benchmark-storage=bench/micro_results --benchmark-save=micro
    python -m pytest-benchmark compare --storage bench/micro_results    # compare saved runs

- fp16 conversion: writing a 64 MiB f32 weight as fp16 OpenVINO IR (compress_to_fp16=True), on
  all threads and on one, beside the same write without conversion (compress_to_fp16=False).
  The difference between the two is the conversion cost; the .bin write itself is in both.
- ONNX reader: ``_core.read_onnx`` (parse + IR build, weights mapped not copied) of BERT-base
  (438 MB inline weights, 1130 nodes) and of the tiny Llama (many small nodes).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge import _core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

WEIGHT_ELEMS = 16 << 20  # 64 MiB of f32


@pytest.fixture(scope="module")
def big_weight_model(tmp_path_factory):
    """A MatMul with one 64 MiB f32 weight, read once (the weight stays mapped)."""
    folder = tmp_path_factory.mktemp("fp16")
    w = np.random.default_rng(0).standard_normal(WEIGHT_ELEMS, dtype=np.float32).reshape(4096, -1)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w")])
    path = folder / "model.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return irforge.convert_model(str(path), transform="none"), folder


@pytest.mark.parametrize("threads", [0, 1], ids=["all-threads", "1-thread"])
def test_fp16_ir_write(benchmark, big_weight_model, threads):
    model, folder = big_weight_model
    irforge.set_num_threads(threads)
    try:
        benchmark.extra_info["mib"] = WEIGHT_ELEMS * 4 / 2**20
        benchmark.extra_info["threads"] = irforge.get_num_threads()
        benchmark(irforge.save_model, model, str(folder / "out.xml"), True)
    finally:
        irforge.set_num_threads(0)
    assert os.path.getsize(folder / "out.bin") == WEIGHT_ELEMS * 2


def test_f32_ir_write_no_conversion(benchmark, big_weight_model):
    model, folder = big_weight_model
    benchmark.extra_info["mib"] = WEIGHT_ELEMS * 4 / 2**20
    benchmark(irforge.save_model, model, str(folder / "out32.xml"), False)
    assert os.path.getsize(folder / "out32.bin") == WEIGHT_ELEMS * 4


@pytest.fixture(scope="module")
def bench_models(tmp_path_factory):
    root = os.environ.get("IRFORGE_BENCH_CACHE", "/tmp/irforge-bench")
    paths = {}
    for name, key, small in (("bert-base", "bert", False), ("llama-tiny", "llama", True)):
        dirname = (models.SMALL if small else models.MODELS)[key][2]
        path = os.path.join(root, dirname, "model.onnx")
        if not os.path.exists(path):
            path = models.generate(key, root, small)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", ["bert-base", "llama-tiny"])
def test_onnx_reader(benchmark, bench_models, name):
    path = bench_models[name]
    benchmark.extra_info["bytes"] = os.path.getsize(path)
    model = benchmark(_core.read_onnx, path)
    assert model.node_count() > 0
