"""MXNet frontend glue: which file is the symbol (-symbol.json) and which the parameters
(.params, the NDArray-list container); the C++ reader (cpp/io/mxnet) does the rest without MXNet.
MXNet symbols carry no input shapes: give them with input= (e.g. input="data[1,3,224,224]")."""

from __future__ import annotations

import os
import re
from typing import Optional, Sequence

from irforge.errors import ModelFileError, UsageError


def is_symbol_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.lstrip()[:1] == b"{" and b'"nodes"' in head


def split_pair(paths: Sequence) -> tuple:
    """(symbol, params) from two paths in either order."""
    a, b = (os.fspath(p) for p in paths)
    for p in (a, b):
        if not os.path.isfile(p):
            raise ModelFileError(f"{p}: no such file")
    if a.lower().endswith(".params") or b.lower().endswith(".json"):
        a, b = b, a
    if not a.lower().endswith(".json") or not b.lower().endswith(".params"):
        raise UsageError(f"({a}, {b}): an MXNet model is a -symbol.json and a .params file")
    return a, b


def symbol_for_params(params: str) -> str:
    """<prefix>-0000.params -> <prefix>-symbol.json beside it."""
    stem = re.sub(r"-\d+$", "", os.path.splitext(params)[0])
    symbol = stem + "-symbol.json"
    if not os.path.isfile(symbol):
        raise UsageError(f"{params}: a .params file holds weights only; give its symbol too: convert_model((\"{os.path.basename(symbol)}\", \"{os.path.basename(params)}\"))")
    return symbol


def params_for_symbol(symbol: str) -> Optional[str]:
    """<prefix>-symbol.json -> the <prefix>-NNNN.params beside it with the highest epoch, if any."""
    base = os.path.basename(symbol)
    if not base.endswith("-symbol.json"):
        return None
    prefix = base[: -len("-symbol.json")]
    folder = os.path.dirname(symbol) or "."
    found = sorted(f for f in os.listdir(folder) if re.fullmatch(re.escape(prefix) + r"-\d+\.params", f))
    return os.path.join(folder, found[-1]) if found else None


def convert_files(symbol: str, params: Optional[str]):
    from irforge import _core
    from irforge.model import Model

    if params is None:
        params = params_for_symbol(symbol)
    return Model(_core.read_mxnet(symbol, params or ""))
