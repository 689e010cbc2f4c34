"""The user API: convert_model() reads a model into irforge's IR; save_model() writes it."""

from __future__ import annotations

import os
from typing import Callable, Optional, Union

from irforge import _core
from irforge import _options as opt
from irforge.errors import ModelFileError, UnsupportedError, UsageError, api_entry, user_callback
from irforge.model import Model

PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[int, int], None]

from irforge.inputs import MAX_DIM as _MAX_DIM

# fold_size_limit is a byte count; 2^62 keeps it far from the C++ core's uint64 range.
MAX_FOLD_SIZE_LIMIT = 1 << 62


@api_entry
def convert_model(
    input_model,
    *,
    transform: Optional[str] = "default",
    verify: bool = False,
    dump_after: Optional[str] = None,
    dump_callback: Optional[Callable[[str, str], None]] = None,
    fold_size_limit: int = 1 << 20,
    target_opset: int = 0,
    input=None,
    example_input=None,
    output=None,
    mean_values=None,
    scale_values=None,
    reverse_input_channels: bool = False,
    layout=None,
    source_layout=None,
    target_layout=None,
    extension=None,
    batch: Optional[int] = None,
    share_weights: bool = True,
    verbose: bool = False,
    saved_model_tags=None,
    signature: Optional[str] = None,
    counts=None,
    remove_output_softmax: bool = False,
) -> Model:
    """Read a model into irforge and optimize it.

    `input_model` is a path to a .onnx file (external data is found beside it), the serialized
    bytes of an ONNX model, an `onnx.ModelProto`, an irforge Model (optimized again), or a
    PyTorch model: a `torch.nn.Module` (with `example_input`: a tensor, a tuple or a dict of
    forward() arguments), a `torch.export.ExportedProgram`, a `.pt2` file (torch.export.save),
    a TorchScript file or `torch.jit.ScriptModule` (needs `pip install irforge[torch]`). The
    frontend is picked from the object's type, the file's magic bytes and its extension.

    `transform` is the pass pipeline: "default" (what `irforge convert` runs), "none" (read
    only), or pipeline text such as "remove-identity,dce,(fold,dce)*4" (see `list_passes()`).
    `verify` checks the IR after every pass; `dump_after` names a pass after which the graph is
    handed to `dump_callback(pass_name, text)` (default: printed). Per-pass timings and change
    counts are in `model.pass_log`.

    `target_opset` (0: the model's) is the default-domain opset of ONNX output. Fused ops newer
    than it (e.g. Gelu, opset 20, in an opset-17 model) are written in their decomposed form; a
    higher target raises the opset import and keeps them, when no other op changed meaning.

    `input` fixes input shapes, changes input types or freezes inputs to values, as in
    `openvino.convert_model`: text like "x[1,3,224,224],mask{i64}->[1,1]" or Python shapes,
    dicts and tuples (see irforge.inputs). Frozen inputs become constants, which the pipeline
    then folds, including Ifs they decide.

    Embedded preprocessing as Model Optimizer had it (see irforge.preprocessing): the converted
    model computes model((reverse(x) - mean_values) / scale_values) on an input `x` that may be
    given in another layout (`layout="nchw->nhwc"`, or `source_layout` / `target_layout`) and
    type (`input="x{u8}"`); folded into the first Conv's weights when that is exact.

    `batch` (as mo's --batch): the batch dim (a layout's `n`, else dim 0) of every input whose
    shape `input` does not give. Ranges in `input` shapes (`x[1..8,3,?,?]`) stay dynamic and keep
    their bounds in OpenVINO IR ("1..8").

    TensorFlow: `saved_model_tags` picks a SavedModel's MetaGraph by its tags ("serve,gpu" as
    Model Optimizer's --saved_model_tags, or a list; default: the one tagged "serve") and
    `signature` its signature (default: serving_default); both are refused for other models.

    Kaldi (as mo's options): `counts` is a file of output state counts whose log priors are
    subtracted from the logits, `remove_output_softmax=True` makes the logits before a final
    Softmax/LogSoftmax the output; both are refused for other models.

    `extension`: a path to a Python file (or a list of them, or a function) that registers
    converters for custom layers (irforge.register_converter; README "Custom layers"); loaded
    before the model is read. `share_weights` and `verbose` are accepted as
    `openvino.convert_model` takes them: weights are always shared (memory-mapped, never copied)
    and `verbose=True` prints the per-pass table.

    Option values are checked before the model is read: a bad one raises irforge.UsageError
    naming it (TypeError for a value of the wrong kind).
    """
    if transform is not None and not isinstance(transform, str):
        raise TypeError(f"transform must be pipeline text (str) or None, not {type(transform).__name__}")
    runs = transform and transform != "none"
    passes = opt.pipeline(transform) if runs else []
    verify = opt.boolean("verify", verify)
    if dump_after is not None:
        if not runs:
            raise UsageError(f"dump_after='{dump_after}' needs a pipeline that runs passes, not transform={transform!r}")
        opt.dump_after(dump_after, passes, transform)
    opt.callback("dump_callback", dump_callback)
    fold_size_limit = opt.integer("fold_size_limit", fold_size_limit, 0, MAX_FOLD_SIZE_LIMIT)
    target_opset = opt.target_opset(target_opset)
    from irforge import inputs as _inputs

    outputs = _inputs.normalize_output(output)
    from irforge import preprocessing as _pre

    pre = _pre.check_options(mean_values, scale_values, reverse_input_channels, layout, source_layout, target_layout)
    if batch is not None:
        batch = opt.integer("batch", batch, 1, _MAX_DIM)
    share_weights = opt.boolean("share_weights", share_weights)
    verbose = opt.boolean("verbose", verbose)
    from irforge import extensions as _ext

    _ext.load_extensions(extension)
    tf_options = _tensorflow_options(saved_model_tags, signature)
    if counts is not None or remove_output_softmax:
        from irforge.frontends import kaldi as _kaldi

        input_model = _kaldi.convert_with_options(input_model, counts, opt.boolean("remove_output_softmax", remove_output_softmax))
    frontend_input, cut_specs = _split_module_input(input_model, input)
    model, input_applied = _read(input_model, example_input=example_input, input=frontend_input, tf_options=tf_options)
    # Re-optimizing a Model another thread is saving or compressing: one call at a time.
    with model._lock:
        _ext.apply_onnx_converters(model)
        if target_opset:
            model.target_opset = target_opset
        if (input is not None and not input_applied) or cut_specs or outputs or _pre.any_given(pre) or batch:
            specs = _inputs.normalize_input(input) if not input_applied else cut_specs
            specs = _inputs.cut(model, specs, outputs)
            if batch:
                specs = _inputs.batch_specs(batch, specs, model.inputs, _pre.batch_axes(pre))
            specs = _inputs.resolve(specs, model.inputs)
            # Shapes and frozen values first (in the model's layout), then the preprocessing
            # layers, then type changes, whose Cast so comes first: u8 -> f32 -> mean/scale.
            if specs:
                _core.apply_inputs(model._core, [(n, shape, code if value is not None else 0, value) for n, shape, code, value in specs])
            if _pre.any_given(pre):
                model.preprocess_log = _core.preprocess_inputs(model._core, _pre.specs(pre, model.inputs))
                # Recorded in OpenVINO rt_info, as ovc records its options.
                model.mo_options = dict(getattr(model, "mo_options", {}), **{k: v for k, v in (
                    ("mean_values", mean_values), ("scale_values", scale_values), ("layout", layout),
                    ("source_layout", source_layout), ("target_layout", target_layout)) if v is not None})
                if reverse_input_channels:
                    model.mo_options["reverse_input_channels"] = True
            if outputs:
                model.mo_options = dict(getattr(model, "mo_options", {}), output=",".join(outputs))
            if batch:
                model.mo_options = dict(getattr(model, "mo_options", {}), batch=batch)
            retyped = [(n, None, code, None) for n, shape, code, value in specs if code and value is None]
            if retyped:
                _core.apply_inputs(model._core, retyped)
            if specs:
                text = _inputs.format_resolved(specs)
                model.input = f"{model.input},{text}" if model.input else text
        _ext.infer_custom_ops(model)
        if runs:
            model.pass_log = list(
                _core.run_passes(
                    model._core,
                    transform,
                    verify=verify,
                    dump_after=dump_after or "",
                    dump_callback=user_callback(dump_callback) or (lambda name, text: print(f"--- after {name} ---\n{text}")),
                    fold_size_limit=fold_size_limit,
                    target_opset=model.target_opset,
                )
            )
            # Pipelines that ran after compress_weights are recorded apart, so a reproduction
            # (irforge check) runs them after compressing too.
            if model.compress_options:
                model.transform_after_compression = _join(model.transform_after_compression, transform)
            else:
                model.transform = _join(model.transform, transform)
    if verbose:
        print(model.summary())
        print(model.pass_table())
    return model


