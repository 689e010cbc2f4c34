// libFuzzer target for the Paddle reader (cpp/io/paddle): the ProgramDesc protobuf decoder, the
// PIR JSON decoder and the .pdiparams scan. (Op translation is Python, over these decoders.)
//
// Input: one selector byte, then the payload. Selector % 3: 0 ProgramDesc bytes, 1 PIR JSON text,
// 2 a parameter file whose first payload byte is the number of tensors to read. Any input may be
// rejected with irforge::Error; nothing else may escape and nothing may crash. Every accepted
// parameter's data range must lie inside the input. Seeds: tests/fuzz/make_corpus_fuzz_paddle_reader.py.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "io/paddle/params.h"
#include "io/paddle/program.h"
#include "support/error.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_paddle_reader", stage, detail); }

void check_program(const irforge::paddle::PdProgram& p) {
  for (size_t i = 0; i < p.blocks.size(); ++i) {
    const auto& b = p.blocks[i];
    if (b.parent >= static_cast<int64_t>(p.blocks.size())) die("block parent out of range", std::to_string(i));
    for (const auto& op : b.ops)
      for (int64_t r : op.region_blocks)
        if (r < 0 || r >= static_cast<int64_t>(p.blocks.size())) die("region block out of range", op.type);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  const uint8_t* body = data + 1;
  const size_t n = size - 1;
  try {
    if (mode == 0) {
      check_program(irforge::paddle::decode_program_desc(body, n, "<fuzz pdmodel>"));
    } else if (mode == 1) {
      check_program(irforge::paddle::decode_pir_json(std::string_view(reinterpret_cast<const char*>(body), n), "<fuzz json>"));
    } else {
      if (n < 1) return 0;
      std::vector<std::string> names;
      for (int i = 0; i < body[0]; ++i) names.push_back("v" + std::to_string(i));
      auto params = irforge::paddle::scan_params(body + 1, n - 1, names, "<fuzz pdiparams>");
      for (const auto& p : params)
        if (p.offset > n - 1 || p.nbytes > n - 1 - p.offset) die("a parameter's data lies outside the file", p.name);
    }
  } catch (const irforge::Error&) {
    return 0;  // rejected with a proper error: fine
  }
  return 0;
}
