// Every pass, in one explicit list (registry.cc), created by name.
#pragma once

#include <functional>
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

// Passes added at run time (irforge.register_pass: Python passes), usable in pipeline text like
// the built-in ones. A name may not shadow a built-in pass. Thread-safe.
void register_external_pass(const std::string& name, const std::string& summary, std::function<std::unique_ptr<Pass>()> make);
bool unregister_external_pass(const std::string& name);

}  // namespace irforge::passes
