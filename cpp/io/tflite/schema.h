// The subset of TensorFlow Lite's schema.fbs (tensorflow/lite/schema/schema.fbs) that irforge
// reads: vtable slots (4 + 2 * field index, in schema order — they are the file format) of the
// tables, and the enum values used. Decoded into plain structs by parse_tflite(); op options stay
// as flatbuf::Table views and are read by the translators through the slots below.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/tflite/flatbuffer.h"

namespace irforge::tflite {

// Table slots.
namespace slot {
// Model
constexpr uint16_t kModelVersion = 4, kModelOperatorCodes = 6, kModelSubgraphs = 8, kModelDescription = 10,
                   kModelBuffers = 12, kModelSignatureDefs = 18;
// SubGraph
constexpr uint16_t kSubgraphTensors = 4, kSubgraphInputs = 6, kSubgraphOutputs = 8, kSubgraphOperators = 10,
                   kSubgraphName = 12;
// Tensor
constexpr uint16_t kTensorShape = 4, kTensorType = 6, kTensorBuffer = 8, kTensorName = 10, kTensorQuantization = 12,
                   kTensorIsVariable = 14, kTensorSparsity = 16, kTensorShapeSignature = 18;
// Buffer
constexpr uint16_t kBufferData = 4, kBufferOffset = 6, kBufferSize = 8;
// Operator
constexpr uint16_t kOperatorOpcodeIndex = 4, kOperatorInputs = 6, kOperatorOutputs = 8, kOperatorOptionsType = 10,
                   kOperatorOptions = 12, kOperatorIntermediates = 20;
// OperatorCode
constexpr uint16_t kCodeDeprecatedBuiltin = 4, kCodeCustom = 6, kCodeVersion = 8, kCodeBuiltin = 10;
// QuantizationParameters
constexpr uint16_t kQuantScale = 8, kQuantZeroPoint = 10, kQuantDetailsType = 12, kQuantDimension = 16;
// SignatureDef, TensorMap
constexpr uint16_t kSignatureInputs = 4, kSignatureOutputs = 6, kSignatureKey = 8, kSignatureSubgraph = 12;
constexpr uint16_t kTensorMapName = 4, kTensorMapIndex = 6;
}  // namespace slot

// TensorType
enum TensorType : int8_t {
  kFloat32 = 0, kFloat16 = 1, kInt32 = 2, kUint8 = 3, kInt64 = 4, kString = 5, kBool = 6, kInt16 = 7,
  kComplex64 = 8, kInt8 = 9, kFloat64 = 10, kComplex128 = 11, kUint64 = 12, kResource = 13, kVariant = 14,
  kUint32 = 15, kUint16 = 16, kInt4 = 17, kBfloat16 = 18,
};

// ActivationFunctionType, Padding, MirrorPadMode
enum Activation : int8_t { kActNone = 0, kActRelu = 1, kActReluN1To1 = 2, kActRelu6 = 3, kActTanh = 4, kActSignBit = 5 };
enum PaddingKind : int8_t { kPadSame = 0, kPadValid = 1 };

// BuiltinOperator values used by the translators (schema order; codes above 127 only exist in
// OperatorCode.builtin_code, older files put the code in deprecated_builtin_code).
enum Op : int32_t {
  ADD = 0, AVERAGE_POOL_2D = 1, CONCATENATION = 2, CONV_2D = 3, DEPTHWISE_CONV_2D = 4, DEPTH_TO_SPACE = 5,
  DEQUANTIZE = 6, EMBEDDING_LOOKUP = 7, FLOOR = 8, FULLY_CONNECTED = 9, L2_NORMALIZATION = 11, LOGISTIC = 14,
  MAX_POOL_2D = 17, MUL = 18, RELU = 19, RELU_N1_TO_1 = 20, RELU6 = 21, RESHAPE = 22, RESIZE_BILINEAR = 23,
  SOFTMAX = 25, SPACE_TO_DEPTH = 26, TANH = 28, CALL = 31, CUSTOM = 32, PAD = 34, GATHER = 36, TRANSPOSE = 39,
  MEAN = 40, SUB = 41, DIV = 42, SQUEEZE = 43, UNIDIRECTIONAL_SEQUENCE_LSTM = 44, STRIDED_SLICE = 45, EXP = 47,
  TOPK_V2 = 48, SPLIT = 49, LOG_SOFTMAX = 50, CAST = 53, PRELU = 54, MAXIMUM = 55, ARG_MAX = 56, MINIMUM = 57,
  LESS = 58, NEG = 59, PADV2 = 60, GREATER = 61, GREATER_EQUAL = 62, LESS_EQUAL = 63, SELECT = 64, SLICE = 65,
  SIN = 66, TRANSPOSE_CONV = 67, TILE = 69, EXPAND_DIMS = 70, EQUAL = 71, NOT_EQUAL = 72, LOG = 73, SUM = 74,
  SQRT = 75, RSQRT = 76, SHAPE = 77, POW = 78, ARG_MIN = 79, REDUCE_PROD = 81, REDUCE_MAX = 82, PACK = 83,
  LOGICAL_OR = 84, LOGICAL_AND = 86, LOGICAL_NOT = 87, UNPACK = 88, REDUCE_MIN = 89, FLOOR_DIV = 90, SQUARE = 92,
  ZEROS_LIKE = 93, FILL = 94, FLOOR_MOD = 95, RESIZE_NEAREST_NEIGHBOR = 97, LEAKY_RELU = 98,
  SQUARED_DIFFERENCE = 99, MIRROR_PAD = 100, ABS = 101, SPLIT_V = 102, CEIL = 104, GATHER_ND = 107, COS = 108,
  ELU = 111, QUANTIZE = 114, ROUND = 116, HARD_SWISH = 117, IF = 118, WHILE = 119, SELECT_V2 = 123,
  BATCH_MATMUL = 126, CUMSUM = 128, CALL_ONCE = 129, BROADCAST_TO = 130, VAR_HANDLE = 142,
  READ_VARIABLE = 143, ASSIGN_VARIABLE = 144, GELU = 150,
};

// The name of a builtin operator code ("CONV_2D"), or "BUILTIN_<n>" for one we do not know.
std::string op_name(int32_t code);

struct Quantization {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int32_t dimension = 0;
  bool present() const { return !scale.empty(); }
};

struct TensorDef {
  std::string name;
  int8_t type = kFloat32;
  std::vector<int64_t> shape;            // static shape (what the interpreter allocates)
  std::vector<int64_t> shape_signature;  // -1 for dynamic dims; empty when absent
  uint32_t buffer = 0;                   // 0: no data (an activation)
  bool is_variable = false;
  bool sparse = false;
  Quantization quant;
};

struct OperatorDef {
  uint32_t opcode_index = 0;
  std::vector<int32_t> inputs, outputs;  // -1: an omitted optional input
  std::vector<int32_t> intermediates;    // quantization carriers of the integer LSTM kernel
  uint8_t options_type = 0;
  flatbuf::Table options;  // may be invalid (absent): translators then use the defaults
};

struct SubgraphDef {
  std::string name;
  std::vector<TensorDef> tensors;
  std::vector<int32_t> inputs, outputs;
  std::vector<OperatorDef> operators;
};

struct OperatorCodeDef {
  int32_t builtin = 0;
  std::string custom;
  int32_t version = 1;
};

// Bytes of a buffer: a range of the file (inside the flatbuffer, or after it in the large-model
// form that stores data at offset/size), or empty.
struct BufferDef {
  uint64_t offset = 0, size = 0;
};

struct SignatureDef {
  std::string key;
  uint32_t subgraph = 0;
  std::vector<std::pair<std::string, uint32_t>> inputs, outputs;  // name -> tensor index
};

struct ModelDef {
  uint32_t version = 0;
  std::string description;
  std::vector<OperatorCodeDef> operator_codes;
  std::vector<SubgraphDef> subgraphs;
  std::vector<BufferDef> buffers;
  std::vector<SignatureDef> signatures;
};

struct ParseLimits {
  uint64_t max_entries = uint64_t{1} << 22;  // tensors + operators in the whole model
  int64_t max_rank = 64;
};

// Decodes the model tables of a .tflite held in `buf` (checks the identifier "TFL3", every
// offset, every index into tensors/buffers/operator codes and every buffer range). Throws
// Error(kInvalidModel) naming the table and element at fault.
ModelDef parse_tflite(const flatbuf::Buffer& buf, const ParseLimits& limits = {});

}  // namespace irforge::tflite
