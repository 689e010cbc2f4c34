// libFuzzer target for the TensorFlow Lite reader (cpp/io/tflite).
//
// Any input may be rejected with irforge::Error; nothing else may escape and nothing may crash,
// hang or read outside the input (the flatbuffer views are bounds-checked). An accepted model
// must verify clean (the Builder checked it) and be writable as ONNX.
//
// Build and run: scripts/fuzz.sh [SECONDS] tflite (seeds: tests/fuzz/make_corpus_fuzz_tflite_reader.py)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "io/onnx/writer.h"
#include "io/tflite/reader.h"
#include "ir/verifier.h"
#include "support/error.h"
#include "fuzz_support.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_tflite_reader", stage, detail); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy: ASan then catches any read past the end of the file.
  auto storage = std::make_shared<irforge::OwnedStorage>(std::vector<uint8_t>(data, data + size));
  std::unique_ptr<irforge::Model> model;
  try {
    model = irforge::read_tflite_bytes(storage, "<fuzz>");
  } catch (const irforge::Error&) {
    return 0;  // rejected with a proper error: fine
  }
  irforge::fuzz::check_accepted_model("fuzz_tflite_reader", *model);
  return 0;
}
