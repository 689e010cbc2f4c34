// Every pass, in one explicit list (registry.cc), created by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace irforge::passes {

struct PassInfo {
  std::string name;
  std::string summary;
};

std::vector<PassInfo> list_passes();
// nullptr when no pass has this name.
std::unique_ptr<Pass> create_pass(const std::string& name);
// The pipeline `irforge convert` runs by default.
const char* default_pipeline();

}  // namespace irforge::passes
