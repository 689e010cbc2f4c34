"""`irforge check ORIGINAL CONVERTED`: is the converted model still the original model?

Runs the original ONNX model in onnxruntime (graph optimizations off) and the converted model in
OpenVINO (.xml, CPU plugin at f32 inference precision, so only the conversion is judged) or
onnxruntime (.onnx) on the same inputs, and reports per output the largest absolute error, the
largest error relative to the output's scale, and the cosine similarity.

When an output is out of tolerance, the pass pipeline is bisected: the original is converted
again with the pipeline recorded in the converted model (OpenVINO rt_info) or the given one,
the passes that pipeline actually ran are listed in order, and prefixes of that list are
converted, written in the same format and compared, to name the first pass after which the
outputs diverge (or the writer, when even no passes diverge).

Tolerances (relative to the output's scale, max|expected|): 1e-4 for f32 output (float32
results of the same math in another order and another runtime differ by ~1e-6 per op and a
few 1e-5 after deep stacks); 2e-2 when the weights were stored as fp16 (fp16 keeps 11
significant bits, ~5e-4 per weight, which adds up to ~1e-2 on deep CNNs: issue #3's bound).
Integer and bool outputs must be equal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from irforge import _options as opt
from irforge.errors import ModelFileError, UnsupportedError, UsageError, api_entry
from irforge.reproduce import Recipe, original_feeds

FP32_RTOL = 1e-4
FP16_RTOL = 2e-2
DEFAULT_ATOL = 1e-6  # outputs whose scale is ~0 compare absolutely


@dataclass
class OutputCheck:
    name: str
    dtype: str
    shape: Tuple[int, ...]
    max_abs: float
    max_rel: float  # max |actual - expected| / max |expected|
    cosine: float
    mismatches: int  # elements out of tolerance (or unequal, for integer/bool outputs)
    ok: bool
    note: str = ""


@dataclass
class BisectResult:
    passes: List[str]  # the passes the pipeline ran, in order
    first_bad: Optional[int]  # index into `passes`; None when the failure is not in the passes
    culprit: str  # the pass name, "writer" (no passes also diverge) or "" (not reproduced)
    detail: str
    conversions: int  # prefixes converted and compared


@dataclass
class CheckReport:
    original: str
    converted: str
    rtol: float
    atol: float
    outputs: List[OutputCheck]
    bisect: Optional[BisectResult] = None
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.outputs) and all(o.ok for o in self.outputs)

    def table(self) -> str:
        rows = [f"{'output':<28} {'dtype':<8} {'shape':<18} {'max abs':>11} {'max rel':>11} {'cosine':>10}  result"]
        for o in self.outputs:
            shape = "[" + ",".join(str(d) for d in o.shape) + "]"
            rows.append(
                f"{o.name[:28]:<28} {o.dtype:<8} {shape[:18]:<18} {o.max_abs:>11.3e} {o.max_rel:>11.3e} {o.cosine:>10.6f}  "
                + ("ok" if o.ok else f"FAIL ({o.mismatches} elements)")
                + (f" {o.note}" if o.note else "")
            )
        return "\n".join(rows)

    def __str__(self) -> str:
        lines = [f"original:  {self.original}", f"converted: {self.converted}"]
        lines += self.notes
        lines.append(f"tolerance: max rel <= {self.rtol:g} (relative to each output's scale), atol {self.atol:g}")
        lines.append(self.table())
        if self.bisect:
            b = self.bisect
            lines.append(f"bisection ({b.conversions} conversions over {len(b.passes)} passes): {b.detail}")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


@api_entry
def check(
    original,
    converted,
    *,
    input=None,
    inputs: Optional[Dict[str, Any]] = None,
    shapes: Optional[Dict[str, Sequence[int]]] = None,
    dims: Optional[Dict[str, int]] = None,
    seed: int = 0,
    rtol: Optional[float] = None,
    atol: float = DEFAULT_ATOL,
    transform: Optional[str] = None,
    bisect: bool = True,
) -> CheckReport:
    """Compares `converted` (.xml or .onnx path) with `original` (.onnx path).

    Inputs: `inputs` (a dict of arrays, or the path of an .npz file), else random data
    (irforge.testing.random_feeds) with input shapes from `shapes` ({input: [dims]}) and symbolic
    dims from `dims` ({"batch": 2}; unnamed or unlisted dynamic dims are 1). `rtol` defaults to
    1e-4, or 2e-2 for OpenVINO IR with fp16 weights. `transform` is the pipeline to bisect
    (default: the one recorded in the converted model, else "default").

    `input` is the `input=` (`--input`) the model was converted with: its shapes shape the
    random data, its frozen values are fed to the original (the converted model no longer has
    those inputs) and its types are those the converted model is fed.
    """
    import irforge
    from irforge.testing import random_feeds

    original, converted = opt.path("original", original), opt.path("converted", converted)
    seed = opt.integer("seed", seed, 0, (1 << 63) - 1)
    if rtol is not None:
        rtol = opt.real("rtol", rtol, 0.0, lo_open=True)
    atol = opt.real("atol", atol, 0.0)
    bisect = opt.boolean("bisect", bisect)
    if transform is not None:
        opt.pipeline(transform)
    dims = {str(k): opt.integer(f"dims[{k!r}]", v, 1, MAX_CHECK_DIM) for k, v in (dims or {}).items()}
    shapes = {str(k): [opt.integer(f"shapes[{k!r}]", d, 0, MAX_CHECK_DIM) for d in v] for k, v in (shapes or {}).items()}
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UnsupportedError("irforge check runs the original in onnxruntime: pip install onnxruntime") from None
    for path, what in ((original, "original"), (converted, "converted")):
        if not os.path.isfile(path):
            raise ModelFileError(f"{path}: no such file (the {what} model)")
    kind = os.path.splitext(converted)[1].lower()
    if kind not in (".xml", ".onnx"):
        raise UnsupportedError(f"{converted}: cannot check '{kind}' models; give an OpenVINO .xml or an .onnx file")

    notes = []
    rt_info = _openvino_rt_info(converted) if kind == ".xml" else {}
    fp16 = kind == ".xml" and (rt_info.get("conversion_parameters/compress_to_fp16", "True") == "True")
    if kind == ".xml":
        notes.append(f"weights: {'fp16' if fp16 else 'f32'} (from the converted model's rt_info)")
    if rtol is None:
        rtol = FP16_RTOL if fp16 else FP32_RTOL
    recipe = Recipe.from_rt_info(rt_info)
    pipeline = transform or recipe.transform or "default"

    if input is not None:  # given here, it replaces the one recorded in the converted model
        recipe.input = input
        notes.append(f"input: {input if isinstance(input, str) else repr(input)}")
    # The inputs of the converted model: --input may have fixed shapes or frozen some inputs.
    source = irforge.convert_model(original, transform="none", input=recipe.input or None)
    symbols = {d for i in source.inputs for d in (i.shape or []) if isinstance(d, str)}
    unknown = set(dims) - symbols
    if unknown and inputs is None:
        raise UsageError(
            f"no input has a dim named {', '.join(sorted(unknown))}; symbolic dims: {', '.join(sorted(symbols)) or 'none'}"
        )
    feeds = _load_inputs(inputs) if inputs is not None else random_feeds(source, seed=seed, dim_values=dims, shapes=shapes)
    expected = _run_original(original, original_feeds(recipe, irforge.convert_model(original, transform="none").inputs, feeds))
    if recipe.compress:
        # Compressed weights change the outputs by design: the reference is the original with
        # the same conversion (compression included) run in onnxruntime, so what is judged is
        # the writing and lowering, at the usual tolerance.
        try:
            expected = _run_original(recipe.convert(original, pipeline).to_onnx_bytes(), feeds, f"{original} (compressed alike)")
            notes.append("compressed weights: compared with the original compressed alike, run in onnxruntime")
        except UnsupportedError as e:
            notes.append(f"compressed weights: compared with the float original ({e})")
    names = [o.name for o in source.outputs]
    try:
        actual = _run_converted(converted, kind, feeds, names)
    except UnsupportedError as e:
        if input is None:  # the likeliest cause: inputs the conversion fixed or froze
            raise UnsupportedError(f"{e}; if it was converted with --input (input=...), give the same one here") from e
        raise
    report = CheckReport(original, converted, rtol, atol, _compare(names, expected, actual, rtol, atol), notes=notes)
    if not report.ok and bisect:
        report.bisect = _bisect(original, pipeline, kind, fp16, feeds, names, expected, rtol, atol, recipe)
    return report


# Largest dim of generated random data: check runs models on small inputs.
MAX_CHECK_DIM = 1 << 20


def _first_line(e: BaseException) -> str:
    """A runtime's message on one line, without OpenVINO's "Exception from src/...:" locations."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith("Exception from src/")]
    text = "; ".join(lines) or type(e).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def _run_original(original, feeds, shown_as: Optional[str] = None):
    """Runs the original (a path, or model bytes shown as `shown_as`) in onnxruntime."""
    from irforge.testing import run_onnxruntime

    try:
        return run_onnxruntime(original, feeds)
    except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types
        raise UnsupportedError(f"{shown_as or original}: onnxruntime cannot run the original model: {_first_line(e)}") from e


