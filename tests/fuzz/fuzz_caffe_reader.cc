// libFuzzer target for the Caffe reader: the protobuf text-format parser, the caffemodel wire
// decoding and the layer translation with its shape arithmetic.
//
// Input: prototxt text, then optionally a NUL byte followed by the caffemodel bytes (a prototxt
// holds no NUL). Any input may be rejected with irforge::Error; nothing else may escape and
// nothing may crash. An accepted model must verify clean and serialize (every constant view in
// bounds). Seeds: tests/fuzz/make_corpus_fuzz_caffe_reader.py (written by scripts/fuzz.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/caffe/reader.h"
#include "io/onnx/writer.h"
#include "ir/verifier.h"
#include "support/error.h"
#include "fuzz_support.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_caffe_reader", stage, detail); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  std::string_view prototxt(reinterpret_cast<const char*>(data), nul ? static_cast<size_t>(nul - data) : size);
  std::shared_ptr<const irforge::Storage> weights;
  if (nul) weights = std::make_shared<irforge::OwnedStorage>(std::vector<uint8_t>(nul + 1, data + size));

  std::unique_ptr<irforge::Model> model;
  try {
    model = irforge::read_caffe(prototxt, "<fuzz prototxt>", weights, "<fuzz caffemodel>");
  } catch (const irforge::Error&) {
    return 0;  // rejected with a proper error: fine
  }
  irforge::fuzz::check_accepted_model("fuzz_caffe_reader", *model);
  return 0;
}
