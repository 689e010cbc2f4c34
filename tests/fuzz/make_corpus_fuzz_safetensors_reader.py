"""Seed inputs for fuzz_safetensors_reader, generated (nothing binary is committed):
small safetensors files as the format's writers lay them out, and a shard index.

    python3 tests/fuzz/make_corpus_fuzz_safetensors_reader.py OUT_DIR
"""

import json
import os
import struct
import sys


def safetensors_bytes(tensors, metadata=None, pad=8):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1, "BOOL": 1, "F8_E4M3": 1}
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes((i * 7 + 3) % 251 for i in range(n))
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % pad)  # the safetensors library pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + data


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "llama_layer.safetensors": safetensors_bytes(
            {"model.embed_tokens.weight": ("BF16", [16, 8]), "model.layers.0.self_attn.q_proj.weight": ("BF16", [8, 8]),
             "model.norm.weight": ("F32", [8]), "lm_head.weight": ("F16", [16, 8])}, {"format": "pt"}),
        "scalars_and_empty.safetensors": safetensors_bytes({"s": ("I64", []), "e": ("F32", [0, 3]), "b": ("BOOL", [5]), "f8": ("F8_E4M3", [2, 2])}),
        "unaligned.safetensors": safetensors_bytes({"a": ("U8", [3]), "b": ("F32", [2, 2])}, pad=1),
        "escapes.safetensors": safetensors_bytes({"a\u00e9\\\"\n\U0001F600": ("F16", [2])}, {"k": "v\t"}),
        "index.json": json.dumps({"metadata": {"total_size": 8}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}).encode(),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
