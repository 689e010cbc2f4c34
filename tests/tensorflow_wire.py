"""TensorFlow files written byte by byte, without TensorFlow: GraphDef / SavedModel protobufs and
tensor-bundle checkpoints (SSTable index + data shard). Used by the malformed-input tests (which
damage them on purpose) and by the fuzz corpus generator (tests/fuzz/make_corpus_fuzz_tensorflow_reader.py)."""

from __future__ import annotations

import os
import struct

import numpy as np

from protobuf_wire import field, varint

DT_FLOAT, DT_INT32, DT_STRING, DT_RESOURCE = 1, 3, 7, 20


def vfield(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value & 0xFFFFFFFFFFFFFFFF)


def shape(dims) -> bytes:
    return b"".join(field(2, vfield(1, d)) for d in dims)


def tensor(array: np.ndarray, dtype: int = DT_FLOAT) -> bytes:
    return vfield(1, dtype) + field(2, shape(array.shape)) + field(4, np.ascontiguousarray(array).tobytes())


def attr(key: str, value: bytes) -> bytes:
    return field(5, field(1, key.encode()) + field(2, value))


def attr_type(dtype: int) -> bytes:
    return vfield(6, dtype)


def attr_tensor(t: bytes) -> bytes:
    return field(8, t)


def attr_s(s: str) -> bytes:
    return field(2, s.encode())


def attr_ints(values) -> bytes:
    return field(1, field(3, b"".join(varint(v & 0xFFFFFFFFFFFFFFFF) for v in values)))


def node(name: str, op: str, inputs=(), attrs: bytes = b"") -> bytes:
    return field(1, name.encode()) + field(2, op.encode()) + b"".join(field(3, i.encode()) for i in inputs) + attrs


def graph_def(nodes) -> bytes:
    return b"".join(field(1, n) for n in nodes)


def small_graph(weights: np.ndarray = None) -> bytes:
    """x[1,4] -> MatMul(x, W[4,3]) + b -> Relu: a frozen GraphDef."""
    w = weights if weights is not None else np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.array([0.5, -0.5, 0.25], np.float32)
    return graph_def([
        node("x", "Placeholder", (), attr("dtype", attr_type(DT_FLOAT)) + attr("shape", field(7, shape([1, 4])))),
        node("w", "Const", (), attr("dtype", attr_type(DT_FLOAT)) + attr("value", attr_tensor(tensor(w)))),
        node("b", "Const", (), attr("dtype", attr_type(DT_FLOAT)) + attr("value", attr_tensor(tensor(b)))),
        node("mm", "MatMul", ("x", "w"), attr("T", attr_type(DT_FLOAT))),
        node("add", "BiasAdd", ("mm", "b"), attr("T", attr_type(DT_FLOAT))),
        node("y", "Relu", ("add",), attr("T", attr_type(DT_FLOAT))),
    ])


# ---- tensor bundle ---------------------------------------------------------------------------------


def _block(entries) -> bytes:
    out = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    return out + struct.pack("<II", 0, 1)  # one restart point at 0


