"""MXNet models written from code for the MXNet frontend tests: the symbol JSON as MXNet 1.x
writes it (nodes with op/name/attrs/inputs, arg_nodes, node_row_ptr, heads) and the .params
file in MXNet's NDArray-list container (list magic 0x112, per array the V2 magic 0xF993fac9,
storage type, int64 shape, context, type flag, data; then the "arg:"/"aux:" names), beside
NumPy references of the ops."""

from __future__ import annotations

import json
import os
import struct

import numpy as np


def params_bytes(arrays: dict) -> bytes:
    out = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for a in arrays.values():
        a = np.ascontiguousarray(a, "<f4")
        out += struct.pack("<Ii", 0xF993FAC9, 0) + struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape)
        out += struct.pack("<iii", 1, 0, 0) + a.tobytes()
    out += struct.pack("<Q", len(arrays))
    for name in arrays:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


class MXNetModel:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.index = {}
        self.params = {}  # "arg:name" / "aux:name" -> array
        self.values = {}
        self.feeds = {}

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def entry(self, ref):
        """A node output: "name" (output 0) or "name:k"."""
        name, _, k = ref.partition(":")
        return [self.index[name], int(k or 0), 0]

    def _add(self, op, name, inputs=(), attrs=None):
        node = {"op": op, "name": name, "inputs": [self.entry(i) for i in inputs]}
        if attrs:
            node["attrs"] = {k: str(v) for k, v in attrs.items()}
        self.index[name] = len(self.nodes)
        self.nodes.append(node)
        return name

    def input(self, name, shape):
        self._add("null", name)
        self.feeds[name] = self.values[name] = self.randn(*shape)
        return name

    def param(self, name, value, aux=False):
        self._add("null", name)
        self.params[("aux:" if aux else "arg:") + name] = np.asarray(value, np.float32)
        return name

    def op(self, op, name, inputs, attrs, ref):
        self._add(op, name, inputs, attrs)
        self.values[name] = np.asarray(ref)
        return name

    def symbol_json(self, heads) -> str:
        return json.dumps({
            "nodes": self.nodes,
            "arg_nodes": [i for i, n in enumerate(self.nodes) if n["op"] == "null"],
            "node_row_ptr": list(range(len(self.nodes) + 1)),
            "heads": [self.entry(h) for h in heads],
            "attrs": {"mxnet_version": ["int", 10901]},
        }, indent=2)

    def save(self, folder, heads, prefix="model"):
        symbol = os.path.join(str(folder), prefix + "-symbol.json")
        params = os.path.join(str(folder), prefix + "-0000.params")
        with open(symbol, "w") as f:
            f.write(self.symbol_json(heads))
        with open(params, "wb") as f:
            f.write(params_bytes(self.params))
        return symbol, params
