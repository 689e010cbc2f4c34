"""The same input gives byte-identical output whatever the thread count (issue #7).

The writer converts large fp32 weights to fp16 on the worker pool in chunks whose boundaries
depend only on the tensor size (cpp/support/parallel.h); the out-of-range count that decides
whether a weight stays f32 is summed per chunk in chunk order. These tests convert models whose
weights span many chunks with 1, 2 and 8 threads, through the API (set_num_threads) and through
the CLI in fresh processes (IRFORGE_NUM_THREADS), and compare every output file byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import irforge
from bench_models import tiny
from parallel_models import PARALLEL_GRAIN, digest_outputs, file_digest, largest_weight_elements, weighty_model

THREADS = (1, 2, 8)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(irforge.__file__)))


@pytest.fixture
def restore_threads():
    yield
    irforge.set_num_threads(0)


@pytest.fixture(scope="module")
def weighty_path(tmp_path_factory):
    model = weighty_model()
    # Several chunks per weight, or this test would not exercise the pool at all.
    assert largest_weight_elements(model) >= 16 * PARALLEL_GRAIN
    path = tmp_path_factory.mktemp("weighty") / "weighty.onnx"
    path.write_bytes(model.SerializeToString())
    yield str(path)
    shutil.rmtree(path.parent, ignore_errors=True)  # not kept after the module (pytest keeps mktemp folders)


def _digests_per_thread_count(source, folder):
    digests = {}
    for n in THREADS:
        irforge.set_num_threads(n)
        assert irforge.get_num_threads() == n
        model = irforge.convert_model(source)
        digests[n] = digest_outputs(model, str(folder), f"t{n}")
    return digests


def test_set_num_threads_round_trips(restore_threads):
    irforge.set_num_threads(3)
    assert irforge.get_num_threads() == 3
    irforge.set_num_threads(0)
    assert irforge.get_num_threads() >= 1


def test_weighty_model_is_identical_for_1_2_8_threads(weighty_path, tmp_path, restore_threads):
    digests = _digests_per_thread_count(weighty_path, tmp_path)
    assert digests[1] == digests[2] == digests[8], digests
    # The files really hold the converted weights: the fp16 .bin is about half the f32 one
    # (the out-of-range weight stays f32), so the parallel path ran on real data.
    f16 = os.path.getsize(tmp_path / "t8_f16.bin")
    f32 = os.path.getsize(tmp_path / "t8_f32.bin")
    assert 0.5 * f32 < f16 < 0.7 * f32


@pytest.mark.parametrize("arch", ["llama", "bert", "gpt2", "cnn"])
def test_architectures_are_identical_for_1_2_8_threads(arch, tmp_path, restore_threads):
    # The whole default pipeline (shape inference, folding, fusion) plus both writers.
    path = tiny(arch, tmp_path / "src")
    digests = _digests_per_thread_count(path, tmp_path)
    assert digests[1] == digests[2] == digests[8], digests


def test_many_threads_output_still_runs_correctly(weighty_path, tmp_path, restore_threads):
    # Byte equality alone would also hold if every thread count were equally wrong.
    from irforge.testing import run_onnxruntime, run_openvino

    irforge.set_num_threads(8)
    model = irforge.convert_model(weighty_path)
    feeds = {"ids": np.array([[0, 5, 4095]], np.int64), "img": np.random.default_rng(1).standard_normal([1, 8, 16, 16]).astype(np.float32)}
    expected = run_onnxruntime(weighty_path, feeds)
    out = tmp_path / "m.onnx"
    irforge.save_model(model, out)
    for actual, rtol in ((run_openvino(model, feeds, compress_to_fp16=False), 1e-4), (run_onnxruntime(str(out), feeds), 1e-6)):
        for e, a in zip(expected, actual):
            # Long random-sign sums cancel: the error bound is relative to the output's scale.
            assert e.size and np.abs(a - e).max() <= rtol * np.abs(e).max()


def test_cli_in_fresh_processes_is_identical_for_1_2_8_threads(weighty_path, tmp_path):
    # Separate processes also catch output that depends on addresses (pointer-keyed iteration)
    # and the IRFORGE_NUM_THREADS variable reaching the pool.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_ROOT, env.get("PYTHONPATH", "")] if p)
    digests = {}
    for n in THREADS:
        env["IRFORGE_NUM_THREADS"] = str(n)
        probe = subprocess.run(
            [sys.executable, "-c", "import irforge; print(irforge.get_num_threads())"], env=env, capture_output=True, text=True
        )
        assert probe.stdout.strip() == str(n), probe.stderr
        files = {}
        for ext in ("xml", "onnx"):
            out = tmp_path / f"cli_t{n}.{ext}"
            r = subprocess.run(
                [sys.executable, "-m", "irforge", "convert", weighty_path, "--output_model", str(out)],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert r.returncode == 0, r.stderr
            files[ext] = file_digest(str(out))
        files["bin"] = file_digest(str(tmp_path / f"cli_t{n}.bin"))
        digests[n] = files
    assert digests[1] == digests[2] == digests[8], digests
