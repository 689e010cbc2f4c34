// libFuzzer target for the TensorFlow reader's decoders (cpp/io/tensorflow): GraphDef,
// MetaGraphDef, SavedModel, the tensor-bundle SSTable index, snappy blocks and text GraphDef.
//
// The first byte picks the decoder, the rest is its input. Any input may be rejected with
// irforge::Error; nothing else may escape and nothing may crash, hang or read out of bounds.
// Seeds: tests/fuzz/make_corpus_fuzz_tensorflow_reader.py (written by scripts/fuzz.sh, not committed).
//
// Build and run: scripts/fuzz.sh [SECONDS] tensorflow
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/tensorflow/bundle.h"
#include "io/tensorflow/proto.h"
#include "io/tensorflow/text_format.h"
#include "support/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // A copy of exactly the input's bytes, so reading one past the end is an ASan error.
  std::vector<uint8_t> body(data + 1, data + size);
  const uint8_t* p = body.empty() ? nullptr : body.data();
  try {
    switch (data[0] % 6) {
      case 0: irforge::tf::decode_graph_def(p, body.size(), "<fuzz>"); break;
      case 1: irforge::tf::decode_saved_model(p, body.size(), "<fuzz>"); break;
      case 2: irforge::tf::decode_meta_graph(p, body.size(), "<fuzz>"); break;
      case 3: {
        auto bundle = irforge::tf::Bundle::parse_index(p, body.size(), "<fuzz>");
        for (const auto& kv : bundle->entries()) (void)kv.second.size;
        break;
      }
      case 4: irforge::tf::snappy_uncompress(p, body.size(), "<fuzz>"); break;
      default: {
        std::string binary = irforge::tf::text_graph_def_to_binary(reinterpret_cast<const char*>(p), body.size(), "<fuzz>");
        irforge::tf::decode_graph_def(reinterpret_cast<const uint8_t*>(binary.data()), binary.size(), "<fuzz>");
        break;
      }
    }
  } catch (const irforge::Error&) {
    return 0;  // rejected with a proper error: fine
  }
  return 0;
}
