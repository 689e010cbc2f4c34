// OpenVINO IR v11 writer: lowers the IR to OpenVINO opsets, streams constants into the .bin
// (deduplicated, fp32 weights compressed to fp16 on the fly) and writes the .xml. Both files
// appear together or not at all (support/atomic_file.h: commit_together).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace irforge {

struct OvWriteOptions {
  bool compress_to_fp16 = true;
  // Model-level <rt_info> entries (irforge version, conversion parameters), written in order;
  // a key "a/b" nests b inside element a.
  std::vector<std::pair<std::string, std::string>> rt_info;
  std::function<void(uint64_t, uint64_t)> progress;
};

struct OvWriteStats {
  uint64_t layers = 0, constants = 0, deduplicated = 0, compressed = 0, kept_f32 = 0, bin_bytes = 0;
};

// Writes `xml_path` and the .bin beside it (same stem).
OvWriteStats write_openvino(const Model& model, const std::string& xml_path, const OvWriteOptions& options = {});

}  // namespace irforge
