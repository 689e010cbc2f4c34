"""The irforge command line: `irforge convert`, `irforge info`, `irforge sample`.

Option names follow OpenVINO's `ovc` (--output_model, --compress_to_fp16, --verbose) so its users
feel at home. Imports stay lazy so `irforge --help` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional


def _bool_arg(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got '{text}'")


def _parser() -> argparse.ArgumentParser:
    from irforge._version import __version__

    p = argparse.ArgumentParser(
        prog="irforge",
        description="Convert and optimize models: ONNX in, optimized ONNX or OpenVINO IR out.",
    )
    p.add_argument("--version", action="version", version=f"irforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("convert", help="convert a model", description="Convert a model to ONNX (.onnx) or OpenVINO IR (.xml).")
    c.add_argument("input_model", help="the model to convert: .onnx; a TensorFlow SavedModel folder, frozen .pb/.pbtxt, TF1 .meta + checkpoint or .keras/.h5; a .tflite; a Paddle .pdmodel or PIR .json (+ .pdiparams); a PyTorch .pt2 / TorchScript file (needs irforge[torch]); a Caffe .prototxt; an MXNet -symbol.json; a Kaldi nnet1 or nnet3 model (.nnet, .raw, .mdl); or a Hugging Face LLM folder (config.json + *.safetensors)")
    # mo's two-file frameworks: the net positional and its weights by option, or the other way round.
    c.add_argument("--input_model", "--input-model", dest="weights_model", metavar="WEIGHTS",
                   help="the weights of a net given positionally (Caffe: irforge convert deploy.prototxt --input_model net.caffemodel)")
    c.add_argument("--input_proto", "--input-proto", metavar="PROTOTXT",
                   help="the Caffe net when the positional model is its .caffemodel (as mo's --input_proto)")
    c.add_argument("--input_symbol", "--input-symbol", metavar="SYMBOL_JSON",
                   help="the MXNet -symbol.json when the positional model is its .params (as mo's --input_symbol)")
    c.add_argument("--mean_file", "--mean-file", metavar="BINARYPROTO",
                   help="Caffe: a mean image (.binaryproto) subtracted from the input, center-cropped to its size (as mo's --mean_file)")
    c.add_argument("--counts", metavar="FILE",
                   help="Kaldi: a one-line file of output state counts; their log priors are subtracted from the logits (as mo's --counts)")
    c.add_argument("--remove_output_softmax", "--remove-output-softmax", action="store_true",
                   help="Kaldi: the logits before a final Softmax are the output (as mo's --remove_output_softmax)")
    c.add_argument(
        "--output_model",
        "--output-model",
        help="output path; the extension picks the format (.onnx or .xml); a folder (existing, or ending in /) gets <input stem>.xml. "
        "Default: <input stem>.xml in the current folder, as ovc",
    )
    c.add_argument(
        "--compress_to_fp16",
        "--compress-to-fp16",
        type=_bool_arg,
        nargs="?",
        const=True,
        default=True,
        metavar="True|False",
        help="store float weights as fp16 in OpenVINO IR output (default True, as ovc; bare --compress_to_fp16 means True)",
    )
    c.add_argument(
        "--external_data",
        "--external-data",
        type=_bool_arg,
        default=None,
        metavar="True|False",
        help="ONNX output: weights in a .data file beside the model (default: only when over 2 GB)",
    )
    c.add_argument(
        "--transform",
        default="default",
        help='pass pipeline: "default", "none", or text like "remove-identity,dce" (see `irforge passes`)',
    )
    c.add_argument(
        "--input",
        help='input shapes, types and frozen values as ovc/mo: "x[1,3,224,224]", "x[?,3,1..10,-1]", '
        '"ids{i64}", "flag->False", "x[2]->[1,2]"; several separated by commas',
    )
    c.add_argument(
        "--output",
        help='output tensors, comma-separated ("logits" or "block3/relu,pool"); may name inner tensors, cutting the rest '
        "away. An --input naming an inner tensor cuts the graph there (Model Optimizer's cutting)",
    )
    pre = c.add_argument_group("embedded preprocessing (as Model Optimizer)", "the converted model computes "
                               "model((reverse(x) - mean) / scale) on input x, in the target layout and --input type (x{u8})")
    pre.add_argument("--mean_values", "--mean-values", metavar="VALUES",
                     help='per-channel values subtracted from the input, in the model\'s channel order: "data[123.7,116.3,103.5]" or "[..]" for a single input')
    pre.add_argument("--scale_values", "--scale-values", metavar="VALUES", help="per-channel values the input is divided by (after the mean), same syntax")
    pre.add_argument("--reverse_input_channels", "--reverse-input-channels", action="store_true",
                     help="reverse the channels of 3-channel inputs (RGB<->BGR), before mean and scale")
    pre.add_argument("--layout", metavar="LAYOUT", help='"nchw->nhwc" (the model\'s layout -> the input\'s) or per input "data(nchw->nhwc)"; c is the channel dim')
    pre.add_argument("--source_layout", "--source-layout", metavar="LAYOUT", help='the model\'s input layout: "nchw" or "data(nchw)"')
    pre.add_argument("--target_layout", "--target-layout", metavar="LAYOUT", help='the converted model\'s input layout: "nhwc" or "data(nhwc)"')
    tf = c.add_argument_group("TensorFlow SavedModel")
    tf.add_argument("--saved_model_tags", "--saved-model-tags", metavar="TAGS",
                    help='the tags of the MetaGraph to read, comma-separated as mo took them (default: the one tagged "serve")')
    tf.add_argument("--signature", metavar="NAME", help="the signature to convert (default: serving_default)")
    c.add_argument("--batch", type=int, metavar="N", help="set the batch dim (layout n, else dim 0) of every input to N, as mo")
    c.add_argument(
        "--extension", action="append", default=[], metavar="FILE.py",
        help="a Python file registering converters for custom layers (irforge.register_converter); repeatable",
    )
    c.add_argument("--dump_after", "--dump-after", metavar="PASS", help="print the graph after this pass")
    c.add_argument(
        "--target_opset",
        "--target-opset",
        type=int,
        default=0,
        metavar="N",
        help="ONNX output: raise the default opset to N so fused ops that exist at N (Gelu 20, RMSNormalization 23, ...) "
        "are kept; refused when another op changed meaning since the model's opset (default: the model's opset)",
    )
    c.add_argument(
        "--compress_weights",
        "--compress-weights",
        metavar="MODE",
        choices=["int8_asym", "int8_sym", "int4_asym", "int4_sym"],
        help="compress weights without data as NNCF does: int8_asym, int8_sym (per channel), int4_asym, int4_sym (grouped)",
    )
    c.add_argument("--group_size", "--group-size", type=int, default=128, metavar="N", help="int4 group size (default 128; -1 = per channel)")
    c.add_argument("--ratio", type=float, default=1.0, metavar="R", help="share of the MatMul weights in int4, the rest int8 (default 1.0)")
    c.add_argument("--all_layers", "--all-layers", action="store_true", help="int4 for embeddings and the last layer too")
    c.add_argument(
        "--backup_mode", "--backup-mode", default="int8_asym", choices=["int8_asym", "int8_sym", "none"],
        help="mode of weights not in int4 in int4 modes (default int8_asym; none = keep float)",
    )
    c.add_argument(
        "--ignored_scope", "--ignored-scope", action="append", default=[], metavar="REGEX",
        help="leave weights of nodes / weights whose name matches this regular expression float (repeatable)",
    )
    c.add_argument("--verbose", action="store_true", help="explain what happened: model summary, per-pass time and changes")
    c.add_argument("--check", action="store_true", help="then run `irforge check` on the result; the files appear only when it passes (else exit 1)")
    _check_options(c)

    k = sub.add_parser(
        "check",
        help="compare a converted model with its original",
        description="Run the original (onnxruntime) and the converted model (OpenVINO for .xml, onnxruntime for .onnx) on "
        "the same inputs, report per-output error, and when it is out of tolerance bisect the pass pipeline to name "
        "the first pass after which the outputs diverge. Exit status 0 when every output is within tolerance, 1 otherwise.",
    )
    k.add_argument("original", help="the original model (.onnx)")
    k.add_argument("converted", help="the converted model (.xml or .onnx)")
    k.add_argument("--transform", default=None, help="pipeline to bisect (default: the one recorded in CONVERTED, else \"default\")")
    k.add_argument("--input", help="the --input CONVERTED was made with (frozen inputs are fed to ORIGINAL only)")
    _check_options(k)

    i = sub.add_parser("info", help="describe a model", description="Show a model's inputs, outputs, weights and ops.")
    i.add_argument("input_model")
    i.add_argument("--dump", action="store_true", help="also print the whole graph as text")

    sub.add_parser("passes", help="list the optimization passes")

    s = sub.add_parser("sample", help="print the path of a bundled sample model")
    s.add_argument("name", nargs="?", default="tiny_resnet", help="sample name (default tiny_resnet)")
    return p


def _check_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checking")
    g.add_argument(
        "--input_shape",
        "--input-shape",
        action="append",
        default=[],
        metavar="SPEC",
        help='input shapes for random inputs: "x[1,3,224,224]" or a symbolic dim "batch=2" (repeatable, or comma-separated)',
    )
    g.add_argument("--inputs", metavar="FILE.npz", help="inputs to use instead of random data (arrays named by input)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    g.add_argument("--rtol", type=float, default=None, help="largest error relative to each output's scale (default 1e-4; 2e-2 for fp16 weights)")
    g.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance for outputs whose scale is ~0 (default 1e-6)")
    g.add_argument("--no_bisect", "--no-bisect", action="store_true", help="do not bisect the pipeline on failure")


def _parse_shape_specs(specs: List[str]):
    """["x[1,3,8,8]", "batch=2,seq=4"] -> ({"x": [1,3,8,8]}, {"batch": 2, "seq": 4})."""
    import re

    from irforge.errors import UsageError

    shapes, dims = {}, {}
    for spec in specs:
        for item in re.split(r",(?![^\[]*\])", spec):  # commas outside brackets separate items
            if not item.strip():
                continue
            m = re.fullmatch(r"\s*([^\[\]=\s,]+)\s*\[([0-9,\s]*)\]\s*", item)
            if m:
                shapes[m.group(1)] = [int(d) for d in m.group(2).replace(" ", "").split(",") if d]
                continue
            m = re.fullmatch(r"\s*([^\[\]=\s,]+)\s*=\s*(\d+)\s*", item)
            if m:
                dims[m.group(1)] = int(m.group(2))
                continue
            raise UsageError(f"--input_shape: cannot read '{item.strip()}'; write NAME[d0,d1,...] or DIM=VALUE")
    return shapes, dims


def _run_check(args, original: str, converted: str, transform, shown_as: Optional[str] = None):
    from irforge.checking import check

    shapes, dims = _parse_shape_specs(args.input_shape)
    report = check(
        original,
        converted,
        input=args.input,
        inputs=args.inputs,
        shapes=shapes,
        dims=dims,
        seed=args.seed,
        rtol=args.rtol,
        atol=args.atol,
        transform=transform,
        bisect=not args.no_bisect,
    )
    if shown_as:
        report.converted = shown_as
    return report


class _Progress:
    """A one-line progress bar on a terminal; silent when stderr is piped."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < (256 << 20):
            return
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width)
        sys.stderr.write(f"\r{self.label} [{bar:<{width}}] {frac * 100:5.1f}% {done / 2**30:.2f}/{total / 2**30:.2f} GiB")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _convert(args) -> int:
    import irforge
    from irforge import _options as opt

    out = args.output_model
    from irforge import frontends

    # A Hugging Face LLM folder becomes a folder, as optimum-cli writes it: openvino_model.xml/.bin
    # beside config.json and generation_config.json (what openvino_genai.LLMPipeline opens).
    llm_out = None
    if os.path.isdir(args.input_model) and frontends.is_hf_folder(args.input_model):
        if not out or not out.lower().endswith((".xml", ".onnx")):
            llm_out = out or os.path.basename(os.path.normpath(args.input_model)) + "-openvino"
            out = os.path.join(llm_out, "openvino_model.xml")
        if args.check:
            _error(f"{args.input_model}: --check needs a reference runtime for the original, and a Hugging Face LLM folder has none here")
            return 1

    stem = os.path.splitext(os.path.basename(os.path.normpath(args.input_model)))[0]
    if not out:
        out = stem + ".xml"
    elif out.endswith(("/", os.sep)) or os.path.isdir(out):
        out = os.path.join(out, stem + ".xml")  # as ovc: a folder keeps the model's stem
    # Option values are checked before any work, so a typo does not cost a conversion.
    if args.compress_weights:
        opt.compress_options(args.compress_weights, args.group_size, args.ratio, args.all_layers, args.backup_mode, "adjust")
    passes = opt.pipeline(args.transform) if args.transform != "none" else []
    if args.dump_after:
        opt.dump_after(args.dump_after, passes, args.transform)
    if args.input is not None:
        from irforge import inputs

        inputs.parse_input_text(args.input)
    if args.output is not None:
        from irforge import inputs

        inputs.normalize_output(args.output)
    from irforge import preprocessing

    pre = preprocessing.check_options(args.mean_values, args.scale_values, args.reverse_input_channels, args.layout,
                                      args.source_layout, args.target_layout)
    if args.check and (preprocessing.any_given(pre) or args.output is not None):
        from irforge.errors import UsageError

        # irforge check feeds the original and the converted model the same inputs.
        raise UsageError("--check cannot compare a model with embedded preprocessing or cut outputs to its original; convert without --check")
    if args.check:
        _parse_shape_specs(args.input_shape)
    t0 = time.perf_counter()
    source = args.input_model
    if args.weights_model or args.input_proto or args.input_symbol:
        source = (args.input_proto or args.input_symbol or args.input_model, args.weights_model or args.input_model)
    if args.mean_file:
        from irforge.frontends import caffe

        source = caffe.convert_source(source, args.mean_file)
    if args.counts is not None or args.remove_output_softmax:
        from irforge import frontends
        from irforge.errors import UsageError
        from irforge.frontends import kaldi

        if not isinstance(source, str) or frontends.detect_file(source) != frontends.KALDI:
            raise UsageError("--counts and --remove_output_softmax apply to Kaldi models only")
        source = kaldi.convert_file(source, args.remove_output_softmax, args.counts)
    model = irforge.convert_model(
        source,
        transform=args.transform,
        dump_after=args.dump_after,
        dump_callback=lambda name, text: print(f"--- graph after {name} ---\n{text}", file=sys.stderr),
        target_opset=args.target_opset,
        input=args.input,
        output=args.output,
        mean_values=args.mean_values,
        scale_values=args.scale_values,
        reverse_input_channels=args.reverse_input_channels,
        layout=args.layout,
        source_layout=args.source_layout,
        target_layout=args.target_layout,
        extension=args.extension or None,
        batch=args.batch,
        saved_model_tags=args.saved_model_tags,
        signature=args.signature,
    )
    if args.compress_weights:
        irforge.compress_weights(
            model, args.compress_weights, args.group_size, args.ratio, args.ignored_scope or None,
            all_layers=args.all_layers, backup_mode=args.backup_mode,
        )
    t1 = time.perf_counter()
    if args.verbose:
        print(f"converted {args.input_model} in {t1 - t0:.2f} s", file=sys.stderr)
        print(model.summary(), file=sys.stderr)
        print(model.pass_table(), file=sys.stderr)
    # With --check the files are written to a temporary folder beside the output and appear
    # only when the check passes: a non-zero exit status never leaves output behind.
    staging = None
    if llm_out:
        os.makedirs(llm_out, exist_ok=True)
    folder = os.path.dirname(os.path.abspath(out))
    written = out
    if args.check and os.path.isdir(folder):
        import tempfile

        staging = tempfile.mkdtemp(prefix=".irforge-check-", dir=folder)
        written = os.path.join(staging, os.path.basename(out))
    try:
        progress = _Progress(f"writing {out}")
        try:
            stats = irforge.save_model(
                model, written, compress_to_fp16=args.compress_to_fp16, external_data=args.external_data, progress=progress
            )
        finally:
            progress.finish()
        t2 = time.perf_counter()
        if args.verbose:
            print(f"wrote {out} in {t2 - t1:.2f} s", file=sys.stderr)
            if isinstance(stats, dict):
                print(
                    f"OpenVINO IR: {stats['layers']} layers, {stats['constants']} constants "
                    f"({stats['deduplicated']} deduplicated, {stats['compressed']} compressed to f16, "
                    f"{stats['kept_f32']} kept f32), .bin {stats['bin_bytes']} bytes",
                    file=sys.stderr,
                )
            if args.compress_weights:
                print(model.compression_table(errors=True), file=sys.stderr)
        report = _run_check(args, args.input_model, written, args.transform, shown_as=out) if args.check else None
        if report is not None and not report.ok:
            print(report)
            _error(f"{out}: the converted model fails the check (report above); nothing was written")
            return 1
        if staging:
            for name in sorted(os.listdir(staging)):  # the model and its .bin / .data, same names as planned
                os.replace(os.path.join(staging, name), os.path.join(folder, name))
    finally:
        if staging:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    if llm_out:
        from irforge.frontends import hf_llm

        hf_llm.copy_side_files(args.input_model, llm_out)
        note = hf_llm.write_tokenizers(args.input_model, llm_out)
        if note and (args.verbose or note.startswith("tokenizer not")):
            print(f"irforge: {note}", file=sys.stderr)
    print(f"[ SUCCESS ] {os.path.abspath(out)}")
    if report is not None:
        print(report)
    return 0


