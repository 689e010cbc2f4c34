// What the file-decoding bindings share (paddle.cc, tensorflow.cc): map a file and decode it
// without the GIL, then build the Python objects with the GIL held. The mapping lives until
// `to_py` returns, so `to_py` may turn pointers into the file into offsets from its start.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "support/mapped_file.h"

namespace irforge::bindings {

// `decode(data, size, path)` runs without the GIL (it must not touch Python objects);
// `to_py(decoded, data)` builds the result.
template <typename Decode, typename ToPy>
pybind11::object decode_mapped_file(const std::string& path, Decode&& decode, ToPy&& to_py) {
  std::decay_t<std::invoke_result_t<Decode&, const uint8_t*, size_t, const std::string&>> decoded;
  std::shared_ptr<MappedFile> file;
  {
    pybind11::gil_scoped_release release;
    file = MappedFile::open(path);
    decoded = decode(file->data(), file->size(), path);
  }
  return pybind11::object(to_py(decoded, file->data()));
}

}  // namespace irforge::bindings
