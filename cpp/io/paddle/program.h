// PaddlePaddle programs read without Paddle: the legacy ProgramDesc protobuf (.pdmodel, or
// __model__ in the older folder form) and the PIR JSON program (.json, what paddle.jit.save
// writes by default since Paddle 3), both decoded into one plain structure that the Python
// translator (python/irforge/frontends/paddle.py) turns into graph nodes. No tensor bytes here:
// parameters are located by params.h and viewed in place from the mapped .pdiparams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace irforge::paddle {

// VarType.Type numbers of framework.proto; PIR's type names ("0.t_f32") map onto the same.
enum PdType : int32_t {
  kBool = 0, kInt16 = 1, kInt32 = 2, kInt64 = 3, kFp16 = 4, kFp32 = 5, kFp64 = 6,
  kDenseTensor = 7, kFeedMinibatch = 9, kFetchList = 10, kUint8 = 20, kInt8 = 21, kBf16 = 22,
};
// Bytes of one element of a numeric PdType, 0 for any other type.
size_t element_size(int32_t type);

struct PdAttr {
  // OpDesc.Attr.type numbers (AttrType); PIR attributes are mapped onto the nearest one.
  enum Kind : int32_t {
    kInt = 0, kFloat = 1, kString = 2, kInts = 3, kFloats = 4, kStrings = 5, kBoolean = 6, kBooleans = 7,
    kBlock = 8, kLong = 9, kBlocks = 10, kLongs = 11, kFloat64s = 12, kVar = 13, kVars = 14, kFloat64 = 15,
    kScalar = 16, kScalars = 17,
  };
  std::string name;
  int32_t kind = kInt;
  int64_t i = 0;           // kInt, kLong, kBoolean, kBlock
  double f = 0;            // kFloat, kFloat64, kScalar
  std::string s;           // kString, kVar
  std::vector<int64_t> ints;      // kInts, kLongs, kBooleans, kBlocks
  std::vector<double> floats;     // kFloats, kFloat64s, kScalars
  std::vector<std::string> strings;  // kStrings, kVars
};

// One named slot of an op (legacy: "X", "Filter"; PIR: positional, parameter = "" ).
struct PdArg {
  std::string parameter;
  std::vector<std::string> arguments;  // variable names; PIR values are named "%<id>"
};

struct PdOp {
  std::string type;  // legacy "conv2d"; PIR "pd_op.conv2d", "builtin.parameter", ...
  std::vector<PdArg> inputs, outputs;
  std::vector<PdAttr> attrs;
  // PIR ops with regions (pd_op.if, pd_op.while): the indices of their blocks in PdProgram.
  std::vector<int64_t> region_blocks;
};

struct PdVar {
  std::string name;
  int32_t type = kDenseTensor;  // VarType.type
  int32_t dtype = -1;           // element type of a dense tensor, -1 when not one
  std::vector<int64_t> dims;    // -1: unknown
  bool persistable = false;
};

struct PdBlock {
  int64_t idx = 0;
  int64_t parent = -1;
  std::vector<PdVar> vars;
  std::vector<PdOp> ops;
  std::vector<std::string> args;  // PIR block arguments (loop-carried values), "%<id>"
};

struct PdProgram {
  bool pir = false;
  int64_t version = 0;
  std::vector<PdBlock> blocks;
};

// Limits on what an untrusted file may declare (kResourceLimit beyond).
constexpr size_t kMaxRank = 64;
constexpr size_t kMaxBlocks = 1 << 16;

// Decodes a ProgramDesc. Throws Error(kInvalidModel) "<label>: ..." naming the block/op/var.
PdProgram decode_program_desc(const uint8_t* data, size_t size, const std::string& label);
// Decodes a PIR JSON program (base_code.magic == "pir"). Same errors.
PdProgram decode_pir_json(std::string_view text, const std::string& label);

}  // namespace irforge::paddle
