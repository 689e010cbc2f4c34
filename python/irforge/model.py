"""irforge.Model: a converted model held by the C++ core."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

from irforge.dtypes import dtype_name

Dim = Union[int, str, None]

_KIND_NAMES = {0: "unknown", 1: "tensor", 2: "sparse_tensor", 3: "sequence", 4: "map", 5: "optional", 6: "opaque"}


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and shape of a model input or output.

    `shape` is None when the rank is unknown; a dim is an int (static), a str (symbolic, e.g.
    "batch") or None (unknown).
    """

    name: str
    dtype: str
    shape: Optional[Sequence[Dim]]
    kind: str = "tensor"

    def shape_str(self) -> str:
        if self.shape is None:
            return "[...]"
        return "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"

    def __str__(self) -> str:
        if self.kind != "tensor":
            return f"{self.name}: {self.kind}"
        return f"{self.name}: {self.dtype}{self.shape_str()}"


def _info(d: dict) -> TensorInfo:
    shape = d["shape"]
    return TensorInfo(
        name=d["name"],
        dtype=dtype_name(d["elem_type"]),
        shape=None if shape is None else tuple(shape),
        kind=_KIND_NAMES.get(d["kind"], "unknown"),
    )


def _locked(method):
    """Runs `method` holding the model's lock: the C++ calls run without the GIL and passes or
    compress_weights rewrite the graph in place, so a reader must never see it half-rewritten."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Model:
    """A model in irforge's graph IR. Create it with :func:`irforge.convert_model`.

    Every method and property takes the model's lock, as do the API functions that take a Model
    (convert_model, compress_weights, save_model): calls on one Model from several threads take
    turns, calls on different Models run in parallel."""

    def __init__(self, core) -> None:
        self._core = core
        # The C++ calls run without the GIL; passes mutate the graph in place, so calls on one
        # Model from several threads take turns (different Models run fully in parallel).
        self._lock = threading.RLock()
        # One dict per pass run (name, seconds, changed, rewrites, nodes_before, nodes_after).
        self.pass_log: List[dict] = []
        # Default-domain opset of ONNX output (0: the model's own); see convert_model.
        self.target_opset = 0
        # The pipeline text(s) run on this model, comma-joined (recorded in OpenVINO rt_info, so
        # `irforge check` can bisect the same pipeline).
        self.transform: str = ""
        # What else the conversion did, recorded in OpenVINO rt_info so `irforge check` can
        # reproduce it: the --input text, the options of each compress_weights call, and the
        # pipelines run after compressing.
        self.input: str = ""
        self.compress_options: List[dict] = []
        self.transform_after_compression: str = ""
        self._compression = None  # set by irforge.compress_weights

    @property
    @_locked
    def inputs(self) -> List[TensorInfo]:
        """Graph inputs that are not initializers."""
        return [_info(d) for d in self._core.inputs()]

    @property
    @_locked
    def outputs(self) -> List[TensorInfo]:
        return [_info(d) for d in self._core.outputs()]

    @property
    @_locked
    def op_histogram(self) -> Dict[str, int]:
        """Node count per op type (subgraphs included), e.g. {"Conv": 53, "Relu": 49}."""
        return dict(self._core.op_histogram())

    @property
    @_locked
    def node_count(self) -> int:
        return int(self._core.node_count())

    @property
    @_locked
    def weight_bytes(self) -> int:
        """Bytes of all constant tensors (initializers and Constant attributes)."""
        return int(self._core.weight_stats()[1])

    @property
    @_locked
    def weight_count(self) -> int:
        return int(self._core.weight_stats()[0])

    @property
    @_locked
    def opset_imports(self) -> Dict[str, int]:
        return dict(self._core.opset_imports)

    @property
    @_locked
    def ir_version(self) -> int:
        return int(self._core.ir_version)

    @property
    @_locked
    def name(self) -> str:
        return self._core.graph_name

    @property
    @_locked
    def functions(self) -> List[str]:
        return list(self._core.function_names())

    @_locked
    def dump(self) -> str:
        """The graph as readable text."""
        return self._core.dump()

    @_locked
    def verify(self) -> List[str]:
        """Structural problems of the IR (empty when well-formed)."""
        return list(self._core.verify())

    @_locked
    def to_onnx_bytes(self, target_opset: Optional[int] = None) -> bytes:
        """The model serialized as ONNX (weights inline; fails above protobuf's 2 GB limit).

        Fused ops newer than the output opset (`target_opset`, default the model's) are written
        decomposed; the Model itself is not changed."""
        from irforge._options import target_opset as checked_opset

        opset = self.target_opset if target_opset is None else checked_opset(target_opset)
        return self._core.to_onnx_bytes(target_opset=opset)

    @_locked
    def copy(self) -> "Model":
        """An independent copy of the graph (weights are shared, not copied)."""
        m = Model(self._core.copy())
        m.target_opset = self.target_opset
        m.transform = self.transform
        m.input = self.input
        m.compress_options = [dict(o) for o in self.compress_options]
        m.transform_after_compression = self.transform_after_compression
        m._compression = self._compression  # the report describes the copy's weights too
        return m

    @_locked
    def summary(self) -> str:
        lines = [f"model: {self.name or '(unnamed)'}"]
        source = self._core.source_path
        if source:
            lines.append(f"source: {source}")
        opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(self.opset_imports.items()))
        lines.append(f"ir_version: {self.ir_version}; opsets: {opsets}")
        lines.append("inputs:")
        lines += [f"  {i}" for i in self.inputs]
        lines.append("outputs:")
        lines += [f"  {o}" for o in self.outputs]
        lines.append(f"weights: {self.weight_count} tensors, {_human_bytes(self.weight_bytes)}")
        hist = self.op_histogram
        lines.append(f"nodes: {sum(hist.values())} ({len(hist)} op types)")
        for op, n in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {op:<32} {n}")
        if self.functions:
            lines.append("functions: " + ", ".join(self.functions))
        return "\n".join(lines)

    @_locked
    def pass_table(self) -> str:
        """The pass log as a table (what `irforge convert --verbose` prints)."""
        if not self.pass_log:
            return "no passes ran"
        rows = [f"{'pass':<28} {'time ms':>9} {'changed':>8} {'rewrites':>9} {'nodes':>13}"]
        for r in self.pass_log:
            nodes = f"{r['nodes_before']}->{r['nodes_after']}"
            rows.append(
                f"{r['name']:<28} {r['seconds'] * 1000:>9.2f} {('yes' if r['changed'] else 'no'):>8} {r['rewrites']:>9} {nodes:>13}"
            )
        total = sum(r["seconds"] for r in self.pass_log)
        rows.append(f"{'total':<28} {total * 1000:>9.2f}")
        return "\n".join(rows)

    @_locked
    def compression_report(self, errors: bool = False) -> List[dict]:
        """What :func:`irforge.compress_weights` did to each eligible weight: weight, node,
        op_type, shape, mode ("int4_asym", ..., "float"), group_size (-1 per channel), reason,
        original_bytes, compressed_bytes; with `errors`, also relative_error =
        ||dequantized - original|| / ||original|| (reads every weight once more)."""
        if self._compression is None:
            return []
        rows = list(self._compression.weights())
        if errors:
            for i, r in enumerate(rows):
                r["relative_error"] = self._compression.relative_error(i)
        return rows

    @_locked
    def compression_table(self, errors: bool = True) -> str:
        """The compression report as a table (what `irforge convert --verbose` prints)."""
        rows = self.compression_report(errors)
        if not rows:
            return "no weights compressed"
        lines = [f"{'weight':<48} {'op':<8} {'mode':<10} {'group':>6} {'bytes':>12} {'compressed':>12} {'rel.err':>9}"]
        total_in = total_out = 0
        for r in rows:
            group = "chan" if r["group_size"] == -1 else ("-" if r["mode"] == "float" else str(r["group_size"]))
            err = f"{r['relative_error']:.4f}" if "relative_error" in r else ""
            lines.append(
                f"{r['weight'][:48]:<48} {r['op_type']:<8} {r['mode']:<10} {group:>6} {r['original_bytes']:>12} {r['compressed_bytes']:>12} {err:>9}"
            )
            total_in += r["original_bytes"]
            total_out += r["compressed_bytes"]
        lines.append(f"{'total':<48} {'':<8} {'':<10} {'':>6} {total_in:>12} {total_out:>12}")
        note = self._compression.onnx_note
        if note:
            lines.append(note)
        return "\n".join(lines)

    @_locked
    def __repr__(self) -> str:
        ins = ", ".join(str(i) for i in self.inputs)
        outs = ", ".join(str(o) for o in self.outputs)
        return f"<irforge.Model inputs=({ins}) outputs=({outs}) nodes={self.node_count} weights={_human_bytes(self.weight_bytes)}>"


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
