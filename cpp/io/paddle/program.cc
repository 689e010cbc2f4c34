#include "io/paddle/program.h"

#include <cstring>

#include "io/onnx/wire.h"
#include "support/error.h"
#include "support/json.h"

namespace irforge::paddle {

size_t element_size(int32_t type) {
  switch (type) {
    case kBool: case kUint8: case kInt8: return 1;
    case kInt16: case kFp16: case kBf16: return 2;
    case kInt32: case kFp32: return 4;
    case kInt64: case kFp64: return 8;
    default: return 0;
  }
}

namespace {

// ---- legacy ProgramDesc (framework.proto) -----------------------------------------------------

namespace pb {
constexpr uint32_t kProgramBlocks = 1, kProgramVersion = 4;
constexpr uint32_t kBlockIdx = 1, kBlockParent = 2, kBlockVars = 3, kBlockOps = 4;
constexpr uint32_t kOpInputs = 1, kOpOutputs = 2, kOpType = 3, kOpAttrs = 4;
constexpr uint32_t kArgParameter = 1, kArgArguments = 2;
constexpr uint32_t kVarName = 1, kVarType = 2, kVarPersistable = 3;
constexpr uint32_t kVarTypeType = 1, kVarTypeDense = 3;  // VarType.type, VarType.dense_tensor
constexpr uint32_t kDenseTensor = 1;                      // DenseTensorDesc.tensor
constexpr uint32_t kTensorDataType = 1, kTensorDims = 2;  // TensorDesc
}  // namespace pb

int64_t to_i64(uint64_t v) { return static_cast<int64_t>(v); }
int32_t to_i32(uint64_t v) { return static_cast<int32_t>(static_cast<int64_t>(v)); }

// Protobuf `string` fields are UTF-8; names go on to Python and into ONNX, which require it.
bool valid_utf8(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n) return false;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::string utf8(const wire::Field& f, const std::string& what) {
  if (f.type != wire::kLengthDelimited) fail_invalid(what + " is not a string");
  if (!valid_utf8(f.data, f.size)) fail_invalid(what + " is not valid UTF-8");
  return f.str();
}

void expect_message(const wire::Field& f, const std::string& what) {
  if (f.type != wire::kLengthDelimited) fail_invalid(what + " is not a message");
}

PdArg decode_arg(const wire::Field& field) {
  PdArg a;
  wire::Reader r(field);
  wire::Field f;
  while (r.next(f)) {
    if (f.number == pb::kArgParameter) a.parameter = utf8(f, "an op slot name");
    else if (f.number == pb::kArgArguments) a.arguments.push_back(utf8(f, "a variable name of slot '" + a.parameter + "'"));
  }
  return a;
}

PdAttr decode_attr(const wire::Field& field) {
  PdAttr a;
  wire::Reader r(field);
  wire::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case 1: a.name = utf8(f, "an attribute name"); break;
      case 2: a.kind = to_i32(f.varint); break;
      case 3: case 10: case 12: case 13: a.i = f.number == 3 ? to_i32(f.varint) : to_i64(f.varint); break;
      case 4: a.f = wire::fixed_f32(f.varint); break;
      case 19: a.f = wire::fixed_f64(f.varint); break;
      case 5: case 17: a.s = utf8(f, "attribute '" + a.name + "'"); break;
      case 6: wire::read_repeated(f, a.ints, [](uint64_t v) { return static_cast<int64_t>(to_i32(v)); }, wire::kVarint); break;
      case 11: case 14: case 15: wire::read_repeated(f, a.ints, to_i64, wire::kVarint); break;
      case 7: wire::read_repeated(f, a.floats, [](uint64_t v) { return static_cast<double>(wire::fixed_f32(v)); }, wire::kFixed32); break;
      case 16: wire::read_repeated(f, a.floats, wire::fixed_f64, wire::kFixed64); break;
      case 8: case 18: a.strings.push_back(utf8(f, "attribute '" + a.name + "'")); break;
      default: break;  // scalar(s): not used by inference ops we translate
    }
  }
  return a;
}

void decode_op_fields(wire::Reader& r, PdOp& op, const std::string& where);

PdOp decode_op(const wire::Field& field, const std::string& where) {
  PdOp op;
  wire::Reader r(field);
  try {
    decode_op_fields(r, op, where);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidModel || std::string(e.what()).rfind(where, 0) == 0) throw;
    fail_invalid(where + (op.type.empty() ? "" : " (" + op.type + ")") + ": " + e.what());
  }
  if (op.type.empty()) fail_invalid(where + " has no type");
  return op;
}