def _tensorflow_options(saved_model_tags, signature) -> dict:
    """{tags, signature} given for a TensorFlow model, checked: tags as mo took them ("a,b") or a list."""
    options = {}
    if saved_model_tags is not None:
        tags = saved_model_tags.split(",") if isinstance(saved_model_tags, str) else saved_model_tags
        if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
            raise TypeError(f"saved_model_tags must be text (\"serve,gpu\") or a list of str, not {type(saved_model_tags).__name__}")
        tags = [t.strip() for t in tags]
        if not tags or not all(tags):
            raise UsageError(f"saved_model_tags={saved_model_tags!r}: an empty tag")
        options["tags"] = tags
    if signature is not None:
        if not isinstance(signature, str):
            raise TypeError(f"signature must be a signature name (str), not {type(signature).__name__}")
        if not signature:
            raise UsageError("signature='': give a signature name (e.g. serving_default)")
        options["signature"] = signature
    return options


def _split_module_input(input_model, input):
    """(input for the PyTorch frontend, specs applied after it): a torch.nn.Module is exported
    with the specs of forward()'s arguments; names of inner tensors cut the converted graph."""
    import sys

    torch = sys.modules.get("torch")
    if input is None or torch is None or not isinstance(input_model, torch.nn.Module):
        return input, []
    import inspect

    from irforge import inputs as _inputs

    try:
        params = set(inspect.signature(input_model.forward).parameters)
    except (TypeError, ValueError):
        return input, []
    specs = _inputs.normalize_input(input)
    later = [s for s in specs if s.name is not None and s.name not in params]
    if not later:
        return input, []
    front = [s for s in specs if s.name is None or s.name in params]
    return (front or None), later


