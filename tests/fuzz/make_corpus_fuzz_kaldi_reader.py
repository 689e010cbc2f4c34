"""Seeds for fuzz_kaldi_reader: the TDNN-style nnet1 and the LSTM nnet1 of tests/kaldi_models.py,
its nnet3 TDNN (raw network and final.mdl form) and nnet3 LSTM, each in text and binary encoding.
Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_kaldi_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kaldi_models import lstm_model, nnet3_lstm, nnet3_tdnn, tdnn  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {}
    for name, (net, _) in (("tdnn", tdnn()), ("lstm", lstm_model())):
        seeds[f"kaldi_{name}_text.seed"] = net.text()
        seeds[f"kaldi_{name}_binary.seed"] = net.binary()
    net3, _ = nnet3_tdnn()
    for binary in (False, True):
        kind = "binary" if binary else "text"
        seeds[f"kaldi_nnet3_tdnn_{kind}.seed"] = net3.write(binary)
        seeds[f"kaldi_nnet3_mdl_{kind}.seed"] = net3.write(binary, mdl=True)
        seeds[f"kaldi_nnet3_lstm_{kind}.seed"] = nnet3_lstm()[0].write(binary)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_kaldi")
