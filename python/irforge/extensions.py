"""Passes written in Python, usable in pipeline text beside the C++ passes.

A Python pass sees the model as an ``onnx.ModelProto`` (so it works on models under protobuf's
2 GB limit) and either modifies it in place, returns a new one, or returns None (unchanged)::

    def drop_doc_strings(model):
        for node in model.graph.node:
            node.doc_string = ""

    irforge.register_pass("drop-doc-strings", drop_doc_strings, "clear node doc strings")
    irforge.convert_model("m.onnx", transform="default,drop-doc-strings")

The pass reports a change when the model it leaves differs from the one it was given. Registrations last for the
process (`unregister_pass` removes one); `irforge check` bisects pipelines that use them too.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from irforge import _core
from irforge.errors import mark_user_code


def register_pass(name: str, fn: Callable, summary: str = "") -> None:
    """Makes `fn(onnx.ModelProto) -> ModelProto | None` available as pass `name`."""
    if not isinstance(name, str) or not isinstance(summary, str):
        raise TypeError(f"register_pass(name, fn, summary): name and summary are str, not {type(name).__name__} / {type(summary).__name__}")
    if not callable(fn):
        raise TypeError(f"register_pass: fn must be a function taking an onnx.ModelProto, not {type(fn).__name__}")

    def run(data: bytes) -> Optional[bytes]:
        import onnx

        model = onnx.load_from_string(data)
        before = model.SerializeToString()  # protobuf's bytes, comparable with its own output
        try:
            result = fn(model)
        except Exception as e:
            raise mark_user_code(e)  # the caller's own exception: it reaches them unchanged
        after = (model if result is None else result).SerializeToString()
        return None if after == before else after

    _core.register_python_pass(name, summary or f"Python pass {getattr(fn, '__qualname__', fn)!s}", run)


def unregister_pass(name: str) -> bool:
    """Removes a pass added with register_pass; False when there was none of that name."""
    if not isinstance(name, str):
        raise TypeError(f"unregister_pass: name is a str, not {type(name).__name__}")
    return bool(_core.unregister_python_pass(name))


# ---- custom layers: converters for ops the frontends do not know --------------------------------

FRAMEWORKS = ("onnx", "pytorch", "tensorflow", "tflite", "paddle", "caffe", "mxnet", "kaldi")
_CONVERTERS = {}  # (framework, domain, op) -> fn


def _converter_key(op, domain, framework):
    if not isinstance(op, str) or not op:
        raise TypeError(f"op must be the op's name (a non-empty str), not {type(op).__name__} {op!r}")
    if not isinstance(domain, str):
        raise TypeError(f"domain must be a str, not {type(domain).__name__}")
    if framework not in FRAMEWORKS:
        from irforge.errors import UsageError

        raise UsageError(f"framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    if framework == "onnx" and domain == "ai.onnx":
        domain = ""
    return framework, domain, op


def register_converter(op: str, fn: Callable, *, domain: str = "", framework: str = "onnx") -> None:
    """Makes `fn(ctx)` the translation of op `op` (ONNX: of domain `domain`; PyTorch: the ATen /
    custom op name as torch.export shows it, e.g. "mylib.scaled_tanh.default"). `fn` builds the
    op from known ops with ``ctx.node(op_type, inputs, outputs=1, domain="", **attrs)`` and
    ``ctx.constant(array)`` (the signatures of irforge.Builder) and returns the value (or a list,
    one per output of the node). Registrations last for the process; a later one replaces an
    earlier one for the same op."""
    key = _converter_key(op, domain, framework)
    if not callable(fn):
        raise TypeError(f"register_converter: fn must be a function taking a ConverterContext, not {type(fn).__name__}")
    _CONVERTERS[key] = fn


def unregister_converter(op: str, *, domain: str = "", framework: str = "onnx") -> bool:
    """Removes a converter; False when there was none."""
    return _CONVERTERS.pop(_converter_key(op, domain, framework), None) is not None


def converter_for(framework: str, op: str, domain: str = "") -> Optional[Callable]:
    """The registered converter of an op, for frontends (None: none registered)."""
    return _CONVERTERS.get((framework, "" if (framework == "onnx" and domain == "ai.onnx") else domain, op))


class ConverterContext:
    """What a converter sees: the node's `inputs` (values for ctx.node; None for an omitted
    optional input), `attrs` (a dict of Python values), `op_type`, `domain`, `name`, and for
    PyTorch `args` / `kwargs` (the call's arguments, tensors as values)."""

    def __init__(self, op_type, domain, name, inputs, attrs, make_node, make_constant, args=None, kwargs=None):
        self.op_type, self.domain, self.name = op_type, domain, name
        self.inputs, self.attrs = list(inputs), dict(attrs)
        self.args, self.kwargs = args, kwargs
        self._make_node, self._make_constant = make_node, make_constant

    def node(self, op_type: str, inputs, outputs: int = 1, domain: str = "", **attrs):
        """Adds an op (ONNX semantics, or `domain`'s); returns its value, or a tuple of `outputs` values."""
        outs = self._make_node(op_type, list(inputs), int(outputs), domain, attrs)
        return outs[0] if outputs == 1 else tuple(outs)

    def constant(self, array, name: str = "const"):
        """A constant value holding `array` (a numpy array or a number)."""
        import numpy as np

        return self._make_constant(np.asarray(array), name)


def load_extension(path: str) -> None:
    """Runs a Python file that registers converters (``--extension file.py``, ``extension=``)."""
    import runpy

    from irforge import _options as opt
    from irforge.errors import ModelFileError

    path = opt.path("extension", path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: extension file not found")
    try:
        runpy.run_path(path, run_name="irforge_extension")
    except Exception as e:
        raise mark_user_code(e)


def load_extensions(extension) -> None:
    """`extension=`: a path, a list of paths, a callable (called with no arguments; it registers),
    or a list mixing them."""
    if extension is None:
        return
    items = extension if isinstance(extension, (list, tuple)) else [extension]
    for item in items:
        if callable(item):
            try:
                item()
            except Exception as e:
                raise mark_user_code(e)
        elif isinstance(item, (str, os.PathLike)):
            load_extension(item)
        else:
            raise TypeError(f"extension must be a path to a .py file or a function, not {type(item).__name__}")


def _split_op_key(key: str):
    domain, _, op = key.rpartition("::")
    return domain, op


def apply_onnx_converters(model) -> bool:
    """Replaces nodes of `model` (an irforge.Model) whose op has an ONNX converter by what the
    converter builds; the model is rewritten through ONNX bytes. True when something changed."""
    wanted = [k for k in model.op_histogram if converter_for("onnx", *reversed(_split_op_key(k)))]
    if not wanted:
        return False  # before importing onnx: it costs ~0.8 s and ~25 MiB of a plain conversion
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from irforge.errors import UsageError
    proto = onnx.load_from_string(model.to_onnx_bytes())
    taken = set()

    def collect(g):
        for v in list(g.input) + list(g.output) + list(g.initializer):
            taken.add(v.name)
        for n in g.node:
            taken.update(n.output)
            taken.add(n.name)
            for a in n.attribute:
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    collect(sub)

    collect(proto.graph)
    counter = [0]

    def fresh(base):
        while True:
            counter[0] += 1
            name = f"{base}__{counter[0]}"
            if name not in taken:
                taken.add(name)
                return name

    domains = {o.domain for o in proto.opset_import}

    def rewrite(g):
        new_nodes = []
        for n in g.node:
            for a in n.attribute:
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    rewrite(sub)
            fn = converter_for("onnx", n.op_type, n.domain)
            if fn is None:
                new_nodes.append(n)
                continue
            base = n.name or n.op_type

            def make_node(op_type, inputs, outputs, domain, attrs, base=base):
                if domain and domain not in domains:
                    proto.opset_import.append(helper.make_opsetid(domain, 1))
                    domains.add(domain)
                outs = [fresh(f"{base}/{op_type}") for _ in range(outputs)]
                new_nodes.append(helper.make_node(op_type, ["" if i is None else i for i in inputs], outs,
                                                  name=fresh(f"{base}/{op_type}"), domain=domain, **attrs))
                return outs

            def make_constant(array, name, base=base):
                cname = fresh(f"{base}/{name}")
                g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), cname))
                return cname

            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
            ctx = ConverterContext(n.op_type, n.domain, n.name, [i or None for i in n.input], attrs, make_node, make_constant)
            try:
                result = fn(ctx)
            except Exception as e:
                raise mark_user_code(e)
            results = list(result) if isinstance(result, (list, tuple)) else [result]
            if len(results) != len(n.output):
                raise UsageError(f"converter of {n.domain + '::' if n.domain else ''}{n.op_type} (node '{n.name}') returned "
                                 f"{len(results)} value(s) for {len(n.output)} output(s)")
            for value, out in zip(results, n.output):
                if not out:
                    continue
                if not isinstance(value, str):
                    raise UsageError(f"converter of {n.op_type} (node '{n.name}') returned {value!r}, not a value made by ctx.node / ctx.constant or an input")
                new_nodes.append(helper.make_node("Identity", [value], [out], name=fresh(f"{base}/output")))
        del g.node[:]
        g.node.extend(new_nodes)

    rewrite(proto.graph)
    source = model._core.source_path or "<model>"
    model._core = _core.read_onnx_bytes(proto.SerializeToString(), "", source)
    return True


