"""Runs the onnx package's node test cases through a converter to OpenVINO and the CPU plugin.

Shared by the CI test (irforge's side) and bench/ov_node_suite.py (irforge vs OpenVINO's own
ONNX frontend, same run). Each case: convert, compile with f32 inference precision, run every
data set, compare with the stored expected outputs using the case's tolerances.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Dict, List, Optional, Tuple

_CASES = None


def cases():
    global _CASES
    if _CASES is None:
        from onnx.backend.test.case.node import collect_testcases

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CASES = {c.name: c for c in collect_testcases(None)}
    return _CASES


# The packages whose versions decide which cases pass: onnx and ml_dtypes compute the expected
# outputs, OpenVINO runs the IR, numpy feeds it. The passing-case list records them.
LIST_VERSIONED = ("onnx", "openvino", "ml_dtypes", "numpy")
LIST_COMMAND = "python bench/ov_node_suite.py --tools irforge --repeat 2 --write-passing tests/openvino_node_cases_passing.txt"


def installed_versions() -> str:
    from importlib.metadata import version

    return " ".join(f"{p}=={version(p)}" for p in LIST_VERSIONED)


def list_header(repeat: int) -> str:
    return (
        "# onnx node test cases that pass through irforge -> OpenVINO IR -> CPU plugin (f32), one per line;\n"
        "# tests/test_openvino_node_cases.py fails naming any of them that stops passing. Generated from\n"
        f"# a real run (each case passed in all {repeat} runs) by:\n"
        f"#   {LIST_COMMAND}\n"
        f"# versions: {installed_versions()}\n"
    )


def _feeds(model, inputs):
    init = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    return dict(zip(names, inputs))


def _as_array(v):
    """Case inputs may be numpy scalars or TensorProtos; sequences/optionals are not tensors."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, (np.generic, int, float, bool)):
        return np.asarray(v)
    return None


# ml_dtypes element types (what onnx gives for these tensors) that OpenVINO has, by numpy name.
# numpy has no such types, so these inputs are fed as typed ov.Tensors over their raw bytes and
# outputs of these types are read back from the bytes.
_OV_TYPES = {
    "bfloat16": "bf16",
    "float8_e4m3fn": "f8e4m3",
    "float8_e5m2": "f8e5m2",
    "float8_e8m0fnu": "f8e8m0",
    "float4_e2m1fn": "f4e2m1",
    "int4": "i4",
    "uint4": "u4",
}
_PACKED = {"f4e2m1", "i4", "u4"}  # two elements per byte, the first in the low nibble


def _to_ov(a):
    """A numpy array as what infer() accepts: itself, or a typed ov.Tensor for ml_dtypes types."""
    import numpy as np
    import openvino as ov

    ov_type = _OV_TYPES.get(a.dtype.name)
    if ov_type is None:
        return a
    raw = np.ascontiguousarray(a).view(np.uint8 if a.dtype.itemsize == 1 else np.uint16).reshape(-1)
    if ov_type in _PACKED:
        nibbles = (raw & 0xF).astype(np.uint8)
        if nibbles.size % 2:
            nibbles = np.append(nibbles, np.uint8(0))
        raw = nibbles[0::2] | (nibbles[1::2] << 4)
    raw = np.ascontiguousarray(raw.view(np.uint8))
    return ov.Tensor(raw, list(a.shape), getattr(ov.Type, ov_type))


def _from_ov(tensor, value):
    """Output `tensor` as an ml_dtypes array when numpy lacks its type, else `value` (infer()'s)."""
    import ml_dtypes
    import numpy as np

    name = tensor.element_type.get_type_name()
    np_name = {v: k for k, v in _OV_TYPES.items()}.get(name)
    if np_name is None:
        return value
    shape = list(tensor.shape)
    raw = np.frombuffer(bytes(tensor.data.view(np.uint8).reshape(-1)), np.uint8)
    if name in _PACKED:
        count = int(np.prod(shape)) if shape else 1
        nibbles = np.empty(raw.size * 2, np.uint8)
        nibbles[0::2], nibbles[1::2] = raw & 0xF, raw >> 4
        return nibbles[:count].view(getattr(ml_dtypes, np_name)).reshape(shape)
    if name == "bf16":
        raw = raw.view(np.uint16)
    return raw.view(getattr(ml_dtypes, np_name)).reshape(shape)


