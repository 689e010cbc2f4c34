#include "io/tflite/schema.h"

#include <cmath>
#include <cstring>

namespace irforge::tflite {

namespace {

using flatbuf::Table;
using flatbuf::Vector;

std::string at(const std::string& where, size_t i) { return where + "[" + std::to_string(i) + "]"; }

template <typename T, typename Out>
std::vector<Out> scalars(const Table& t, uint16_t s, const char* what) {
  Vector v = t.vector(s, sizeof(T), what);
  std::vector<Out> out(v.size());
  for (uint32_t i = 0; i < v.size(); ++i) out[i] = static_cast<Out>(v.at<T>(i));
  return out;
}

Quantization parse_quant(const Table& q) {
  Quantization out;
  if (!q.valid()) return out;
  out.scale = scalars<float, float>(q, slot::kQuantScale, "QuantizationParameters.scale");
  out.zero_point = scalars<int64_t, int64_t>(q, slot::kQuantZeroPoint, "QuantizationParameters.zero_point");
  out.dimension = q.scalar<int32_t>(slot::kQuantDimension, 0);
  if (q.scalar<uint8_t>(slot::kQuantDetailsType, 0) != 0)
    fail(ErrorKind::kUnsupported, "custom quantization details are not supported");
  if (!out.scale.empty()) {
    if (out.zero_point.empty()) out.zero_point.assign(out.scale.size(), 0);
    if (out.zero_point.size() != out.scale.size())
      fail_invalid("quantization has " + std::to_string(out.scale.size()) + " scales but " +
                   std::to_string(out.zero_point.size()) + " zero points");
    for (float s : out.scale)
      if (!std::isfinite(s) || s < 0) fail_invalid("quantization scale " + std::to_string(s) + " is not a finite non-negative number");
  }
  return out;
}

}  // namespace

std::string op_name(int32_t code) {
  static const char* const kNames[] = {
#define N(x) #x
      N(ADD), N(AVERAGE_POOL_2D), N(CONCATENATION), N(CONV_2D), N(DEPTHWISE_CONV_2D), N(DEPTH_TO_SPACE),
      N(DEQUANTIZE), N(EMBEDDING_LOOKUP), N(FLOOR), N(FULLY_CONNECTED), N(HASHTABLE_LOOKUP), N(L2_NORMALIZATION),
      N(L2_POOL_2D), N(LOCAL_RESPONSE_NORMALIZATION), N(LOGISTIC), N(LSH_PROJECTION), N(LSTM), N(MAX_POOL_2D),
      N(MUL), N(RELU), N(RELU_N1_TO_1), N(RELU6), N(RESHAPE), N(RESIZE_BILINEAR), N(RNN), N(SOFTMAX),
      N(SPACE_TO_DEPTH), N(SVDF), N(TANH), N(CONCAT_EMBEDDINGS), N(SKIP_GRAM), N(CALL), N(CUSTOM),
      N(EMBEDDING_LOOKUP_SPARSE), N(PAD), N(UNIDIRECTIONAL_SEQUENCE_RNN), N(GATHER), N(BATCH_TO_SPACE_ND),
      N(SPACE_TO_BATCH_ND), N(TRANSPOSE), N(MEAN), N(SUB), N(DIV), N(SQUEEZE), N(UNIDIRECTIONAL_SEQUENCE_LSTM),
      N(STRIDED_SLICE), N(BIDIRECTIONAL_SEQUENCE_RNN), N(EXP), N(TOPK_V2), N(SPLIT), N(LOG_SOFTMAX), N(DELEGATE),
      N(BIDIRECTIONAL_SEQUENCE_LSTM), N(CAST), N(PRELU), N(MAXIMUM), N(ARG_MAX), N(MINIMUM), N(LESS), N(NEG),
      N(PADV2), N(GREATER), N(GREATER_EQUAL), N(LESS_EQUAL), N(SELECT), N(SLICE), N(SIN), N(TRANSPOSE_CONV),
      N(SPARSE_TO_DENSE), N(TILE), N(EXPAND_DIMS), N(EQUAL), N(NOT_EQUAL), N(LOG), N(SUM), N(SQRT), N(RSQRT),
      N(SHAPE), N(POW), N(ARG_MIN), N(FAKE_QUANT), N(REDUCE_PROD), N(REDUCE_MAX), N(PACK), N(LOGICAL_OR),
      N(ONE_HOT), N(LOGICAL_AND), N(LOGICAL_NOT), N(UNPACK), N(REDUCE_MIN), N(FLOOR_DIV), N(REDUCE_ANY),
      N(SQUARE), N(ZEROS_LIKE), N(FILL), N(FLOOR_MOD), N(RANGE), N(RESIZE_NEAREST_NEIGHBOR), N(LEAKY_RELU),
      N(SQUARED_DIFFERENCE), N(MIRROR_PAD), N(ABS), N(SPLIT_V), N(UNIQUE), N(CEIL), N(REVERSE_V2), N(ADD_N),
      N(GATHER_ND), N(COS), N(WHERE), N(RANK), N(ELU), N(REVERSE_SEQUENCE), N(MATRIX_DIAG), N(QUANTIZE),
      N(MATRIX_SET_DIAG), N(ROUND), N(HARD_SWISH), N(IF), N(WHILE), N(NON_MAX_SUPPRESSION_V4),
      N(NON_MAX_SUPPRESSION_V5), N(SCATTER_ND), N(SELECT_V2), N(DENSIFY), N(SEGMENT_SUM), N(BATCH_MATMUL),
      N(PLACEHOLDER_FOR_GREATER_OP_CODES), N(CUMSUM), N(CALL_ONCE), N(BROADCAST_TO), N(RFFT2D), N(CONV_3D),
      N(IMAG), N(REAL), N(COMPLEX_ABS), N(HASHTABLE), N(HASHTABLE_FIND), N(HASHTABLE_IMPORT), N(HASHTABLE_SIZE),
      N(REDUCE_ALL), N(CONV_3D_TRANSPOSE), N(VAR_HANDLE), N(READ_VARIABLE), N(ASSIGN_VARIABLE),
      N(BROADCAST_ARGS), N(RANDOM_STANDARD_NORMAL), N(BUCKETIZE), N(RANDOM_UNIFORM), N(MULTINOMIAL), N(GELU),
      N(DYNAMIC_UPDATE_SLICE), N(RELU_0_TO_1), N(UNSORTED_SEGMENT_PROD), N(UNSORTED_SEGMENT_MAX),
      N(UNSORTED_SEGMENT_SUM), N(ATAN2), N(UNSORTED_SEGMENT_MIN), N(SIGN), N(BITCAST), N(BITWISE_XOR),
      N(RIGHT_SHIFT),
#undef N
  };
  if (code >= 0 && static_cast<size_t>(code) < sizeof(kNames) / sizeof(kNames[0])) return kNames[code];
  return "BUILTIN_" + std::to_string(code);
}

ModelDef parse_tflite(const flatbuf::Buffer& buf, const ParseLimits& limits) {
  if (buf.size() < 8) fail_invalid("not a TensorFlow Lite model: the file has only " + std::to_string(buf.size()) + " bytes");
  if (std::memcmp(buf.data() + 4, "TFL3", 4) != 0)
    fail_invalid("not a TensorFlow Lite model: the flatbuffer identifier at byte 4 is not 'TFL3'");
  ModelDef m;
  Table model(&buf, buf.read<uint32_t>(0, "root offset"), "Model");
  m.version = model.scalar<uint32_t>(slot::kModelVersion, 0);
  if (m.version != 3) fail(ErrorKind::kUnsupported, "TensorFlow Lite schema version " + std::to_string(m.version) + " (only version 3 is read)");
  m.description = model.string(slot::kModelDescription);

  Vector codes = model.vector(slot::kModelOperatorCodes, 4, "Model.operator_codes");
  for (uint32_t i = 0; i < codes.size(); ++i) {
    Table c = codes.table(i);
    OperatorCodeDef d;
    // Files written before codes passed 127 only have deprecated_builtin_code; newer ones carry
    // both, with PLACEHOLDER_FOR_GREATER_OP_CODES (127) in the deprecated field for codes > 127.
    int32_t deprecated = c.scalar<int8_t>(slot::kCodeDeprecatedBuiltin, 0);
    int32_t builtin = c.scalar<int32_t>(slot::kCodeBuiltin, 0);
    d.builtin = std::max(deprecated, builtin);
    d.custom = c.string(slot::kCodeCustom);
    d.version = c.scalar<int32_t>(slot::kCodeVersion, 1);
    m.operator_codes.push_back(std::move(d));
  }

  Vector buffers = model.vector(slot::kModelBuffers, 4, "Model.buffers");
  for (uint32_t i = 0; i < buffers.size(); ++i) {
    Table b = buffers.table(i);
    BufferDef d;
    Vector data = b.vector(slot::kBufferData, 1, "Buffer.data");
    uint64_t offset = b.scalar<uint64_t>(slot::kBufferOffset, 0);
    uint64_t size = b.scalar<uint64_t>(slot::kBufferSize, 0);
    if (!data.empty()) {
      d.offset = data.start();
      d.size = data.size();
    } else if (offset > 1) {  // large-model form: bytes after the flatbuffer; offset 1 marks "none"
      if (offset > buf.size() || size > buf.size() - offset)
        fail_invalid("buffer " + std::to_string(i) + ": data at offset " + std::to_string(offset) + " size " +
                     std::to_string(size) + " is past the end of the file (" + std::to_string(buf.size()) + " bytes)");
      d.offset = offset;
      d.size = size;
    }
    m.buffers.push_back(d);
  }

  Vector subgraphs = model.vector(slot::kModelSubgraphs, 4, "Model.subgraphs");
  if (subgraphs.empty()) fail_invalid("the model has no subgraph");
  uint64_t entries = 0;
  for (uint32_t s = 0; s < subgraphs.size(); ++s) {
    Table g = subgraphs.table(s);
    SubgraphDef sg;
    sg.name = g.string(slot::kSubgraphName);
    std::string where = "subgraph " + std::to_string(s);
    Vector tensors = g.vector(slot::kSubgraphTensors, 4, "SubGraph.tensors");
    Vector ops = g.vector(slot::kSubgraphOperators, 4, "SubGraph.operators");
    entries += uint64_t{tensors.size()} + ops.size();
    if (entries > limits.max_entries)
      fail(ErrorKind::kResourceLimit, "more than " + std::to_string(limits.max_entries) + " tensors and operators");
    for (uint32_t i = 0; i < tensors.size(); ++i) {
      Table t = tensors.table(i);
      TensorDef td;
      td.name = t.string(slot::kTensorName);
      std::string tw = where + " tensor " + std::to_string(i) + " '" + td.name + "'";
      td.type = t.scalar<int8_t>(slot::kTensorType, kFloat32);
      td.shape = scalars<int32_t, int64_t>(t, slot::kTensorShape, "Tensor.shape");
      td.shape_signature = scalars<int32_t, int64_t>(t, slot::kTensorShapeSignature, "Tensor.shape_signature");
      if (static_cast<int64_t>(td.shape.size()) > limits.max_rank)
        fail(ErrorKind::kResourceLimit, tw + ": rank " + std::to_string(td.shape.size()) + " is above the limit " + std::to_string(limits.max_rank));
      for (int64_t d : td.shape)
        if (d < 0) fail_invalid(tw + ": negative dimension " + std::to_string(d) + " in its shape");
      if (!td.shape_signature.empty() && td.shape_signature.size() != td.shape.size())
        fail_invalid(tw + ": shape_signature has rank " + std::to_string(td.shape_signature.size()) + " but shape has rank " + std::to_string(td.shape.size()));
      for (int64_t d : td.shape_signature)
        if (d < -1) fail_invalid(tw + ": dimension " + std::to_string(d) + " in its shape_signature");
      td.buffer = t.scalar<uint32_t>(slot::kTensorBuffer, 0);
      if (td.buffer >= m.buffers.size() && td.buffer != 0)
        fail_invalid(tw + ": buffer index " + std::to_string(td.buffer) + " is out of range (the model has " + std::to_string(m.buffers.size()) + " buffers)");
      td.is_variable = t.scalar<uint8_t>(slot::kTensorIsVariable, 0) != 0;
      td.sparse = t.has(slot::kTensorSparsity);
      try {
        td.quant = parse_quant(t.table(slot::kTensorQuantization, "QuantizationParameters"));
      } catch (const Error& e) {
        throw Error(e.kind(), tw + ": " + e.what());
      }
      sg.tensors.push_back(std::move(td));
    }
    auto tensor_list = [&](const Table& t, uint16_t sl, const char* what, const std::string& w, bool optional) {
      std::vector<int32_t> v = scalars<int32_t, int32_t>(t, sl, what);
      for (int32_t x : v)
        if ((x < 0 && !(optional && x == -1)) || (x >= 0 && static_cast<size_t>(x) >= sg.tensors.size()))
          fail_invalid(w + ": tensor index " + std::to_string(x) + " is out of range (the subgraph has " + std::to_string(sg.tensors.size()) + " tensors)");
      return v;
    };
    sg.inputs = tensor_list(g, slot::kSubgraphInputs, "SubGraph.inputs", where + " inputs", false);
    sg.outputs = tensor_list(g, slot::kSubgraphOutputs, "SubGraph.outputs", where + " outputs", false);
    for (uint32_t i = 0; i < ops.size(); ++i) {
      Table o = ops.table(i);
      OperatorDef od;
      std::string ow = where + " operator " + std::to_string(i);
      od.opcode_index = o.scalar<uint32_t>(slot::kOperatorOpcodeIndex, 0);
      if (od.opcode_index >= m.operator_codes.size())
        fail_invalid(ow + ": opcode_index " + std::to_string(od.opcode_index) + " is out of range (the model has " + std::to_string(m.operator_codes.size()) + " operator codes)");
      od.inputs = tensor_list(o, slot::kOperatorInputs, "Operator.inputs", ow + " (" + op_name(m.operator_codes[od.opcode_index].builtin) + ") inputs", true);
      od.outputs = tensor_list(o, slot::kOperatorOutputs, "Operator.outputs", ow + " (" + op_name(m.operator_codes[od.opcode_index].builtin) + ") outputs", false);
      od.intermediates = tensor_list(o, slot::kOperatorIntermediates, "Operator.intermediates", ow + " intermediates", false);
      od.options_type = o.scalar<uint8_t>(slot::kOperatorOptionsType, 0);
      od.options = o.table(slot::kOperatorOptions, "Operator.builtin_options");
      sg.operators.push_back(std::move(od));
    }
    m.subgraphs.push_back(std::move(sg));
  }

  Vector sigs = model.vector(slot::kModelSignatureDefs, 4, "Model.signature_defs");
  for (uint32_t i = 0; i < sigs.size(); ++i) {
    Table s = sigs.table(i);
    SignatureDef d;
    d.key = s.string(slot::kSignatureKey);
    d.subgraph = s.scalar<uint32_t>(slot::kSignatureSubgraph, 0);
    if (d.subgraph >= m.subgraphs.size())
      fail_invalid("signature '" + d.key + "': subgraph index " + std::to_string(d.subgraph) + " is out of range");
    for (int side = 0; side < 2; ++side) {
      Vector maps = s.vector(side ? slot::kSignatureOutputs : slot::kSignatureInputs, 4, "SignatureDef.inputs/outputs");
      for (uint32_t k = 0; k < maps.size(); ++k) {
        Table tm = maps.table(k);
        uint32_t idx = tm.scalar<uint32_t>(slot::kTensorMapIndex, 0);
        if (idx >= m.subgraphs[d.subgraph].tensors.size())
          fail_invalid("signature '" + d.key + "': tensor index " + std::to_string(idx) + " is out of range");
        (side ? d.outputs : d.inputs).emplace_back(tm.string(slot::kTensorMapName), idx);
      }
    }
    m.signatures.push_back(std::move(d));
  }
  return m;
}

}  // namespace irforge::tflite