def unsupported_ops_message(model, error) -> Optional[str]:
    """The OpenVINO writer stops at the first op it cannot lower: this lists all of them and how
    to supply a converter; None when `error` is about something else."""
    if "no OpenVINO lowering for" not in str(error):
        return None
    known = set(_core.openvino_lowered_ops()) | {"Constant"}
    missing = {k: n for k, n in model.op_histogram.items() if k not in known}
    if not missing:
        return None
    listed = ", ".join(f"{k} ({n} node{'s' if n != 1 else ''})" for k, n in sorted(missing.items()))
    first_domain, first_op = _split_op_key(sorted(missing)[0])
    dom = f", domain={first_domain!r}" if first_domain else ""
    return (f"{model._core.source_path or 'model'}: {len(missing)} op(s) have no OpenVINO lowering: {listed}. "
            f"Supply a converter that builds each from known ops, e.g. in ext.py: "
            f"irforge.register_converter({first_op!r}, lambda ctx: ctx.node('Relu', ctx.inputs){dom}), "
            f"then convert with --extension ext.py (extension= in Python); see README 'Custom layers'")


# ---- pass-through custom ops --------------------------------------------------------------------

_CUSTOM_OPS = {}  # (domain, op) -> (infer, version)


class CustomOpContext:
    """What a custom op's shape inference sees: `input_types` ((dtype name, shape) per input;
    dims are ints or None when unknown, shape None when the rank is unknown) and `attrs`."""

    def __init__(self, op_type, domain, name, input_types, attrs):
        self.op_type, self.domain, self.name = op_type, domain, name
        self.input_types, self.attrs = input_types, attrs


