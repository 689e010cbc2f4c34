"""Kaldi frontend glue: nnet1 models (text or binary, as nnet-copy writes them) and nnet3 models
(final.raw, or final.mdl whose transition model is skipped) read by the C++ reader
(cpp/io/kaldi) without Kaldi. The model's input is [frames, features] ("frames" is a
symbolic dim; fix it with input= when a static shape is wanted)."""

from __future__ import annotations


def looks_like_nnet1(head: bytes) -> bool:
    """Any Kaldi network irforge reads: nnet1 (<Nnet>), nnet3 (<Nnet3>, a raw network) or an
    nnet3 .mdl (<TransitionModel> first), text or binary."""
    text = (head[2:] if head[:2] == b"\0B" else head).lstrip()
    return text[:6] == b"<Nnet>" or text[:8] == b"<Nnet3> " or text[:8] == b"<Nnet3>\n" or text[:18] == b"<TransitionModel> "


def convert_file(path: str, remove_output_softmax: bool = False, counts: str | None = None):
    """A Kaldi nnet1 model as an irforge Model; `remove_output_softmax` (mo's
    --remove_output_softmax) makes the logits before a final Softmax the output; `counts` (mo's
    --counts) is a one-line file of per-output state counts whose log priors, log(c / sum(c)),
    are subtracted from the logits (before a final Softmax), as mo did."""
    from irforge import _core
    from irforge.errors import UsageError
    from irforge.model import Model

    if counts is not None and not counts:
        # mo's --counts "" took the priors stored in an nnet2/nnet3 .mdl; nnet1 has none.
        raise UsageError(f"{path}: counts='' means priors stored in the model, which an nnet1 model does not hold; give a counts file")
    return Model(_core.read_kaldi(path, remove_output_softmax, counts or ""))


def convert_with_options(input_model, counts, remove_output_softmax: bool):
    """convert_model(path, counts=..., remove_output_softmax=...): the Kaldi model read with mo's
    two options; any other model is refused (the options mean nothing to it)."""
    import os

    from irforge import frontends
    from irforge.errors import UsageError

    if counts is not None and not isinstance(counts, (str, os.PathLike)):
        raise TypeError(f"counts must be the path of a counts file, not {type(counts).__name__}")
    if not isinstance(input_model, (str, os.PathLike)) or frontends.detect_file(os.fspath(input_model)) != frontends.KALDI:
        raise UsageError("counts= and remove_output_softmax= apply to Kaldi models only")
    return convert_file(os.fspath(input_model), remove_output_softmax, None if counts is None else os.fspath(counts))
