#include "io/mxnet/json.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "support/error.h"

namespace irforge::json {

const Value* Value::get(std::string_view key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 128;

class Parser {
 public:
  Parser(std::string_view s, const std::string& source) : s_(s), source_(source) {}

  Value document() {
    Value v = value(0);
    space();
    if (pos_ < s_.size()) bad("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail_invalid(source_ + ":" + std::to_string(line_) + ": JSON syntax error: " + what);
  }
  void space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') ++line_;
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }
  char peek() {
    space();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  void expect(char c) {
    if (peek() != c || pos_ >= s_.size()) bad(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail(ErrorKind::kResourceLimit, source_ + ":" + std::to_string(line_) + ": JSON nests deeper than 128 levels");
    Value v;
    char c = peek();
    if (pos_ >= s_.size()) bad("unexpected end of the text");
    if (c == '{') {
      ++pos_;
      v.kind = Value::Kind::kObject;
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      while (true) {
        if (peek() != '"') bad("expected a member name in quotes");
        std::string key = string();
        expect(':');
        v.members.emplace_back(std::move(key), value(depth + 1));
        char sep = peek();
        if (pos_ >= s_.size()) bad("unterminated object");
        ++pos_;
        if (sep == '}') return v;
        if (sep != ',') bad("expected ',' or '}' in an object");
      }
    }
    if (c == '[') {
      ++pos_;
      v.kind = Value::Kind::kArray;
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      while (true) {
        v.items.push_back(value(depth + 1));
        char sep = peek();
        if (pos_ >= s_.size()) bad("unterminated array");
        ++pos_;
        if (sep == ']') return v;
        if (sep != ',') bad("expected ',' or ']' in an array");
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::kString;
      v.text = string();
      return v;
    }
    if (literal("true")) {
      v.kind = Value::Kind::kBool;
      v.b = true;
      return v;
    }
    if (literal("false")) {
      v.kind = Value::Kind::kBool;
      return v;
    }
    if (literal("null")) return v;
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' || s_[pos_] == '+' ||
                                s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
      ++pos_;
    if (pos_ == start) bad(std::string("unexpected character '") + c + "'");
    v.kind = Value::Kind::kNumber;
    v.text = std::string(s_.substr(start, pos_ - start));
    char* end = nullptr;
    v.number = std::strtod(v.text.c_str(), &end);
    if (*end) bad("'" + v.text + "' is not a number");
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) bad("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c == '\n') bad("newline inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) bad("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) bad("truncated \\u escape");
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= h - '0';
            else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
            else bad("bad hex digit in a \\u escape");
          }
          // UTF-8 of the code unit (surrogate pairs are kept as two units: names are ASCII).
          if (cp < 0x80) out += static_cast<char>(cp);
          else if (cp < 0x800) out += static_cast<char>(0xc0 | (cp >> 6)), out += static_cast<char>(0x80 | (cp & 0x3f));
          else out += static_cast<char>(0xe0 | (cp >> 12)), out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f)), out += static_cast<char>(0x80 | (cp & 0x3f));
          break;
        }
        default: bad(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  std::string_view s_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Value parse(std::string_view text, const std::string& source) { return Parser(text, source).document(); }

}  // namespace irforge::json
