// libFuzzer target for the Kaldi reader: nnet1 and nnet3 (text and binary token streams, nnet3
// config lines and descriptors, matrices viewed in place, the Splice, time-offset and LSTM Scan
// translations). Any input may be rejected with irforge::Error; nothing
// else may escape and nothing may crash. An accepted model must verify clean and serialize.
// Seeds: tests/fuzz/make_corpus_fuzz_kaldi_reader.py (written by scripts/fuzz.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "io/kaldi/reader.h"
#include "io/onnx/writer.h"
#include "ir/verifier.h"
#include "support/error.h"
#include "fuzz_support.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_kaldi_reader", stage, detail); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto storage = std::make_shared<irforge::OwnedStorage>(std::vector<uint8_t>(data, data + size));
  irforge::KaldiOptions options;
  options.remove_output_softmax = size % 2;  // both settings, decided by the input
  std::unique_ptr<irforge::Model> model;
  try {
    model = irforge::read_kaldi(storage, "<fuzz nnet>", options);
  } catch (const irforge::Error&) {
    return 0;
  }
  irforge::fuzz::check_accepted_model("fuzz_kaldi_reader", *model);
  return 0;
}
