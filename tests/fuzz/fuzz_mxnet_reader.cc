// libFuzzer target for the MXNet reader: the JSON parser, the NDArray-list (.params) decoding
// and the op translation.
//
// Input: the symbol JSON, then optionally a NUL byte followed by the .params bytes (JSON holds
// no NUL). Any input may be rejected with irforge::Error; nothing else may escape and nothing
// may crash. An accepted model must verify clean and serialize. Seeds:
// tests/fuzz/make_corpus_fuzz_mxnet_reader.py (written by scripts/fuzz.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mxnet/reader.h"
#include "io/onnx/writer.h"
#include "ir/verifier.h"
#include "support/error.h"
#include "fuzz_support.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_mxnet_reader", stage, detail); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  std::string_view symbol(reinterpret_cast<const char*>(data), nul ? static_cast<size_t>(nul - data) : size);
  std::shared_ptr<const irforge::Storage> params;
  if (nul) params = std::make_shared<irforge::OwnedStorage>(std::vector<uint8_t>(nul + 1, data + size));

  std::unique_ptr<irforge::Model> model;
  try {
    model = irforge::read_mxnet(symbol, "<fuzz symbol>", params, "<fuzz params>");
  } catch (const irforge::Error&) {
    return 0;
  }
  irforge::fuzz::check_accepted_model("fuzz_mxnet_reader", *model);
  return 0;
}
