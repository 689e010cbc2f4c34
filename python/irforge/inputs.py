"""Input specifications: fix shapes, change types, freeze inputs to values — as ovc/mo spell them.

Text (the CLI's ``--input`` and ``convert_model(input="...")``), several inputs separated by
commas outside brackets::

    x[1,3,224,224]            shape; dims: numbers, ? or -1 (dynamic), 1..10 / ..10 / 1.. (a range, kept dynamic)
    [1,3,224,224]             shape of the n-th input when names are left out
    x{i64}                    element type (f64 f32 f16 bf16 i64 i32 i16 i8 u64 u32 u16 u8 boolean, or numpy names)
    x->[0]   x[2]->[1,2]      freeze to a value (the input becomes a constant); x{i64}->5, flag->False
    x[1 3 224 224]            mo's space-separated dims work too

Python values for ``convert_model(input=...)``, as ``openvino.convert_model`` takes them: a
shape (list/tuple of ints, -1 or "?"), a list with one entry per input (text, name, shape, or a
tuple mixing a name, a shape, a numpy dtype and a numpy array value), or a dict mapping input
names to a shape, a dtype, a value (numpy array) or such a tuple.
"""

from __future__ import annotations

import re
from typing import Any, List, NamedTuple, Optional, Sequence

from irforge.errors import UsageError

_TYPES = {
    "f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16",
    "i64": "int64", "i32": "int32", "i16": "int16", "i8": "int8",
    "u64": "uint64", "u32": "uint32", "u16": "uint16", "u8": "uint8",
    "boolean": "bool", "bool": "bool",
}
_NAME_TO_ONNX = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
                 "float16": 10, "float64": 11, "uint32": 12, "uint64": 13, "bfloat16": 16}


# The readers' limit on elements per tensor (README "Reliability"), as a bound on one dim.
MAX_DIM = 1 << 40


class InputSpec(NamedTuple):
    """One input's specification: which input (name, or position when None), its shape
    (ints, -1 = dynamic), element type (numpy-style name) and frozen value (numpy array)."""

    name: Optional[str] = None
    shape: Optional[List[int]] = None
    type: Optional[str] = None
    value: Any = None
    # Bounded dynamic dims of `shape` (-1 there): {axis: (lo, hi)}, from ranges such as 1..8;
    # written to OpenVINO IR as "1..8".
    bounds: Optional[dict] = None


def _fail(text: str, why: str):
    raise UsageError(f"--input '{text}': {why}")