def run_case(name: str, tool: str) -> Tuple[str, bool, str]:
    """Returns (case name, passed, reason). `tool` is "irforge" or "openvino"."""
    import openvino as ov

    from irforge.testing import assert_outputs_close

    case = cases()[name]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            core = ov.Core()
            if tool == "irforge":
                import irforge

                xml = os.path.join(tmp, "model.xml")
                irforge.save_model(irforge.convert_model(case.model), xml, compress_to_fp16=False)
                model = core.read_model(xml)
            else:
                path = os.path.join(tmp, "model.onnx")
                with open(path, "wb") as f:
                    f.write(case.model.SerializeToString())
                model = ov.convert_model(path)
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            for inputs, expected in case.data_sets:
                feeds = {}
                for k, v in _feeds(case.model, inputs).items():
                    if v is None:
                        return name, False, f"input '{k}' is an absent optional; OpenVINO inputs are always present"
                    a = _as_array(v)
                    if a is None:
                        return name, False, f"input '{k}' is a {type(v).__name__}, not a tensor"
                    feeds[k] = _to_ov(a)
                request = compiled.create_infer_request()
                result = request.infer(feeds)
                actual = [_from_ov(request.get_output_tensor(i), result[o]) for i, o in enumerate(compiled.outputs)]
                expected = [e if isinstance(e, (list, tuple, dict)) or e is None else _as_array(e) for e in expected]
                assert_outputs_close(list(expected), actual, rtol=case.rtol, atol=case.atol)
        return name, True, ""
    except Exception as e:  # noqa: BLE001 - a failing case is a data point, not an error
        return name, False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def _worker(conn, tool: str) -> None:
    """Runs the cases it is sent, one at a time, until it is sent None."""
    while True:
        name = conn.recv()
        if name is None:
            return
        conn.send(run_case(name, tool))


def run_suite(
    tool: str, names: Optional[List[str]] = None, processes: int = 2, timeout: float = 300.0, cases_per_worker: int = 100
) -> Dict[str, Tuple[bool, str]]:
    """Runs `names` (default: all cases) in `processes` worker processes.

    Each case runs alone in a worker; a worker that crashes (a segfault in a plugin) or exceeds
    `timeout` seconds on a case is replaced and the case counts as failed with that reason, so one
    bad case can neither hang the run nor take other cases with it. Workers are recycled after
    `cases_per_worker` cases to bound memory growth. Workers are forked after the cases are
    collected, so they do not collect them again.
    """
    import multiprocessing as mp
    import time
    from multiprocessing.connection import wait

    names = list(names or sorted(cases()))
    cases()
    ctx = mp.get_context("fork")
    pending = list(reversed(names))
    results: Dict[str, Tuple[bool, str]] = {}

    class Worker:
        def __init__(self):
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_worker, args=(child, tool), daemon=True)
            self.proc.start()
            child.close()
            self.case, self.started, self.done = None, 0.0, 0

        def give(self, name):
            self.case, self.started = name, time.monotonic()
            self.conn.send(name)

        def stop(self, kill=False):
            if kill:
                self.proc.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    pass
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
            self.conn.close()

    workers = [Worker() for _ in range(max(1, min(processes, len(names))))]
    try:
        while len(results) < len(names):
            for i, w in enumerate(workers):
                if w.case is None and w.done >= cases_per_worker:
                    w.stop()
                    workers[i] = w = Worker()
                if w.case is None and pending:
                    w.give(pending.pop())
            busy = [w for w in workers if w.case is not None]
            deadline = min(w.started for w in busy) + timeout
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], max(0.0, deadline - time.monotonic()))
            for i, w in enumerate(workers):
                if w.case is None:
                    continue
                if w.conn in ready:
                    try:
                        n, ok, why = w.conn.recv()
                    except (EOFError, OSError):
                        n, ok, why = w.case, False, f"worker died (exit code {w.proc.exitcode})"
                        w.stop(kill=True)
                        workers[i] = Worker()
                        results[n] = (ok, why)
                        continue
                    results[n] = (ok, why)
                    w.case, w.done = None, w.done + 1
                elif w.proc.sentinel in ready or time.monotonic() - w.started > timeout:
                    dead = not w.proc.is_alive()
                    results[w.case] = (False, f"worker died (exit code {w.proc.exitcode})" if dead else f"timed out after {timeout:.0f} s")
                    w.stop(kill=True)
                    workers[i] = Worker()
    finally:
        for w in workers:
            w.stop(kill=w.case is not None)
    return {n: results[n] for n in names}