def _join(pipelines: str, more: str) -> str:
    return f"{pipelines},{more}" if pipelines else more


def list_passes():
    """(name, summary) of every pass, in registry order."""
    return [tuple(p) for p in _core.list_passes()]


def _read(input_model, *, example_input=None, input=None, tf_options=None):
    """(Model, whether the frontend already applied `input`): ONNX in any form is read here;
    framework models and files go through irforge.frontends (type, magic bytes, extension)."""
    if tf_options and not isinstance(input_model, (str, os.PathLike)):
        from irforge import frontends as _frontends

        if _frontends.detect_object(input_model) != _frontends.TENSORFLOW_OBJECT:
            raise UsageError(f"{', '.join(sorted(k if k == 'signature' else 'saved_model_tags' for k in tf_options))} "
                             f"apply to TensorFlow models, not to a {type(input_model).__name__}")
        return _frontends.read(input_model, input=input, tf_options=tf_options)
    if isinstance(input_model, Model):
        return input_model, False
    if isinstance(input_model, (bytes, bytearray, memoryview)):
        return Model(_core.read_onnx_bytes(bytes(input_model), "", "<bytes>")), False
    from irforge import frontends as _frontends

    if _frontends.is_file_pair(input_model):  # (net, weights): Caffe's prototxt + caffemodel
        return _frontends.read(tuple(opt.path("input_model", p) for p in input_model), example_input=example_input, input=input)
    if isinstance(input_model, (str, os.PathLike)):
        path = opt.path("input_model", input_model)
        from irforge import frontends

        paddle_model = frontends.is_paddle_path(path)  # a folder with __model__, or a path prefix
        if os.path.isdir(path) and not (frontends.is_hf_folder(path) or frontends.is_saved_model_dir(path) or paddle_model):
            raise ModelFileError(
                f"{path}: is a folder, but neither a TensorFlow SavedModel (saved_model.pb) nor a Hugging Face "
                "checkpoint (config.json + *.safetensors); give the path of the model file inside it"
            )
        if not os.path.exists(path) and not paddle_model:
            raise ModelFileError(f"{path}: no such file")
        return frontends.read(path, example_input=example_input, input=input, tf_options=tf_options)
    if type(input_model).__name__ == "ModelProto" and hasattr(input_model, "SerializeToString"):
        try:
            data = input_model.SerializeToString()
        except ValueError as e:  # protobuf refuses messages over 2 GB
            raise UnsupportedError(
                "the onnx.ModelProto is too large to serialize in memory; save it with external data "
                "and pass its path instead"
            ) from e
        return Model(_core.read_onnx_bytes(data, "", "<onnx.ModelProto>")), False
    from irforge import frontends

    if frontends.detect_object(input_model) is not None:
        return frontends.read(input_model, example_input=example_input, input=input)
    raise TypeError(
        f"convert_model() takes a path, bytes, onnx.ModelProto, irforge.Model or a PyTorch model, not {type(input_model).__name__}"
    )


