// libFuzzer target for the safetensors reader (cpp/io/safetensors): the header parser and the
// JSON parser under it (also used for model.safetensors.index.json).
//
// Any input may be rejected with irforge::Error; nothing else may escape and nothing may crash.
// When a header is accepted, every tensor it declares must lie inside the input (each byte range
// is read, so ASan sees any overrun) and its byte size must be what its dtype and dims take (what
// Builder::constant then requires). Violations abort. Only the reader is linked, so the target
// builds in seconds (the sanitized core takes an hour on the project's VM).
//
// Build and run: scripts/fuzz.sh [SECONDS] safetensors
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "support/json.h"
#include "io/safetensors/reader.h"
#include "support/error.h"
#include "fuzz_support.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_safetensors_reader", stage, detail); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace irforge;
  // The JSON parser alone, on the whole input (an index file is plain JSON).
  try {
    json::parse(std::string_view(reinterpret_cast<const char*>(data), size), "<fuzz json>");
  } catch (const Error&) {
  }

  safetensors::Header header;
  try {
    header = safetensors::parse_header(data, size, "<fuzz>");
  } catch (const Error&) {
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const auto& t : header.tensors) {
    if (t.offset > size || t.nbytes > size - t.offset) die("tensor outside the file", t.name);
    for (uint64_t i = 0; i < t.nbytes; i += 4096) sink = sink ^ data[t.offset + i];
    if (t.nbytes) sink = sink ^ data[t.offset + t.nbytes - 1];
    uint64_t count = 1;
    for (int64_t d : t.dims) {
      if (d < 0) die("negative dim accepted", t.name);
      count *= static_cast<uint64_t>(d);  // bounded by the reader (2^40 elements)
    }
    auto expected = raw_bytes_for(t.dtype, count);
    if (!expected || *expected != t.nbytes) die("byte size differs from dtype x dims", t.name);
  }
  return 0;
}