def _check(args) -> int:
    report = _run_check(args, args.original, args.converted, args.transform)
    print(report)
    return 0 if report.ok else 1


def _info(args) -> int:
    import irforge

    model = irforge.convert_model(args.input_model)
    print(model.summary())
    if args.dump:
        print()
        print(model.dump())
    return 0


def _passes(args) -> int:
    import irforge
    from irforge import _core

    for name, summary in irforge.list_passes():
        print(f"{name:<28} {summary}")
    print(f"\ndefault pipeline: {_core.default_pipeline()}")
    return 0


def _sample(args) -> int:
    from irforge import samples

    print(samples.path(args.name))
    return 0


def _error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"irforge: error: {line}", file=sys.stderr)


def _stdout_closed() -> None:
    # Later writes (and the interpreter's final flush) go nowhere instead of raising again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status: 0 success; 1 an irforge error or a failed check (one line on stderr); 2 a
    command line argparse cannot read; 130 interrupted (Ctrl-C); 141 stdout closed early (a
    pipe into `head`). Never a traceback."""
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        handlers = {"convert": _convert, "info": _info, "passes": _passes, "sample": _sample, "check": _check}
        code = handlers[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("irforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_closed()
        return 141
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        from irforge.errors import ConversionError, internal_error

        if isinstance(e, OSError) and e.filename is not None:  # a file irforge was asked to use
            _error(f"{e.filename}: {e.strerror or e}")
        elif isinstance(e, (ConversionError, TypeError)):
            _error(str(e))
        else:
            _error(str(internal_error(e)))
        return 1


if __name__ == "__main__":
    sys.exit(main())