void decode_op_fields(wire::Reader& r, PdOp& op, const std::string& where) {
  wire::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case pb::kOpType: op.type = utf8(f, where + ".type"); break;
      case pb::kOpInputs: expect_message(f, where + ".inputs"); op.inputs.push_back(decode_arg(f)); break;
      case pb::kOpOutputs: expect_message(f, where + ".outputs"); op.outputs.push_back(decode_arg(f)); break;
      case pb::kOpAttrs: expect_message(f, where + ".attrs"); op.attrs.push_back(decode_attr(f)); break;
      default: break;
    }
  }
}

void decode_tensor_desc(const wire::Field& field, PdVar& v) {
  wire::Reader r(field);
  wire::Field f;
  while (r.next(f)) {
    if (f.number == pb::kTensorDataType && f.type == wire::kVarint) v.dtype = to_i32(f.varint);
    else if (f.number == pb::kTensorDims) {
      wire::read_repeated(f, v.dims, to_i64, wire::kVarint);
      if (v.dims.size() > kMaxRank) fail(ErrorKind::kResourceLimit, "variable '" + v.name + "' has more than 64 dims");
    }
  }
}

PdVar decode_var(const wire::Field& field) {
  PdVar v;
  wire::Reader r(field);
  wire::Field f;
  while (r.next(f)) {
    if (f.number == pb::kVarName) v.name = utf8(f, "a variable name");
    else if (f.number == pb::kVarPersistable && f.type == wire::kVarint) v.persistable = f.varint != 0;
    else if (f.number == pb::kVarType) {
      expect_message(f, "VarDesc.type of '" + v.name + "'");
      wire::Reader tr(f);
      wire::Field t;
      while (tr.next(t)) {
        if (t.number == pb::kVarTypeType && t.type == wire::kVarint) v.type = to_i32(t.varint);
        else if (t.number == pb::kVarTypeDense && t.type == wire::kLengthDelimited) {
          wire::Reader dr(t);
          wire::Field d;
          while (dr.next(d))
            if (d.number == pb::kDenseTensor && d.type == wire::kLengthDelimited) decode_tensor_desc(d, v);
        }
      }
    }
  }
  return v;
}

PdBlock decode_block(const wire::Field& field, size_t index) {
  PdBlock b;
  b.idx = static_cast<int64_t>(index);
  wire::Reader r(field);
  wire::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case pb::kBlockIdx: b.idx = to_i64(f.varint); break;
      case pb::kBlockParent: b.parent = to_i64(f.varint); break;
      case pb::kBlockVars: expect_message(f, "block " + std::to_string(index) + " var"); b.vars.push_back(decode_var(f)); break;
      case pb::kBlockOps:
        expect_message(f, "block " + std::to_string(index) + " op " + std::to_string(b.ops.size()));
        b.ops.push_back(decode_op(f, "block " + std::to_string(index) + " op " + std::to_string(b.ops.size())));
        break;
      default: break;
    }
  }
  return b;
}

}  // namespace

PdProgram decode_program_desc(const uint8_t* data, size_t size, const std::string& label) {
  PdProgram p;
  try {
    wire::Reader r(data, size);
    wire::Field f;
    while (r.next(f)) {
      if (f.number == pb::kProgramBlocks) {
        expect_message(f, "ProgramDesc.blocks");
        if (p.blocks.size() >= kMaxBlocks) fail(ErrorKind::kResourceLimit, "more than 65536 blocks");
        p.blocks.push_back(decode_block(f, p.blocks.size()));
      } else if (f.number == pb::kProgramVersion && f.type == wire::kLengthDelimited) {
        wire::Reader vr(f);
        wire::Field v;
        while (vr.next(v))
          if (v.number == 1 && v.type == wire::kVarint) p.version = to_i64(v.varint);
      }
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidModel) throw Error(e.kind(), label + ": " + e.what());
    fail_invalid(label + ": not a valid Paddle ProgramDesc: " + e.what());
  }
  if (p.blocks.empty()) fail_invalid(label + ": not a valid Paddle ProgramDesc: it has no blocks");
  for (size_t i = 0; i < p.blocks.size(); ++i)
    if (p.blocks[i].idx != static_cast<int64_t>(i) || p.blocks[i].parent >= static_cast<int64_t>(p.blocks.size()) ||
        p.blocks[i].parent < -1)
      fail_invalid(label + ": block " + std::to_string(i) + " declares index " + std::to_string(p.blocks[i].idx) + " and parent " +
                   std::to_string(p.blocks[i].parent) + " (blocks must be numbered in order, parents must exist)");
  return p;
}

