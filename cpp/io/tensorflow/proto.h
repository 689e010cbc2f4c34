// The subset of TensorFlow's protobuf schema the TensorFlow reader needs, decoded by hand with
// the wire reader of io/onnx (field numbers are the format: tensorflow/core/framework/*.proto,
// tensorflow/core/protobuf/{meta_graph,saved_model,saver}.proto). Tensor bytes are never copied:
// a TfTensor's `content` points into the buffer it was decoded from, which the caller keeps
// alive (a mapped file).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace irforge::tf {

// TensorFlow DataType numbers (types.proto); reference types are these + 100.
enum TfDtype : int32_t {
  kDtInvalid = 0, kDtFloat = 1, kDtDouble = 2, kDtInt32 = 3, kDtUint8 = 4, kDtInt16 = 5, kDtInt8 = 6,
  kDtString = 7, kDtComplex64 = 8, kDtInt64 = 9, kDtBool = 10, kDtBfloat16 = 14, kDtUint16 = 17,
  kDtComplex128 = 18, kDtHalf = 19, kDtResource = 20, kDtVariant = 21, kDtUint32 = 22, kDtUint64 = 23,
};
// Bytes per element of a fixed-width dtype, 0 for strings/resources/variants/unknown numbers.
size_t dtype_size(int32_t dtype);
std::string dtype_name(int32_t dtype);

struct TfShape {
  bool unknown_rank = false;
  std::vector<int64_t> dims;  // -1 = unknown
};

struct TfTensor {
  int32_t dtype = 0;
  TfShape shape;
  const uint8_t* content = nullptr;  // tensor_content, a view into the decoded buffer
  size_t content_size = 0;
  // Typed repeated fields (used when tensor_content is empty; a shorter list repeats its last
  // element to fill the shape, as TensorFlow does).
  std::vector<double> float_val;  // float_val / double_val / half_val (as numbers)
  std::vector<int64_t> int_val;   // int_val / int64_val / bool_val / uint32_val / uint64_val
  std::vector<std::string> string_val;
};

struct TfAttr;
struct TfNameAttrList {
  std::string name;
  std::map<std::string, TfAttr> attr;
};

struct TfAttr {
  enum Kind { kNone, kS, kI, kF, kB, kType, kShape, kTensor, kFunc, kPlaceholder, kList } kind = kNone;
  std::string s;
  int64_t i = 0;
  float f = 0;
  bool b = false;
  int32_t type = 0;
  TfShape shape;
  std::shared_ptr<TfTensor> tensor;
  std::shared_ptr<TfNameAttrList> func;
  // kList
  std::vector<std::string> list_s;
  std::vector<int64_t> list_i;
  std::vector<float> list_f;
  std::vector<int64_t> list_b;
  std::vector<int64_t> list_type;
  std::vector<TfShape> list_shape;
  std::vector<std::shared_ptr<TfTensor>> list_tensor;
  std::vector<TfNameAttrList> list_func;
};

struct TfNode {
  std::string name, op, device;
  std::vector<std::string> inputs;  // "node", "node:1", "^control", or in functions "node:out:0"
  std::map<std::string, TfAttr> attr;
};

struct TfArg {
  std::string name, type_attr, number_attr, type_list_attr;
  int32_t type = 0;
};

struct TfFunction {
  std::string name;
  std::vector<TfArg> inputs, outputs;
  std::vector<TfNode> nodes;
  std::map<std::string, std::string> ret;  // output arg name -> "node:out:index"
  std::map<std::string, TfAttr> attr;
};

struct TfGraph {
  std::vector<TfNode> nodes;
  std::vector<TfFunction> functions;
};

struct TfTensorInfo {
  std::string name;  // "node:index"
  int32_t dtype = 0;
  TfShape shape;
};

struct TfSignature {
  std::map<std::string, TfTensorInfo> inputs, outputs;
  std::string method;
};

struct TfMetaGraph {
  std::vector<std::string> tags;
  TfGraph graph;
  std::map<std::string, TfSignature> signatures;
  std::string saver_filename_tensor, saver_restore_op;
};

// Decoders: `what` names the source in error messages ("<file>"); errors are kInvalidModel
// naming the message and, where known, the node. Limits keep hostile inputs bounded.
TfGraph decode_graph_def(const uint8_t* data, size_t size, const std::string& what);
TfMetaGraph decode_meta_graph(const uint8_t* data, size_t size, const std::string& what);
std::vector<TfMetaGraph> decode_saved_model(const uint8_t* data, size_t size, const std::string& what);
TfShape decode_shape(const uint8_t* data, size_t size);

}  // namespace irforge::tf
