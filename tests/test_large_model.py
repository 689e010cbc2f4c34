"""A model with more than 2 GB of weights in external data round-trips with bounded memory.

The weights are memory-mapped, never copied: a child process converting it must stay far below
the weight size in peak RSS, and the written weights must be byte-identical.
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

TENSOR_BYTES = 768 << 20  # three of these: 2.25 GiB, past protobuf's 2 GB limit
ROWS = 1024


def _write_external_model(folder):
    """Writes model.onnx + weights.bin without holding the weights in memory."""
    block = np.random.default_rng(0).standard_normal(16 << 20 >> 2).astype(np.float32).tobytes()  # 16 MiB
    inits, nodes = [], []
    offset = 0
    with open(os.path.join(folder, "weights.bin"), "wb") as f:
        for i in range(3):
            for k in range(TENSOR_BYTES // len(block)):
                r = (k + i) % 7  # vary blocks, and tensors, so dedupe-weights cannot cheat
                f.write(block[r:] + block[:r])
            tensor = onnx.TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[ROWS, TENSOR_BYTES // 4 // ROWS])
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(TENSOR_BYTES))):
                tensor.external_data.add(key=key, value=value)
            offset += TENSOR_BYTES
            inits.append(tensor)
            nodes.append(helper.make_node("MatMul", ["x", f"w{i}"], [f"y{i}"]))
    g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ROWS])],
                          [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(3)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())


# VmHWM is this process's own peak; ru_maxrss would inherit pytest's peak across fork+exec
# (which is what made a run after the torch tests report 430+ MiB).
CHILD = r"""
import json, sys
import irforge
m = irforge.convert_model(sys.argv[1])
irforge.save_model(m, sys.argv[2])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) * 1024
print(json.dumps({"peak_rss": hwm, "weights": m.weight_bytes}))
"""


def _digest(path, offset, length):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left:
            chunk = f.read(min(left, 64 << 20))
            assert chunk, "file shorter than expected"
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


@pytest.mark.slow
def test_over_2gb_round_trip_maps_weights(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _write_external_model(src)
    out = subprocess.run([sys.executable, "-c", CHILD, str(src / "model.onnx"), str(dst / "model.onnx")],
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\npeak RSS {info['peak_rss'] >> 20} MiB for {info['weights'] >> 20} MiB of weights")
    weights = 3 * TENSOR_BYTES
    assert info["weights"] == weights
    # Mapped, not copied: peak RSS is a small fraction of the 2.25 GiB of weights. Measured
    # 35-110 MiB typically; one loaded-machine run saw 430 MiB (under investigation), hence a
    # bound of a quarter of the weights rather than a tight one.
    assert info["peak_rss"] < 512 << 20, f"peak RSS {info['peak_rss'] >> 20} MiB for {weights >> 20} MiB of weights"

    assert sorted(os.listdir(dst)) == ["model.onnx", "model.onnx.data"]
    proto = onnx.load(str(dst / "model.onnx"), load_external_data=False)
    assert [n.op_type for n in proto.graph.node] == ["MatMul"] * 3
    for i, t in enumerate(proto.graph.initializer):
        assert t.data_location == TensorProto.EXTERNAL
        ext = {e.key: e.value for e in t.external_data}
        assert ext["location"] == "model.onnx.data" and int(ext["offset"]) % 4096 == 0
        assert _digest(dst / "model.onnx.data", int(ext["offset"]), int(ext["length"])) == _digest(
            src / "weights.bin", i * TENSOR_BYTES, TENSOR_BYTES)
