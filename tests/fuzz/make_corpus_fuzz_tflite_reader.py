"""Writes the seed corpus of fuzz_tflite_reader (deterministic; not committed: scripts/fuzz.sh
generates it into the build folder). Small models from tests/tflite_writer.py in each file form
(inline buffers, buffers after the flatbuffer, builtin_code only, with a signature), quantized
ones (a FULLY_CONNECTED, the integer LSTM in both of its hidden-state paths) and one per
translated operator family that needs no options.

    python3 tests/fuzz/make_corpus_fuzz_tflite_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tflite_writer as tw  # noqa: E402


def unary_models():
    # Codes of unary ops that take no options (LOGISTIC, RELU, RELU6, TANH, EXP, NEG, ...).
    for code in (14, 19, 21, 28, 47, 59, 75, 76, 92, 101, 117):
        ts = [tw.Tensor("x", [1, 4, 4, 2]), tw.Tensor("y", [1, 4, 4, 2])]
        yield f"unary_{code}", tw.build(ts, [tw.Op(code, [0], [1])], [0], [1])


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    models = {
        "small_cnn": tw.small_cnn(),
        "small_cnn_external": tw.small_cnn(external_buffers=True),
        "small_cnn_builtin_code": tw.small_cnn(deprecated_codes=False),
        "small_cnn_signature": tw.small_cnn(signature={"inputs": {"image": 0}, "outputs": {"scores": 10}}),
        "quantized_fc": tw.quantized_fc(),
        "integer_lstm": tw.integer_lstm(steps=3),
        "integer_lstm_time_major_clip": tw.integer_lstm(steps=2, time_major=True, cell_clip=0.5, cell_scale=2.0**-16),
    }
    models.update(dict(unary_models()))
    for name, data in models.items():
        with open(os.path.join(out, name + ".tflite"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