// ---- PIR JSON -----------------------------------------------------------------------------------

namespace {

// PIR serializes dialect names as their registration ids.
std::string dialect_op_name(const std::string& id) {
  if (id == "p") return "builtin.parameter";
  auto dot = id.find('.');
  if (dot == std::string::npos) return id;
  std::string dialect = id.substr(0, dot), rest = id.substr(dot + 1);
  if (dialect == "0") return "builtin." + rest;
  if (dialect == "1") return "pd_op." + rest;
  if (dialect == "2") return "cf." + rest;
  return id;
}

int32_t pir_dtype(const std::string& t) {
  static const std::pair<const char*, int32_t> kTypes[] = {
      {"0.t_bool", kBool}, {"0.t_i16", kInt16}, {"0.t_i32", kInt32}, {"0.t_i64", kInt64}, {"0.t_f16", kFp16},
      {"0.t_f32", kFp32}, {"0.t_f64", kFp64}, {"0.t_ui8", kUint8}, {"0.t_i8", kInt8}, {"0.t_bf16", kBf16}};
  for (const auto& [name, code] : kTypes)
    if (t == name) return code;
  return -1;
}

struct PirDecoder {
  const std::string& label;
  PdProgram& program;
  int depth = 0;

  [[noreturn]] void bad(const std::string& where, const std::string& rule) { fail_invalid(label + ": " + where + ": " + rule); }

  const json::Value& member(const json::Value& obj, const char* key, const std::string& where) {
    const json::Value* v = obj.is_object() ? obj.find(key) : nullptr;
    if (!v) bad(where, std::string("has no '") + key + "'");
    return *v;
  }
  // Op operands/results carry their id under "%"; block arguments (a while's loop variables)
  // under "#", numbered negative so they never meet an op result's id.
  std::string value_name(const json::Value& v, const std::string& where, const char* key = "%") {
    const json::Value& id = member(v, key, where);
    if (!id.is_number() || !id.is_int) bad(where, "a value id is not an integer");
    return "%" + std::to_string(id.integer);
  }
  PdVar var_of(const json::Value& v, const std::string& where, const char* key = "%") {
    PdVar var;
    var.name = value_name(v, where, key);
    const json::Value* tt = v.find("TT");
    if (tt && tt->is_object()) {
      const json::Value* kind = tt->find("#");
      const json::Value* d = tt->find("D");
      if (kind && kind->is_string() && kind->string == "0.t_dtensor" && d && d->is_array() && d->array.size() >= 2) {
        const json::Value& et = d->array[0];
        const json::Value* etn = et.is_object() ? et.find("#") : nullptr;
        if (etn && etn->is_string()) var.dtype = pir_dtype(etn->string);
        if (!d->array[1].is_array()) bad(where, "a tensor type's dims are not a list");
        if (d->array[1].array.size() > kMaxRank) fail(ErrorKind::kResourceLimit, label + ": " + where + ": more than 64 dims");
        for (const auto& dim : d->array[1].array) {
          if (!dim.is_number() || !dim.is_int) bad(where, "a dim is not an integer");
          var.dims.push_back(dim.integer);
        }
      } else {
        var.type = -1;  // vectors, selected rows, ...: not a dense tensor
      }
    }
    return var;
  }