def snappy_literals(data: bytes) -> bytes:
    """Valid raw snappy made of literal elements only (what a compressor emits for random data)."""
    out = varint(len(data))
    for k in range(0, len(data), 60):
        chunk = data[k:k + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


def sstable(entries, snappy: bool = False) -> bytes:
    """A LevelDB-format table holding `entries` ((key bytes, value bytes), sorted); the data
    block snappy-compressed when asked (TF writes bundles uncompressed, LevelDB's default is snappy)."""
    data = _block(entries)
    if snappy:
        data = snappy_literals(data)
    out = data + (b"\x01" if snappy else b"\x00") + b"\x00" * 4  # compression type + (unchecked) crc
    meta_off = len(out)
    meta = _block([])
    out += meta + b"\x00" * 5
    index_off = len(out)
    last = entries[-1][0] if entries else b""
    index = _block([(last, varint(0) + varint(len(data)))])
    out += index + b"\x00" * 5
    handles = varint(meta_off) + varint(len(meta)) + varint(index_off) + varint(len(index))
    return out + handles + b"\x00" * (40 - len(handles)) + struct.pack("<Q", 0xDB4775248B80FB57)


def bundle_entry(dtype: int, dims, offset: int, size: int, shard: int = 0) -> bytes:
    return vfield(1, dtype) + field(2, shape(dims)) + vfield(3, shard) + vfield(4, offset) + vfield(5, size)


def write_bundle(prefix: str, tensors: dict, entries_override: dict = None, num_shards: int = 1, snappy: bool = False) -> None:
    """prefix.index + prefix.data-00000-of-0000N holding `tensors` (name -> float32 array)."""
    data = b""
    entries = [(b"", vfield(1, num_shards))]
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], np.float32)
        entry = bundle_entry(DT_FLOAT, arr.shape, len(data), arr.nbytes)
        entries.append((name.encode(), (entries_override or {}).get(name, entry)))
        data += arr.tobytes()
    with open(prefix + ".index", "wb") as f:
        f.write(sstable(entries, snappy))
    with open(f"{prefix}.data-00000-of-{num_shards:05d}", "wb") as f:
        f.write(data)


def meta_graph(graph: bytes, signature_inputs: dict, signature_outputs: dict, restore: str = "") -> bytes:
    """A MetaGraphDef tagged 'serve' with a serving_default signature."""
    sig = b"".join(field(1, field(1, k.encode()) + field(2, field(1, t.encode()) + vfield(2, DT_FLOAT))) for k, t in signature_inputs.items())
    sig += b"".join(field(2, field(1, k.encode()) + field(2, field(1, t.encode()) + vfield(2, DT_FLOAT))) for k, t in signature_outputs.items())
    meta = field(1, field(4, b"serve")) + field(2, graph) + field(5, field(1, b"serving_default") + field(2, sig))
    if restore:
        meta += field(3, field(1, b"saver_filename:0") + field(3, restore.encode()))
    return meta


def saved_model(graph: bytes, signature_inputs: dict, signature_outputs: dict, restore: str = "") -> bytes:
    """A SavedModel holding one meta_graph(...)."""
    return vfield(1, 1) + field(2, meta_graph(graph, signature_inputs, signature_outputs, restore))


def variable_saved_model(folder: str, weights: np.ndarray, entries_override: dict = None, snappy: bool = False) -> str:
    """A TF1-style SavedModel: VarHandleOp 'w' restored from the bundle key 'w/.ATTRIBUTES/VARIABLE_VALUE'
    by an AssignVariableOp of RestoreV2's output in the main graph, read by y = x @ w."""
    key = "w/.ATTRIBUTES/VARIABLE_VALUE"
    names = vfield(1, DT_STRING) + field(2, shape([1])) + field(8, key.encode())
    graph = graph_def([
        node("x", "Placeholder", (), attr("dtype", attr_type(DT_FLOAT))),
        node("w", "VarHandleOp", (), attr("dtype", attr_type(DT_FLOAT)) + attr("shared_name", attr_s("w"))),
        node("read", "ReadVariableOp", ("w",), attr("dtype", attr_type(DT_FLOAT))),
        node("y", "MatMul", ("x", "read"), attr("T", attr_type(DT_FLOAT))),
        node("saver_filename", "Placeholder", (), attr("dtype", attr_type(DT_STRING))),
        node("names", "Const", (), attr("dtype", attr_type(DT_STRING)) + attr("value", attr_tensor(names))),
        node("slices", "Const", (), attr("dtype", attr_type(DT_STRING)) + attr("value", attr_tensor(vfield(1, DT_STRING) + field(2, shape([1])) + field(8, b"")))),
        node("restore", "RestoreV2", ("saver_filename", "names", "slices")),
        node("restore_id", "Identity", ("restore:0",)),
        node("assign", "AssignVariableOp", ("w", "restore_id")),
    ])
    os.makedirs(os.path.join(folder, "variables"), exist_ok=True)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
        f.write(saved_model(graph, {"x": "x:0"}, {"y": "y:0"}))
    write_bundle(os.path.join(folder, "variables", "variables"), {key: weights}, entries_override, snappy=snappy)
    return key
