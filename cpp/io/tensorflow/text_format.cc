#include "io/tensorflow/text_format.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "support/error.h"

namespace irforge::tf {

namespace {

enum class Kind { kStr, kInt, kBool, kFloat, kDouble, kDtype, kMsg };

struct FieldSpec {
  const char* name;
  uint32_t number;
  Kind kind;
  int msg;  // message type index for kMsg
};

// Message types, by index (see proto.h for what the binary decoder reads of each).
enum Msg { kGraphDef, kNodeDef, kAttrEntry, kAttrValue, kListValue, kShape, kDim, kTensor, kNameAttrList, kLibrary,
           kFunctionDef, kOpDef, kStrEntry, kVersions, kArgDef, kUnknown = -1 };

const FieldSpec kGraphDefFields[] = {{"node", 1, Kind::kMsg, kNodeDef}, {"library", 2, Kind::kMsg, kLibrary},
                                     {"versions", 4, Kind::kMsg, kVersions}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kNodeDefFields[] = {{"name", 1, Kind::kStr, 0}, {"op", 2, Kind::kStr, 0}, {"input", 3, Kind::kStr, 0},
                                    {"device", 4, Kind::kStr, 0}, {"attr", 5, Kind::kMsg, kAttrEntry}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kAttrEntryFields[] = {{"key", 1, Kind::kStr, 0}, {"value", 2, Kind::kMsg, kAttrValue}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kAttrValueFields[] = {{"list", 1, Kind::kMsg, kListValue}, {"s", 2, Kind::kStr, 0}, {"i", 3, Kind::kInt, 0},
                                      {"f", 4, Kind::kFloat, 0}, {"b", 5, Kind::kBool, 0}, {"type", 6, Kind::kDtype, 0},
                                      {"shape", 7, Kind::kMsg, kShape}, {"tensor", 8, Kind::kMsg, kTensor},
                                      {"placeholder", 9, Kind::kStr, 0}, {"func", 10, Kind::kMsg, kNameAttrList},
                                      {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kListValueFields[] = {{"s", 2, Kind::kStr, 0}, {"i", 3, Kind::kInt, 0}, {"f", 4, Kind::kFloat, 0},
                                      {"b", 5, Kind::kBool, 0}, {"type", 6, Kind::kDtype, 0}, {"shape", 7, Kind::kMsg, kShape},
                                      {"tensor", 8, Kind::kMsg, kTensor}, {"func", 9, Kind::kMsg, kNameAttrList},
                                      {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kShapeFields[] = {{"dim", 2, Kind::kMsg, kDim}, {"unknown_rank", 3, Kind::kBool, 0}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kDimFields[] = {{"size", 1, Kind::kInt, 0}, {"name", 2, Kind::kStr, 0}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kTensorFields[] = {{"dtype", 1, Kind::kDtype, 0}, {"tensor_shape", 2, Kind::kMsg, kShape},
                                   {"version_number", 3, Kind::kInt, 0}, {"tensor_content", 4, Kind::kStr, 0},
                                   {"float_val", 5, Kind::kFloat, 0}, {"double_val", 6, Kind::kDouble, 0},
                                   {"int_val", 7, Kind::kInt, 0}, {"string_val", 8, Kind::kStr, 0},
                                   {"int64_val", 10, Kind::kInt, 0}, {"bool_val", 11, Kind::kBool, 0},
                                   {"half_val", 13, Kind::kInt, 0}, {"uint32_val", 16, Kind::kInt, 0},
                                   {"uint64_val", 17, Kind::kInt, 0}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kNameAttrListFields[] = {{"name", 1, Kind::kStr, 0}, {"attr", 2, Kind::kMsg, kAttrEntry}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kLibraryFields[] = {{"function", 1, Kind::kMsg, kFunctionDef}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kFunctionDefFields[] = {{"signature", 1, Kind::kMsg, kOpDef}, {"node_def", 3, Kind::kMsg, kNodeDef},
                                        {"ret", 4, Kind::kMsg, kStrEntry}, {"attr", 5, Kind::kMsg, kAttrEntry},
                                        {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kOpDefFields[] = {{"name", 1, Kind::kStr, 0}, {"input_arg", 2, Kind::kMsg, kArgDef},
                                  {"output_arg", 3, Kind::kMsg, kArgDef}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kStrEntryFields[] = {{"key", 1, Kind::kStr, 0}, {"value", 2, Kind::kStr, 0}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kVersionsFields[] = {{"producer", 1, Kind::kInt, 0}, {"min_consumer", 2, Kind::kInt, 0}, {nullptr, 0, Kind::kStr, 0}};
const FieldSpec kArgDefFields[] = {{"name", 1, Kind::kStr, 0}, {"description", 2, Kind::kStr, 0}, {"type", 3, Kind::kDtype, 0},
                                   {"type_attr", 4, Kind::kStr, 0}, {"number_attr", 5, Kind::kStr, 0},
                                   {"type_list_attr", 6, Kind::kStr, 0}, {nullptr, 0, Kind::kStr, 0}};

const FieldSpec* const kMessages[] = {kGraphDefFields, kNodeDefFields, kAttrEntryFields, kAttrValueFields, kListValueFields,
                                      kShapeFields, kDimFields, kTensorFields, kNameAttrListFields, kLibraryFields,
                                      kFunctionDefFields, kOpDefFields, kStrEntryFields, kVersionsFields, kArgDefFields};

const char* const kDtypeNames[] = {"DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8",
                                   "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32",
                                   "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF",
                                   "DT_RESOURCE", "DT_VARIANT", "DT_UINT32", "DT_UINT64"};

constexpr int kMaxDepth = 64;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

class TextParser {
 public:
  TextParser(const char* data, size_t size, const std::string& what) : p_(data), end_(data + size), what_(what) {}

  // Fields until `close` ('}' / '>'), or the end of the input when close == 0.
  std::string message(int type, char close, int depth) {
    if (depth > kMaxDepth) fail(ErrorKind::kResourceLimit, where() + "messages nested more than 64 deep");
    std::string out;
    while (true) {
      skip_ws();
      if (p_ >= end_) {
        if (close) bad("unexpected end of file: a '" + std::string(1, close) + "' is missing");
        return out;
      }
      if (close && *p_ == close) {
        ++p_;
        return out;
      }
      std::string name = ident();
      const FieldSpec* spec = find(type, name);
      skip_ws();
      bool colon = p_ < end_ && *p_ == ':';
      if (colon) ++p_, skip_ws();
      if (p_ < end_ && *p_ == '[') {
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == ']') {
          ++p_;
        } else {
          while (true) {
            value(spec, out, depth);
            skip_ws();
            if (p_ < end_ && *p_ == ',') {
              ++p_;
              continue;
            }
            if (p_ < end_ && *p_ == ']') {
              ++p_;
              break;
            }
            bad("expected ',' or ']' in the list of field '" + name + "'");
          }
        }
      } else {
        if (!colon && !(p_ < end_ && (*p_ == '{' || *p_ == '<'))) bad("expected ':' or '{' after field '" + name + "'");
        value(spec, out, depth);
      }
      skip_ws();
      if (p_ < end_ && (*p_ == ',' || *p_ == ';')) ++p_;
    }
  }

 private:
  [[noreturn]] void bad(const std::string& why) { fail_invalid(where() + why); }
  std::string where() const { return what_ + ":" + std::to_string(line_) + ": text GraphDef: "; }

  const FieldSpec* find(int type, const std::string& name) {
    if (type == kUnknown) return nullptr;
    for (const FieldSpec* f = kMessages[type]; f->name; ++f)
      if (name == f->name) return f;
    return nullptr;  // a field we do not read: parsed and dropped
  }

  void skip_ws() {
    while (p_ < end_) {
      if (*p_ == '\n') ++line_, ++p_;
      else if (*p_ == ' ' || *p_ == '\t' || *p_ == '\r') ++p_;
      else if (*p_ == '#') {
        while (p_ < end_ && *p_ != '\n') ++p_;
      } else break;
    }
  }

  std::string ident() {
    const char* start = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '_' || *p_ == '.' || *p_ == '[' ||
                         *p_ == ']' || *p_ == '/'))
      ++p_;
    if (p_ == start) bad(std::string("expected a field name, found '") + (p_ < end_ ? std::string(1, *p_) : "end of file") + "'");
    return std::string(start, p_);
  }

  std::string token() {
    const char* start = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '_' || *p_ == '.' || *p_ == '-' || *p_ == '+'))
      ++p_;
    if (p_ == start) bad("expected a value");
    return std::string(start, p_);
  }

  // One or more adjacent quoted strings, concatenated, with C escapes decoded.
  std::string quoted() {
    std::string out;
    bool any = false;
    while (p_ < end_ && (*p_ == '"' || *p_ == '\'')) {
      any = true;
      char q = *p_++;
      while (true) {
        if (p_ >= end_ || *p_ == '\n') bad("unterminated string");
        char c = *p_++;
        if (c == q) break;
        if (c != '\\') {
          out.push_back(c);
          continue;
        }
        if (p_ >= end_) bad("unterminated string");
        char e = *p_++;
        switch (e) {
          case 'n': out.push_back('\n'); break;
          case 'r': out.push_back('\r'); break;
          case 't': out.push_back('\t'); break;
          case 'a': out.push_back('\a'); break;
          case 'b': out.push_back('\b'); break;
          case 'f': out.push_back('\f'); break;
          case 'v': out.push_back('\v'); break;
          case 'x': case 'X': {
            int v = 0, n = 0;
            while (n < 2 && p_ < end_ && std::isxdigit(static_cast<unsigned char>(*p_))) {
              char h = *p_++;
              v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
              ++n;
            }
            if (!n) bad("\\x without hex digits");
            out.push_back(static_cast<char>(v));
            break;
          }
          default:
            if (e >= '0' && e <= '7') {
              int v = e - '0', n = 1;
              while (n < 3 && p_ < end_ && *p_ >= '0' && *p_ <= '7') v = v * 8 + (*p_++ - '0'), ++n;
              out.push_back(static_cast<char>(v & 0xff));
            } else {
              out.push_back(e);  // \\ \' \" \?
            }
        }
      }
      skip_ws();
    }
    if (!any) bad("expected a quoted string");
    return out;
  }

  void value(const FieldSpec* spec, std::string& out, int depth) {
    skip_ws();
    if (p_ >= end_) bad("unexpected end of file");
    if (*p_ == '{' || *p_ == '<') {
      char close = *p_ == '{' ? '}' : '>';
      ++p_;
      if (spec && spec->kind != Kind::kMsg) bad(std::string("field '") + spec->name + "' is not a message");
      std::string body = message(spec ? spec->msg : kUnknown, close, depth + 1);
      if (!spec) return;
      put_varint(out, (uint64_t{spec->number} << 3) | 2);
      put_varint(out, body.size());
      out += body;
      return;
    }
    if (*p_ == '"' || *p_ == '\'') {
      std::string s = quoted();
      if (!spec) return;
      if (spec->kind != Kind::kStr) bad(std::string("field '") + spec->name + "' does not take a string");
      put_varint(out, (uint64_t{spec->number} << 3) | 2);
      put_varint(out, s.size());
      out += s;
      return;
    }
    std::string t = token();
    if (!spec) return;
    switch (spec->kind) {
      case Kind::kInt: {
        errno = 0;
        char* stop = nullptr;
        long long v = std::strtoll(t.c_str(), &stop, 0);
        if (errno || *stop) {
          errno = 0;
          unsigned long long u = std::strtoull(t.c_str(), &stop, 0);
          if (errno || *stop || t[0] == '-') bad("'" + t + "' is not an integer (field '" + spec->name + "')");
          v = static_cast<long long>(u);
        }
        put_varint(out, uint64_t{spec->number} << 3);
        put_varint(out, static_cast<uint64_t>(v));
        return;
      }
      case Kind::kBool: {
        bool v;
        if (t == "true" || t == "True" || t == "t" || t == "1") v = true;
        else if (t == "false" || t == "False" || t == "f" || t == "0") v = false;
        else bad("'" + t + "' is not a boolean (field '" + spec->name + "')");
        put_varint(out, uint64_t{spec->number} << 3);
        put_varint(out, v);
        return;
      }
      case Kind::kFloat: case Kind::kDouble: {
        double v = parse_float(t, spec->name);
        if (spec->kind == Kind::kFloat) {
          float f = static_cast<float>(v);
          put_varint(out, (uint64_t{spec->number} << 3) | 5);
          out.append(reinterpret_cast<const char*>(&f), 4);
        } else {
          put_varint(out, (uint64_t{spec->number} << 3) | 1);
          out.append(reinterpret_cast<const char*>(&v), 8);
        }
        return;
      }
      case Kind::kDtype: {
        int64_t v = -1;
        for (size_t k = 0; k < sizeof(kDtypeNames) / sizeof(kDtypeNames[0]); ++k) {
          if (t == kDtypeNames[k]) v = static_cast<int64_t>(k);
          else if (t == std::string(kDtypeNames[k]) + "_REF") v = static_cast<int64_t>(k) + 100;
        }
        if (v < 0) {
          char* stop = nullptr;
          long long n = std::strtoll(t.c_str(), &stop, 10);
          if (*stop || n < 0 || n > 1000) bad("unknown data type '" + t + "'");
          v = n;
        }
        put_varint(out, uint64_t{spec->number} << 3);
        put_varint(out, static_cast<uint64_t>(v));
        return;
      }
      default: bad(std::string("field '") + spec->name + "' needs a " + (spec->kind == Kind::kMsg ? "{ message }" : "quoted string"));
    }
  }

  double parse_float(std::string t, const char* field) {
    std::string lower;
    for (char c : t) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    bool neg = !lower.empty() && lower[0] == '-';
    std::string body = neg ? lower.substr(1) : lower;
    if (body == "inf" || body == "infinity") return neg ? -HUGE_VAL : HUGE_VAL;
    if (body == "nan") return std::nan("");
    if (!t.empty() && (t.back() == 'f' || t.back() == 'F')) t.pop_back();
    char* stop = nullptr;
    double v = std::strtod(t.c_str(), &stop);
    if (t.empty() || *stop) bad("'" + t + "' is not a number (field '" + field + "')");
    return v;
  }

  const char* p_;
  const char* end_;
  const std::string& what_;
  int line_ = 1;
};

}  // namespace

std::string text_graph_def_to_binary(const char* data, size_t size, const std::string& what) {
  TextParser parser(data, size, what);
  return parser.message(kGraphDef, 0, 0);
}

}  // namespace irforge::tf
