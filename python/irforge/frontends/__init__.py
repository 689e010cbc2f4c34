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
CAFFE = "caffe"  # .prototxt net (+ .caffemodel weights)
CAFFE_WEIGHTS = "caffe-weights"  # a .caffemodel given alone
MXNET = "mxnet"  # -symbol.json (+ .params)
MXNET_PARAMS = "mxnet-params"  # a .params file given alone
KALDI = "kaldi"  # a Kaldi nnet1 or nnet3 model (.nnet, .raw, .mdl), text or binary
HF_LLM = "huggingface-llm"  # a folder with config.json + *.safetensors (frontends/hf_llm.py)

TENSORFLOW_FILE = "tensorflow"  # SavedModel folder, frozen GraphDef .pb, TF1 .meta + checkpoint
TENSORFLOW_KERAS_FILE = "keras"  # .keras / .h5 (loaded by TensorFlow, then a SavedModel)
TENSORFLOW_OBJECT = "tensorflow-object"  # tf.keras.Model, tf.Module, tf.function in memory
TFLITE = "tflite"  # a TensorFlow Lite flatbuffer, read in C++ (cpp/io/tflite)
PADDLE = "paddle"  # .pdmodel / PIR .json + .pdiparams, or a folder with __model__ (cpp/io/paddle)


def is_hf_folder(path) -> bool:
    """A Hugging Face model folder: config.json beside safetensors weights."""
    from irforge.frontends import hf_llm

    return hf_llm.is_hf_folder(os.fspath(path))


# Extensions of formats irforge will read but has no frontend for yet (DESIGN.md, "Frontends").
_PLANNED: dict = {}
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


def _is_tensorflow_object(obj) -> bool:
    # Keras models/layers, tf.Module and tf.function objects, by module name (no import).
    for cls in type(obj).__mro__:
        mod = cls.__module__ or ""
        if mod.startswith(("keras.", "tf_keras.", "tensorflow.python.module", "tensorflow.python.eager.polymorphic_function",
                           "tensorflow.python.trackable")) and cls.__name__ in ("Model", "Layer", "Module", "Function", "AutoTrackable"):
            return True
    return False


def detect_object(obj) -> Optional[str]:
    """The frontend for an in-memory object, or None when it is not a framework model."""
    if _is_torch_object(obj):
        return PYTORCH_OBJECT
    if _is_tensorflow_object(obj):
        return TENSORFLOW_OBJECT
    return None


