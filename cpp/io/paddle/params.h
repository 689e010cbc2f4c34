// Paddle parameter files: a .pdiparams holds the persistable tensors of a program concatenated
// in sorted-name order (legacy and PIR alike; save_combine), the older folder form one file per
// variable. Each tensor is framed the same way (DenseTensor serialization):
//   u32 version (0) | u64 LoD levels, each u64 byte size + that many bytes | u32 tensor version (0)
//   | i32 TensorDesc size | TensorDesc protobuf {1: data_type, 2: dims} | raw little-endian data
// One scan records where each tensor's data lies; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace irforge::paddle {

struct PdParam {
  std::string name;
  int32_t dtype = 0;  // VarType.Type
  std::vector<int64_t> dims;
  size_t offset = 0;  // of the raw data, from the start of the file
  size_t nbytes = 0;
};

// Reads `names.size()` consecutive tensors from data[0, size) and names them in order. Throws
// Error(kInvalidModel) "<label>: variable '<name>' ..." when a header or tensor runs past the
// end, declares a size that disagrees with its dims, or bytes are left over; kResourceLimit on
// absurd dims.
std::vector<PdParam> scan_params(const uint8_t* data, size_t size, const std::vector<std::string>& names,
                                 const std::string& label);

}  // namespace irforge::paddle
