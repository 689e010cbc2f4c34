"""Seeds for fuzz_mxnet_reader: small MXNet models (symbol JSON, NUL, .params) covering the
supported ops, written by tests/mxnet_models.py. Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_mxnet_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from mxnet_models import MXNetModel, params_bytes  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    m = MXNetModel(seed=0)
    x = m.input("data", (1, 3, 8, 8))
    w = m.param("c_weight", m.randn(4, 3, 3, 3))
    y = m.op("Convolution", "c", [x, w], {"kernel": "(3, 3)", "pad": "(1, 1)", "num_filter": 4, "no_bias": "True"}, 0)
    ins = [y] + [m.param(f"bn_{k}", np.ones(4), aux=k.startswith("moving")) for k in ("gamma", "beta", "moving_mean", "moving_var")]
    y = m.op("BatchNorm", "bn", ins, {"fix_gamma": "True"}, 0)
    y = m.op("Activation", "relu", [y], {"act_type": "relu"}, 0)
    y = m.op("LeakyReLU", "pr", [y, m.param("pr_gamma", np.ones(4))], {"act_type": "prelu"}, 0)
    y = m.op("Pooling", "pool", [y], {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "avg", "pooling_convention": "full"}, 0)
    y = m.op("Deconvolution", "up", [y, m.param("up_weight", np.ones((4, 2, 2, 2)))], {"kernel": "(2, 2)", "stride": "(2, 2)", "num_filter": "2"}, 0)
    y = m.op("UpSampling", "nn", [y], {"scale": "2", "sample_type": "nearest"}, 0)
    a = m.op("_plus_scalar", "ps", [y], {"scalar": "1"}, 0)
    y = m.op("Concat", "cat", [y, a], {"dim": "1"}, 0)
    y = m.op("Reshape", "rs", [y], {"shape": "(0, -1)"}, 0)
    y = m.op("FullyConnected", "fc", [y, m.param("fc_weight", np.ones((3, 256))), m.param("fc_bias", np.ones(3))], {"num_hidden": "3"}, 0)
    y = m.op("SoftmaxOutput", "softmax", [y], {}, 0)
    with open(os.path.join(out, "mxnet_net.seed"), "wb") as f:
        f.write(m.symbol_json(["softmax"]).encode() + b"\0" + params_bytes(m.params))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_mxnet")
