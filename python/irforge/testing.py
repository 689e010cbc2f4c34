"""Helpers for tests and users: run models in reference runtimes and compare outputs.

Imports of onnxruntime/numpy happen inside the functions, so importing irforge stays light.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from irforge.errors import UsageError


def onnxruntime_session(model_bytes_or_path, optimize: bool = False, threads: int = 1):
    """An onnxruntime CPU session; graph optimizations off by default so results are faithful."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes_or_path, so, providers=["CPUExecutionProvider"])


def run_onnxruntime(model_bytes_or_path, feeds: Dict[str, Any], optimize: bool = False) -> List[Any]:
    sess = onnxruntime_session(model_bytes_or_path, optimize=optimize)
    return sess.run(None, feeds)


def assert_outputs_close(expected: Sequence[Any], actual: Sequence[Any], rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Compares outputs element-wise (NaNs equal), recursing into sequences; raises AssertionError."""
    import numpy as np

    if len(expected) != len(actual):
        raise AssertionError(f"expected {len(expected)} outputs, got {len(actual)}")
    for i, (e, a) in enumerate(zip(expected, actual)):
        _compare(e, a, rtol, atol, f"output {i}")


def _compare(e, a, rtol, atol, where):
    import numpy as np

    if e is None or a is None:
        if not (e is None and a is None):
            raise AssertionError(f"{where}: expected {e!r}, got {a!r}")
        return
    if isinstance(e, (list, tuple)):
        if not isinstance(a, (list, tuple)) or len(e) != len(a):
            raise AssertionError(f"{where}: expected a sequence of {len(e)}, got {type(a).__name__}")
        for k, (ee, aa) in enumerate(zip(e, a)):
            _compare(ee, aa, rtol, atol, f"{where}[{k}]")
        return
    if isinstance(e, dict):
        if set(e) != set(a):
            raise AssertionError(f"{where}: map keys differ")
        for k in e:
            _compare(e[k], a[k], rtol, atol, f"{where}[{k!r}]")
        return
    e = np.asarray(e)
    a = np.asarray(a)
    if e.shape != a.shape:
        raise AssertionError(f"{where}: shape {a.shape} != expected {e.shape}")
    if e.dtype.kind in "OSU" or a.dtype.kind in "OSU" or e.dtype == bool:
        np.testing.assert_array_equal(a, e, err_msg=where)
        return
    if e.dtype.kind in "iu" and a.dtype.kind in "iu":
        np.testing.assert_array_equal(a, e, err_msg=where)
        return
    try:
        ef = e.astype(np.float64)
        af = a.astype(np.float64)
    except (TypeError, ValueError):
        np.testing.assert_array_equal(a.view(np.uint8), e.view(np.uint8), err_msg=where)
        return
    np.testing.assert_allclose(af, ef, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)


def random_feeds(
    model, seed: int = 0, dim_values: Optional[Dict[str, int]] = None, int_high: int = 2, shapes: Optional[Dict[str, Sequence[int]]] = None
) -> Dict[str, Any]:
    """Random inputs for an irforge.Model's inputs; symbolic dims take `dim_values` or 1, and
    `shapes` gives whole input shapes by input name (checked against the static dims).

    Integer inputs are drawn from [0, int_high): small, so they are valid indices (token ids,
    token types, masks) for any embedding table.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    dim_values = dim_values or {}
    feeds = {}
    shapes = shapes or {}
    unknown = set(shapes) - {i.name for i in model.inputs}
    if unknown:
        raise UsageError(f"no model input named {', '.join(sorted(unknown))}; inputs: {', '.join(i.name for i in model.inputs)}")
    for info in model.inputs:
        shape = [d if isinstance(d, int) else dim_values.get(d, 1) if isinstance(d, str) else 1 for d in (info.shape or [])]
        if info.name in shapes:
            given = [int(d) for d in shapes[info.name]]
            if info.shape is not None and (
                len(given) != len(info.shape) or any(isinstance(d, int) and d != g for d, g in zip(info.shape, given))
            ):
                raise UsageError(f"input '{info.name}' has shape {info.shape_str()}; {given} does not fit it")
            shape = given
        dt = info.dtype
        if dt.startswith("float") or dt == "bfloat16":
            arr = rng.standard_normal(shape).astype(np.float32 if dt == "bfloat16" else dt)
        elif dt == "bool":
            arr = rng.integers(0, 2, shape).astype(bool)
        elif dt.startswith(("int", "uint")):
            arr = rng.integers(0, int_high, shape).astype(dt)
        else:
            raise UsageError(f"cannot make random data for input '{info.name}' of type {dt}")
        feeds[info.name] = arr
    return feeds


def check_pass(model_proto, pipeline: str, *, fires: bool, feeds=None, rtol: float = 1e-5, atol: float = 1e-6, openvino: bool = True):
    """The standard test of a pass (or pipeline) on a small model.

    Runs `pipeline` with the IR verifier on, asserts it reports a change exactly when `fires`,
    runs it again on its own output and asserts no change (idempotence), and compares the
    result with the original in onnxruntime (and, when `openvino`, the result's OpenVINO IR on
    the CPU plugin in f32) on fixed-seed random inputs. Returns the optimized irforge.Model.
    """
    import irforge

    original = model_proto.SerializeToString()
    model = irforge.convert_model(original, transform=pipeline, verify=True)
    changed = any(r["changed"] for r in model.pass_log)
    assert changed == fires, f"{pipeline}: expected changed={fires}, pass log: {model.pass_log}"
    # On a copy, not through ONNX: ONNX output expands fused ops newer than the model's opset.
    again = irforge.convert_model(model.copy(), transform=pipeline, verify=True)
    assert not any(r["changed"] for r in again.pass_log), f"{pipeline} is not idempotent: {again.pass_log}"

    feeds = feeds or random_feeds(irforge.convert_model(original, transform="none"), seed=0)
    expected = run_onnxruntime(original, feeds)
    assert expected and all(getattr(e, "size", 1) > 0 for e in expected), "nothing to compare"
    assert_outputs_close(expected, run_onnxruntime(model.to_onnx_bytes(), feeds), rtol=rtol, atol=atol)
    if openvino:
        assert_outputs_close(expected, run_openvino(model, feeds), rtol=max(rtol, 1e-4), atol=max(atol, 1e-5))
    return model


def run_openvino(model, feeds: Dict[str, Any], compress_to_fp16: bool = False) -> List[Any]:
    """Writes `model` (an irforge.Model) as OpenVINO IR and runs it on the CPU plugin in f32."""
    import os
    import tempfile

    import openvino as ov

    import irforge

    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "model.xml")
        irforge.save_model(model, xml, compress_to_fp16=compress_to_fp16)
        core = ov.Core()
        compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled.create_infer_request().infer(feeds)
        return [result[o] for o in compiled.outputs]
