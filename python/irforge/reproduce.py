"""Conversions read back from an OpenVINO IR's rt_info: which options made it, and the same
conversion done again (what `irforge check` compares against and bisects).

`irforge.save_model` records every option under `conversion_parameters/` (see
`irforge.api.conversion_rt_info`): input, transform, target_opset, compress_weights/<option>
(compress_weights_2/... for a second call) and transform_after_compression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

_PREFIX = "conversion_parameters/"


@dataclass
class Recipe:
    """The options of one recorded conversion."""

    input: str = ""
    transform: str = ""
    target_opset: int = 0
    compress: List[dict] = field(default_factory=list)
    transform_after_compression: str = ""

    @classmethod
    def from_rt_info(cls, rt_info: Dict[str, str]) -> "Recipe":
        r = cls(
            input=rt_info.get(_PREFIX + "input", ""),
            transform=rt_info.get(_PREFIX + "transform", ""),
            target_opset=int(rt_info.get(_PREFIX + "target_opset", "0") or 0),
            transform_after_compression=rt_info.get(_PREFIX + "transform_after_compression", ""),
        )
        for i in range(1, 100):
            prefix = _PREFIX + "compress_weights" + (f"_{i}" if i > 1 else "") + "/"
            options = {k[len(prefix):]: v for k, v in rt_info.items() if k.startswith(prefix)}
            if not options:
                break
            r.compress.append(_compress_options(options))
        return r

    def convert(self, original: str, transform: Optional[str] = None):
        """Converts `original` again with these options; `transform` replaces the pipeline that
        ran before compression (bisection runs its prefixes)."""
        import irforge

        pipeline = transform if transform is not None else (self.transform or "none")
        model = irforge.convert_model(original, transform=pipeline, input=self.input or None, target_opset=self.target_opset)
        for options in self.compress:
            irforge.compress_weights(model, **options)
        if self.transform_after_compression:
            irforge.convert_model(model, transform=self.transform_after_compression)
        return model


def _compress_options(text: Dict[str, str]) -> dict:
    out: dict = {}
    for key, value in text.items():
        if key in ("mode", "backup_mode", "group_size_fallback"):
            out[key] = value
        elif key == "group_size":
            out[key] = int(value)
        elif key == "ratio":
            out[key] = float(value)
        elif key == "all_layers":
            out[key] = value == "True"
        elif key == "ignored_scope":
            scope = json.loads(value)
            out[key] = scope if any(scope.values()) else None
        # Unknown keys come from a newer irforge: left out (the reproduction may then differ).
    return out


def original_feeds(recipe: Recipe, original_inputs, feeds: Dict[str, object]) -> Dict[str, object]:
    """Feeds for the original model given feeds for the converted one: the values of frozen
    inputs added, and inputs whose type --input changed cast back to the original's type."""
    import numpy as np

    if not recipe.input:
        return feeds
    from irforge import inputs as _inputs

    out = dict(feeds)
    by_name = {i.name: i for i in original_inputs}
    for name, _, _, value in _inputs.resolve(_inputs.normalize_input(recipe.input), original_inputs):
        if value is not None:
            raw, code, dims = value
            if _inputs._ONNX_TO_NAME[code] == "bfloat16":
                from irforge.errors import UnsupportedError

                raise UnsupportedError(f"input '{name}': cannot check a model whose bfloat16 input is frozen (numpy has no bfloat16)")
            out[name] = np.frombuffer(raw, _inputs._ONNX_TO_NAME[code]).reshape(dims).copy()
    for name, arr in list(out.items()):
        info = by_name.get(name)
        if info is not None and info.dtype in _inputs._NAME_TO_ONNX and info.dtype != "bfloat16":
            out[name] = np.asarray(arr).astype(info.dtype, copy=False)
    return out
