// Node attributes: every ONNX AttributeProto kind, subgraphs included (owned Graphs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "ir/type.h"

namespace irforge {

class Graph;

enum class AttrKind : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kInt = 2,
  kString = 3,
  kTensor = 4,
  kGraph = 5,
  kFloats = 6,
  kInts = 7,
  kStrings = 8,
  kTensors = 9,
  kGraphs = 10,
  kSparseTensor = 11,
  kSparseTensors = 12,
  kTypeProto = 13,
  kTypeProtos = 14,
};

struct Attribute {
  Attribute();
  ~Attribute();
  Attribute(Attribute&&) noexcept;
  Attribute& operator=(Attribute&&) noexcept;

  std::string name;
  AttrKind kind = AttrKind::kUndefined;
  std::string ref_attr_name;  // inside functions: refers to the caller's attribute
  std::string doc_string;

  float f = 0.f;
  int64_t i = 0;
  std::string s;
  std::shared_ptr<Tensor> t;
  std::unique_ptr<Graph> g;
  std::shared_ptr<SparseTensor> sparse_tensor;
  std::shared_ptr<Type> tp;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<std::shared_ptr<Tensor>> tensors;
  std::vector<std::unique_ptr<Graph>> graphs;
  std::vector<std::shared_ptr<SparseTensor>> sparse_tensors;
  std::vector<Type> type_protos;
  std::string unknown_fields;
};

}  // namespace irforge