  bool attr_of(const json::Value& at, PdAttr& a, const std::string& where) {
    const json::Value* k = at.is_object() ? at.find("#") : nullptr;
    const json::Value* d = at.is_object() ? at.find("D") : nullptr;
    if (!k || !k->is_string() || !d) bad(where, "an attribute has no kind or data");
    const std::string& kind = k->string;
    auto number = [&](const json::Value& v) -> double {
      if (!v.is_number()) bad(where, "attribute '" + a.name + "' is not a number");
      return v.is_int ? static_cast<double>(v.integer) : v.number;
    };
    auto integer = [&](const json::Value& v) -> int64_t {
      if (v.kind == json::Value::Kind::kBool) return v.boolean;
      if (!v.is_number() || !v.is_int) bad(where, "attribute '" + a.name + "' is not an integer");
      return v.integer;
    };
    if (kind == "0.a_bool") {
      if (d->kind != json::Value::Kind::kBool) bad(where, "attribute '" + a.name + "' is not a bool");
      a.kind = PdAttr::kBoolean, a.i = d->boolean;
    } else if (kind == "0.a_i32" || kind == "0.a_i64") {
      a.kind = PdAttr::kLong, a.i = integer(*d);
    } else if (kind == "0.a_f32" || kind == "0.a_f64") {
      a.kind = PdAttr::kFloat64, a.f = number(*d);
    } else if (kind == "0.a_str" || kind == "1.a_dtype" || kind == "1.a_layout") {
      if (!d->is_string()) bad(where, "attribute '" + a.name + "' is not a string");
      a.kind = PdAttr::kString, a.s = d->string;
    } else if (kind == "1.a_intarray") {
      if (!d->is_array()) bad(where, "attribute '" + a.name + "' is not a list");
      a.kind = PdAttr::kLongs;
      for (const auto& e : d->array) a.ints.push_back(integer(e));
    } else if (kind == "1.a_scalar") {
      // [dtype name, value]
      if (!d->is_array() || d->array.size() != 2) bad(where, "scalar attribute '" + a.name + "' is not [dtype, value]");
      a.kind = PdAttr::kFloat64, a.f = number(d->array[1]);
    } else if (kind == "0.a_array") {
      if (!d->is_array()) bad(where, "attribute '" + a.name + "' is not a list");
      a.kind = PdAttr::kLongs;
      bool first = true;
      for (const auto& e : d->array) {
        PdAttr item;
        item.name = a.name;
        if (!attr_of(e, item, where)) continue;
        if (first) {
          a.kind = item.kind == PdAttr::kBoolean ? PdAttr::kBooleans
                   : item.kind == PdAttr::kFloat64 ? PdAttr::kFloat64s
                   : item.kind == PdAttr::kString ? PdAttr::kStrings : PdAttr::kLongs;
          first = false;
        }
        if (item.kind == PdAttr::kString) a.strings.push_back(item.s);
        else if (item.kind == PdAttr::kFloat64) a.floats.push_back(item.f);
        else if (item.kind == PdAttr::kBoolean || item.kind == PdAttr::kLong) a.ints.push_back(item.i);
        else bad(where, "list attribute '" + a.name + "' holds nested lists");
        if ((a.kind == PdAttr::kStrings) != (item.kind == PdAttr::kString) ||
            (a.kind == PdAttr::kFloat64s) != (item.kind == PdAttr::kFloat64))
          bad(where, "list attribute '" + a.name + "' mixes element kinds");
      }
    } else {
      return false;  // places, data layouts, ...: not needed to translate
    }
    return true;
  }

