"""Seeds for fuzz_caffe_reader: small Caffe nets (prototxt, NUL, caffemodel) covering every
supported layer, written by tests/caffe_models.py. Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_caffe_reader.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from caffe_models import CaffeNet  # noqa: E402


def nets():
    n = CaffeNet(seed=0, name="vgg")
    x = n.input("data", (1, 3, 12, 12))
    x = n.relu("r1", n.conv("c1", x, 4, kernel=3, pad=1, dilation=1, group=1))
    x = n.pool("p1", x, "MAX", kernel=3, stride=2)
    x = n.pool("p2", x, "AVE", kernel=2, stride=2, pad=1)
    n.simple("lrn", "LRN", [x], ["lrn"], {"lrn_param": {"local_size": 3}}, [n.values[x]])
    x = n.inner_product("fc", "lrn", 5)
    n.simple("sm", "Softmax", [x], ["sm"], {}, [n.values[x]])
    yield "vgg", n

    n = CaffeNet(seed=1, name="res")
    x = n.input("data", (1, 4, 6, 6))
    y = n.batch_norm_scale("bn", n.conv("c", x, 4, kernel=3, pad=1, bias=False))
    y = n.eltwise("sum", [x, y], "SUM", coeff=[1.0, 0.5])
    y = n.eltwise("max", [x, y], "MAX")
    y = n.prelu("pr", y)
    y = n.power("pw", y, 2.0, 0.5, 1.0)
    y = n.deconv("up", y, 4, kernel=2, stride=2, group=2)
    n.pool("gp", y, "AVE", global_pooling=True)
    yield "res", n

    n = CaffeNet(seed=2, name="shapes")
    x = n.input("data", (2, 6, 4, 4))
    r = n.input("ref", (2, 6, 3, 3))
    v = n.values[x]
    n.simple("sl", "Slice", [x], ["a", "b"], {"slice_param": {"slice_point": [2]}}, [v[:, :2], v[:, 2:]])
    n.simple("sp", "Split", ["a"], ["a1", "a2"], {}, [v[:, :2]] * 2)
    n.simple("cat", "Concat", ["a1", "b"], ["cat"], {}, [v])
    n.simple("cr", "Crop", ["cat", r], ["cr"], {"crop_param": {"offset": [1]}}, [v[:, :, 1:, 1:]])
    n.simple("pm", "Permute", ["cr"], ["pm"], {"permute_param": {"order": [0, 2, 1]}}, [v])
    n.simple("fl", "Flatten", ["pm"], ["fl"], {}, [v])
    n.simple("rs", "Reshape", ["a2"], ["rs"], {"reshape_param": {"shape": {"dim": [0, -1]}}}, [v])
    n.layer("nm", "Normalize", ["a2"], ["nm"], {"norm_param": {"across_spatial": False}}, [np.ones(1, np.float32)])
    n.simple("pb", "PriorBox", [x, x], ["pb"], {"prior_box_param": {"min_size": 2.0, "max_size": 4.0, "aspect_ratio": [2.0]}}, [v])
    n.simple("el", "ELU", ["rs"], ["el"], {}, [v])
    n.simple("dr", "Dropout", ["el"], ["el"], {}, [v])
    yield "shapes", n

    # SSD head: PriorBox + Flatten + Softmax + DetectionOutput (the irforge::DetectionOutput node).
    n = CaffeNet(seed=3, name="ssd")
    x = n.input("data", (1, 3, 8, 8))
    f = n.conv("f", x, 4, kernel=3, stride=2, pad=1)
    n.layer("pb", "PriorBox", [f, x], ["pb"], {"prior_box_param": {"min_size": 2.0, "aspect_ratio": [2.0], "flip": True}})
    loc = n.conv("loc", f, 12, kernel=1)
    conf = n.conv("conf", f, 9, kernel=1)
    n.layer("locf", "Flatten", [loc], ["locf"])
    n.layer("confr", "Reshape", [conf], ["confr"], {"reshape_param": {"shape": {"dim": [0, -1, 3]}}})
    n.layer("confs", "Softmax", ["confr"], ["confs"], {"softmax_param": {"axis": 2}})
    n.layer("conff", "Flatten", ["confs"], ["conff"])
    n.layer("det", "DetectionOutput", ["locf", "conff", "pb"], ["det"],
            {"detection_output_param": {"num_classes": 3, "nms_param": {"nms_threshold": 0.45, "top_k": 5}, "code_type": "CENTER_SIZE",
                                        "keep_top_k": 4, "confidence_threshold": 0.1}})
    yield "ssd", n


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, net in nets():
        with open(os.path.join(out, f"caffe_{name}.seed"), "wb") as f:
            f.write(net.prototxt().encode() + b"\0" + net.caffemodel())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_caffe")
