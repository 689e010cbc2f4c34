#include "io/openvino/ov_graph.h"

namespace irforge::ov {

const char* elem_name(ElemType t) {
  switch (t) {
    case ElemType::kUndefined: return "undefined";
    case ElemType::kDynamic: return "dynamic";
    case ElemType::kBoolean: return "boolean";
    case ElemType::kBf16: return "bf16";
    case ElemType::kF16: return "f16";
    case ElemType::kF32: return "f32";
    case ElemType::kF64: return "f64";
    case ElemType::kI4: return "i4";
    case ElemType::kI8: return "i8";
    case ElemType::kI16: return "i16";
    case ElemType::kI32: return "i32";
    case ElemType::kI64: return "i64";
    case ElemType::kU1: return "u1";
    case ElemType::kU4: return "u4";
    case ElemType::kU8: return "u8";
    case ElemType::kU16: return "u16";
    case ElemType::kU32: return "u32";
    case ElemType::kU64: return "u64";
    case ElemType::kF8E4M3: return "f8e4m3";
    case ElemType::kF8E5M2: return "f8e5m2";
    case ElemType::kF4E2M1: return "f4e2m1";
    case ElemType::kF8E8M0: return "f8e8m0";
    case ElemType::kString: return "string";
  }
  return "undefined";
}

const char* elem_precision(ElemType t) {
  switch (t) {
    case ElemType::kUndefined: return "UNSPECIFIED";
    case ElemType::kDynamic: return "DYNAMIC";
    case ElemType::kBoolean: return "BOOL";
    case ElemType::kBf16: return "BF16";
    case ElemType::kF16: return "FP16";
    case ElemType::kF32: return "FP32";
    case ElemType::kF64: return "FP64";
    case ElemType::kI4: return "I4";
    case ElemType::kI8: return "I8";
    case ElemType::kI16: return "I16";
    case ElemType::kI32: return "I32";
    case ElemType::kI64: return "I64";
    case ElemType::kU1: return "BIN";
    case ElemType::kU4: return "U4";
    case ElemType::kU8: return "U8";
    case ElemType::kU16: return "U16";
    case ElemType::kU32: return "U32";
    case ElemType::kU64: return "U64";
    case ElemType::kF8E4M3: return "F8E4M3";
    case ElemType::kF8E5M2: return "F8E5M2";
    case ElemType::kF4E2M1: return "F4E2M1";
    case ElemType::kF8E8M0: return "F8E8M0";
    case ElemType::kString: return "STRING";
  }
  return "UNSPECIFIED";
}

size_t elem_bits(ElemType t) {
  switch (t) {
    case ElemType::kU1: return 1;
    case ElemType::kI4:
    case ElemType::kU4:
    case ElemType::kF4E2M1: return 4;
    case ElemType::kBoolean:
    case ElemType::kI8:
    case ElemType::kU8:
    case ElemType::kF8E4M3:
    case ElemType::kF8E5M2:
    case ElemType::kF8E8M0: return 8;
    case ElemType::kBf16:
    case ElemType::kF16:
    case ElemType::kI16:
    case ElemType::kU16: return 16;
    case ElemType::kF32:
    case ElemType::kI32:
    case ElemType::kU32: return 32;
    case ElemType::kF64:
    case ElemType::kI64:
    case ElemType::kU64: return 64;
    default: return 0;
  }
}

std::optional<ElemType> from_onnx(DataType t) {
  switch (t) {
    case DataType::kFloat: return ElemType::kF32;
    case DataType::kUint8: return ElemType::kU8;
    case DataType::kInt8: return ElemType::kI8;
    case DataType::kUint16: return ElemType::kU16;
    case DataType::kInt16: return ElemType::kI16;
    case DataType::kInt32: return ElemType::kI32;
    case DataType::kInt64: return ElemType::kI64;
    case DataType::kString: return ElemType::kString;
    case DataType::kBool: return ElemType::kBoolean;
    case DataType::kFloat16: return ElemType::kF16;
    case DataType::kDouble: return ElemType::kF64;
    case DataType::kUint32: return ElemType::kU32;
    case DataType::kUint64: return ElemType::kU64;
    case DataType::kBfloat16: return ElemType::kBf16;
    case DataType::kFloat8E4M3FN: return ElemType::kF8E4M3;
    case DataType::kFloat8E5M2: return ElemType::kF8E5M2;
    case DataType::kUint4: return ElemType::kU4;
    case DataType::kInt4: return ElemType::kI4;
    case DataType::kFloat4E2M1: return ElemType::kF4E2M1;
    case DataType::kFloat8E8M0: return ElemType::kF8E8M0;
    default: return std::nullopt;
  }
}

bool is_float(ElemType t) {
  switch (t) {
    case ElemType::kBf16:
    case ElemType::kF16:
    case ElemType::kF32:
    case ElemType::kF64:
    case ElemType::kF8E4M3:
    case ElemType::kF8E5M2:
    case ElemType::kF4E2M1:
    case ElemType::kF8E8M0: return true;
    default: return false;
  }
}

bool is_integer(ElemType t) {
  switch (t) {
    case ElemType::kI4:
    case ElemType::kI8:
    case ElemType::kI16:
    case ElemType::kI32:
    case ElemType::kI64:
    case ElemType::kU1:
    case ElemType::kU4:
    case ElemType::kU8:
    case ElemType::kU16:
    case ElemType::kU32:
    case ElemType::kU64: return true;
    default: return false;
  }
}

namespace {

// Prunes `g`; new_id maps each old layer id to its new one (-1 = removed).
size_t prune(OvGraph& g, std::vector<int>& new_id) {
  size_t removed = 0;
  for (Layer& l : g.layers) {
    for (size_t b = 0; b < l.bodies.size(); ++b) {
      std::vector<int> body_id;
      removed += prune(*l.bodies[b], body_id);
      // Port maps and back edges name body Parameters and Results, which always stay.
      if (b < l.port_maps.size())
        for (PortMapEntry& e : l.port_maps[b]) e.internal_layer_id = body_id[e.internal_layer_id];
      if (b < l.back_edges.size())
        for (BackEdge& e : l.back_edges[b]) {
          e.from_layer = body_id[e.from_layer];
          e.to_layer = body_id[e.to_layer];
        }
    }
  }
  std::vector<bool> live(g.layers.size(), false);
  std::vector<int> stack;
  for (const Layer& l : g.layers)
    if (l.outputs.empty() || l.type == "Parameter") stack.push_back(l.id);
  while (!stack.empty()) {
    int id = stack.back();
    stack.pop_back();
    if (live[id]) continue;
    live[id] = true;
    for (const PortRef& p : g.layers[id].inputs)
      if (!live[p.layer]) stack.push_back(p.layer);
  }
  new_id.assign(g.layers.size(), -1);
  std::vector<Layer> kept;
  kept.reserve(g.layers.size());
  for (Layer& l : g.layers) {
    if (!live[l.id]) {
      ++removed;
      continue;
    }
    new_id[l.id] = static_cast<int>(kept.size());
    kept.push_back(std::move(l));
  }
  for (Layer& l : kept) {
    l.id = new_id[l.id];
    for (PortRef& p : l.inputs) p.layer = new_id[p.layer];
  }
  g.layers = std::move(kept);
  return removed;
}

}  // namespace

size_t prune_dead_layers(OvGraph& g) {
  std::vector<int> ids;
  return prune(g, ids);
}

}  // namespace irforge::ov
