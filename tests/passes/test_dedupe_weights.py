import os

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import irforge
from irforge.testing import check_pass, run_onnxruntime, run_openvino


def _model(nodes, inits, x_shape=(4, 8)):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _w(name, arr):
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def test_merges_identical_initializers_and_constants():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((8, 300)).astype(np.float32)  # > 1 KiB: fingerprinted from windows
    m = _model([
        helper.make_node("MatMul", ["x", "w1"], ["a"]),
        helper.make_node("MatMul", ["x", "w2"], ["b"]),
        helper.make_node("Constant", [], ["k1"], value=_w("k1v", np.array([2.0], np.float32))),
        helper.make_node("Constant", [], ["k2"], value=_w("k2v", np.array([2.0], np.float32))),
        helper.make_node("Mul", ["a", "k1"], ["a2"]),
        helper.make_node("Mul", ["b", "k2"], ["b2"]),
        helper.make_node("Add", ["a2", "b2"], ["y"]),
    ], [_w("w1", big), _w("w2", big.copy())])
    model = check_pass(m, "dedupe-weights,dce", fires=True)
    assert model.weight_count == 2  # one matrix, one scalar constant
    # Now the two MatMuls read the same weight and cse merges them.
    model = irforge.convert_model(model.to_onnx_bytes(), transform="cse,dce", verify=True)
    assert model.op_histogram == {"MatMul": 1, "Mul": 1, "Add": 1, "Constant": 1}


def test_must_not_fire():
    rng = np.random.default_rng(1)
    big = rng.standard_normal((8, 300)).astype(np.float32)
    last = big.copy()
    last[-1, -1] += 1.0  # differs only in the last element (outside the fingerprint windows)
    mid = big.copy()
    mid[3, 151] = -mid[3, 151]
    nodes = [helper.make_node("MatMul", ["x", w], [w + "_o"]) for w in ("w1", "w2", "w3")]
    nodes += [helper.make_node("Sum", ["w1_o", "w2_o", "w3_o"], ["s"]),
              helper.make_node("Reshape", ["x", "shape_a"], ["r1"]),   # same bytes, other dtype/dims below
              helper.make_node("Cast", ["ints"], ["ints_f"], to=TensorProto.FLOAT),
              helper.make_node("ReduceSum", ["r1"], ["r1s"], keepdims=0),
              helper.make_node("ReduceSum", ["ints_f"], ["r2s"], keepdims=0),
              helper.make_node("Add", ["r1s", "r2s"], ["r3"]),
              helper.make_node("Add", ["s", "r3"], ["y"])]
    shape_a = np.array([8, 4], np.int64)
    ints = np.array([[8], [4]], np.int64)  # same bytes as shape_a, other dims
    m = _model(nodes, [_w("w1", big), _w("w2", last), _w("w3", mid), _w("shape_a", shape_a), _w("ints", ints)])
    check_pass(m, "dedupe-weights", fires=False)


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("tie", ["shared", "copied"])
def test_tied_embedding_decoder_is_not_larger_than_its_input(tmp_path, tie, dynamo):
    """Issue 4 criterion 3, on the GPT-style decoder whose lm_head is the input embedding.
    `shared`: the export as torch writes it. `copied`: the embedding table stored a second time
    under another name for the Gather (as exports of untied checkpoints have it); only
    dedupe-weights brings that back to one copy."""
    import onnx
    from torch_models.architectures import export

    src = str(tmp_path / "gpt.onnx")
    feeds = export("gpt", src, dynamo)
    emb = next(t for t in onnx.load(src).graph.initializer if list(t.dims) == [120, 64])
    emb_bytes = 120 * 64 * 4
    if tie == "copied":
        m = onnx.load(src)
        copy = onnx.TensorProto()
        copy.CopyFrom(emb)
        copy.name = "embedding_copy"
        m.graph.initializer.append(copy)
        gathers = [n for n in m.graph.node if n.op_type == "Gather" and n.input[0] == emb.name]
        assert gathers, "the export has no embedding Gather"
        for n in gathers:
            n.input[0] = "embedding_copy"
        onnx.save(m, src)
    src_size = os.path.getsize(src)

    model = irforge.convert_model(src, verify=True)
    out_onnx = str(tmp_path / "out.onnx")
    irforge.save_model(model, out_onnx)
    xml = str(tmp_path / "out.xml")
    irforge.save_model(model, xml, compress_to_fp16=False)
    onnx_size, bin_size = os.path.getsize(out_onnx), os.path.getsize(xml[:-4] + ".bin")
    assert onnx_size <= src_size, (onnx_size, src_size)
    assert bin_size <= src_size, (bin_size, src_size)
    if tie == "copied":  # the input holds the table twice, the outputs once
        assert onnx_size <= src_size - emb_bytes, (onnx_size, src_size)
        assert bin_size <= src_size - emb_bytes, (bin_size, src_size)
    ref = run_onnxruntime(src, feeds)
    for r, o in zip(ref, run_onnxruntime(out_onnx, feeds)):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-5)
    for r, o in zip(ref, run_openvino(model, feeds)):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)


# VmHWM (this process's own peak), not ru_maxrss: the latter inherits the parent's peak across
# fork+exec, i.e. pytest's.
DEDUPE_CHILD = r"""
import json, sys
import irforge
m = irforge.convert_model(sys.argv[1], transform="dedupe-weights,dce")
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) * 1024
print(json.dumps({"peak_rss": hwm, "weights": m.weight_bytes, "log": m.pass_log}))
"""


@pytest.mark.slow
def test_comparing_large_mapped_duplicates_keeps_memory_bounded(tmp_path):
    """Two identical 384 MiB external weights are compared in full (their fingerprints agree),
    chunk by chunk with the mapped pages handed back: peak RSS stays far below their size."""
    import json
    import subprocess
    import sys

    import onnx

    size = 384 << 20
    block = np.random.default_rng(0).standard_normal(8 << 20 >> 2).astype(np.float32).tobytes()
    with open(tmp_path / "w.bin", "wb") as f:
        for _ in range(2):
            for k in range(size // len(block)):
                f.write(block[k % 5:] + block[:k % 5])
    inits = []
    for i in range(2):
        t = onnx.TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[1024, size // 4 // 1024])
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "w.bin"), ("offset", str(i * size)), ("length", str(size))):
            t.external_data.add(key=key, value=value)
        inits.append(t)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w0"], ["y0"]), helper.make_node("MatMul", ["x", "w1"], ["y1"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("y0", "y1")], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "m.onnx"))
    out = subprocess.run([sys.executable, "-c", DEDUPE_CHILD, str(tmp_path / "m.onnx")], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["weights"] == size and info["log"][0]["rewrites"] == 1
    assert info["peak_rss"] < 192 << 20, f"peak RSS {info['peak_rss'] >> 20} MiB comparing 2 x {size >> 20} MiB"
