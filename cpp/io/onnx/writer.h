// ONNX writer: serializes the graph IR as a ModelProto, streaming tensor bytes from their
// storage (often a memory mapping) to disk without building the file in memory. Large models
// put their weights in one external-data file beside the model, at aligned offsets.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ir/graph.h"

namespace irforge {

struct OnnxWriteOptions {
  enum class ExternalData { kAuto, kAlways, kNever };
  // kAuto: external data when the weights would push the file past protobuf's 2 GB limit.
  ExternalData external_data = ExternalData::kAuto;
  // With external data, tensors smaller than this stay inline.
  uint64_t size_threshold = 1024;
  // File name (inside the model's folder) of the external data; default "<model file>.data".
  std::string data_location;
  // Called from the writing thread with (bytes written, total bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

// Writes atomically: to temporary names first, renamed into place only when complete.
void write_onnx_file(const Model& model, const std::string& path, const OnnxWriteOptions& options = {});

// The serialized model in memory (no external data). Throws if it would exceed 2 GB.
std::string write_onnx_bytes(const Model& model);

}  // namespace irforge
