"""Regenerates the sample models bundled in python/irforge/samples/.

tiny_resnet: a ResNet-style CNN as torch exports it before BatchNorm folding (Conv -> BN -> Relu,
a residual Add, MaxPool, GlobalAveragePool, Flatten, Gemm, Softmax), random weights, ~40 KiB.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "python", "irforge", "samples")


def tiny_resnet() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def conv_bn_relu(x, cin, cout, k, stride, tag, relu=True):
        w = const(f"{tag}.weight", rng.standard_normal((cout, cin, k, k)) * (2.0 / (cin * k * k)) ** 0.5)
        nodes.append(helper.make_node("Conv", [x, w], [f"{tag}.conv"], name=f"{tag}/Conv", kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[k // 2] * 4))
        bn = [const(f"{tag}.bn.{p}", v) for p, v in (
            ("scale", rng.uniform(0.5, 1.5, cout)), ("bias", rng.standard_normal(cout) * 0.1),
            ("mean", rng.standard_normal(cout) * 0.1), ("var", rng.uniform(0.5, 1.5, cout)))]
        nodes.append(helper.make_node("BatchNormalization", [f"{tag}.conv", *bn], [f"{tag}.bn"], name=f"{tag}/BN", epsilon=1e-5))
        if not relu:
            return f"{tag}.bn"
        nodes.append(helper.make_node("Relu", [f"{tag}.bn"], [f"{tag}.relu"], name=f"{tag}/Relu"))
        return f"{tag}.relu"

    x = conv_bn_relu("pixel_values", 3, 8, 3, 2, "stem")
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    y = conv_bn_relu("pool", 8, 8, 3, 1, "block.0")
    y = conv_bn_relu(y, 8, 8, 3, 1, "block.1", relu=False)
    nodes.append(helper.make_node("Add", ["pool", y], ["block.add"], name="block/Add"))
    nodes.append(helper.make_node("Relu", ["block.add"], ["block.out"], name="block/Relu"))
    nodes.append(helper.make_node("GlobalAveragePool", ["block.out"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    w = const("fc.weight", rng.standard_normal((10, 8)) * 0.3)
    b = const("fc.bias", rng.standard_normal(10) * 0.1)
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["fc"], name="fc", transB=1))
    nodes.append(helper.make_node("Softmax", ["fc"], ["probabilities"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "tiny_resnet",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="irforge-samples")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    onnx.save(tiny_resnet(), os.path.join(OUT, "tiny_resnet.onnx"))
    print("wrote", os.path.join(OUT, "tiny_resnet.onnx"))
