"""Build an irforge Model op by op: the API every Python frontend (PyTorch, ...) uses.

    b = irforge.Builder("my model")
    x = b.input("x", "float32", ["batch", 3, 32, 32])       # str dims are symbolic, None unknown
    w = b.constant("w", weights)                            # numpy array: viewed, not copied
    (y,) = b.node("Conv", [x, w], pads=[1, 1, 1, 1])
    b.output(y, "logits")
    model = b.finish()                                      # an irforge.Model, verified

Ops are ONNX ops (default domain, opset `Builder.DEFAULT_OPSET` unless `set_opset` says
otherwise) or documented `irforge`-domain ops. The Model goes through the same checks, passes
(`irforge.convert_model(model)` runs them) and writers as a read ONNX model.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

from irforge import _core
from irforge.dtypes import ONNX_TO_NAME
from irforge.errors import UsageError
from irforge.model import Model

NAME_TO_ONNX = {name: code for code, name in ONNX_TO_NAME.items()}
# numpy spellings users may pass
NAME_TO_ONNX.update({"float": 1, "double": 11, "half": 10, "bool_": 9, "bf16": 16, "f32": 1, "f16": 10, "i64": 7, "i32": 6})

Value = Any  # an opaque _core.BuilderValue handle
Graph = Any  # an opaque _core.BuilderGraph handle (a subgraph body)


def elem_type(dtype) -> int:
    """ONNX element type number of a dtype given as a name ("float32"), number or numpy dtype."""
    if isinstance(dtype, int):
        if dtype not in ONNX_TO_NAME:
            raise UsageError(f"unknown element type number {dtype}")
        return dtype
    name = str(getattr(dtype, "name", dtype))
    if name not in NAME_TO_ONNX:
        raise UsageError(f"unknown element type '{name}'")
    return NAME_TO_ONNX[name]


def _attribute(value) -> tuple:
    """(kind, value) for the C++ side; the kind follows ONNX's AttributeProto types."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("ints", "floats", "strings"):
        return value  # explicit kind, e.g. ("floats", []) for an empty float list
    if isinstance(value, bool) or isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, (str, bytes)):
        return ("string", value)
    if isinstance(value, _core.BuilderGraph):
        return ("graph", value)
    if hasattr(value, "dtype") and hasattr(value, "tobytes"):  # a numpy array: tensor attribute
        import numpy as np

        arr = np.asarray(value)
        arr = arr if arr.flags.c_contiguous else arr.copy()  # ascontiguousarray would make 0-D arrays 1-D
        return ("tensor", (elem_type(arr.dtype), list(arr.shape), arr.tobytes()))
    if isinstance(value, (list, tuple)):
        items = list(value)
        if all(isinstance(v, (bool, int)) for v in items):
            return ("ints", [int(v) for v in items])
        if all(isinstance(v, (bool, int, float)) for v in items):
            return ("floats", [float(v) for v in items])
        if all(isinstance(v, str) for v in items):
            return ("strings", items)
    raise TypeError(f"cannot use a {type(value).__name__} as an attribute value")


class Builder:
    """Creates a Model: inputs, zero-copy constants, nodes, outputs, then :meth:`finish`."""

    DEFAULT_OPSET = 21

    def __init__(self, source: str = "<built model>") -> None:
        self._b = _core.Builder(source)

    def input(self, name: str, dtype, shape: Optional[Sequence] = None, graph: Optional[Graph] = None) -> Value:
        """A graph input; `shape` dims are ints (static), strs (symbolic) or None (unknown)."""
        return self._b.input(name, elem_type(dtype), None if shape is None else list(shape), graph)

    def constant(self, name: str, array, dtype=None, shape: Optional[Sequence[int]] = None, graph: Optional[Graph] = None) -> Value:
        """A constant viewing `array`'s memory (any C-contiguous buffer; numpy arrays, torch
        tensors via `.numpy()`), kept alive by the Model. `dtype`/`shape` default to the array's;
        give them to reinterpret bytes (e.g. bfloat16 held in an int16 array)."""
        code = elem_type(dtype if dtype is not None else array.dtype)
        dims = list(shape if shape is not None else array.shape)
        return self._b.constant_buffer(name, code, dims, array, 0, graph)

    def constant_from_file(self, name: str, path: str, offset: int, dtype, shape: Sequence[int], graph: Optional[Graph] = None) -> Value:
        """A constant viewing bytes [offset, offset + size) of a memory-mapped file."""
        return self._b.constant_file(name, elem_type(dtype), list(shape), os.fspath(path), int(offset), graph)

    def node(
        self,
        op_type: str,
        inputs: Sequence[Optional[Value]],
        attrs: Optional[Dict[str, Any]] = None,
        *,
        outputs: int = 1,
        domain: str = "",
        name: str = "",
        output_names: Sequence[str] = (),
        graph: Optional[Graph] = None,
        **more_attrs,
    ) -> List[Value]:
        """Appends a node and returns its `outputs` output values. Attributes come as a dict
        and/or keywords: int, float, str, lists of them, numpy arrays (tensor) and subgraphs."""
        merged = dict(attrs or {})
        merged.update(more_attrs)
        specs = {k: _attribute(v) for k, v in merged.items()}
        return list(self._b.node(op_type, list(inputs), specs, outputs, domain, name, list(output_names), graph))

    def output(self, value: Value, name: str = "", graph: Optional[Graph] = None) -> Value:
        """Marks `value` as a graph output named `name` (a name taken by an input gets a suffix)."""
        return self._b.output(value, name, graph)

    def set_type(self, value: Value, dtype, shape: Optional[Sequence] = None) -> None:
        self._b.set_type(value, elem_type(dtype), None if shape is None else list(shape))

    def subgraph(self, name: str, parent: Optional[Graph] = None) -> Graph:
        """An empty subgraph (If/Loop body); give it to `node(...)` as a graph attribute."""
        return self._b.subgraph(name, parent)

    def set_opset(self, domain: str, version: int) -> None:
        self._b.set_opset(domain, int(version))

    def finish(self) -> Model:
        """The verified Model; the builder cannot be used afterwards."""
        return Model(self._b.finish())