def _load_inputs(inputs) -> Dict[str, Any]:
    import numpy as np

    if isinstance(inputs, (str, os.PathLike)):
        path = os.fspath(inputs)
        if not os.path.isfile(path):
            raise ModelFileError(f"{path}: no such file (the inputs)")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except Exception as e:  # noqa: BLE001 - numpy/zipfile errors of a damaged or foreign file
            raise ModelFileError(f"{path}: cannot read the inputs (expected an .npz file of arrays): {_first_line(e)}") from e
    if not isinstance(inputs, dict):
        raise TypeError(f"inputs must be a dict of arrays or the path of an .npz file, not {type(inputs).__name__}")
    return {str(k): np.asarray(v) for k, v in inputs.items()}


def _openvino_rt_info(xml_path: str) -> Dict[str, str]:
    """Model-level rt_info of an OpenVINO IR as flat "a/b" -> value pairs."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ModelFileError(f"{xml_path}: not an OpenVINO IR .xml file ({e})") from None
    out: Dict[str, str] = {}

    def walk(el, prefix):
        for child in el:
            key = f"{prefix}{child.tag}"
            if "value" in child.attrib:
                out[key] = child.attrib["value"]
            walk(child, key + "/")

    rt = root.find("rt_info")
    if rt is not None:
        walk(rt, "")
    return out


def _run_converted(path: str, kind: str, feeds, names: List[str]) -> List[Any]:
    try:
        return _run_converted_unchecked(path, kind, feeds, names)
    except UnsupportedError:
        raise
    except Exception as e:  # noqa: BLE001 - the runtimes' own exception types
        runtime = "OpenVINO" if kind == ".xml" else "onnxruntime"
        raise UnsupportedError(f"{path}: {runtime} cannot run the converted model: {_first_line(e)}") from e


def _run_converted_unchecked(path: str, kind: str, feeds, names: List[str]) -> List[Any]:
    if kind == ".onnx":
        from irforge.testing import onnxruntime_session

        sess = onnxruntime_session(path)
        produced = [o.name for o in sess.get_outputs()]
        results = dict(zip(produced, sess.run(None, feeds)))
        return [results.get(n, None) for n in names] if all(n in results for n in names) else list(results.values())
    try:
        import openvino as ov
    except ImportError:
        raise UnsupportedError(f"{path}: checking OpenVINO IR needs the openvino package (pip install openvino)") from None

    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer(feeds)
    by_name = {}
    for port in compiled.outputs:
        for n in port.get_names():
            by_name[n] = result[port]
    if all(n in by_name for n in names):
        return [by_name[n] for n in names]
    return [result[p] for p in compiled.outputs]  # names lost: by position


def _compare(names, expected, actual, rtol, atol) -> List[OutputCheck]:
    import numpy as np

    out = []
    for i, name in enumerate(names):
        e = np.asarray(expected[i])
        a = np.asarray(actual[i]) if i < len(actual) and actual[i] is not None else None
        if a is None:
            out.append(OutputCheck(name, str(e.dtype), e.shape, float("inf"), float("inf"), 0.0, e.size, False, "missing"))
            continue
        if a.shape != e.shape:
            out.append(
                OutputCheck(name, str(e.dtype), e.shape, float("inf"), float("inf"), 0.0, e.size, False, f"shape {list(a.shape)}")
            )
            continue
        if e.dtype.kind in "biuOSU":
            unequal = int(np.count_nonzero(a != e))
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64)) if e.dtype.kind in "biu" else np.zeros(1)
            max_abs = float(diff.max()) if diff.size else 0.0
            scale = float(np.abs(e.astype(np.float64)).max()) if e.size and e.dtype.kind in "biu" else 0.0
            out.append(
                OutputCheck(name, str(e.dtype), e.shape, max_abs, max_abs / scale if scale else max_abs, 1.0 if not unequal else float("nan"), unequal, unequal == 0)
            )
            continue
        ef, af = e.astype(np.float64).ravel(), a.astype(np.float64).ravel()
        nan_mismatch = int(np.count_nonzero(np.isnan(ef) != np.isnan(af)))
        finite = np.isfinite(ef) & np.isfinite(af)
        inf_mismatch = int(np.count_nonzero(~finite & ~np.isnan(ef) & (ef != af)))
        diff = np.abs(af[finite] - ef[finite])
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(ef[finite]).max()) if diff.size else 0.0
        limit = max(atol, rtol * scale)
        bad = int(np.count_nonzero(diff > limit)) + nan_mismatch + inf_mismatch
        ne, na = np.linalg.norm(ef[finite]), np.linalg.norm(af[finite])
        cosine = float(np.dot(ef[finite], af[finite]) / (ne * na)) if ne > 0 and na > 0 else (1.0 if ne == na else 0.0)
        out.append(OutputCheck(name, str(e.dtype), e.shape, max_abs, max_abs / scale if scale else max_abs, cosine, bad, bad == 0))
    return out


def _bisect(original, pipeline, kind, fp16, feeds, names, expected, rtol, atol, recipe=None) -> BisectResult:
    import tempfile

    import irforge

    # The passes the pipeline really runs (fixed-point groups unrolled as they converge on this
    # model): a prefix of this list, run as plain pipeline text, reproduces the state after it.
    recipe = recipe or Recipe()
    # The recorded options (--input, compression) are applied to every prefix too.
    full = recipe.convert(original, pipeline)
    passes = [r["name"] for r in full.pass_log]
    conversions = 0
    histograms = {}

    def diverges(k: int) -> bool:
        nonlocal conversions
        conversions += 1
        text = ",".join(passes[:k]) if k else "none"
        model = recipe.convert(original, text)
        histograms[k] = model.op_histogram
        with tempfile.TemporaryDirectory(prefix="irforge-check-") as tmp:
            path = os.path.join(tmp, "model" + kind)
            if kind == ".xml":
                irforge.save_model(model, path, compress_to_fp16=fp16)
            else:
                irforge.save_model(model, path)
            try:
                actual = _run_converted(path, kind, feeds, names)
            except Exception:  # noqa: BLE001 - a model that no longer runs has diverged too
                return True
        return not all(o.ok for o in _compare(names, expected, actual, rtol, atol))

    n = len(passes)
    if not diverges(n):
        return BisectResult(
            passes, None, "", f"converting the original again with \"{pipeline}\" does not reproduce the failure "
            "(was the converted model made with other options or another irforge version?)", conversions
        )
    if diverges(0):
        return BisectResult(
            passes, None, "writer", "outputs diverge with no passes at all: the fault is in reading or writing "
            f"({'OpenVINO lowering / IR writer' if kind == '.xml' else 'ONNX writer'}), not in a pass", conversions
        )
    lo, hi = 0, n  # prefix lo matches, prefix hi diverges
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if diverges(mid):
            hi = mid
        else:
            lo = mid
    culprit = passes[hi - 1]
    for k in (hi - 1, hi):
        if k not in histograms:
            histograms[k] = recipe.convert(original, ",".join(passes[:k]) if k else "none").op_histogram
    before, after = histograms[hi - 1], histograms[hi]
    delta = ", ".join(
        f"{op} {after.get(op, 0) - before.get(op, 0):+d}" for op in sorted(set(before) | set(after)) if after.get(op, 0) != before.get(op, 0)
    )
    detail = (
        f"outputs first diverge after pass #{hi} '{culprit}' (run {passes[:hi].count(culprit)} of "
        f"{passes.count(culprit)} of that pass; reproduce with --transform \"{','.join(passes[:hi])}\")"
        + (f"; it changed the ops: {delta}" if delta else "")
    )
    return BisectResult(passes, hi - 1, culprit, detail, conversions)
