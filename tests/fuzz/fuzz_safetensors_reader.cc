// libFuzzer target for the safetensors reader (cpp/io/safetensors): the header parser and the
// JSON parser under it (also used for model.safetensors.index.json).
//
// Any input may be rejected with irforge::Error; nothing else may escape and nothing may crash.
// When a header is accepted, every tensor it declares must lie inside the input (each byte range
// is read, so ASan sees any overrun) and the graph builder must accept it as a constant view of
// the file's bytes (the reader's checks imply the builder's). Violations abort.
//
// Build and run: scripts/fuzz.sh [SECONDS] safetensors
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors/json.h"
#include "io/safetensors/reader.h"
#include "ir/builder.h"
#include "support/error.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) {
  std::fprintf(stderr, "fuzz_safetensors_reader: %s\n%s\n", stage, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

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
  auto storage = std::make_shared<OwnedStorage>(std::vector<uint8_t>(data, data + size));
  Builder builder("<fuzz>");
  volatile uint8_t sink = 0;
  for (const auto& t : header.tensors) {
    if (t.offset > size || t.nbytes > size - t.offset) die("tensor outside the file", t.name);
    for (uint64_t i = 0; i < t.nbytes; i += 4096) sink = sink ^ data[t.offset + i];
    if (t.nbytes) sink = sink ^ data[t.offset + t.nbytes - 1];
    try {
      builder.constant(builder.main_graph(), t.name, t.dtype, t.dims, storage, t.offset);
    } catch (const Error& e) {
      die("the builder refused a tensor the reader accepted", t.name + ": " + e.what());
    }
  }
  return 0;
}
