#include "io/caffe/prototxt.h"

#include <cctype>

#include "support/error.h"

namespace irforge::caffe {

const TextField* TextMessage::find(std::string_view name) const {
  for (const TextField& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const TextMessage* TextMessage::child(std::string_view name) const {
  const TextField* f = find(name);
  return f ? f->message.get() : nullptr;
}

std::vector<const TextField*> TextMessage::all(std::string_view name) const {
  std::vector<const TextField*> out;
  for (const TextField& f : fields)
    if (f.name == name) out.push_back(&f);
  return out;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  std::shared_ptr<TextMessage> document() {
    auto root = std::make_shared<TextMessage>();
    root->line = 1;
    fields(*root, '\0', 0);
    return root;
  }

 private:
  [[noreturn]] void bad(const std::string& what, int line = 0) {
    fail_invalid(source_ + ":" + std::to_string(line ? line : line_) + ": prototxt syntax error: " + what);
  }

  void skip_space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        return;
      }
    }
  }

  bool at_end() {
    skip_space();
    return pos_ >= s_.size();
  }
  char peek() { return at_end() ? '\0' : s_[pos_]; }

  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '+'; }

  std::string identifier() {
    skip_space();
    size_t start = pos_;
    while (pos_ < s_.size() && ident_char(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  // Fields until `close` ('}' or '>') or the end of the text (close == '\0').
  void fields(TextMessage& msg, char close, int depth) {
    if (depth > kMaxDepth) fail(ErrorKind::kResourceLimit, source_ + ":" + std::to_string(line_) + ": messages nest deeper than 64 levels");
    while (true) {
      if (at_end()) {
        if (close) bad(std::string("missing '") + close + "' for the message opened on line " + std::to_string(msg.line));
        return;
      }
      char c = s_[pos_];
      if (close && c == close) {
        ++pos_;
        return;
      }
      if (c == ';' || c == ',') {  // optional separators between fields
        ++pos_;
        continue;
      }
      int line = line_;
      std::string name = identifier();
      if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
        bad(std::string("expected a field name, found '") + (name.empty() ? std::string(1, c) : name) + "'");
      if (peek() == '[') bad("extension fields ([...]) are not supported");
      bool colon = false;
      if (peek() == ':') {
        ++pos_;
        colon = true;
      }
      char open = peek();
      if (open == '{' || open == '<') {
        ++pos_;
        TextField f;
        f.name = std::move(name);
        f.line = line;
        f.message = std::make_shared<TextMessage>();
        f.message->line = line;
        fields(*f.message, open == '{' ? '}' : '>', depth + 1);
        msg.fields.push_back(std::move(f));
        continue;
      }
      if (!colon) bad("expected ':' or '{' after field '" + name + "'");
      if (open == '[') {  // a list of scalars: dim: [1, 3, 224, 224]
        ++pos_;
        if (peek() == ']') {
          ++pos_;
          continue;
        }
        while (true) {
          msg.fields.push_back(scalar(name, line));
          if (at_end()) bad("unterminated list in field '" + name + "'");
          char sep = peek();
          ++pos_;
          if (sep == ']') break;
          if (sep != ',') bad("expected ',' or ']' in the list of field '" + name + "'");
        }
        continue;
      }
      msg.fields.push_back(scalar(name, line));
    }
  }

  TextField scalar(const std::string& name, int line) {
    TextField f;
    f.name = name;
    f.line = line;
    char c = peek();
    if (c == '"' || c == '\'') {
      f.quoted = true;
      // Adjacent string literals concatenate, as in C.
      while (peek() == '"' || peek() == '\'') f.scalar += string_literal();
      return f;
    }
    f.scalar = identifier();
    if (f.scalar.empty()) bad("expected a value for field '" + name + "'" + (c ? std::string(", found '") + c + "'" : std::string(", found the end of the file")));
    return f;
  }

  std::string string_literal() {
    char quote = s_[pos_++];
    int start_line = line_;
    std::string out;
    while (true) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') bad("unterminated string", start_line);
      char c = s_[pos_++];
      if (c == quote) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) bad("unterminated string", start_line);
      char e = s_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        default:
          if (e >= '0' && e <= '7') {  // octal escape, up to 3 digits
            int v = e - '0';
            for (int k = 0; k < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++k) v = v * 8 + (s_[pos_++] - '0');
            out += static_cast<char>(v & 0xff);
          } else {
            bad(std::string("unknown escape '\\") + e + "' in a string");
          }
      }
    }
  }

  std::string_view s_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

std::shared_ptr<TextMessage> parse_prototxt(std::string_view text, const std::string& source) {
  return Parser(text, source).document();
}

}  // namespace irforge::caffe
