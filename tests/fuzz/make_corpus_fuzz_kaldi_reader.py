"""Seeds for fuzz_kaldi_reader: the TDNN-style nnet1 of tests/kaldi_models.py in text and
binary encoding. Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_kaldi_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kaldi_models import tdnn  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    net, _ = tdnn()
    with open(os.path.join(out, "kaldi_tdnn_text.seed"), "wb") as f:
        f.write(net.text())
    with open(os.path.join(out, "kaldi_tdnn_binary.seed"), "wb") as f:
        f.write(net.binary())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_kaldi")
