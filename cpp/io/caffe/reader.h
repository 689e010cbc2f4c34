// Caffe frontend: a deploy .prototxt (the net, protobuf text format) plus a .caffemodel (trained
// weights, binary NetParameter) read without Caffe. Layer parameters come from the prototxt, the
// blobs from the caffemodel, matched by layer name (as Caffe's CopyTrainedLayersFrom and mo do).
// The caffemodel is memory-mapped and packed float blobs become constants viewing it in place.
// Layers are translated to ONNX-semantics ops with static shapes computed here, since several
// Caffe layers (pooling's ceil rounding, Crop, Reshape with 0/-1, PriorBox) depend on them.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace irforge {

// `caffemodel_path` may be empty: a net without learned blobs then still converts.
// `mean_file` (mo's --mean_file): a BlobProto (.binaryproto) subtracted from the first input,
// center-cropped to its size when larger.
std::unique_ptr<Model> read_caffe_files(const std::string& prototxt_path, const std::string& caffemodel_path,
                                        const std::string& mean_file = "");

// The same from memory (fuzzing, tests). `weights` may be null (no caffemodel).
std::unique_ptr<Model> read_caffe(std::string_view prototxt, const std::string& prototxt_label,
                                  std::shared_ptr<const Storage> weights, const std::string& weights_label,
                                  std::shared_ptr<const Storage> mean = nullptr, const std::string& mean_label = "");

}  // namespace irforge
