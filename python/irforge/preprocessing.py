"""Embedded preprocessing options as Model Optimizer spelled them (ovc dropped them):
``mean_values``, ``scale_values``, ``reverse_input_channels``, ``layout``, ``source_layout``,
``target_layout``. Parsed and checked here (UsageError naming the option); the graph edit is
the C++ ``preprocess_inputs`` (cpp/passes/edit/preprocess.cc).

Values: ``"data[123.7,116.3,103.5],mask[1]"`` per input, or ``"[123.7,116.3,103.5]"`` for a
model with one input; from Python also a list of numbers (one input) or a dict name -> list.
Layouts: ``"nchw"``, ``"[n,c,h,w]"``, ``"nchw->nhwc"`` (the model's layout -> the converted
model's input layout, as mo's ``--layout``), per input ``"data(nchw->nhwc),mask(nc)"``, or a
dict name -> text. Letters name dims; ``c`` is the channel axis mean/scale/reversal act on.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Dict, List, Optional, Tuple

from irforge.errors import UsageError

_VALUES_ITEM = re.compile(r"^\s*(?P<name>[^\[\]()]*?)\s*[\[(](?P<body>[^\])]*)[\])]\s*$")
_LAYOUT_ITEM = re.compile(r"^\s*(?P<name>[^\[\]()]+?)\s*\((?P<body>[^)]*)\)\s*$")


def _split(text: str) -> List[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [s.strip() for s in items if s.strip()]


def _number(option: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, str)):
        raise UsageError(f"{option}: {x!r} is not a number")
    try:
        v = float(x)
    except ValueError:
        raise UsageError(f"{option}: '{x}' is not a number") from None
    if not math.isfinite(v):
        raise UsageError(f"{option}: {v!r} is not a finite number")
    return v


def parse_values(option: str, spec) -> Dict[Optional[str], List[float]]:
    """{input name or None (the only input): values}."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        out = {}
        for name, vals in spec.items():
            if not isinstance(name, str):
                raise UsageError(f"{option}: dict keys are input names, not {name!r}")
            vals = [vals] if isinstance(vals, numbers.Real) else vals
            if not isinstance(vals, (list, tuple)) or not vals:
                raise UsageError(f"{option}: '{name}' needs a list of numbers, not {vals!r}")
            out[name] = [_number(option, v) for v in vals]
        return out
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise UsageError(f"{option}: empty list")
        return {None: [_number(option, v) for v in spec]}
    if not isinstance(spec, str):
        raise TypeError(f"{option} must be text, a list of numbers or a dict, not {type(spec).__name__}")
    out = {}
    items = _split(spec)
    if not items:
        raise UsageError(f"{option}: empty specification")
    for item in items:
        m = _VALUES_ITEM.match(item)
        if not m:
            raise UsageError(f"{option}: cannot read '{item}'; write name[v1,v2,v3] or [v1,v2,v3]")
        name = m.group("name") or None
        toks = [t for t in re.split(r"[,\s]+", m.group("body").strip()) if t]
        if not toks:
            raise UsageError(f"{option}: '{item}' has no values")
        if name in out:
            raise UsageError(f"{option}: '{name or item}' is given twice")
        out[name] = [_number(option, t) for t in toks]
    if None in out and len(out) > 1:
        raise UsageError(f"{option}: values without an input name can only be given alone")
    return out


def _layout_letters(option: str, text: str) -> str:
    body = text.strip().lower()
    if body.startswith("[") and body.endswith("]"):
        toks = [t.strip() for t in body[1:-1].split(",")]
        if any(len(t) != 1 for t in toks):
            raise UsageError(f"{option}: layout '{text}': one letter per dim")
        body = "".join(toks)
    if not body or not re.fullmatch(r"[a-z?]+", body):
        raise UsageError(f"{option}: layout '{text}' is not letters such as nchw or [n,c,h,w] ('?' for an unnamed dim)")
    named = [ch for ch in body if ch != "?"]
    if len(set(named)) != len(named):
        raise UsageError(f"{option}: layout '{text}' names a dim twice")
    return body


