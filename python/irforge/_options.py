"""Checks of option values at the API border: each refuses a bad value with a UsageError (or a
TypeError for a value of the wrong kind) that names the option and says what it accepts."""

from __future__ import annotations

import math
import numbers
import os
from typing import Iterable, Optional

from irforge.errors import UsageError

# The newest default-domain opset of onnx 1.23, the version irforge is tested with; ONNX output
# at a higher opset could not be checked by anyone.
NEWEST_ONNX_OPSET = 28


def integer(name: str, value, lo: Optional[int] = None, hi: Optional[int] = None, extra: Iterable[int] = ()) -> int:
    """An int within [lo, hi] (or one of `extra`); bools and non-integral numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise UsageError(f"{name} must be an integer, not '{value}'") from None
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, not {type(value).__name__} {value!r}")
    value = int(value)
    if value in extra:
        return value
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            within = f"within {lo}..{hi}"
        elif lo is not None:
            within = f"at least {lo}"
        else:
            within = f"at most {hi}"
        alt = "".join(f" or {e}" for e in extra)
        raise UsageError(f"{name} must be {within}{alt}, not {value}")
    return value


def real(name: str, value, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    """A finite float within [lo, hi] ((lo, hi] when lo_open); NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__} {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number, not '{value}'") from None
    inside = (x > lo if lo_open else x >= lo) and x <= hi
    if not math.isfinite(x) or not inside:
        if math.isfinite(hi):
            raise UsageError(f"{name} must be within {'(' if lo_open else '['}{lo:g}, {hi:g}], not {x!r}")
        raise UsageError(f"{name} must be a finite number {'>' if lo_open else '>='} {lo:g}, not {x!r}")
    return x


def boolean(name: str, value) -> bool:
    """True/False (numpy bools and 0/1 too); strings such as "False" are refused, since any
    non-empty string would count as True."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise UsageError(f"{name} must be True or False, not {value!r}")


def choice(name: str, value, choices: Iterable[str]) -> str:
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
    return value


def callback(name: str, value):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function or None, not {type(value).__name__}")
    return value


def path(name: str, value) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), not {type(value).__name__}")
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise UsageError(f"{name} is an empty path")
    if "\0" in text:
        raise UsageError(f"{name} contains a NUL character: {text!r}")
    return text


def target_opset(value) -> int:
    return integer("target_opset", value, 1, NEWEST_ONNX_OPSET, extra=(0,))


def pipeline(value, what: str = "transform") -> list:
    """Pipeline text checked by the C++ parser; returns the passes it may run."""
    from irforge import _core

    if not isinstance(value, str):
        raise TypeError(f"{what} must be pipeline text (str), not {type(value).__name__}")
    return list(_core.validate_pipeline(value))


def dump_after(value, passes: list, transform: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"dump_after must be a pass name (str), not {type(value).__name__}")
    if value not in passes:
        from irforge import _core

        known = [n for n, _ in _core.list_passes()]
        if value not in known:
            raise UsageError(f"dump_after: unknown pass '{value}'; passes: {', '.join(known)}")
        raise UsageError(f"dump_after: pass '{value}' does not run in the pipeline \"{transform}\" (it runs: {', '.join(passes) or 'nothing'})")
    return value


COMPRESS_MODES = ("int8_asym", "int8_sym", "int4_asym", "int4_sym")
BACKUP_MODES = ("int8_asym", "int8_sym", "none")
GROUP_SIZE_FALLBACKS = ("adjust", "ignore", "error")


def compress_options(mode, group_size, ratio, all_layers, backup_mode, group_size_fallback) -> tuple:
    """The options of compress_weights, checked (the CLI checks them before converting)."""
    return (
        choice("mode", mode, COMPRESS_MODES),
        integer("group_size", group_size, 1, 1 << 31, extra=(-1,)),
        real("ratio", ratio, 0.0, 1.0),
        boolean("all_layers", all_layers),
        choice("backup_mode", backup_mode, BACKUP_MODES),
        choice("group_size_fallback", group_size_fallback, GROUP_SIZE_FALLBACKS),
    )
