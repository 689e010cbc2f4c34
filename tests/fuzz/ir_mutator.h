// Structure-aware mutation of ONNX models for libFuzzer: the input is read with irforge's own
// reader, one to four edits are made on the IR (attribute values, declared dims and element
// types, op types, edges, graph outputs, initializer shapes and bytes, opset version) and the
// result is serialized with irforge's ONNX writer. Byte-level mutation finds reader bugs; this
// gets well-formed-but-wrong models past the reader to the passes, the lowering and the writers.
//
// Every choice comes from a std::mt19937 seeded with libFuzzer's seed, so a run reproduces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace irforge::fuzz {

// Mutates the serialized model in data[0, size) in place (at most max_size bytes). Returns the
// new size, or 0 when the input does not parse or the result does not fit: the caller then falls
// back to libFuzzer's byte mutation. Also returns 0 for a share of calls, so that byte-level
// mutations keep exploring what the reader accepts.
size_t mutate_model(uint8_t* data, size_t size, size_t max_size, unsigned seed);

// Writes into `out` model 1 with parts of model 2 grafted in (a node's op type and attributes,
// or an initializer's tensor). Returns the size written, 0 when either does not parse or the
// result does not fit.
size_t cross_over_models(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2, uint8_t* out,
                         size_t max_out_size, unsigned seed);

}  // namespace irforge::fuzz