def register_custom_op(op: str, infer: Optional[Callable] = None, *, domain: str, version: str = "extension") -> None:
    """Keeps op `op` of ONNX domain `domain` as it is: carried through every pass, written to
    ONNX in its domain and to OpenVINO IR as a layer ``type="op" version="version"`` (OpenVINO
    runs it given a matching op, e.g. an ``openvino.Op`` subclass added with
    ``core.add_extension``). `infer(ctx)` returns the output types, ``(dtype, shape)`` or a list
    of them, from ``ctx.input_types`` and ``ctx.attrs``; default: output 0 like input 0.
    PyTorch and other frontends reach it through a converter that emits the op in `domain`."""
    key = _converter_key(op, domain, "onnx")
    if not domain or domain == "ai.onnx":
        from irforge.errors import UsageError

        raise UsageError(f"register_custom_op('{op}'): give the op's own domain (domain='my.ops'); the ONNX domain's ops are irforge's")
    if infer is not None and not callable(infer):
        raise TypeError(f"register_custom_op: infer must be a function or None, not {type(infer).__name__}")
    if not isinstance(version, str) or not version or version.startswith("opset"):
        from irforge.errors import UsageError

        raise UsageError(f"register_custom_op: version must name the extension opset (not empty, not OpenVINO's opsetN), not {version!r}")
    _CUSTOM_OPS[key[1:]] = (infer, version)
    _core.register_custom_layer(domain, op, version)


def unregister_custom_op(op: str, *, domain: str) -> bool:
    _core.unregister_custom_layer(domain, op)
    return _CUSTOM_OPS.pop((domain, op), None) is not None


def infer_custom_ops(model) -> int:
    """Gives the outputs of registered custom ops their types: shape inference (infer-shapes)
    types their inputs, the user's `infer` their outputs, in rounds until nothing changes.
    Returns how many outputs were typed."""
    from irforge.errors import UsageError
    from irforge.inputs import _NAME_TO_ONNX, _ONNX_TO_NAME, _type_of

    present = [_split_op_key(k) for k in model.op_histogram]
    ops = [(d, o) for d, o in present if (d, o) in _CUSTOM_OPS]
    if not ops:
        return 0
    typed = 0
    for _ in range(1000):
        _core.run_passes(model._core, "infer-shapes")
        progress = 0
        for domain, op in ops:
            infer, _version = _CUSTOM_OPS[(domain, op)]
            for node in _core.custom_nodes(model._core, domain, op):
                if all(code for _, code in node["outputs"]):
                    continue
                inputs = node["inputs"]
                if any(i is not None and not i[1] for i in inputs):
                    continue  # an input's type is not known yet
                types = [None if i is None else (_ONNX_TO_NAME.get(i[1], str(i[1])), i[2]) for i in inputs]
                attrs = {k: (v.decode() if isinstance(v, bytes) else [x.decode() if isinstance(x, bytes) else x for x in v]
                             if isinstance(v, list) else v) for k, v in node["attrs"].items()}
                if infer is None:
                    result = [types[0]] if types and types[0] else None
                else:
                    try:
                        result = infer(CustomOpContext(op, domain, node["name"], types, attrs))
                    except Exception as e:
                        raise mark_user_code(e)
                if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[0], tuple):
                    result = [result]
                where = f"custom op {domain}::{op} (node '{node['name']}')"
                if not isinstance(result, (list, tuple)) or len(result) != len(node["outputs"]):
                    raise UsageError(f"{where}: its shape inference returned {result!r}, not one (dtype, shape) per output ({len(node['outputs'])})")
                for (out_name, _), (dtype, shape) in zip(node["outputs"], result):
                    name = _type_of(dtype)
                    if name is None or name not in _NAME_TO_ONNX:
                        raise UsageError(f"{where}: output type {dtype!r} is not an element type")
                    dims = None if shape is None else [None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in shape]
                    _core.set_value_type(model._core, out_name, _NAME_TO_ONNX[name], dims)
                    typed += 1
                    progress += 1
        if not progress:
            return typed
    return typed