@api_entry
def save_model(
    model: Model,
    output_model: PathLike,
    compress_to_fp16: bool = True,
    *,
    external_data: Optional[bool] = None,
    progress: Optional[ProgressCallback] = None,
    target_opset: Optional[int] = None,
) -> Optional[dict]:
    """Write `model` to `output_model`; the extension picks the format.

    `.xml`: OpenVINO IR v11 (`.xml` + `.bin` beside it). With `compress_to_fp16` (the default, as
    in `openvino.save_model`) float32 weights are stored as float16 and decompressed at load time.
    `.onnx`: ONNX. Weights go to one `<name>.onnx.data` file beside the model when
    `external_data` is True, or automatically (None) when they would exceed protobuf's 2 GB limit.
    `compress_to_fp16` applies to OpenVINO IR output (as in `openvino.save_model`); ONNX output keeps
    the model's types.
    `target_opset` (ONNX output; default: the one given to `convert_model`, else the model's
    opset): see `convert_model`. Saving never changes `model`.
    The output appears atomically: on any error no partial file is left behind.
    """
    if not isinstance(model, Model):
        raise TypeError(f"save_model() takes an irforge.Model (from irforge.convert_model), not {type(model).__name__}")
    path = opt.path("output_model", output_model)
    compress_to_fp16 = opt.boolean("compress_to_fp16", compress_to_fp16)
    if external_data is not None:
        external_data = opt.boolean("external_data", external_data)
    opt.callback("progress", progress)
    progress = user_callback(progress)
    if target_opset is not None:
        target_opset = opt.target_opset(target_opset)
    ext = os.path.splitext(path)[1].lower()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ModelFileError(f"{path}: the folder {folder} does not exist")
    # Everything read from the model (the graph, the compression note, the options recorded in
    # rt_info) is read in one turn, so the files written describe one state of the model.
    with model._lock:
        if ext == ".onnx":
            note = model._compression.onnx_note if model._compression is not None else ""
            if note:
                raise UnsupportedError(f"{path}: {note}; write OpenVINO IR (.xml) or use an int8 mode")
            mode = "auto" if external_data is None else ("always" if external_data else "never")
            opset = model.target_opset if target_opset is None else int(target_opset)
            model._core.save_onnx(path, external_data=mode, progress=progress, target_opset=opset)
        elif ext == ".xml":
            try:
                return model._core.save_openvino(path, bool(compress_to_fp16), conversion_rt_info(model, compress_to_fp16), progress)
            except UnsupportedError as e:
                from irforge.extensions import unsupported_ops_message

                listed = unsupported_ops_message(model, e)
                if listed is None:
                    raise
                raise UnsupportedError(listed) from None
        else:
            raise UnsupportedError(f"{path}: unknown output format '{ext}'; use .onnx or .xml")


def conversion_rt_info(model: Model, compress_to_fp16: bool):
    """The model-level rt_info of OpenVINO IR output: the irforge version and every option the
    conversion used, under conversion_parameters/ (irforge.reproduce reads them back)."""
    from irforge._version import __version__

    rt_info = [
        ("irforge_version", __version__),
        ("conversion_parameters/compress_to_fp16", str(bool(compress_to_fp16))),
    ]
    source = model._core.source_path
    if source and not source.startswith("<"):
        rt_info.append(("conversion_parameters/input_model", os.path.abspath(source)))
    if model.input:
        rt_info.append(("conversion_parameters/input", model.input))
    if model.transform:
        rt_info.append(("conversion_parameters/transform", model.transform))
    if model.target_opset:
        rt_info.append(("conversion_parameters/target_opset", str(model.target_opset)))
    for i, options in enumerate(model.compress_options):
        prefix = "conversion_parameters/compress_weights" + (f"_{i + 1}" if i else "")
        rt_info += [(f"{prefix}/{key}", _option_text(value)) for key, value in options.items()]
    for key, value in getattr(model, "mo_options", {}).items():
        rt_info.append((f"conversion_parameters/{key}", _option_text(value)))
    if model.transform_after_compression:
        rt_info.append(("conversion_parameters/transform_after_compression", model.transform_after_compression))
    return rt_info


def _option_text(value) -> str:
    import json

    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@api_entry
