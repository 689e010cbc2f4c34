import onnx
from onnx import helper

from _fusion_models import check_pass, f32, i64, model

PIPE = "fuse-split-convs,dce"
N = helper.make_node


def _split_convs(parts=3, bias=True, opset=17, group=1, concat_order=None, split_sizes=None, w_shapes=None, outputs=("y",)):
    nodes = [N("Split", ["x"] + (["sp"] if split_sizes else []), [f"s{i}" for i in range(parts)], axis=1)]
    inits = [i64("sp", split_sizes)] if split_sizes else []
    for i in range(parts):
        ins = [f"s{i}", f"w{i}"] + ([f"b{i}"] if bias else [])
        nodes.append(N("Conv", ins, [f"c{i}"], pads=[1, 1, 1, 1], group=group))
        inits.append(f32(f"w{i}", (w_shapes or {}).get(i, (4, 4 // group, 3, 3))))
        if bias:
            inits.append(f32(f"b{i}", (4,)))
    nodes.append(N("Concat", [f"c{i}" for i in (concat_order or range(parts))], ["y"], axis=1))
    return model(nodes, {"x": [1, 4 * parts, 6, 6]}, inits, opset=opset, outputs=outputs)


def test_split_convs_concat_become_grouped_conv():
    m = check_pass(_split_convs(), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}
    conv = onnx.load_from_string(m.to_onnx_bytes()).graph.node[0]
    assert [a.i for a in conv.attribute if a.name == "group"] == [3]


def test_grouped_parts_without_bias_explicit_sizes():
    m = check_pass(_split_convs(parts=2, bias=False, group=2, split_sizes=[4, 4]), PIPE, fires=True, rtol=1e-4, atol=1e-5)
    assert m.op_histogram == {"Conv": 1}


def test_must_not_fire():
    check_pass(_split_convs(concat_order=[1, 0, 2]), PIPE, fires=False)
    check_pass(_split_convs(outputs=("y", "s1")), PIPE, fires=False)  # a part is read elsewhere
    check_pass(_split_convs(outputs=("y", "c2")), PIPE, fires=False)  # a conv output is read elsewhere
    check_pass(_split_convs(bias=False, w_shapes={1: (3, 4, 3, 3)}), PIPE, fires=False)  # different out channels