def is_saved_model_dir(path: str) -> bool:
    """A TensorFlow SavedModel folder (the only folders irforge reads)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


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


def is_paddle_path(path: str) -> bool:
    """A Paddle folder with __model__, or a path prefix as paddle.jit.save and paddle.inference
    take it (model.json / model.pdmodel + model.pdiparams beside it)."""
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "__model__"))
    return not os.path.exists(path) and (os.path.isfile(path + ".json") or os.path.isfile(path + ".pdmodel")) and os.path.isfile(path + ".pdiparams")


def _more(path: str) -> bytes:
    """Up to 64 bytes after the first 16 (a text nnet1 model may start with blank lines)."""
    try:
        with open(path, "rb") as f:
            f.seek(16)
            return f.read(64)
    except OSError:
        return b""


def detect_file(path: str) -> str:
    """The frontend for a file: magic bytes first (the content cannot lie), then the extension."""
    if is_saved_model_dir(path):
        return TENSORFLOW_FILE
    if is_paddle_path(path):
        return PADDLE
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror})") from None
    if head[:4] == b"PK\x03\x04" and ext == ".keras":  # Keras 3 saves a zip of config + weights
        return TENSORFLOW_KERAS_FILE
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
    if ext in (".pdmodel", ".pdiparams"):
        return PADDLE
    if ext == ".json" and os.path.isfile(os.path.splitext(path)[0] + ".pdiparams"):
        from irforge.frontends import paddle

        if paddle.is_pir_json(path):
            return PADDLE
    if ext == ".prototxt":
        return CAFFE
    if ext == ".caffemodel":
        return CAFFE_WEIGHTS
    if ext == ".params":
        return MXNET_PARAMS
    from irforge.frontends import kaldi

    if kaldi.looks_like_nnet1(head + _more(path)) or ext == ".nnet":
        return KALDI
    if ext == ".json":
        from irforge.frontends import mxnet

        if mxnet.is_symbol_file(path):
            return MXNET
    # GraphDef / SavedModel / MetaGraphDef are protobufs like ONNX (a SavedModel even starts with
    # the same 0x08 byte), so TensorFlow's extensions decide; the reader's errors say what is wrong.
    if ext in (".pb", ".meta", ".pbtxt"):
        return TENSORFLOW_FILE
    if ext in (".keras", ".h5"):
        return TENSORFLOW_KERAS_FILE
    # A ModelProto starts with field 1 (ir_version, varint): byte 0x08. Files named .onnx (or with
    # no extension) go to the ONNX reader whatever they hold: its errors say what is wrong inside.
    if head[:1] == b"\x08" or ext in (".onnx", ""):
        return ONNX
    if ext in _TORCH_EXTENSIONS:
        raise UnsupportedError(
            f"{path}: named like a PyTorch file but not a torch.export or TorchScript archive (no zip header)"
        )
    if ext == ".safetensors":
        raise UnsupportedError(
            f"{path}: a safetensors file holds weights, not a graph; pass the Hugging Face model folder "
            "(config.json + *.safetensors) to convert a decoder LLM"
        )
    if ext in _PLANNED:
        raise UnsupportedError(f"{path}: {_PLANNED[ext]} models are not supported yet (planned)")
    raise UnsupportedError(
        f"{path}: unknown model format (extension '{ext}', first bytes {head[:8].hex()}); "
        "irforge reads ONNX (.onnx), torch.export archives (.pt2), TorchScript files (.pt), Caffe (.prototxt + .caffemodel), "
        "MXNet (-symbol.json + .params), Kaldi nnet1/nnet3, TensorFlow (SavedModel folders, .pb, .pbtxt, .meta, .keras), "
        "TensorFlow Lite (.tflite), PaddlePaddle (.pdmodel / PIR .json + .pdiparams) and Hugging Face LLM folders (config.json + *.safetensors)"
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


def is_file_pair(obj) -> bool:
    """A (net, weights) pair of paths, as Caffe models come (("deploy.prototxt", "net.caffemodel"))."""
    return isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(p, (str, os.PathLike)) for p in obj)


def read(input_model, *, example_input=None, input=None, source: Optional[str] = None, tf_options=None):
    """Converts a framework model (object, file path or pair of paths) into an irforge Model through
    its frontend. Returns (model, consumed_input): whether `input` was applied while converting.
    `tf_options` ({tags, signature}) are for TensorFlow models only."""
    if tf_options:
        kind = detect_file(os.fspath(input_model)) if isinstance(input_model, (str, os.PathLike)) else detect_object(input_model)
        names = ", ".join(sorted(k if k == "signature" else "saved_model_tags" for k in tf_options))
        if kind not in (TENSORFLOW_FILE, TENSORFLOW_KERAS_FILE, TENSORFLOW_OBJECT):
            what = os.fspath(input_model) if isinstance(input_model, (str, os.PathLike)) else type(input_model).__name__
            raise UsageError(f"{what}: {names} apply to TensorFlow models only")
        if "tags" in tf_options and kind != TENSORFLOW_FILE:
            raise UsageError(f"saved_model_tags select a MetaGraph of a SavedModel folder or TF1 .meta file, not of a "
                             f"{'.keras file' if kind == TENSORFLOW_KERAS_FILE else 'model in memory'}")
    if is_file_pair(input_model):
        from irforge.frontends import caffe, mxnet

        if example_input is not None:
            raise UsageError("example_input= is for PyTorch models; (net, weights) pairs declare their inputs")
        if any(os.fspath(p).lower().endswith((".json", ".params")) for p in input_model):
            return mxnet.convert_files(*mxnet.split_pair(input_model)), False
        return caffe.convert_files(*caffe.split_pair(input_model)), False
    if isinstance(input_model, (str, os.PathLike)):
        path = os.fspath(input_model)
        if os.path.isdir(path) and is_hf_folder(path):
            if example_input is not None or input is not None:
                raise UsageError(f"{path}: example_input= and input= do not apply to a Hugging Face LLM folder (its inputs are fixed)")
            from irforge.frontends import hf_llm

            return hf_llm.convert(path), True
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
    if kind == PADDLE:
        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; a Paddle program declares its inputs")
        from irforge.frontends import paddle

        return paddle.convert_file(path), False
    if kind in (CAFFE, CAFFE_WEIGHTS):
        from irforge.frontends import caffe

        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; a Caffe net declares its inputs")
        if kind == CAFFE:
            return caffe.convert_files(path, None), False
        return caffe.convert_files(caffe.proto_for_weights(path), path), False
    if kind == KALDI:
        from irforge.frontends import kaldi

        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; a Kaldi model's input is [frames, features]")
        return kaldi.convert_file(path), False
    if kind in (MXNET, MXNET_PARAMS):
        from irforge.frontends import mxnet

        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; give an MXNet model's input shapes with input=")
        if kind == MXNET:
            return mxnet.convert_files(path, None), False
        return mxnet.convert_files(mxnet.symbol_for_params(path), path), False
    if kind == ONNX:
        if example_input is not None:
            raise UsageError(f"{path}: example_input= is for PyTorch models; an ONNX model's inputs are declared in it")
        from irforge import _core
        from irforge.model import Model

        return Model(_core.read_onnx(path)), False
    if kind in (TENSORFLOW_FILE, TENSORFLOW_KERAS_FILE, TENSORFLOW_OBJECT):
        if example_input is not None:
            raise UsageError(f"{path or type(input_model).__name__}: example_input= is for PyTorch models; a TensorFlow model's inputs come from its signature")
        from irforge.frontends import tensorflow

        # input= is applied while translating: frozen values decide Switch/Merge and If there.
        tf_options = tf_options or {}
        if kind == TENSORFLOW_FILE:
            return tensorflow.convert_file(path, input=input, **tf_options), True
        if kind == TENSORFLOW_KERAS_FILE:
            return tensorflow.convert_keras_file(path, input=input, **tf_options), True
        return tensorflow.convert_object(input_model, input=input, **tf_options), True
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