def parse_layouts(option: str, spec, arrow: bool) -> Dict[Optional[str], Tuple[str, Optional[str]]]:
    """{input name or None: (layout, target layout or None)}; `arrow`: 'a->b' allowed (--layout)."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        items = [(k, v) for k, v in spec.items()]
    elif isinstance(spec, str):
        items = []
        for item in _split(spec):
            m = _LAYOUT_ITEM.match(item)
            items.append((m.group("name"), m.group("body")) if m else (None, item))
        if not items:
            raise UsageError(f"{option}: empty specification")
    else:
        raise TypeError(f"{option} must be layout text or a dict of input name -> layout, not {type(spec).__name__}")
    out = {}
    for name, body in items:
        if not isinstance(body, str):
            raise TypeError(f"{option}: layout of '{name}' must be text, not {type(body).__name__}")
        if name in out:
            raise UsageError(f"{option}: '{name}' is given twice")
        if "->" in body:
            if not arrow:
                raise UsageError(f"{option}: '{body}': only --layout takes 'source->target'")
            src, dst = body.split("->", 1)
            out[name] = (_layout_letters(option, src), _layout_letters(option, dst))
        else:
            out[name] = (_layout_letters(option, body), None)
    if None in out and len(out) > 1:
        raise UsageError(f"{option}: a layout without an input name can only be given alone")
    return out


def check_options(mean_values, scale_values, reverse_input_channels, layout, source_layout, target_layout):
    """Parsed options (checked before any work); resolved against the model by `specs`."""
    from irforge import _options as opt

    return dict(
        mean=parse_values("mean_values", mean_values),
        scale=parse_values("scale_values", scale_values),
        reverse=opt.boolean("reverse_input_channels", reverse_input_channels),
        layout=parse_layouts("layout", layout, True),
        source=parse_layouts("source_layout", source_layout, False),
        target=parse_layouts("target_layout", target_layout, False),
    )


def any_given(parsed) -> bool:
    return bool(parsed["mean"] or parsed["scale"] or parsed["reverse"] or parsed["layout"] or parsed["source"] or parsed["target"])


def specs(parsed, model_inputs) -> list:
    """Tuples for irforge._core.preprocess_inputs: (name, mean, scale, reverse, channel axis, perm)."""
    names = [i.name for i in model_inputs]
    by_name = {i.name: i for i in model_inputs}

    def keyed(option, d):
        out = {}
        for k, v in d.items():
            if k is None:
                if len(names) != 1:
                    raise UsageError(f"{option}: the model has {len(names)} inputs ({', '.join(names)}); name the input, e.g. {names[0] if names else 'x'}[...]")
                k = names[0]
            if k not in by_name:
                raise UsageError(f"{option}: the model has no input '{k}'; its inputs are: {', '.join(names)}")
            out[k] = v
        return out

    mean, scale = keyed("mean_values", parsed["mean"]), keyed("scale_values", parsed["scale"])
    layout, source, target = keyed("layout", parsed["layout"]), keyed("source_layout", parsed["source"]), keyed("target_layout", parsed["target"])
    for k in layout:
        if k in source or k in target:
            raise UsageError(f"layout: '{k}' also has source_layout/target_layout; give one or the other")
    out = []
    for name in names:
        src = (layout.get(name) or source.get(name) or (None, None))[0]
        dst = (layout.get(name) or (None, None))[1] or (target.get(name) or (None, None))[0]
        shape = by_name[name].shape
        rank = len(shape) if shape is not None else None
        for which, lay in (("source", src), ("target", dst)):
            if lay is not None and rank is not None and len(lay) != rank:
                raise UsageError(f"{which} layout '{lay}' of input '{name}' has {len(lay)} dims but the input has rank {rank}")
        perm = []
        if dst is not None:
            if src is None:
                raise UsageError(f"target_layout of '{name}' needs the model's layout too (source_layout, or layout 'nchw->nhwc')")
            if sorted(src) != sorted(dst) or ("?" in src and src != dst):
                raise UsageError(f"layout of '{name}': '{src}' -> '{dst}' is not a permutation of named dims")
            if src != dst:
                perm = [dst.index(ch) for ch in src]
        axis = 1
        if src is not None:
            axis = src.index("c") if "c" in src else -1
        reverse = False
        if parsed["reverse"]:
            # As mo: inputs with 3 channels on the channel axis (images) are reversed.
            reverse = rank is not None and 0 <= axis < rank and shape[axis] == 3
        m, s = mean.get(name, []), scale.get(name, [])
        if (m or s or reverse) and axis < 0:
            raise UsageError(f"layout of '{name}': '{src}' has no channel dim 'c' for mean/scale values or channel reversal")
        if m or s or reverse or perm:
            out.append((name, m, s, reverse, axis, perm))
    if parsed["reverse"] and not any(t[3] for t in out):
        raise UsageError("reverse_input_channels: no input has 3 channels on its channel axis (give the shape in input= or a layout with 'c')")
    return out


def batch_axes(parsed) -> dict:
    """{input name: axis of 'n'} from the layouts given (for --batch)."""
    out = {}
    for d in (parsed["layout"], parsed["source"]):
        for name, (src, _dst) in d.items():
            if name is not None and "n" in src:
                out[name] = src.index("n")
    return out
