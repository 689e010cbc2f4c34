// libFuzzer target for the Kaldi nnet1 reader (text and binary token streams, matrices viewed
// in place, the Splice translation). Any input may be rejected with irforge::Error; nothing
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

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) {
  std::fprintf(stderr, "fuzz_kaldi_reader: %s\n%s\n", stage, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

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
  std::vector<std::string> problems = irforge::verify(*model);
  if (!problems.empty()) die("verify() found problems in a model the Kaldi reader accepted", problems.front());
  try {
    irforge::write_onnx_bytes(*model);
  } catch (const irforge::Error& e) {
    die("write_onnx_bytes failed on a model the Kaldi reader accepted", e.what());
  }
  return 0;
}