def _split_items(text: str) -> List[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                _fail(text, f"unbalanced '{ch}' at position {i}")
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth != 0:
        _fail(text, "unbalanced brackets")
    items.append(text[start:])
    return [s.strip() for s in items]


def _parse_dim(tok: str, text: str) -> int:
    tok = tok.strip()
    if tok in ("?", "-1"):
        return -1
    if ".." in tok:  # a range: OpenVINO's bounded dynamic dim; irforge keeps it dynamic
        lo, hi = tok.split("..", 1)
        if (lo and not lo.isdigit()) or (hi and not hi.isdigit()) or (lo and hi and int(lo) > int(hi)):
            _fail(text, f"bad dimension range '{tok}' (expected like 1..10, ..10 or 1..)")
        if lo and hi and lo == hi:
            return int(lo)
        return -1
    if not tok.isdigit():
        _fail(text, f"bad dimension '{tok}' (expected a number, ? or -1, or a range like 1..10)")
    return int(tok)


def _parse_shape(body: str, text: str) -> List[int]:
    toks = [t for t in re.split(r"[,\s]+", body.strip()) if t]
    return [_parse_dim(t, text) for t in toks]


def _parse_type(name: str, text: str) -> str:
    key = name.strip().lower()
    t = _TYPES.get(key, key)
    if t not in _NAME_TO_ONNX:
        _fail(text, f"unknown element type '{name}' (use f32, f16, i64, i32, u8, boolean, ...)")
    return t


def _parse_scalar(tok: str, text: str):
    low = tok.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        _fail(text, f"bad value '{tok}' (expected numbers or True/False)")


def _parse_value(body: str, text: str):
    import numpy as np

    body = body.strip()
    if not body:
        _fail(text, "empty value after '->'")
    if body.startswith("[") != body.endswith("]"):
        _fail(text, f"value '{body}' has unbalanced brackets")
    if body.startswith("["):
        toks = [t for t in re.split(r"[\[\],\s]+", body) if t]
        return np.array([_parse_scalar(t, text) for t in toks])  # a list (1-D unless a shape says otherwise)
    return np.array(_parse_scalar(body, text))  # a scalar


_ITEM = re.compile(r"^(?P<name>[^\[\]{}]*?)\s*(?:(?P<shape1>\[[^\]]*\])\s*)?(?:\{(?P<type>[^}]*)\}\s*)?(?:(?P<shape2>\[[^\]]*\])\s*)?$")


def parse_input_text(text: str) -> List[InputSpec]:
    """Parses ``--input`` text into InputSpecs (names may be None for positional shapes)."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("--input: empty specification")
    specs = []
    for item in _split_items(text):
        if not item:
            _fail(text, "empty entry (two commas in a row?)")
        head, arrow, value_text = item.partition("->")
        if "->" in value_text:
            _fail(item, "more than one '->'")
        m = _ITEM.match(head.strip())
        if not m:
            _fail(item, "expected name[shape]{type}->value")
        if m.group("shape1") and m.group("shape2"):
            _fail(item, "two shapes given")
        shape_text = m.group("shape1") or m.group("shape2")
        shape = _parse_shape(shape_text[1:-1], item) if shape_text else None
        bounds = _parse_bounds(shape_text[1:-1]) if shape_text else None
        dtype = _parse_type(m.group("type"), item) if m.group("type") is not None else None
        value = _parse_value(value_text, item) if arrow else None
        name = m.group("name").strip() or None
        if name is None and value is not None:
            _fail(item, "a frozen value needs the input's name")
        if name is None and shape is None and dtype is None:
            _fail(item, "expected an input name or a shape")
        specs.append(InputSpec(name, shape, dtype, value, bounds))
    return specs


def _parse_bounds(body: str) -> Optional[dict]:
    """{axis: (lo, hi)} of the ranges lo..hi (both given, lo < hi) among the dims."""
    out = {}
    for axis, tok in enumerate(t for t in re.split(r"[,\s]+", body.strip()) if t):
        lo, dots, hi = tok.partition("..")
        if dots and lo.isdigit() and hi.isdigit() and int(lo) < int(hi):
            out[axis] = (int(lo), int(hi))
    return out or None


def _is_shape(x) -> bool:
    if type(x).__name__ in ("PartialShape", "Shape"):
        return True
    return isinstance(x, (list, tuple)) and all(
        (isinstance(d, int) and not isinstance(d, bool)) or d == "?" or d is None or type(d).__name__ == "Dimension" for d in x)


def _shape_of(x) -> List[int]:
    if type(x).__name__ in ("PartialShape", "Shape"):
        return _parse_shape(str(x).strip("[]{}<>").replace("PartialShape:", ""), str(x))
    out = []
    for d in x:
        if d is None or d == "?":
            out.append(-1)
        elif type(d).__name__ == "Dimension":
            out.append(d.get_length() if d.is_static else -1)
        else:
            out.append(int(d))
    return out


def _type_of(x) -> Optional[str]:
    import numpy as np

    if isinstance(x, str):
        try:
            return _parse_type(x, x)
        except ValueError:
            return None
    if type(x).__name__ == "Type" and hasattr(x, "to_dtype"):  # openvino.Type
        x = x.to_dtype()
    try:
        name = np.dtype(x).name
    except TypeError:
        return None
    return name if name in _NAME_TO_ONNX else None


def _from_tuple(t: Sequence) -> InputSpec:
    import numpy as np

    name = shape = dtype = value = None
    for x in t:
        if isinstance(x, np.ndarray) or isinstance(x, (bool, float, np.generic)):
            value = np.asarray(x)
        elif isinstance(x, str) and _type_of(x) is None:
            name = x
        elif _is_shape(x):
            shape = _shape_of(x)
        elif _type_of(x) is not None:
            dtype = _type_of(x)
        else:
            raise UsageError(f"input={t!r}: cannot tell what {x!r} is (expected a name, a shape, a dtype or a numpy value)")
    return InputSpec(name, shape, dtype, value)


def _is_single_input(items: Sequence) -> bool:
    """At most one name, one shape, one type and one value, and a name or a value among them
    (so ["x[1]", "y[2]"] or [[1], [2]] stay lists of inputs)."""
    import numpy as np

    kinds = []
    for x in items:
        if isinstance(x, (np.ndarray, np.generic, bool, float)):
            kinds.append("value")
        elif isinstance(x, str) and _type_of(x) is None:
            if any(c in x for c in "[]{}->,"):
                return False  # input text, not a bare name
            kinds.append("name")
        elif _is_shape(x):
            kinds.append("shape")
        elif _type_of(x) is not None:
            kinds.append("type")
        else:
            return False
    return len(kinds) == len(set(kinds)) and ("name" in kinds or "value" in kinds)


def normalize_input(spec) -> List[InputSpec]:
    """Turns the forms ``convert_model(input=...)`` accepts into InputSpecs."""
    import numpy as np

    if spec is None:
        return []
    if isinstance(spec, str):
        return parse_input_text(spec)
    if isinstance(spec, dict):
        out = []
        for name, v in spec.items():
            if not isinstance(name, str):
                raise UsageError(f"input: dict keys must be input names, got {name!r}")
            if isinstance(v, InputSpec) or (hasattr(v, "_fields") and "value" in v._fields):
                s = InputSpec(name, _shape_of(v.shape) if v.shape is not None else None,
                              _type_of(v.type) if v.type is not None else None, v.value)
            elif isinstance(v, (np.ndarray, np.generic, bool, float)):
                s = InputSpec(name, None, None, np.asarray(v))
            elif _is_shape(v):
                s = InputSpec(name, _shape_of(v))
            elif _type_of(v) is not None:
                s = InputSpec(name, None, _type_of(v))
            elif isinstance(v, tuple):
                s = _from_tuple(v)._replace(name=name)
            else:
                raise UsageError(f"input: cannot use {v!r} for '{name}' (expected a shape, a dtype, a numpy value or a tuple)")
            out.append(s)
        return out
    if hasattr(spec, "_fields") and "value" in spec._fields:  # InputSpec or ovc's InputCutInfo
        return normalize_input([spec])
    if _is_shape(spec):
        return [InputSpec(None, _shape_of(spec))]
    if isinstance(spec, (list, tuple)) and _is_single_input(spec):
        return [_from_tuple(spec)]  # ("x", [1, 3, 224, 224], np.float32), as openvino.convert_model reads it
    if isinstance(spec, (list, tuple)):
        out = []
        for item in spec:
            if isinstance(item, str):
                out.extend(parse_input_text(item))
            elif hasattr(item, "_fields") and "value" in item._fields:
                out.append(InputSpec(item.name, _shape_of(item.shape) if item.shape is not None else None,
                                     _type_of(item.type) if item.type is not None else None,
                                     None if item.value is None else np.asarray(item.value)))
            elif _is_shape(item):
                out.append(InputSpec(None, _shape_of(item)))
            elif isinstance(item, tuple):
                out.append(_from_tuple(item))
            else:
                raise UsageError(f"input: cannot use {item!r} (expected text, a shape or a tuple)")
        return out
    raise UsageError(f"input: cannot use {spec!r} (expected text, a shape, a list or a dict)")


def resolve(specs: List[InputSpec], model_inputs) -> list:
    """Checks names against the model and builds the tuples irforge._core.apply_inputs takes."""
    import numpy as np

    names = [i.name for i in model_inputs]
    by_name = {i.name: i for i in model_inputs}
    out, seen = [], set()
    for pos, s in enumerate(specs):
        name = s.name
        if name is None:
            if pos >= len(names):
                raise UsageError(f"input: {len(specs)} entries given but the model has {len(names)} inputs ({', '.join(names)})")
            name = names[pos]
        if name not in by_name:
            raise UsageError(f"input: the model has no input '{name}'; its inputs are: {', '.join(names)}")
        if name in seen:
            raise UsageError(f"input: '{name}' is given twice")
        seen.add(name)
        info = by_name[name]
        for d in s.shape or []:
            if isinstance(d, str):
                continue  # a symbolic dim kept from the model (--batch)
            if d < -1 or d > MAX_DIM:
                raise UsageError(f"input '{name}': dimension {d} of shape {s.shape} is not -1 (dynamic) or within 0..{MAX_DIM}")
        dtype = s.type or info.dtype
        value = None
        if s.value is not None:
            if dtype not in _NAME_TO_ONNX:
                raise UsageError(f"input '{name}': cannot freeze a {dtype} input")
            arr = np.asarray(s.value)
            if arr.dtype.kind in "fc" and np.dtype(dtype).kind in "iub" and not np.all(np.mod(arr, 1) == 0):
                raise UsageError(f"input '{name}': value {arr.tolist()} is not integral but the input is {dtype}")
            arr = arr.astype(np.float32 if dtype == "bfloat16" else dtype)
            declared = info.shape
            if s.shape is not None:
                if any(isinstance(d, str) or d < 0 for d in s.shape):
                    raise UsageError(f"input '{name}': cannot freeze to a value with a dynamic shape {s.shape}")
                if int(np.prod(s.shape)) != arr.size:
                    raise UsageError(f"input '{name}': shape {s.shape} holds {int(np.prod(s.shape))} values, {arr.size} given")
                arr = arr.reshape(s.shape)
            elif declared is not None and all(isinstance(d, int) for d in declared) and int(np.prod(declared)) == arr.size:
                arr = arr.reshape(declared)  # the model's static shape, when the count fits
            if dtype == "bfloat16":
                u = np.ascontiguousarray(arr, np.float32).view(np.uint32).astype(np.uint64)
                raw = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()  # round to nearest even
            else:
                raw = np.ascontiguousarray(arr).tobytes()
            value = (raw, _NAME_TO_ONNX[dtype], list(arr.shape))
        type_code = _NAME_TO_ONNX[s.type] if s.type else 0
        shape = s.shape
        if shape is not None and value is None:
            # Bounded dims travel as symbolic dims naming their range (unique per input and
            # axis, so two ranges are never taken for the same dim); kept model dim names too.
            shape = list(shape)
            for axis, (lo, hi) in (s.bounds or {}).items():
                if axis < len(shape) and shape[axis] == -1:
                    shape[axis] = f"{lo}..{hi} ({name} dim {axis})"
        out.append((name, shape, type_code, value))
    return out


_ONNX_TO_NAME = {code: name for name, code in _NAME_TO_ONNX.items()}


def _dim_text(d) -> str:
    if isinstance(d, str):  # a range "1..8 (x dim 0)" or a model's symbolic dim
        head = d.split(" ", 1)[0]
        return head if ".." in head else "?"
    return "?" if d < 0 else str(d)


def format_resolved(resolved: list) -> str:
    """`--input` text for tuples from :func:`resolve`: what a conversion applied, spelled so that
    parsing it again applies the same (recorded in OpenVINO rt_info for `irforge check`)."""
    import numpy as np

    items = []
    for name, shape, type_code, value in resolved:
        text = name
        if value is not None:
            shape = value[2]  # a frozen value's own shape
        if shape is not None:
            text += "[" + ",".join(_dim_text(d) for d in shape) + "]"
        if type_code:
            text += "{" + _ONNX_TO_NAME[type_code] + "}"
        if value is not None:
            raw, code, _ = value
            if code == _NAME_TO_ONNX["bfloat16"]:
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, _ONNX_TO_NAME[code])
            # repr() of a Python float round-trips exactly, float32 values included.
            vals = [repr(v.item()) if arr.dtype.kind == "f" else str(v.item()) for v in arr.ravel()]
            text += "->" + (vals[0] if not shape and len(vals) == 1 else "[" + ",".join(vals) + "]")
        items.append(text)
    return ",".join(items)


def normalize_output(spec) -> List[str]:
    """Output tensor names from ``--output`` / ``convert_model(output=...)``: comma-separated
    text, or a list of names (as ``openvino.convert_model``); any tensor of the graph may be named."""
    if spec is None:
        return []
    if isinstance(spec, str):
        names = [s.strip() for s in spec.split(",")]
    elif isinstance(spec, (list, tuple)):
        names = []
        for s in spec:
            if not isinstance(s, str):
                raise TypeError(f"output must be tensor names (str), not {type(s).__name__} {s!r}")
            names.append(s.strip())
    else:
        raise TypeError(f"output must be a name, comma-separated names or a list of names, not {type(spec).__name__}")
    if not names or any(not n for n in names):
        raise UsageError(f"output: empty tensor name in {spec!r}")
    if len(set(names)) != len(names):
        raise UsageError(f"output: a tensor is named twice in {spec!r}")
    return names


def cut(model, specs: List[InputSpec], outputs: List[str]) -> List[InputSpec]:
    """Cuts `model` (an irforge.Model) where specs name inner tensors and at `outputs`, as Model
    Optimizer did; returns the specs, which then apply to the new inputs as to any input."""
    from irforge import _core

    names = {i.name for i in model.inputs}
    cuts = [s for s in specs if s.name is not None and s.name not in names]
    if not cuts and not outputs:
        return specs
    if any(s.name is None for s in specs):
        raise UsageError("input: name every input when cutting the model (positions change with the cut)")
    keep = [s.name for s in specs if s.name in names]
    _core.cut_graph(model._core, [(s.name, _NAME_TO_ONNX[s.type] if s.type else 0) for s in cuts], keep, outputs, [s.name for s in specs])
    return specs


def batch_specs(batch: int, specs: List[InputSpec], model_inputs, batch_axes: dict) -> List[InputSpec]:
    """--batch N as mo: the batch dim (a layout's n, else dim 0) of every input whose shape
    `specs` do not give is N; its other dims stay as the model has them."""
    given = {s.name for s in specs if s.shape is not None or s.value is not None}
    out = list(specs)
    for info in model_inputs:
        if info.name in given or not info.shape:
            continue
        axis = batch_axes.get(info.name, 0)
        if axis < 0 or axis >= len(info.shape):
            continue
        shape = [-1 if d is None else d for d in info.shape]
        shape[axis] = batch
        rest = [s for s in out if s.name == info.name]
        if rest:
            out[out.index(rest[0])] = rest[0]._replace(shape=shape)
        else:
            out.append(InputSpec(info.name, shape))
    return out
