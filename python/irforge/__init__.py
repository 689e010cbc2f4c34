"""irforge: a fast, memory-bounded model optimizer.

Read a model (ONNX today), optimize it, and write it as ONNX or OpenVINO IR::

    import irforge
    model = irforge.convert_model("model.onnx")
    irforge.save_model(model, "model_opt.onnx")
"""

from irforge._version import __version__
from irforge.api import compress_weights, convert_model, get_num_threads, list_passes, save_model, set_num_threads
from irforge.errors import (
    ConversionError,
    InternalError,
    InvalidModelError,
    ModelFileError,
    ResourceLimitError,
    UnsupportedError,
)
from irforge.model import Model, TensorInfo

__all__ = [
    "__version__",
    "convert_model",
    "save_model",
    "compress_weights",
    "list_passes",
    "set_num_threads",
    "get_num_threads",
    "Model",
    "TensorInfo",
    "ConversionError",
    "InvalidModelError",
    "ModelFileError",
    "UnsupportedError",
    "ResourceLimitError",
    "InternalError",
]
