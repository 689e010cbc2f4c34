"""Which frontend reads a model: decided from the object's type, the file's magic bytes and its
extension (in that order of trust), without importing any framework.

Frontends are optional extras imported only when a model of theirs arrives, so `irforge --help`
and ONNX conversions never load PyTorch. A known format without a frontend yet, a file whose
bytes contradict its extension, or a missing framework package is a clear error.
"""

from __future__ import annotations

import os
import zipfile
from typing import Optional

from irforge.errors import ModelFileError, UnsupportedError, UsageError

ONNX = "onnx"
PYTORCH_EXPORTED = "pytorch-exported-program"  # a .pt2 archive (torch.export.save)
PYTORCH_SCRIPT = "pytorch-torchscript"  # a TorchScript archive (torch.jit.save)
PYTORCH_OBJECT = "pytorch-object"  # nn.Module, ScriptModule, ExportedProgram in memory
TFLITE = "tflite"  # a TensorFlow Lite flatbuffer, read in C++ (cpp/io/tflite)

# Extensions of formats irforge will read but has no frontend for yet (DESIGN.md, "Frontends").
_PLANNED = {
    ".pb": "TensorFlow GraphDef",
    ".pdmodel": "PaddlePaddle",
    ".pdiparams": "PaddlePaddle",
    ".caffemodel": "Caffe",
    ".prototxt": "Caffe",
    ".params": "MXNet",
    ".nnet": "Kaldi",
    ".safetensors": "Hugging Face safetensors",
    ".h5": "Keras",
    ".keras": "Keras",
}
_TORCH_EXTENSIONS = {".pt2": PYTORCH_EXPORTED, ".pt": PYTORCH_SCRIPT, ".pth": PYTORCH_SCRIPT, ".torchscript": PYTORCH_SCRIPT, ".ptl": PYTORCH_SCRIPT}


def _is_torch_object(obj) -> bool:
    # By class names along the MRO: deciding must not import torch for non-torch objects.
    for cls in type(obj).__mro__:
        mod = cls.__module__ or ""
        if (mod, cls.__name__) in (
            ("torch.nn.modules.module", "Module"),
            ("torch.export.exported_program", "ExportedProgram"),
            ("torch.jit._script", "ScriptModule"),
            ("torch._C", "ScriptModule"),
        ):
            return True
    return False


def detect_object(obj) -> Optional[str]:
    """The frontend for an in-memory object, or None when it is not a framework model."""
    if _is_torch_object(obj):
        return PYTORCH_OBJECT
    return None


def _zip_kind(path: str) -> Optional[str]:
    """PyTorch archive kind from a zip's member names (both are zips with one top folder)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    rest = [n.split("/", 1)[1] if "/" in n else n for n in names]
    if any(r in ("archive_format", "version") for r in rest) and any(r.startswith("models/") for r in rest):
        return PYTORCH_EXPORTED
    if any(r.startswith("code/") for r in rest) and "constants.pkl" in rest:
        return PYTORCH_SCRIPT
    if "data.pkl" in rest:
        return "pytorch-pickle"
    return None


def detect_file(path: str) -> str:
    """The frontend for a file: magic bytes first (the content cannot lie), then the extension."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror})") from None
    if head[:4] == b"PK\x03\x04":
        kind = _zip_kind(path)
        if kind in (PYTORCH_EXPORTED, PYTORCH_SCRIPT):
            return kind
        if kind == "pytorch-pickle":
            raise UnsupportedError(
                f"{path}: a torch.save() pickle (a state dict or pickled module) holds weights but no graph; "
                "load it into its nn.Module and pass the module (with example_input=...) to irforge.convert_model, "
                "or save it with torch.export.save (.pt2)"
            )
        raise UnsupportedError(f"{path}: a zip archive that is neither a torch.export (.pt2) nor a TorchScript archive")
    # A flatbuffer's file identifier sits after its root offset; a .tflite that lacks it goes to
    # the reader too, whose error says what is wrong.
    if head[4:8] == b"TFL3" or ext == ".tflite":
        return TFLITE
    # A ModelProto starts with field 1 (ir_version, varint): byte 0x08. Files named .onnx (or with
    # no extension) go to the ONNX reader whatever they hold: its errors say what is wrong inside.
    if head[:1] == b"\x08" or ext in (".onnx", ""):
        return ONNX
    if ext in _TORCH_EXTENSIONS:
        raise UnsupportedError(
            f"{path}: named like a PyTorch file but not a torch.export or TorchScript archive (no zip header)"
        )
    if ext in _PLANNED:
        raise UnsupportedError(f"{path}: {_PLANNED[ext]} models are not supported yet (planned); irforge reads ONNX and PyTorch today")
    raise UnsupportedError(
        f"{path}: unknown model format (extension '{ext}', first bytes {head[:8].hex()}); "
        "irforge reads ONNX (.onnx), torch.export archives (.pt2) and TorchScript files (.pt)"
    )


def require_torch():
    """Imports torch, or raises the error naming the extra to install."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UnsupportedError(
            "converting a PyTorch model needs PyTorch, which is not installed: pip install irforge[torch]"
        ) from None
    return torch


def read(input_model, *, example_input=None, input=None, source: Optional[str] = None):
    """Converts a framework model (object or file path) into an irforge Model through its frontend.
    Returns (model, consumed_input): whether `input` was applied while converting."""
    if isinstance(input_model, (str, os.PathLike)):
        path = os.fspath(input_model)
        kind = detect_file(path)
    else:
        path = None
        kind = detect_object(input_model)
        if kind is None:
            raise TypeError(f"no frontend reads a {type(input_model).__name__}")
    if kind == TFLITE:
        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; a TensorFlow Lite model's inputs are declared in it")
        from irforge import _core
        from irforge.model import Model

        return Model(_core.read_tflite(path)), False
    if kind == ONNX:
        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; an ONNX model's inputs are declared in it")
        from irforge import _core
        from irforge.model import Model

        return Model(_core.read_onnx(path)), False
    require_torch()
    from irforge.frontends import pytorch

    # A saved or exported program has its shapes already: input= then fixes them afterwards, as for
    # ONNX; a module is exported with input='s dynamic dims.
    if kind == PYTORCH_EXPORTED:
        return pytorch.convert_exported_file(path), False
    if kind == PYTORCH_SCRIPT:
        return pytorch.convert_torchscript_file(path, example_input=example_input, input=input), True
    if isinstance(input_model, pytorch.torch.export.ExportedProgram):
        return pytorch.convert(input_model), False
    return pytorch.convert(input_model, example_input=example_input, input=input), True
