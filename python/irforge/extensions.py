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
