"""Caffe frontend glue: which file is the net (.prototxt, text) and which the weights
(.caffemodel, binary), then the C++ reader (cpp/io/caffe) does the rest without Caffe."""

from __future__ import annotations

import os
from typing import Optional, Sequence

from irforge.errors import ModelFileError, UsageError

PROTO_EXTENSIONS = (".prototxt", ".pbtxt")
WEIGHT_EXTENSIONS = (".caffemodel",)


def _looks_like_text(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror})") from None
    return b"\x00" not in head and (b"layer" in head or b"input" in head or b"name" in head)


def _beside(path: str, extensions) -> Optional[str]:
    stem = os.path.splitext(path)[0]
    for ext in extensions:
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


def split_pair(paths: Sequence) -> tuple:
    """(prototxt, caffemodel) from two paths in either order, by extension and then by content."""
    a, b = (os.fspath(p) for p in paths)
    for p in (a, b):
        if not os.path.isfile(p):
            raise ModelFileError(f"{p}: no such file")
    ext_a, ext_b = os.path.splitext(a)[1].lower(), os.path.splitext(b)[1].lower()
    if ext_a in WEIGHT_EXTENSIONS or ext_b in PROTO_EXTENSIONS:
        a, b = b, a
    elif ext_a not in PROTO_EXTENSIONS and ext_b not in WEIGHT_EXTENSIONS and _looks_like_text(b) and not _looks_like_text(a):
        a, b = b, a
    if os.path.splitext(b)[1].lower() in PROTO_EXTENSIONS:
        raise UsageError(f"({a}, {b}): both are Caffe nets (.prototxt); give the net and its .caffemodel weights")
    return a, b


def convert_files(prototxt: str, caffemodel: Optional[str], mean_file: Optional[str] = None):
    """A Caffe net and its weights as an irforge Model. Without `caffemodel`, the .caffemodel
    of the same stem beside the net is used when there is one. `mean_file` (mo's --mean_file,
    a .binaryproto mean image) is subtracted from the first input, center-cropped to its size."""
    from irforge import _core
    from irforge.model import Model

    if caffemodel is None:
        caffemodel = _beside(prototxt, WEIGHT_EXTENSIONS)
    return Model(_core.read_caffe(prototxt, caffemodel or "", mean_file or ""))


def convert_source(source, mean_file: str):
    """convert_files for what the CLI was given: a path or a (net, weights) pair."""
    if isinstance(source, tuple):
        return convert_files(*split_pair(source), mean_file=mean_file)
    if os.path.splitext(source)[1].lower() in WEIGHT_EXTENSIONS:
        return convert_files(proto_for_weights(source), source, mean_file)
    return convert_files(source, None, mean_file)


def proto_for_weights(caffemodel: str) -> str:
    """The net of a .caffemodel given alone: the .prototxt of the same stem beside it."""
    proto = _beside(caffemodel, PROTO_EXTENSIONS)
    if proto is None:
        raise UsageError(
            f"{caffemodel}: a .caffemodel holds weights only; give its net too: "
            f"irforge convert deploy.prototxt --input_model {os.path.basename(caffemodel)} "
            "(or convert_model((\"deploy.prototxt\", \"net.caffemodel\")))"
        )
    return proto
