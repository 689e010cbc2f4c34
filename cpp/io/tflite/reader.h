// TensorFlow Lite reader: a .tflite flatbuffer (memory-mapped, read by hand through schema.h)
// translated into the graph IR through the Builder. Weights are views into the mapped file —
// inside the flatbuffer or, in the large-model form, after it at a buffer's offset/size.
// Reads the subgraph of the first signature (else subgraph 0) with its signature's input and
// output names; quantized models as described in translate.h. No TensorFlow needed.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace irforge {

// Throws irforge::Error naming the file, the operator or tensor and the problem; an operator
// without a translator is one kUnsupported error listing all of them.
std::unique_ptr<Model> read_tflite_file(const std::string& path);
std::unique_ptr<Model> read_tflite_bytes(std::shared_ptr<const Storage> bytes, const std::string& label);

}  // namespace irforge
