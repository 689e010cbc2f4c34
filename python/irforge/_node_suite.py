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


def run_case(name: str, tool: str) -> Tuple[str, bool, str]:
    """Returns (case name, passed, reason). `tool` is "irforge" or "openvino"."""
    import numpy as np
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
                feeds = {k: _as_array(v) for k, v in _feeds(case.model, inputs).items()}
                if any(v is None for v in feeds.values()):
                    return name, False, "non-tensor input"
                request = compiled.create_infer_request()
                result = request.infer({k: v for k, v in feeds.items()})
                actual = [result[o] for o in compiled.outputs]
                assert_outputs_close(list(expected), actual, rtol=case.rtol, atol=case.atol)
        return name, True, ""
    except Exception as e:  # noqa: BLE001 - a failing case is a data point, not an error
        return name, False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def _run_one(args):
    return run_case(*args)


def run_suite(tool: str, names: Optional[List[str]] = None, processes: int = 2) -> Dict[str, Tuple[bool, str]]:
    import multiprocessing as mp

    names = names or sorted(cases())
    ctx = mp.get_context("fork")
    with ctx.Pool(processes, maxtasksperchild=50) as pool:
        results = pool.map(_run_one, [(n, tool) for n in names], chunksize=8)
    return {n: (ok, why) for n, ok, why in results}
