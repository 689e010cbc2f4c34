"""Seeds for fuzz_tensorflow_reader: one per decoder, prefixed with the byte that selects it
(0 GraphDef, 1 SavedModel, 2 MetaGraphDef, 3 bundle index, 4 snappy, 5 text GraphDef). Deterministic; written
by scripts/fuzz.sh into the target's scratch corpus (no binaries in the repository).

    python3 tests/fuzz/make_corpus_fuzz_tensorflow_reader.py OUT_DIR
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow_wire as tw  # noqa: E402


TEXT = b"""node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
node { name: "c" op: "Const" attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
  tensor_content: "\\000\\000\\200?\\000\\000\\000@" float_val: [1.5, -inf] } } } }
node { name: "y" op: "AddV2" input: ["x", "c"] attr { key: "T" value { list { i: [1, -2] s: 'a\\x41' } } } }
library { function { signature { name: "f" input_arg { name: "a" type: DT_FLOAT } } ret { key: "o" value: "a" } } }
"""


def main(out):
    os.makedirs(out, exist_ok=True)
    graph = tw.small_graph()
    sm = tw.saved_model(graph, {"x": "x:0"}, {"y": "y:0"}, restore="restore")
    meta = tw.meta_graph(graph, {"x": "x:0"}, {"y": "y:0"})
    index = tw.sstable([(b"", tw.vfield(1, 1)), (b"w", tw.bundle_entry(tw.DT_FLOAT, [4, 3], 0, 48))])
    # snappy: length 12, literal "abcd", copy offset 4 length 8
    snappy = bytes([12, (4 - 1) << 2]) + b"abcd" + bytes([1 | ((8 - 4) << 2), 4])
    seeds = {"graph_def": b"\x00" + graph, "saved_model": b"\x01" + sm, "meta_graph": b"\x02" + meta,
             "bundle_index": b"\x03" + index, "snappy": b"\x04" + snappy, "text_graph": b"\x05" + TEXT}
    for name, data in seeds.items():
        with open(os.path.join(out, f"tf_{name}"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