def compress_weights(
    model,
    mode: str = "int4_asym",
    group_size: int = 128,
    ratio: float = 1.0,
    ignored_scope=None,
    *,
    all_layers: bool = False,
    backup_mode: str = "int8_asym",
    group_size_fallback: str = "adjust",
) -> Model:
    """Compress the model's weights to INT8 or INT4 without data, as ``nncf.compress_weights``.

    `mode`: "int8_asym", "int8_sym" (per output channel), "int4_asym", "int4_sym" (groups of
    `group_size` along the reduction axis; -1 = per channel). Eligible weights: MatMul/Gemm B,
    Gather embedding tables, Conv kernels. In int4 modes the embeddings, the last MatMul (LM head)
    and Conv kernels take `backup_mode` ("int8_asym", "int8_sym" or "none" = stay float) unless
    `all_layers`; `ratio` is the share (in elements) of the other MatMul weights that goes to int4,
    picked by NNCF's data-free criterion (largest int8 error first), the rest takes the backup
    mode. `group_size_fallback` handles a reduction axis the group size does not divide:
    "adjust" (largest power of two dividing it, >= 32, else backup), "ignore" (stay float) or
    "error". `ignored_scope`: a regular expression or list of them (matched against node and
    weight names), a dict with "names" / "patterns" / "types", or an ``nncf.IgnoredScope``.

    The weights are replaced by integer tensors + scales (+ zero points) feeding a
    DequantizeLinear; the integers are computed while the model is saved, so memory stays
    bounded. `model` (an irforge.Model, or anything `convert_model` reads) is changed in place and
    returned; ``model.compression_report()`` lists what each weight became.
    """
    mode, group_size, ratio, all_layers, backup_mode, group_size_fallback = opt.compress_options(
        mode, group_size, ratio, all_layers, backup_mode, group_size_fallback
    )
    names, patterns, types = _ignored_scope_lists(ignored_scope)
    model = model if isinstance(model, Model) else convert_model(model)
    with model._lock:
        result = _core.compress_weights(
            model._core, mode, group_size, ratio, all_layers, backup_mode, group_size_fallback, names, patterns, types,
        )
        # A second call finds the compressed weights already integer: its report only adds to
        # the first one's, which keeps describing them.
        model._compression = result if model._compression is None else _CompressionLog(model._compression, result)
        model.compress_options.append({
            "mode": mode, "group_size": group_size, "ratio": ratio, "all_layers": all_layers,
            "backup_mode": backup_mode, "group_size_fallback": group_size_fallback,
            "ignored_scope": {"names": names, "patterns": patterns, "types": types},
        })
    return model


class _CompressionLog:
    """The reports of several compress_weights calls on one model, read as one."""

    def __init__(self, first, second) -> None:
        self._parts = [first, second]
        self.onnx_note = first.onnx_note or second.onnx_note

    def weights(self):
        return [w for part in self._parts for w in part.weights()]

    def relative_error(self, i: int) -> float:
        for part in self._parts:
            n = len(part.weights())
            if i < n:
                return part.relative_error(i)
            i -= n
        raise IndexError("no such weight")


def _ignored_scope_lists(scope):
    """(names, patterns, types) of an ignored scope; the patterns are checked by the C++ core."""

    def strings(key, values):
        if isinstance(values, str):
            values = [values]
        try:
            values = list(values)
        except TypeError:
            raise TypeError(f"ignored_scope {key} must be a list of strings, not {type(values).__name__}") from None
        for v in values:
            if not isinstance(v, str):
                raise TypeError(f"ignored_scope {key} must be strings, not {type(v).__name__} {v!r}")
        return values

    if scope is None:
        return [], [], []
    if isinstance(scope, str):
        return [], [scope], []
    if isinstance(scope, dict):
        unknown = set(scope) - {"names", "patterns", "types"}
        if unknown:
            raise UsageError(f"ignored_scope keys are names, patterns and types, not {sorted(map(str, unknown))}")
        return (strings("names", scope.get("names", [])), strings("patterns", scope.get("patterns", [])),
                strings("types", scope.get("types", [])))
    if hasattr(scope, "patterns") and hasattr(scope, "names"):  # nncf.IgnoredScope
        return strings("names", scope.names), strings("patterns", scope.patterns), strings("types", getattr(scope, "types", []))
    return [], strings("patterns", scope), []


def set_num_threads(n: int) -> None:
    """Sets how many threads irforge's C++ core uses (``n <= 0``: ``IRFORGE_NUM_THREADS`` or all
    cores). Output bytes never depend on this number."""
    _core.set_num_threads(opt.integer("n", n, None, 1 << 16))


def get_num_threads() -> int:
    """Returns how many threads irforge's C++ core uses."""
    return _core.get_num_threads()
