// Streams the constants of an OvGraph into a .bin file: identical constants stored once, f32
// weights marked compressible converted to f16 chunk by chunk (staying f32 when at least 75% of
// their values are outside the f16 range, as OpenVINO's own compression decides), source pages
// released once written so memory stays flat. The bytes go through a BinSink (direct I/O from a
// background thread, see bin_writer_sink.h); the file ends exactly at the last constant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "io/openvino/ov_graph.h"

namespace irforge::ov {

struct BinStats {
  uint64_t constants = 0, deduplicated = 0, compressed = 0, kept_f32 = 0, bytes = 0;
};

BinStats write_bin(OvGraph& graph, int fd, const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace irforge::ov
