// What every libFuzzer target of irforge shares: how a finding is reported (a message, then
// abort, so libFuzzer keeps the input), and the check of a model a reader accepted.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/onnx/writer.h"
#include "ir/verifier.h"
#include "support/error.h"

namespace irforge::fuzz {

[[noreturn]] inline void die(const char* target, const char* stage, const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n%s\n", target, stage, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// A model a reader accepted must verify clean and serialize (every constant view in bounds).
inline void check_accepted_model(const char* target, const Model& model) {
  std::vector<std::string> problems = verify(model);
  if (!problems.empty()) die(target, "verify() found problems in a model the reader accepted", problems.front());
  try {
    (void)write_onnx_bytes(model);
  } catch (const Error& e) {
    die(target, "write_onnx_bytes failed on a model the reader accepted", e.what());
  }
}

}  // namespace irforge::fuzz
