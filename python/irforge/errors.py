"""The irforge exception hierarchy. Every failure a user can act on is a ConversionError."""

from irforge._core import (
    ConversionError,
    InternalError,
    InvalidModelError,
    ModelFileError,
    ResourceLimitError,
    UnsupportedError,
)

__all__ = [
    "ConversionError",
    "InvalidModelError",
    "ModelFileError",
    "UnsupportedError",
    "ResourceLimitError",
    "InternalError",
]
