import numpy as np
from onnx import TensorProto, helper, numpy_helper

from irforge.testing import check_pass

RNG = np.random.default_rng(0)


def _bn_params(c, prefix="bn"):
    return [numpy_helper.from_array(v.astype(np.float32), f"{prefix}.{n}") for n, v in (
        ("scale", RNG.uniform(0.5, 1.5, c)), ("bias", RNG.standard_normal(c)),
        ("mean", RNG.standard_normal(c)), ("var", RNG.uniform(0.5, 1.5, c)))]


def _conv_bn(op="Conv", group=1, bias=True, cin=4, cout=6, extra_out=False, transpose_shape=None):
    wshape = (cout, cin // group, 3, 3) if op == "Conv" else (cin, cout // group, 3, 3)
    inits = [numpy_helper.from_array(RNG.standard_normal(wshape).astype(np.float32), "w")] + _bn_params(cout)
    ins = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(RNG.standard_normal(cout).astype(np.float32), "b"))
        ins.append("b")
    nodes = [helper.make_node(op, ins, ["c"], group=group, pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["y"], epsilon=1e-3)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_out:
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 8, 8])], outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_fuses_conv_bn():
    model = check_pass(_conv_bn(), "fuse-batchnorm-into-conv,dce", fires=True, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"Conv": 1}
    assert [o.name for o in model.outputs] == ["y"]


def test_fuses_grouped_conv_without_bias():
    model = check_pass(_conv_bn(group=2, bias=False), "fuse-batchnorm-into-conv,dce", fires=True, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"Conv": 1}


def test_fuses_grouped_conv_transpose():
    model = check_pass(_conv_bn(op="ConvTranspose", group=2), "fuse-batchnorm-into-conv,dce", fires=True, rtol=1e-4, atol=1e-4)
    assert model.op_histogram == {"ConvTranspose": 1}


def test_must_not_fire_when_conv_output_is_also_used():
    check_pass(_conv_bn(extra_out=True), "fuse-batchnorm-into-conv", fires=False)


def test_must_not_fire_on_runtime_weights():
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4]), helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 2, 1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], _bn_params(3))
    check_pass(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), "fuse-batchnorm-into-conv", fires=False, openvino=False)
