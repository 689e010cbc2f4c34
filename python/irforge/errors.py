"""The irforge exception hierarchy. Every failure a user can act on is a ConversionError::

    ConversionError
    ├── InvalidModelError    the model is malformed (names the node and the rule broken)
    ├── ModelFileError       a file cannot be found, read or written
    ├── UnsupportedError     a valid model or request irforge does not handle (yet)
    ├── ResourceLimitError   sizes beyond irforge's limits, or out of memory
    ├── InternalError        a bug in irforge (the message asks to report it)
    └── UsageError           a wrong request: option value, pipeline text, --input (also a ValueError)

Wrong Python types (a number where a path is expected, ...) stay TypeError with a message
naming the parameter. Exceptions raised by your own code called back by irforge (progress and
dump callbacks, Python passes) and KeyboardInterrupt pass through unchanged.
"""

from __future__ import annotations

import functools

from irforge._core import (
    ConversionError,
    InternalError,
    InvalidModelError,
    ModelFileError,
    ResourceLimitError,
    UnsupportedError,
    UsageError,
)

__all__ = [
    "ConversionError",
    "InvalidModelError",
    "ModelFileError",
    "UnsupportedError",
    "ResourceLimitError",
    "InternalError",
    "UsageError",
]


def report_line() -> str:
    from irforge._version import __version__

    return f"This is a bug in irforge {__version__}: please report it with this message and the model (or the steps) that cause it."


def internal_error(exc: BaseException) -> InternalError:
    """An unexpected exception as an InternalError whose last line asks for a bug report."""
    text = str(exc).strip()
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return InternalError(f"internal error: {what}\n{report_line()}")


def mark_user_code(exc: BaseException) -> BaseException:
    """Tags an exception raised by the caller's own code (a callback) so it passes through."""
    try:
        exc._irforge_user_code = True
    except AttributeError:  # exception types with __slots__: they then count as irforge's
        pass
    return exc


def user_callback(fn):
    """`fn` wrapped so that what it raises is marked as the caller's own exception."""
    if fn is None:
        return None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise mark_user_code(e)

    return call


def api_entry(fn):
    """Decorates a public API function: anything unexpected leaves as an InternalError (chained
    to the original), MemoryError as a ResourceLimitError; ConversionError, TypeError (API
    misuse), the caller's own exceptions and KeyboardInterrupt pass through."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConversionError, TypeError):
            raise
        except MemoryError as e:
            raise ResourceLimitError(f"out of memory in {fn.__name__}()") from e
        except Exception as e:
            if getattr(e, "_irforge_user_code", False):
                raise
            raise internal_error(e) from e

    return guarded
