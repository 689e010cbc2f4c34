// ONNX reader: decodes ModelProto straight into the graph IR. Tensor bytes in `raw_data` and in
// external-data files become views into memory-mapped files; nothing is copied except typed
// repeated fields (float_data, int64_data, ...), which are re-encoded as raw little-endian bytes.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace irforge {

struct ReadLimits {
  int max_graph_depth = 64;        // nested subgraphs (If inside Loop inside ...)
  int max_type_depth = 64;         // nested sequence/map/optional types
  int64_t max_rank = 64;           // dims per tensor
  uint64_t max_elements = uint64_t{1} << 40;  // elements per tensor
  uint64_t max_entries = uint64_t{1} << 22;   // nodes, and initializers, in the whole model
};

// Reads a .onnx file (memory-mapped). External data is resolved relative to its folder and may
// not escape it. Throws irforge::Error naming the file, node and problem.
std::unique_ptr<Model> read_onnx_file(const std::string& path, const ReadLimits& limits = {});

// Reads a serialized model held in `bytes`. `base_dir` is where external data is looked up
// ("" = external data is an error); `label` names the source in messages.
std::unique_ptr<Model> read_onnx_bytes(std::shared_ptr<const Storage> bytes, const std::string& base_dir,
                                       const std::string& label, const ReadLimits& limits = {});

}  // namespace irforge