  int64_t block(const json::Value& b, int64_t parent, const std::string& where) {
    if (++depth > json::kMaxDepth) fail(ErrorKind::kResourceLimit, label + ": regions nested too deeply");
    if (program.blocks.size() >= kMaxBlocks) fail(ErrorKind::kResourceLimit, label + ": more than 65536 blocks");
    int64_t index = static_cast<int64_t>(program.blocks.size());
    program.blocks.emplace_back();
    program.blocks.back().idx = index;
    program.blocks.back().parent = parent;
    PdBlock local;
    if (const json::Value* args = b.find("args")) {
      if (!args->is_array()) bad(where, "block args are not a list");
      for (const auto& a : args->array) {
        local.args.push_back(value_name(a, where + " args", "#"));
        local.vars.push_back(var_of(a, where + " args", "#"));
      }
    }
    const json::Value& ops = member(b, "ops", where);
    if (!ops.is_array()) bad(where, "'ops' is not a list");
    for (size_t i = 0; i < ops.array.size(); ++i) {
      const json::Value& o = ops.array[i];
      std::string at = where + " op " + std::to_string(i);
      const json::Value& id = member(o, "#", at);
      if (!id.is_string()) bad(at, "op name is not a string");
      PdOp op;
      op.type = dialect_op_name(id.string);
      at += " (" + op.type + ")";
      if (const json::Value* in = o.find("I")) {
        if (!in->is_array()) bad(at, "inputs are not a list");
        for (const auto& v : in->array) {
          PdArg arg;
          std::string name = value_name(v, at);
          if (name != "%0") arg.arguments.push_back(name);  // id 0: an absent optional input
          op.inputs.push_back(std::move(arg));
        }
      }
      if (const json::Value* out = o.find("O")) {
        auto add = [&](const json::Value& v) {
          PdVar var = var_of(v, at);
          op.outputs.push_back(PdArg{"", {var.name}});
          local.vars.push_back(std::move(var));
        };
        if (out->is_array()) for (const auto& v : out->array) add(v);
        else if (out->is_object()) add(*out);
        else bad(at, "outputs are neither a list nor a value");
      }
      if (const json::Value* attrs = o.find("A")) {
        if (!attrs->is_array()) bad(at, "attributes are not a list");
        if (op.type == "builtin.parameter") {
          // [.., .., .., "name"]: the variable's name in the parameter file.
          if (attrs->array.empty() || !attrs->array.back().is_string()) bad(at, "a parameter without a name");
          PdAttr a;
          a.name = "parameter_name", a.kind = PdAttr::kString, a.s = attrs->array.back().string;
          op.attrs.push_back(std::move(a));
          // "OA": [persistable, stop_gradient, trainable]. A non-persistable parameter (an RNN's
          // dropout state) is not in the parameter file.
          bool persistable = true;
          if (const json::Value* oa = o.find("OA"); oa && oa->is_array() && !oa->array.empty()) {
            const json::Value& p = oa->array[0];
            if (p.kind == json::Value::Kind::kBool) persistable = p.boolean;
            else if (p.is_number() && p.is_int) persistable = p.integer != 0;
          }
          PdAttr pa;
          pa.name = "persistable", pa.kind = PdAttr::kBoolean, pa.i = persistable;
          op.attrs.push_back(std::move(pa));
          for (auto& v : local.vars)
            if (!op.outputs.empty() && v.name == op.outputs[0].arguments[0]) v.persistable = persistable;
        } else {
          for (const auto& item : attrs->array) {
            PdAttr a;
            const json::Value& n = member(item, "N", at + " attribute");
            if (!n.is_string()) bad(at, "an attribute name is not a string");
            a.name = n.string;
            if (attr_of(member(item, "AT", at + " attribute '" + a.name + "'"), a, at)) op.attrs.push_back(std::move(a));
          }
        }
      }
      if (op.type == "builtin.parameter" && (op.attrs.empty() || op.attrs[0].name != "parameter_name"))
        bad(at, "a parameter without a name");
      if (const json::Value* regions = o.find("regions")) {
        if (!regions->is_array()) bad(at, "regions are not a list");
        for (size_t r = 0; r < regions->array.size(); ++r) {
          const json::Value& blocks = member(regions->array[r], "blocks", at + " region " + std::to_string(r));
          if (!blocks.is_array() || blocks.array.size() != 1) bad(at, "a region must hold exactly one block");
          op.region_blocks.push_back(block(blocks.array[0], index, at + " region " + std::to_string(r)));
        }
      }
      local.ops.push_back(std::move(op));
    }
    PdBlock& slot = program.blocks[static_cast<size_t>(index)];
    slot.vars = std::move(local.vars);
    slot.ops = std::move(local.ops);
    slot.args = std::move(local.args);
    --depth;
    return index;
  }
};

}  // namespace

PdProgram decode_pir_json(std::string_view text, const std::string& label) {
  json::Value root = json::parse(text, label);
  PdProgram p;
  p.pir = true;
  PirDecoder d{label, p};
  const json::Value& base = d.member(root, "base_code", "the file");
  const json::Value& magic = d.member(base, "magic", "base_code");
  if (!magic.is_string() || magic.string != "pir") d.bad("base_code", "magic is not \"pir\" (not a Paddle PIR program)");
  if (const json::Value* v = base.find("version"); v && v->is_number() && v->is_int) p.version = v->integer;
  const json::Value& program = d.member(root, "program", "the file");
  const json::Value& regions = d.member(program, "regions", "program");
  if (!regions.is_array() || regions.array.size() != 1) d.bad("program", "must hold exactly one region");
  const json::Value& blocks = d.member(regions.array[0], "blocks", "program region");
  if (!blocks.is_array() || blocks.array.size() != 1) d.bad("program region", "must hold exactly one block");
  d.block(blocks.array[0], -1, "block 0");
  return p;
}

}  // namespace irforge::paddle
