"""irforge: a fast, memory-bounded model optimizer.

Read a model (ONNX today), optimize it, and write it as ONNX or OpenVINO IR::

    import irforge
    model = irforge.convert_model("model.onnx")
    irforge.save_model(model, "model_opt.onnx")
"""

from irforge._version import __version__

# The public names load lazily (PEP 562): `irforge --help` and `import irforge.cli` must not pay
# for loading the C++ core, and nothing here may import numpy/onnx/openvino.
_LAZY = {
    "convert_model": "irforge.api",
    "save_model": "irforge.api",
    "list_passes": "irforge.api",
    "set_num_threads": "irforge.api",
    "get_num_threads": "irforge.api",
    "compress_weights": "irforge.api",
    "check": "irforge.checking",
    "register_pass": "irforge.extensions",
    "unregister_pass": "irforge.extensions",
    "register_converter": "irforge.extensions",
    "unregister_converter": "irforge.extensions",
    "register_custom_op": "irforge.extensions",
    "unregister_custom_op": "irforge.extensions",
    "Builder": "irforge.builder",
    "Model": "irforge.model",
    "TensorInfo": "irforge.model",
    "ConversionError": "irforge.errors",
    "InvalidModelError": "irforge.errors",
    "ModelFileError": "irforge.errors",
    "UnsupportedError": "irforge.errors",
    "ResourceLimitError": "irforge.errors",
    "InternalError": "irforge.errors",
    "UsageError": "irforge.errors",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'irforge' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "convert_model",
    "save_model",
    "compress_weights",
    "list_passes",
    "set_num_threads",
    "get_num_threads",
    "check",
    "register_pass",
    "unregister_pass",
    "register_converter",
    "unregister_converter",
    "register_custom_op",
    "unregister_custom_op",
    "Builder",
    "Model",
    "TensorInfo",
    "ConversionError",
    "InvalidModelError",
    "ModelFileError",
    "UnsupportedError",
    "ResourceLimitError",
    "InternalError",
    "UsageError",
]
