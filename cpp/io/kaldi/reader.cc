#include "io/kaldi/reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>

#include "ir/builder.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxElements = int64_t{1} << 40;

// A float matrix or vector: a view of the file (binary "FM"/"FV") or parsed values (text, or
// binary doubles converted).
struct Floats {
  std::vector<int64_t> dims;
  const uint8_t* view = nullptr;
  std::vector<float> owned;
};

// A number or bool of a component field: text as written, or a binary value's size and bits.
struct Scalar {
  std::string text;
  uint8_t size = 0;
  uint64_t bits = 0;
};

// Kaldi's token stream in either encoding (base/io-funcs.h): text is whitespace-separated;
// binary tokens end with a space, and each number is preceded by its byte size.
class Stream {
 public:
  Stream(const uint8_t* p, size_t n, const std::string& label) : p_(p), n_(n), label_(label) {
    if (n >= 2 && p[0] == 0 && p[1] == 'B') binary_ = true, pos_ = 2;
  }
  bool binary() const { return binary_; }
  [[noreturn]] void bad(const std::string& what) const {
    fail_invalid(label_ + ": " + (binary_ ? "byte " + std::to_string(pos_) : "line " + std::to_string(line_)) + ": " + what);
  }
  void space() {
    while (pos_ < n_ && (p_[pos_] == ' ' || p_[pos_] == '\t' || p_[pos_] == '\n' || p_[pos_] == '\r')) line_ += p_[pos_++] == '\n';
  }
  bool exhausted() const { return pos_ >= n_; }
  bool at_end() {
    space();
    return pos_ >= n_;
  }
  // The next token without consuming it.
  std::string peek() {
    size_t save = pos_;
    int line = line_;
    std::string t = token();
    pos_ = save;
    line_ = line;
    return t;
  }
  std::string token() {
    space();
    if (pos_ >= n_) bad("unexpected end of the file");
    size_t start = pos_;
    while (pos_ < n_ && p_[pos_] != ' ' && p_[pos_] != '\t' && p_[pos_] != '\n' && p_[pos_] != '\r') ++pos_;
    if (pos_ - start > 256) bad("a token longer than 256 bytes");
    std::string t(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    if (binary_ && pos_ < n_ && p_[pos_] == ' ') ++pos_;  // a binary token ends with one space
    return t;
  }
  void expect(const std::string& t) {
    std::string got = token();
    if (got != t) bad("expected " + t + ", found '" + got + "'");
  }
  int64_t integer() {
    if (binary_) {
      uint8_t size = byte();
      if (size == 4) return static_cast<int32_t>(raw32());
      if (size == 8) { uint64_t v = raw32(); v |= static_cast<uint64_t>(raw32()) << 32; return static_cast<int64_t>(v); }
      bad("an integer of " + std::to_string(size) + " bytes");
    }
    std::string t = token();
    char* end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str() || *end) bad("'" + t + "' is not an integer");
    return v;
  }
  float real() {
    if (binary_) {
      uint8_t size = byte();
      if (size == 4) { uint32_t u = raw32(); float f; std::memcpy(&f, &u, 4); return f; }
      if (size == 8) { uint64_t u = raw32(); u |= static_cast<uint64_t>(raw32()) << 32; double d; std::memcpy(&d, &u, 8); return static_cast<float>(d); }
      bad("a real of " + std::to_string(size) + " bytes");
    }
    return number(token());
  }
  float number(const std::string& t) {
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (end == t.c_str() || *end) bad("'" + t + "' is not a number");
    return static_cast<float>(v);
  }
  // A matrix ([rows, cols]) or vector ([n]) in Kaldi's Matrix/Vector Write format.
  Floats floats(bool matrix) {
    Floats f;
    if (binary_) {
      std::string t = token();
      bool dbl = t == (matrix ? "DM" : "DV");
      if (!dbl && t != (matrix ? "FM" : "FV")) bad(std::string("expected a binary ") + (matrix ? "matrix (FM)" : "vector (FV)") + ", found '" + t + "'");
      int64_t rows = integer(), cols = matrix ? integer() : 1;
      f.dims = matrix ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{rows};
      int64_t count = checked(rows, cols);
      size_t width = dbl ? 8 : 4;
      if (static_cast<uint64_t>(count) > (n_ - pos_) / width) bad("the data of a " + std::to_string(rows) + "x" + std::to_string(cols) + " matrix exceeds the file");
      if (!dbl) {
        f.view = p_ + pos_;
      } else {
        f.owned.resize(static_cast<size_t>(count));
        for (size_t i = 0; i < f.owned.size(); ++i) { double d; std::memcpy(&d, p_ + pos_ + 8 * i, 8); f.owned[i] = static_cast<float>(d); }
      }
      pos_ += static_cast<size_t>(count) * width;
      return f;
    }
    return text_floats(false, matrix);
  }
  // A text matrix has one row per line after the "[" line; a vector's values follow "[" on its
  // line. `any`: decide which from the layout (a field whose kind the caller does not know).
  Floats text_floats(bool any, bool matrix = true) {
    Floats f;
    expect("[");
    int64_t rows = 0, cols = -1, in_row = 0;
    int row_line = line_;
    if (any) {
      space();
      matrix = line_ != row_line;
    }
    while (true) {
      if (at_end()) bad("unterminated matrix or vector");
      std::string t = token();
      if (t == "]") break;
      if (matrix && line_ != row_line) {  // text matrices hold one row per line
        if (in_row) {
          if (cols >= 0 && in_row != cols) bad("matrix rows of different lengths");
          cols = in_row, ++rows;
        }
        in_row = 0;
        row_line = line_;
      }
      f.owned.push_back(number(t));
      ++in_row;
      if (f.owned.size() > static_cast<size_t>(kMaxElements >> 10)) fail(ErrorKind::kResourceLimit, label_ + ": a text matrix of more than 2^30 values");
    }
    if (!matrix) {
      f.dims = {static_cast<int64_t>(f.owned.size())};
      return f;
    }
    if (in_row) {
      if (cols >= 0 && in_row != cols) bad("matrix rows of different lengths");
      cols = in_row, ++rows;
    }
    if (cols < 0) cols = 0;
    f.dims = {rows, cols};
    return f;
  }
  std::vector<int64_t> ints() {
    std::vector<int64_t> v;
    if (binary_) {
      uint8_t size = byte();
      if (size != 4) bad("an integer vector of " + std::to_string(size) + "-byte elements");
      int32_t n = static_cast<int32_t>(raw32());
      if (n < 0 || static_cast<size_t>(n) > (n_ - pos_) / 4) bad("an integer vector longer than the file");
      for (int32_t i = 0; i < n; ++i) v.push_back(static_cast<int32_t>(raw32()));
      return v;
    }
    expect("[");
    while (true) {
      std::string t = token();
      if (t == "]") return v;
      char* end = nullptr;
      long long x = std::strtoll(t.c_str(), &end, 10);
      if (end == t.c_str() || *end) bad("'" + t + "' is not an integer");
      v.push_back(x);
      if (v.size() > 4096) fail(ErrorKind::kResourceLimit, label_ + ": a Splice with more than 4096 offsets");
    }
  }
  const uint8_t* base() const { return p_; }

  // nnet3's config section is plain text lines even in a binary file (Nnet::Read uses getline).
  std::string line() {
    size_t start = pos_;
    while (pos_ < n_ && p_[pos_] != '\n') ++pos_;
    if (pos_ - start > (1 << 20)) bad("a config line longer than 1 MiB");
    std::string l(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    if (pos_ < n_) ++pos_, ++line_;
    return l;
  }
  // Moves to the first occurrence of `marker` at or after the current position.
  bool seek(const std::string& marker) {
    for (size_t i = pos_; i + marker.size() <= n_; ++i)
      if (std::memcmp(p_ + i, marker.data(), marker.size()) == 0) {
        for (size_t j = pos_; j < i; ++j) line_ += p_[j] == '\n';
        pos_ = i;
        return true;
      }
    return false;
  }
  // Whether a value (number, bool, matrix, vector) comes next rather than a <Token>.
  bool value_follows() {
    if (binary_) return pos_ < n_ && p_[pos_] != '<';
    if (at_end()) return false;
    char c = static_cast<char>(p_[pos_]);
    bool flag = (c == 'T' || c == 'F') && (pos_ + 1 >= n_ || std::isspace(p_[pos_ + 1]));
    return flag || c == '[' || c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c)) || c == 'i' || c == 'n' || c == 'I' || c == 'N';
  }
  // One value of a component field whose type the reader does not need to know in advance:
  // binary numbers carry their size, bools are a bare 'T'/'F', matrices and vectors a token.
  void any_value(Scalar* scalar, Floats* floats, bool* is_floats) {
    *is_floats = false;
    if (binary_) {
      if (pos_ >= n_) bad("unexpected end of the file");
      uint8_t c = p_[pos_];
      if (c == 4 || c == 8) {
        scalar->size = byte();
        if (n_ - pos_ < scalar->size) bad("unexpected end of the file");
        std::memcpy(&scalar->bits, p_ + pos_, scalar->size);
        pos_ += scalar->size;
        return;
      }
      bool typed = pos_ + 2 < n_ && (p_[pos_ + 1] == 'M' || p_[pos_ + 1] == 'V') && p_[pos_ + 2] == ' ';
      if ((c == 'T' || c == 'F') && !typed) {
        scalar->text = std::string(1, static_cast<char>(c));
        ++pos_;
        return;
      }
      if (c == 'C' && typed) bad("a compressed matrix (CM), which irforge does not read; write the model with nnet3-copy first");
      if ((c != 'F' && c != 'D') || !typed) bad("expected a number, a bool, a matrix or a vector");
      *is_floats = true;
      *floats = this->floats(p_[pos_ + 1] == 'M');
      return;
    }
    if (peek() == "[") {
      *is_floats = true;
      *floats = text_floats(true);
      return;
    }
    scalar->text = token();
  }

 private:
  uint8_t byte() {
    if (pos_ >= n_) bad("unexpected end of the file");
    return p_[pos_++];
  }
  uint32_t raw32() {
    if (n_ - pos_ < 4) bad("unexpected end of the file");
    uint32_t v;
    std::memcpy(&v, p_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  int64_t checked(int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0 || rows > kMaxDim || cols > kMaxDim) bad("matrix dimensions " + std::to_string(rows) + "x" + std::to_string(cols));
    if (cols && rows > kMaxElements / cols) fail(ErrorKind::kResourceLimit, label_ + ": a matrix of more than 2^40 values");
    return rows * cols;
  }
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  int line_ = 1;
  bool binary_ = false;
  const std::string& label_;
};

// One int attribute as a node's attribute list (Attribute is move-only: no initializer lists).
std::vector<Attribute> attr_i(const char* name, int64_t v) {
  std::vector<Attribute> list(1);
  list[0].name = name;
  list[0].kind = AttrKind::kInt;
  list[0].i = v;
  return list;
}

class Translator {
 public:
  Translator(std::shared_ptr<const Storage> data, std::string label, const KaldiOptions& options)
      : data_(std::move(data)), label_(std::move(label)), options_(options), s_(data_->data(), data_->size(), label_), b_(label_) {}

  std::unique_ptr<Model> run() {
    std::string first = s_.token();
    if (first == "<TransitionModel>") {
      // An nnet3 .mdl: the transition model (HMM topology, irrelevant to the network) comes
      // first; mo skipped to the network the same way.
      if (!s_.seek("<Nnet3>")) {
        if (s_.seek("<Nnet>")) fail(ErrorKind::kUnsupported, label_ + ": an nnet2 model (.mdl with <Nnet>); irforge reads nnet1 and nnet3 models");
        s_.bad("a transition model without a following <Nnet3> network");
      }
      first = s_.token();
    }
    if (first == "<Nnet3>") return nnet3();
    if (first != "<Nnet>") s_.bad("not a Kaldi nnet1 or nnet3 model (expected <Nnet> or <Nnet3>, found '" + first + "')");
    Value* x = nullptr;
    int64_t dim = -1;
    std::string last_type;
    size_t index = 0;
    while (true) {
      std::string type = s_.token();
      if (type == "</Nnet>") break;
      if (type == "<!EndOfComponent>") continue;
      if (type.size() < 3 || type.front() != '<' || type.back() != '>') s_.bad("expected a component, found '" + type + "'");
      name_ = type.substr(1, type.size() - 2) + "_" + std::to_string(index++);
      type_ = type;
      int64_t out = s_.integer(), in = s_.integer();
      if (out < 1 || in < 1 || out > kMaxDim || in > kMaxDim) bad("dimensions " + std::to_string(out) + " x " + std::to_string(in) + " are invalid");
      if (!x) {
        Shape shape = {Dim::symbol("frames"), Dim::of(in)};
        x = b_.input(b_.main_graph(), "input", Type::tensor(DataType::kFloat, shape));
        dim = in;
      }
      if (in != dim) bad("takes " + std::to_string(in) + " features but the previous component gives " + std::to_string(dim));
      x = component(x, in, out);
      dim = out;
      last_type = type;
      outputs_.push_back(x);
    }
    if (!x) fail_invalid(label_ + ": the nnet has no components");
    bool softmax_last = last_type == "<Softmax>" && outputs_.size() >= 2;
    if (!options_.counts_path.empty()) {
      // As mo: the priors go between the last affine layer and a final Softmax.
      Value* logits = softmax_last ? outputs_[outputs_.size() - 2] : x;
      Value* shifted = subtract_log_priors(logits, dim);
      if (softmax_last) {
        x->producer()->set_input(0, shifted);
        outputs_[outputs_.size() - 2] = shifted;
      } else {
        x = shifted;
      }
    }
    if (options_.remove_output_softmax && softmax_last) x = outputs_[outputs_.size() - 2];
    if (x->is_graph_input()) x = b_.node(b_.main_graph(), "Identity", {x}, {}, 1, "", "output_identity")[0];
    b_.output(b_.main_graph(), x, "output");
    return b_.finish();
  }

 private:
  [[noreturn]] void bad(const std::string& what) { s_.bad("component " + name_ + " (" + type_ + "): " + what); }
  Value* op(const std::string& t, const std::vector<Value*>& in, std::vector<Attribute> a = {}) {
    return b_.node(graph_ ? *graph_ : b_.main_graph(), t, in, std::move(a), 1, "", name_)[0];
  }
  Value* constant(const Floats& f, const std::string& what) {
    if (f.view) return b_.constant(b_.main_graph(), name_ + "/" + what, DataType::kFloat, f.dims, data_, static_cast<size_t>(f.view - data_->data()));
    return b_.owned_constant(b_.main_graph(), name_ + "/" + what, f.dims, f.owned);
  }
  Value* i64(const std::vector<int64_t>& v, std::vector<int64_t> dims) {
    return b_.owned_constant(b_.main_graph(), name_ + "/index", std::move(dims), v);
  }
  // Skips "<LearnRateCoef> 1 <BiasLearnRateCoef> 1 <MaxNorm> 0 ..." (training settings).
  void skip_settings() {
    while (true) {
      std::string t = s_.peek();
      if (t.size() < 3 || t.front() != '<' || t == "<!EndOfComponent>" || t.back() != '>') return;
      static const char* known[] = {"<LearnRateCoef>", "<BiasLearnRateCoef>", "<MaxNorm>", "<MaxGrad>", "<GradClip>", "<DiffClip>", "<Clip>"};
      bool setting = false;
      for (const char* k : known) setting = setting || t == k;
      if (!setting) return;
      s_.token();
      s_.real();
    }
  }
  Floats matrix(int64_t rows, int64_t cols, const char* what) {
    Floats f = s_.floats(true);
    if (f.dims != std::vector<int64_t>{rows, cols})
      bad(std::string(what) + " is " + std::to_string(f.dims[0]) + "x" + std::to_string(f.dims[1]) + ", expected " + std::to_string(rows) + "x" + std::to_string(cols));
    return f;
  }
  Floats vector(int64_t n, const char* what) {
    Floats f = s_.floats(false);
    if (f.dims[0] != n) bad(std::string(what) + " has " + std::to_string(f.dims[0]) + " values, expected " + std::to_string(n));
    return f;
  }

  // mo's counts_to_priors: log(c / sum(c)), a count below 1e-10 raised to it and its prior
  // lifted by FLT_MAX / 2 so that state is never chosen.
  Value* subtract_log_priors(Value* logits, int64_t dim) {
    const std::string& path = options_.counts_path;
    auto file = MappedFile::open(path);
    std::string text(reinterpret_cast<const char*>(file->data()), file->size());
    size_t end = text.find_last_not_of(" \t\r\n");
    text.resize(end == std::string::npos ? 0 : end + 1);
    if (text.find('\n') != std::string::npos) fail_invalid(path + ": a counts file holds one line of counts; this one has more");
    for (char& ch : text)
      if (ch == '[' || ch == ']' || ch == '\t' || ch == '\r') ch = ' ';
    std::vector<double> counts;
    size_t pos = 0;
    while ((pos = text.find_first_not_of(' ', pos)) != std::string::npos) {
      size_t stop = std::min(text.find(' ', pos), text.size());
      std::string token = text.substr(pos, stop - pos);
      pos = stop;
      char* tail = nullptr;
      double v = std::strtod(token.c_str(), &tail);
      if (*tail != 0 || !std::isfinite(v)) fail_invalid(path + ": count " + std::to_string(counts.size()) + " '" + token.substr(0, 32) + "' is not a number");
      if (v < 0) fail_invalid(path + ": count " + std::to_string(counts.size()) + " is negative (" + token.substr(0, 32) + ")");
      if (static_cast<int64_t>(counts.size()) >= dim) fail_invalid(path + ": more counts than the model's " + std::to_string(dim) + " outputs");
      counts.push_back(v);
    }
    if (static_cast<int64_t>(counts.size()) != dim)
      fail_invalid(path + ": " + std::to_string(counts.size()) + " counts for " + std::to_string(dim) + " outputs of the model");
    constexpr double kCutoff = 1.00000001e-10;
    double sum = 0;
    for (double& c : counts) sum += (c = std::max(c, kCutoff));
    std::vector<float> negated(counts.size());
    for (size_t i = 0; i < counts.size(); ++i) {
      double prior = std::log(counts[i] / sum);
      if (counts[i] == kCutoff) prior += std::numeric_limits<float>::max() / 2.0;
      negated[i] = static_cast<float>(-prior);
    }
    Value* c = b_.owned_constant(b_.main_graph(), "counts/negated_log_priors", {dim}, negated);
    return b_.node(b_.main_graph(), "Add", {logits, c}, {}, 1, "", "subtract_log_priors")[0];
  }

  Value* component(Value* x, int64_t in, int64_t out) {
    const std::string& t = type_;
    if (t == "<AffineTransform>" || t == "<LinearTransform>") {
      skip_settings();
      Value* w = constant(matrix(out, in, "the weight matrix"), "weights");
      std::vector<Value*> xs = {x, w};
      if (t == "<AffineTransform>") xs.push_back(constant(vector(out, "the bias"), "bias"));
      return op("Gemm", xs, attr_i("transB", 1));
    }
    if (t == "<AddShift>" || t == "<Rescale>") {
      skip_settings();
      if (in != out) bad("input and output dimensions differ");
      Value* v = constant(vector(out, t == "<AddShift>" ? "the shift" : "the scale"), t == "<AddShift>" ? "shift" : "scale");
      return op(t == "<AddShift>" ? "Add" : "Mul", {x, v});
    }
    if (t == "<Sigmoid>" || t == "<Tanh>" || t == "<Softmax>" || t == "<Dropout>") {
      if (in != out) bad("input and output dimensions differ");
      if (t == "<Dropout>") {
        skip_settings();
        if (s_.peek() == "<DropoutRate>" || s_.peek() == "<DropoutRetention>") s_.token(), s_.real();
        return op("Identity", {x});
      }
      if (t == "<Softmax>") return op("Softmax", {x}, attr_i("axis", 1));
      return op(t == "<Sigmoid>" ? "Sigmoid" : "Tanh", {x});
    }
    if (t == "<Splice>") {
      std::vector<int64_t> offsets = s_.ints();
      if (offsets.empty() || out != in * static_cast<int64_t>(offsets.size()))
        bad(std::to_string(offsets.size()) + " offsets do not make " + std::to_string(out) + " outputs from " + std::to_string(in));
      // Frame t takes frames t + offset, clamped to [0, frames - 1] as nnet-forward pads by
      // repeating the first and last frame.
      Value* frames = op("Gather", {op("Shape", {x}), i64({0}, {1})}, attr_i("axis", 0));
      Value* last = op("Sub", {frames, i64({1}, {1})});
      Value* t0 = op("Range", {i64({0}, {}), op("Squeeze", {frames, i64({0}, {1})}), i64({1}, {})});
      std::vector<Value*> parts;
      for (int64_t o : offsets) {
        if (o < -100000 || o > 100000) bad("offset " + std::to_string(o) + " is out of range");
        Value* idx = op("Min", {op("Max", {op("Add", {t0, i64({o}, {})}), i64({0}, {})}), last});
        parts.push_back(op("Gather", {x, idx}, attr_i("axis", 0)));
      }
      return parts.size() == 1 ? parts[0] : op("Concat", parts, attr_i("axis", 1));
    }
    if (t == "<LstmProjected>" || t == "<LstmProjectedStreams>") return lstm_projected(x, in, out);
    fail(ErrorKind::kUnsupported, label_ + ": component " + name_ + " of type " + t +
                                      " is not supported (supported: AffineTransform, LinearTransform, AddShift, Rescale, Splice, Sigmoid, Tanh, "
                                      "Softmax, Dropout, LstmProjected, LstmProjectedStreams)");
  }

  // nnet1's LSTM with peepholes and a recurrent projection (nnet-lstm-projected.h), run over
  // the utterance from a zero state as nnet-forward runs it: gates [g, i, f, o] =
  // W_x x(t) + b + W_r r(t-1); i, f see c(t-1) through peepholes, o sees c(t); c(t) is clipped
  // to +-<CellClip> (50 unless the file says otherwise; the older LstmProjectedStreams always
  // clips at 50); r(t) = W_rm (o * tanh(c(t))) is both the output and the recurrent input.
  // The input projection runs once over all frames; a Scan carries r and c across frames.
  Value* lstm_projected(Value* x, int64_t in, int64_t proj) {
    int64_t cell = 0;
    double clip = 50;
    while (true) {
      std::string t = s_.peek();
      if (t.size() < 3 || t.front() != '<' || t == "<!EndOfComponent>") break;
      s_.token();
      if (t == "<CellDim>") {
        cell = s_.integer();
      } else if (t == "<CellClip>") {
        clip = s_.real();
      } else if (t == "<LearnRateCoef>" || t == "<BiasLearnRateCoef>" || t == "<DiffClip>" || t == "<CellDiffClip>" || t == "<GradClip>" || t == "<ClipGradient>") {
        s_.real();
      } else {
        bad("unknown token " + t.substr(0, 40) + " (expected <CellDim>, <CellClip>, <LearnRateCoef>, <BiasLearnRateCoef>, <DiffClip>, <CellDiffClip>, <GradClip>)");
      }
    }
    if (cell < 1 || cell > kMaxDim / 4) bad("<CellDim> " + std::to_string(cell) + " is missing or invalid");
    if (!std::isfinite(clip)) bad("<CellClip> is not finite");
    Value* wx = constant(matrix(4 * cell, in, "w_gifo_x (the input weights)"), "w_gifo_x");
    Value* wr = constant(matrix(4 * cell, proj, "w_gifo_r (the recurrent weights)"), "w_gifo_r");
    Value* bias = constant(vector(4 * cell, "the gate bias"), "bias");
    Value* peep_i = constant(vector(cell, "the input-gate peephole"), "peephole_i");
    Value* peep_f = constant(vector(cell, "the forget-gate peephole"), "peephole_f");
    Value* peep_o = constant(vector(cell, "the output-gate peephole"), "peephole_o");
    Value* wrm = constant(matrix(proj, cell, "w_r_m (the projection)"), "w_r_m");
    Value* gates_x = op("Gemm", {x, wx, bias}, attr_i("transB", 1));
    Graph& main = b_.main_graph();
    Graph* body = b_.new_subgraph(main, name_ + "/frame");
    auto vec_type = [](int64_t n) { return Type::tensor(DataType::kFloat, Shape{Dim::of(n)}); };
    Value* r_prev = b_.input(*body, name_ + "/r_prev", vec_type(proj));
    Value* c_prev = b_.input(*body, name_ + "/c_prev", vec_type(cell));
    Value* gx = b_.input(*body, name_ + "/gates_x", vec_type(4 * cell));
    auto bop = [&](const std::string& t, const std::vector<Value*>& ins) { return b_.node(*body, t, ins, {}, 1, "", name_ + "/frame")[0]; };
    Value* gates = bop("Add", {gx, bop("MatMul", {wr, r_prev})});
    auto gate = [&](int64_t k) { return bop("Slice", {gates, i64({k * cell}, {1}), i64({(k + 1) * cell}, {1}), i64({0}, {1})}); };
    Value* g = bop("Tanh", {gate(0)});
    Value* i = bop("Sigmoid", {bop("Add", {gate(1), bop("Mul", {c_prev, peep_i})})});
    Value* f = bop("Sigmoid", {bop("Add", {gate(2), bop("Mul", {c_prev, peep_f})})});
    Value* c = bop("Add", {bop("Mul", {f, c_prev}), bop("Mul", {i, g})});
    if (clip > 0) {
      Value* lo = b_.owned_constant(main, name_ + "/clip_min", {}, std::vector<float>{static_cast<float>(-clip)});
      Value* hi = b_.owned_constant(main, name_ + "/clip_max", {}, std::vector<float>{static_cast<float>(clip)});
      c = bop("Clip", {c, lo, hi});
    }
    Value* o = bop("Sigmoid", {bop("Add", {gate(3), bop("Mul", {c, peep_o})})});
    Value* r = bop("MatMul", {wrm, bop("Mul", {o, bop("Tanh", {c})})});
    b_.output(*body, r, name_ + "/r");
    b_.output(*body, c, name_ + "/c");
    b_.output(*body, r, name_ + "/y");
    std::vector<Attribute> attrs(2);
    attrs[0].name = "body";
    attrs[0].kind = AttrKind::kGraph;
    attrs[0].g = b_.take_subgraph(body);
    attrs[1].name = "num_scan_inputs";
    attrs[1].kind = AttrKind::kInt;
    attrs[1].i = 1;
    Value* r0 = b_.owned_constant(main, name_ + "/r0", {proj}, std::vector<float>(static_cast<size_t>(proj), 0.0f));
    Value* c0 = b_.owned_constant(main, name_ + "/c0", {cell}, std::vector<float>(static_cast<size_t>(cell), 0.0f));
    return b_.node(main, "Scan", {r0, c0, gates_x}, std::move(attrs), 3, "", name_)[2];
  }


  // ---- nnet3 (Nnet::Read): "<Nnet3>", config lines up to a blank line, "<NumComponents> n",
  // then "<ComponentName> name <Type> fields </Type>" n times, "</Nnet3>". ----

  // A Descriptor of the config: a node, or Append/Sum/Offset/Scale of descriptors; "#" a number.
  struct Desc {
    std::string op, text;
    std::vector<Desc> args;
  };
  struct Comp {
    std::string type;  // without the angle brackets
    std::map<std::string, Floats> floats;
    std::map<std::string, Scalar> scalars;
    int64_t in = 0, out = 0;
  };
  // Times: a node's value holds the rows of times [lo, frames - 1 + hi]; the inputs are padded
  // by repeating their first and last frame (as nnet3-compute pads), so every time a TDNN's
  // offsets reach is computed from real or repeated frames, exactly as Kaldi computes it.
  struct Node {
    std::string kind, name, component, input_node;
    Desc desc;
    int64_t dim = -1, dim_offset = 0;
    int line = 0, state = 0;
    int64_t lo = 0, hi = 0, out_dim = 0;
    Value* value = nullptr;
    Value* logits = nullptr;  // the input of a Softmax/LogSoftmax component
    int loop = -1;            // the recurrent loop (Scan) the node is computed in, if any
  };
  struct Recurrence {
    size_t user, target;  // `user` reads `target` `delay` frames back through IfDefined
    int64_t delay;
  };
  struct Loop {
    std::vector<size_t> nodes;                  // in config order
    std::vector<std::pair<size_t, int64_t>> states;  // node and the frames of its history kept
    int64_t lo = 0, hi = 0;
  };
  struct Span {
    int64_t lo, hi, dim;
  };

  [[noreturn]] void bad_config(const Node& n, const std::string& what) {
    fail_invalid(label_ + ": nnet3 config line " + std::to_string(n.line) + " (" + n.kind + " " + n.name + "): " + what);
  }
  [[noreturn]] void unsupported_config(const Node& n, const std::string& what) {
    fail(ErrorKind::kUnsupported, label_ + ": nnet3 config line " + std::to_string(n.line) + " (" + n.kind + " " + n.name + "): " + what);
  }

  static bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

  static bool valid_name(const std::string& n) { return !n.empty() && std::all_of(n.begin(), n.end(), is_name_char); }

  Desc parse_desc(const Node& n, const std::string& t, size_t& pos, int depth) {
    if (depth > 64) fail(ErrorKind::kResourceLimit, label_ + ": nnet3 config line " + std::to_string(n.line) + ": a descriptor nested more than 64 deep");
    while (pos < t.size() && t[pos] == ' ') ++pos;
    size_t start = pos;
    while (pos < t.size() && (is_name_char(t[pos]) || t[pos] == '+')) ++pos;
    Desc d;
    d.text = t.substr(start, pos - start);
    if (d.text.empty()) bad_config(n, "a descriptor expected at '" + t.substr(start, 40) + "'");
    while (pos < t.size() && t[pos] == ' ') ++pos;
    if (pos < t.size() && t[pos] == '(') {
      d.op = d.text;
      ++pos;
      while (true) {
        d.args.push_back(parse_desc(n, t, pos, depth + 1));
        while (pos < t.size() && t[pos] == ' ') ++pos;
        if (pos < t.size() && t[pos] == ',') { ++pos; continue; }
        if (pos < t.size() && t[pos] == ')') { ++pos; break; }
        bad_config(n, "expected ',' or ')' in the descriptor '" + t.substr(0, 200) + "'");
      }
      return d;
    }
    char* end = nullptr;
    std::strtod(d.text.c_str(), &end);
    if (!*end) d.op = "#";
    return d;
  }
  Desc descriptor(const Node& n, const std::string& t) {
    size_t pos = 0;
    Desc d = parse_desc(n, t, pos, 0);
    while (pos < t.size() && t[pos] == ' ') ++pos;
    if (pos != t.size()) bad_config(n, "text after the descriptor: '" + t.substr(pos, 40) + "'");
    return d;
  }
  double number_arg(const Node& n, const Desc& d) {
    if (d.op != "#") bad_config(n, "expected a number, found '" + d.text + "'");
    return std::strtod(d.text.c_str(), nullptr);
  }
  int64_t offset_arg(const Node& n, const Desc& d) {
    double v = number_arg(n, d);
    if (v != std::floor(v) || std::abs(v) > 100000) bad_config(n, "offset '" + d.text + "' is not an integer of at most 100000");
    return static_cast<int64_t>(v);
  }

  void read_config() {
    s_.line();  // the rest of the "<Nnet3>" line
    for (int line = 1;; ++line) {
      if (s_.exhausted()) s_.bad("the nnet3 config section ends with the file");
      std::string text = s_.line();
      size_t first = text.find_first_not_of(" \t\r");
      if (first == std::string::npos) break;  // a blank line ends the config
      size_t hash = text.find('#');
      if (hash != std::string::npos) text.resize(hash);
      // Words; "key=value" starts a pair, other words continue the previous value (descriptors
      // are written with ", " between their arguments).
      std::vector<std::string> words;
      for (size_t p = 0; p < text.size();) {
        while (p < text.size() && (text[p] == ' ' || text[p] == '\t' || text[p] == '\r')) ++p;
        size_t q = p;
        while (q < text.size() && text[q] != ' ' && text[q] != '\t' && text[q] != '\r') ++q;
        if (q > p) words.push_back(text.substr(p, q - p));
        p = q;
      }
      if (words.empty()) continue;
      Node n;
      n.kind = words[0];
      n.line = line;
      std::map<std::string, std::string> kv;
      std::string key;
      for (size_t i = 1; i < words.size(); ++i) {
        const std::string& w = words[i];
        size_t eq = w.find('=');
        bool pair = eq != std::string::npos && eq > 0 && std::all_of(w.begin(), w.begin() + eq, [](char c) { return is_name_char(c); });
        if (pair) {
          key = w.substr(0, eq);
          if (kv.count(key)) bad_config(n, key + "= given twice");
          kv[key] = w.substr(eq + 1);
        } else {
          if (key.empty()) bad_config(n, "'" + w.substr(0, 40) + "' is not a key=value pair");
          kv[key] += " " + w;
        }
      }
      n.name = kv["name"];
      if (!valid_name(n.name)) bad_config(n, n.name.empty() ? "no name=" : "'" + n.name.substr(0, 80) + "' is not a node name (letters, digits, '_', '-', '.')");
      auto integer = [&](const char* k, bool required) -> int64_t {
        auto it = kv.find(k);
        if (it == kv.end()) {
          if (required) bad_config(n, std::string("no ") + k + "=");
          return 0;
        }
        char* end = nullptr;
        long long v = std::strtoll(it->second.c_str(), &end, 10);
        if (end == it->second.c_str() || *end || v < 0 || v > kMaxDim) bad_config(n, std::string(k) + "=" + it->second.substr(0, 40) + " is not a valid size");
        return v;
      };
      if (n.kind == "input-node") {
        n.dim = integer("dim", true);
        if (n.dim < 1) bad_config(n, "dim=0");
      } else if (n.kind == "component-node" || n.kind == "output-node") {
        if (n.kind == "component-node") {
          n.component = kv["component"];
          if (n.component.empty()) bad_config(n, "no component=");
        }
        if (!kv.count("input")) bad_config(n, "no input=");
        n.desc = descriptor(n, kv["input"]);
      } else if (n.kind == "dim-range-node") {
        n.input_node = kv["input-node"];
        if (n.input_node.empty()) bad_config(n, "no input-node=");
        n.dim = integer("dim", true);
        n.dim_offset = integer("dim-offset", true);
        if (n.dim < 1) bad_config(n, "dim=0");
      } else {
        bad_config(n, "unknown kind of node '" + n.kind.substr(0, 40) + "' (expected input-node, component-node, dim-range-node or output-node)");
      }
      if (node_index_.count(n.name)) bad_config(n, "a second node named " + n.name);
      if (nodes_.size() >= 100000) fail(ErrorKind::kResourceLimit, label_ + ": more than 100000 nnet3 nodes");
      node_index_[n.name] = nodes_.size();
      nodes_.push_back(std::move(n));
    }
  }

  static bool one_of(const std::string& t, std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (t == n) return true;
    return false;
  }
  static bool is_affine(const std::string& t) { return one_of(t, {"AffineComponent", "NaturalGradientAffineComponent", "FixedAffineComponent"}); }
  static bool is_elementwise(const std::string& t) {
    return one_of(t, {"SigmoidComponent", "TanhComponent", "RectifiedLinearComponent", "SoftmaxComponent", "LogSoftmaxComponent", "NoOpComponent",
                      "BackpropTruncationComponent", "DropoutComponent", "ClipGradientComponent"});
  }
  static bool supported(const std::string& t) {
    return is_affine(t) || is_elementwise(t) ||
           one_of(t, {"LinearComponent", "LstmNonlinearityComponent", "NormalizeComponent", "BatchNormComponent", "ElementwiseProductComponent", "FixedScaleComponent", "FixedBiasComponent",
                      "PerElementScaleComponent", "PerElementOffsetComponent"});
  }
  static constexpr const char* kSupported3 =
      "AffineComponent, NaturalGradientAffineComponent, FixedAffineComponent, LinearComponent, RectifiedLinearComponent, SigmoidComponent, "
      "TanhComponent, SoftmaxComponent, LogSoftmaxComponent, NormalizeComponent, BatchNormComponent, NoOpComponent, BackpropTruncationComponent, "
      "DropoutComponent, ClipGradientComponent, ElementwiseProductComponent, FixedScaleComponent, FixedBiasComponent, PerElementScaleComponent, "
      "PerElementOffsetComponent, LstmNonlinearityComponent (in an IfDefined(Offset(.., -d)) loop)";

  const Scalar* field(const Comp& c, const char* key, bool required) {
    auto it = c.scalars.find(key);
    if (it == c.scalars.end()) {
      if (required) bad(std::string("no ") + key + " field");
      return nullptr;
    }
    return &it->second;
  }
  int64_t int_field(const Comp& c, const char* key, int64_t fallback, bool required = false) {
    const Scalar* f = field(c, key, required);
    if (!f) return fallback;
    int64_t v;
    if (f->size == 4) v = static_cast<int32_t>(f->bits);
    else if (f->size == 8) v = static_cast<int64_t>(f->bits);
    else {
      char* end = nullptr;
      v = std::strtoll(f->text.c_str(), &end, 10);
      if (end == f->text.c_str() || *end) bad(std::string(key) + " '" + f->text.substr(0, 40) + "' is not an integer");
    }
    if (v < 1 || v > kMaxDim) bad(std::string(key) + " " + std::to_string(v) + " is not a valid size");
    return v;
  }
  double real_field(const Comp& c, const char* key, double fallback) {
    const Scalar* f = field(c, key, false);
    if (!f) return fallback;
    double v;
    if (f->size == 4) { float x; uint32_t u = static_cast<uint32_t>(f->bits); std::memcpy(&x, &u, 4); v = x; }
    else if (f->size == 8) std::memcpy(&v, &f->bits, 8);
    else {
      char* end = nullptr;
      v = std::strtod(f->text.c_str(), &end);
      if (end == f->text.c_str() || *end) bad(std::string(key) + " '" + f->text.substr(0, 40) + "' is not a number");
    }
    if (!std::isfinite(v)) bad(std::string(key) + " is not finite");
    return v;
  }
  bool bool_field(const Comp& c, const char* key, bool fallback) {
    const Scalar* f = field(c, key, false);
    if (!f) return fallback;
    if (f->size || (f->text != "T" && f->text != "F")) bad(std::string(key) + " is not T or F");
    return f->text == "T";
  }
  const Floats& floats_field(const Comp& c, const char* key, size_t rank) {
    auto it = c.floats.find(key);
    if (it == c.floats.end()) bad(std::string("no ") + key + " field");
    if (it->second.dims.size() != rank) bad(std::string(key) + " is a " + (rank == 2 ? "vector, expected a matrix" : "matrix, expected a vector"));
    return it->second;
  }
  const Floats& vector_field(const Comp& c, const char* key, int64_t n) {
    const Floats& f = floats_field(c, key, 1);
    if (n >= 0 && f.dims[0] != n) bad(std::string(key) + " has " + std::to_string(f.dims[0]) + " values, expected " + std::to_string(n));
    if (f.dims[0] < 1) bad(std::string(key) + " is empty");
    return f;
  }
  static float at(const Floats& f, size_t i) {
    if (f.view) { float v; std::memcpy(&v, f.view + 4 * i, 4); return v; }
    return f.owned[i];
  }

  // Constants made up from a few stored values (tiled BatchNorm stats, Normalize's ones) hold
  // at most this many; a header claiming more is refused before anything is allocated.
  static constexpr int64_t kMaxMadeUp = int64_t{1} << 24;
  void check_made_up(int64_t n, const char* what) {
    if (n > kMaxMadeUp) fail(ErrorKind::kResourceLimit, label_ + ": component " + name_ + " (" + type_ + "): " + what + " " + std::to_string(n) + " is over 2^24");
  }

  // The component's input and output dims, its fields checked.
  void component_dims(Comp& c) {
    const std::string& t = c.type;
    if (is_affine(t) || t == "LinearComponent") {
      const Floats& w = floats_field(c, is_affine(t) ? "<LinearParams>" : "<Params>", 2);
      c.out = w.dims[0], c.in = w.dims[1];
      if (c.out < 1 || c.in < 1) bad("an empty weight matrix");
      if (is_affine(t)) vector_field(c, "<BiasParams>", c.out);
    } else if (is_elementwise(t)) {
      c.in = c.out = int_field(c, "<Dim>", 0, true);
    } else if (t == "LstmNonlinearityComponent") {
      const Floats& w = floats_field(c, "<Params>", 2);  // the peepholes w_ic, w_fc, w_oc
      if (w.dims[0] != 3 || w.dims[1] < 1) bad("<Params> is " + std::to_string(w.dims[0]) + "x" + std::to_string(w.dims[1]) + ", expected 3 x cell-dim");
      c.in = 5 * w.dims[1], c.out = 2 * w.dims[1];
    } else if (t == "NormalizeComponent") {
      c.in = int_field(c, "<InputDim>", 0, true);
      int64_t block = int_field(c, "<BlockDim>", c.in);
      if (c.in % block) bad("<InputDim> " + std::to_string(c.in) + " is not a multiple of <BlockDim> " + std::to_string(block));
      check_made_up(block, "<BlockDim>");
      if (real_field(c, "<TargetRms>", 1) <= 0) bad("<TargetRms> is not positive");
      c.out = c.in + (bool_field(c, "<AddLogStddev>", false) ? c.in / block : 0);
    } else if (t == "BatchNormComponent") {
      c.in = c.out = int_field(c, "<Dim>", 0, true);
      int64_t block = int_field(c, "<BlockDim>", c.in);
      if (c.in % block) bad("<Dim> " + std::to_string(c.in) + " is not a multiple of <BlockDim> " + std::to_string(block));
      check_made_up(c.in, "<Dim>");
      vector_field(c, "<StatsMean>", block);
      vector_field(c, "<StatsVar>", block);
      if (real_field(c, "<Epsilon>", 1e-3) <= 0 || real_field(c, "<TargetRms>", 1) <= 0) bad("<Epsilon> and <TargetRms> must be positive");
    } else if (t == "ElementwiseProductComponent") {
      c.in = int_field(c, "<InputDim>", 0, true);
      c.out = int_field(c, "<OutputDim>", 0, true);
      if (c.in % c.out) bad("<InputDim> " + std::to_string(c.in) + " is not a multiple of <OutputDim> " + std::to_string(c.out));
      if (c.in / c.out > 64) fail(ErrorKind::kResourceLimit, label_ + ": component " + name_ + ": a product of more than 64 factors");
    } else {
      const char* key = t == "FixedScaleComponent" ? "<Scales>" : t == "FixedBiasComponent" ? "<Bias>" : t == "PerElementScaleComponent" ? "<Params>" : "<Offsets>";
      int64_t n = vector_field(c, key, -1).dims[0];
      c.in = c.out = t == "PerElementOffsetComponent" ? int_field(c, "<Dim>", n) : n;
      if (c.in % n) bad("<Dim> " + std::to_string(c.in) + " is not a multiple of the " + std::to_string(n) + " offsets");
      check_made_up(c.in, "<Dim>");
    }
  }

  void read_components() {
    s_.expect("<NumComponents>");
    int64_t count = s_.integer();
    if (count < 0 || count > 100000) s_.bad("<NumComponents> " + std::to_string(count) + " is out of range");
    std::vector<std::string> unsupported;
    for (int64_t i = 0; i < count; ++i) {
      s_.expect("<ComponentName>");
      std::string name = s_.token();
      if (!valid_name(name)) s_.bad("'" + name.substr(0, 80) + "' is not a component name (letters, digits, '_', '-', '.')");
      std::string type = s_.token();
      name_ = name, type_ = type;
      if (type.size() < 3 || type.front() != '<' || type.back() != '>') s_.bad("component " + name + ": expected its type, found '" + type + "'");
      Comp c;
      c.type = type.substr(1, type.size() - 2);
      std::string closing = "</" + c.type + ">";
      if (!supported(c.type)) {
        unsupported.push_back(name + " (" + c.type + ")");
        if (!s_.seek(closing)) bad("no " + closing + " ends it");
        s_.token();
      } else {
        while (true) {
          std::string key = s_.token();
          if (key == closing) break;
          if (key.size() < 3 || key.front() != '<' || key.back() != '>') bad("expected a field or " + closing + ", found '" + key.substr(0, 40) + "'");
          bool first = true;
          while (s_.value_follows()) {  // a field holds one value, a few (<RankInOut>) two
            Scalar scalar;
            Floats floats;
            bool is_floats = false;
            s_.any_value(&scalar, &floats, &is_floats);
            if (first && is_floats) c.floats[key] = std::move(floats);
            else if (first) c.scalars[key] = scalar;
            first = false;
          }
        }
        component_dims(c);
      }
      if (comps_.count(name)) bad("a second component of this name");
      comps_[name] = std::move(c);
    }
    s_.expect("</Nnet3>");
    if (!unsupported.empty()) {
      std::string list;
      for (const std::string& u : unsupported) list += (list.empty() ? "" : ", ") + u;
      fail(ErrorKind::kUnsupported, label_ + ": nnet3 components of types irforge does not convert: " + list + " (supported: " + kSupported3 + ")");
    }
  }

  Node& node_named(const Node& from, const std::string& name) {
    auto it = node_index_.find(name);
    if (it == node_index_.end()) bad_config(from, "no node named '" + name.substr(0, 80) + "'");
    Node& n = nodes_[it->second];
    if (n.kind == "output-node") bad_config(from, "refers to output node " + name + ", which no descriptor may read");
    return n;
  }

  // The times and dims a descriptor covers when its nodes cover theirs.
  Span span(const Node& owner, const Desc& d, int depth) {
    if (depth > 4096) fail(ErrorKind::kResourceLimit, label_ + ": nnet3 nodes depend on each other more than 4096 deep");
    if (d.op.empty()) {
      Node& n = node_named(owner, d.text);
      visit(n, depth + 1);
      return {n.lo, n.hi, n.out_dim};
    }
    if (d.op == "#") bad_config(owner, "a number '" + d.text + "' where a descriptor belongs");
    if (d.op == "Offset") {
      if (d.args.size() != 2 && !(d.args.size() == 3 && number_arg(owner, d.args[2]) == 0)) bad_config(owner, "Offset takes a descriptor and a time offset");
      int64_t o = offset_arg(owner, d.args[1]);
      Span s = span(owner, d.args[0], depth + 1);
      return {s.lo - o, s.hi - o, s.dim};
    }
    if (d.op == "Scale") {
      if (d.args.size() != 2) bad_config(owner, "Scale takes a number and a descriptor");
      number_arg(owner, d.args[0]);
      return span(owner, d.args[1], depth + 1);
    }
    if (d.op == "Append" || d.op == "Sum") {
      Span r = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0};
      for (const Desc& a : d.args) {
        Span s = span(owner, a, depth + 1);
        if (d.op == "Sum" && r.dim && s.dim != r.dim) bad_config(owner, "Sum of descriptors of dims " + std::to_string(r.dim) + " and " + std::to_string(s.dim));
        r.lo = std::max(r.lo, s.lo), r.hi = std::min(r.hi, s.hi);
        r.dim = d.op == "Sum" ? s.dim : r.dim + s.dim;
        if (r.dim > kMaxDim) bad_config(owner, "an Append of more than 2^31 values");
      }
      return r;
    }
    if (d.op == "IfDefined") {
      // IfDefined(Offset(x, -d)): x d frames back, zero before x's first frame; the recurrence of
      // an LSTM. It does not narrow the times its user covers, and x is not visited from here
      // (x depends on its user: the loop is built as one Scan over frames).
      const Desc* inner = d.args.size() == 1 && d.args[0].op == "Offset" && d.args[0].args.size() == 2 ? &d.args[0] : nullptr;
      if (!inner || !inner->args[0].op.empty() || offset_arg(owner, inner->args[1]) >= 0)
        unsupported_config(owner, "IfDefined is supported as IfDefined(Offset(node, -d)) with d > 0 (a recurrence), not as written");
      Node& x = node_named(owner, inner->args[0].text);
      if (recurrences_.size() >= 256) fail(ErrorKind::kResourceLimit, label_ + ": more than 256 IfDefined recurrences");
      recurrences_.push_back({node_index_.at(owner.name), node_index_.at(x.name), -offset_arg(owner, inner->args[1])});
      return {kUnbounded, -kUnbounded, dim_of(owner, x)};
    }
    unsupported_config(owner, "descriptor " + d.op.substr(0, 40) + "(...) is not supported (supported: Append, Offset, Sum, Scale, IfDefined(Offset(node, -d)); Round, ReplaceIndex are not)");
  }

  static constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::min() / 4;
  // A node's output dim, known from the config and the components alone.
  int64_t dim_of(const Node& owner, const Node& x) {
    if (x.kind != "component-node") return x.dim;
    auto it = comps_.find(x.component);
    if (it == comps_.end()) bad_config(owner, "reads " + x.name + ", whose component '" + x.component.substr(0, 80) + "' does not exist");
    return it->second.out;
  }

  void visit(Node& n, int depth) {
    if (n.state == 2) return;
    if (n.state == 1)
      unsupported_config(n, "depends on itself (a recurrent network); irforge converts nnet3 networks without recurrence");
    n.state = 1;
    if (n.kind == "input-node") {
      n.out_dim = n.dim;
    } else if (n.kind == "dim-range-node") {
      Node& in = node_named(n, n.input_node);
      visit(in, depth + 1);
      if (n.dim_offset + n.dim > in.out_dim) bad_config(n, "dims [" + std::to_string(n.dim_offset) + ", " + std::to_string(n.dim_offset + n.dim) + ") exceed the " + std::to_string(in.out_dim) + " of " + in.name);
      n.lo = in.lo, n.hi = in.hi, n.out_dim = n.dim;
    } else {
      Span s = span(n, n.desc, depth + 1);
      n.lo = s.lo, n.hi = s.hi, n.out_dim = s.dim;
      if (n.kind == "component-node") {
        auto it = comps_.find(n.component);
        if (it == comps_.end()) bad_config(n, "no component named '" + n.component.substr(0, 80) + "'");
        const Comp& c = it->second;
        if (c.in != s.dim)
          bad_config(n, "its input gives " + std::to_string(s.dim) + " values but component " + n.component + " (<" + c.type + ">) takes " + std::to_string(c.in));
        n.out_dim = c.out;
      }
    }
    n.state = 2;
  }

  Value* slice(Value* x, int64_t axis, int64_t start, int64_t cut_end) {
    if (start == 0 && cut_end == 0) return x;
    int64_t end = cut_end ? -cut_end : std::numeric_limits<int64_t>::max();
    return op("Slice", {x, i64({start}, {1}), i64({end}, {1}), i64({axis}, {1})});
  }
  // Rows of times [lo, frames - 1 + hi] of a value holding [vlo, frames - 1 + vhi].
  Value* rows(Value* x, int64_t vlo, int64_t vhi, int64_t lo, int64_t hi) { return slice(x, 0, lo - vlo, vhi - hi); }

  Value* desc_value(const Node& owner, const Desc& d, int64_t lo, int64_t hi) {
    if (d.op.empty()) {
      Node& n = node_named(owner, d.text);
      return rows(node_value(n), n.lo, n.hi, lo, hi);
    }
    if (d.op == "Offset") {
      int64_t o = offset_arg(owner, d.args[1]);
      return desc_value(owner, d.args[0], lo + o, hi + o);
    }
    if (d.op == "Scale") {
      float k = static_cast<float>(number_arg(owner, d.args[0]));
      return op("Mul", {desc_value(owner, d.args[1], lo, hi), b_.owned_constant(b_.main_graph(), name_ + "/scale", {1}, std::vector<float>{k})});
    }
    std::vector<Value*> parts;
    for (const Desc& a : d.args) parts.push_back(desc_value(owner, a, lo, hi));
    if (parts.size() == 1) return parts[0];
    if (d.op == "Append") return op("Concat", parts, attr_i("axis", 1));
    Value* sum = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) sum = op("Add", {sum, parts[i]});
    return sum;
  }

  Value* node_value(Node& n) {
    if (n.value) return n.value;
    if (n.loop >= 0) {
      build_loop(static_cast<size_t>(n.loop));
      return n.value;
    }
    std::string saved_name = name_, saved_type = type_;
    name_ = n.name, type_ = "<" + n.kind + ">";
    if (n.kind == "input-node") {
      Shape shape = {Dim::symbol("frames"), Dim::of(n.dim)};
      Value* x = b_.input(b_.main_graph(), n.name, Type::tensor(DataType::kFloat, shape));
      if (n.lo < 0 || n.hi > 0) {
        // Padded by repeating the first and last frame, as nnet3-compute pads its input.
        Value* frames = op("Gather", {op("Shape", {x}), i64({0}, {1})}, attr_i("axis", 0));
        Value* last = op("Sub", {frames, i64({1}, {1})});
        Value* stop = op("Add", {op("Squeeze", {frames, i64({0}, {1})}), i64({n.hi}, {})});
        Value* t = op("Range", {i64({n.lo}, {}), stop, i64({1}, {})});
        x = op("Gather", {x, op("Min", {op("Max", {t, i64({0}, {})}), last})}, attr_i("axis", 0));
      }
      n.value = x;
    } else if (n.kind == "dim-range-node") {
      Node& in = node_named(n, n.input_node);
      Value* x = node_value(in);
      name_ = n.name;
      n.value = n.dim == in.out_dim ? x : op("Slice", {x, i64({n.dim_offset}, {1}), i64({n.dim_offset + n.dim}, {1}), i64({1}, {1})});
    } else {
      Value* x = desc_value(n, n.desc, n.lo, n.hi);
      name_ = n.name;
      const Comp& c = comps_.at(n.component);
      type_ = "<" + c.type + ">";
      n.value = apply(c, x, &n.logits);
    }
    name_ = saved_name, type_ = saved_type;
    return n.value;
  }

  Value* tiled(const Floats& f, int64_t dim, double (*map)(double, size_t)) {
    std::vector<float> v(static_cast<size_t>(dim));
    size_t n = static_cast<size_t>(f.dims[0]);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(map(at(f, i % n), i % n));
    return b_.owned_constant(b_.main_graph(), name_ + "/values", {dim}, v);
  }
  Value* scalar(float v) { return b_.owned_constant(b_.main_graph(), name_ + "/k", {1}, std::vector<float>{v}); }

  Value* apply(const Comp& c, Value* x, Value** logits) {
    const std::string& t = c.type;
    if (is_affine(t) || t == "LinearComponent") {
      std::vector<Value*> xs = {x, constant(floats_field(c, is_affine(t) ? "<LinearParams>" : "<Params>", 2), "weights")};
      if (is_affine(t)) xs.push_back(constant(floats_field(c, "<BiasParams>", 1), "bias"));
      return op("Gemm", xs, attr_i("transB", 1));
    }
    if (t == "SigmoidComponent") return op("Sigmoid", {x});
    if (t == "TanhComponent") return op("Tanh", {x});
    if (t == "RectifiedLinearComponent") return op("Relu", {x});
    if (t == "SoftmaxComponent" || t == "LogSoftmaxComponent") {
      *logits = x;
      return op(t == "SoftmaxComponent" ? "Softmax" : "LogSoftmax", {x}, attr_i("axis", 1));
    }
    if (is_elementwise(t)) return op("Identity", {x});  // NoOp, BackpropTruncation, Dropout, ClipGradient: identities at inference
    if (t == "LstmNonlinearityComponent") {
      // Input [i, f, g, o, c(t-1)] (cell-dim each), output [c(t), m(t)] (ComputeLstmNonlinearity):
      // i = sigmoid(i + w_ic c(t-1)), f = sigmoid(f + w_fc c(t-1)), c = f c(t-1) + i tanh(g),
      // o = sigmoid(o + w_oc c), m = o tanh(c).
      int64_t cell = c.out / 2;
      const Floats& w = floats_field(c, "<Params>", 2);
      auto part = [&](int64_t k) { return op("Slice", {x, i64({k * cell}, {1}), i64({(k + 1) * cell}, {1}), i64({1}, {1})}); };
      auto peephole = [&](size_t row) {
        std::vector<float> v(static_cast<size_t>(cell));
        for (size_t j = 0; j < v.size(); ++j) v[j] = at(w, row * v.size() + j);
        return b_.owned_constant(b_.main_graph(), name_ + "/peephole", {cell}, v);
      };
      Value* c_prev = part(4);
      Value* i = op("Sigmoid", {op("Add", {part(0), op("Mul", {c_prev, peephole(0)})})});
      Value* f = op("Sigmoid", {op("Add", {part(1), op("Mul", {c_prev, peephole(1)})})});
      Value* cell_now = op("Add", {op("Mul", {f, c_prev}), op("Mul", {i, op("Tanh", {part(2)})})});
      Value* o = op("Sigmoid", {op("Add", {part(3), op("Mul", {cell_now, peephole(2)})})});
      return op("Concat", {cell_now, op("Mul", {o, op("Tanh", {cell_now})})}, attr_i("axis", 1));
    }
    if (t == "NormalizeComponent") {
      // y = x / sqrt(max(sum(x^2) / (block * target_rms^2), 2^-66)) per block, so y's rms is
      // target_rms (NormalizePerRow); with <AddLogStddev> the log of that root, plus log(target_rms).
      int64_t block = int_field(c, "<BlockDim>", c.in);
      double rms = real_field(c, "<TargetRms>", 1);
      bool add_log = bool_field(c, "<AddLogStddev>", false);
      Value* xb = block == c.in ? x : op("Reshape", {x, i64({-1, block}, {2})});
      Value* ones = b_.owned_constant(b_.main_graph(), name_ + "/ones", {block, 1}, std::vector<float>(static_cast<size_t>(block), 1.0f));
      Value* ms = op("Mul", {op("MatMul", {op("Mul", {xb, xb}), ones}), scalar(static_cast<float>(1.0 / (static_cast<double>(block) * rms * rms)))});
      Value* floored = op("Max", {ms, scalar(1.3552527156068805425e-20f)});
      Value* y = op("Mul", {xb, op("Reciprocal", {op("Sqrt", {floored})})});
      if (add_log) y = op("Concat", {y, op("Add", {op("Mul", {op("Log", {floored}), scalar(0.5f)}), scalar(static_cast<float>(std::log(rms)))})}, attr_i("axis", 1));
      return block == c.in ? y : op("Reshape", {y, i64({-1, c.out}, {2})});
    }
    if (t == "BatchNormComponent") {
      // Test mode (nnet3-compute sets it): y = (x - mean) * target_rms / sqrt(var + epsilon).
      const Floats& mean = floats_field(c, "<StatsMean>", 1);
      const Floats& var = floats_field(c, "<StatsVar>", 1);
      double eps = real_field(c, "<Epsilon>", 1e-3), rms = real_field(c, "<TargetRms>", 1);
      std::vector<float> scale(static_cast<size_t>(c.in)), shift(scale.size());
      size_t block = static_cast<size_t>(mean.dims[0]);
      for (size_t i = 0; i < scale.size(); ++i) {
        double k = rms / std::sqrt(std::max<double>(at(var, i % block), 0.0) + eps);
        scale[i] = static_cast<float>(k);
        shift[i] = static_cast<float>(-at(mean, i % block) * k);
      }
      Value* y = op("Mul", {x, b_.owned_constant(b_.main_graph(), name_ + "/scale", {c.in}, scale)});
      return op("Add", {y, b_.owned_constant(b_.main_graph(), name_ + "/offset", {c.in}, shift)});
    }
    if (t == "ElementwiseProductComponent") {
      Value* y = nullptr;
      for (int64_t k = 0; k < c.in / c.out; ++k) {
        Value* part = op("Slice", {x, i64({k * c.out}, {1}), i64({(k + 1) * c.out}, {1}), i64({1}, {1})});
        y = y ? op("Mul", {y, part}) : part;
      }
      return y;
    }
    auto same = [](double v, size_t) { return v; };
    if (t == "FixedScaleComponent") return op("Mul", {x, tiled(floats_field(c, "<Scales>", 1), c.in, same)});
    if (t == "PerElementScaleComponent") return op("Mul", {x, tiled(floats_field(c, "<Params>", 1), c.in, same)});
    if (t == "FixedBiasComponent") return op("Add", {x, tiled(floats_field(c, "<Bias>", 1), c.in, same)});
    return op("Add", {x, tiled(floats_field(c, "<Offsets>", 1), c.in, same)});
  }

  std::unique_ptr<Model> nnet3() {
    read_config();
    read_components();
    std::vector<Node*> outputs;
    for (Node& n : nodes_)
      if (n.kind == "output-node") outputs.push_back(&n);
    if (outputs.empty()) fail_invalid(label_ + ": the nnet3 config has no output-node");
    for (Node* o : outputs) visit(*o, 0);
    for (size_t k = 0; k < recurrences_.size(); ++k) visit(nodes_[recurrences_[k].target], 0);  // may add more
    make_loops();
    // Pad the inputs so that every output covers all frames (the model's left/right context).
    int64_t left = 0, right = 0;
    for (Node* o : outputs) left = std::max(left, o->lo), right = std::max(right, -o->hi);
    for (Node& n : nodes_) n.lo -= left, n.hi += right;
    for (Loop& l : loops_) l.lo -= left, l.hi += right;
    for (Node* o : outputs) {
      name_ = o->name, type_ = "<output-node>";
      Value* y = desc_value(*o, o->desc, 0, 0);
      Value* logits = nullptr;
      std::string final_op;
      if (o->desc.op.empty()) {
        Node& last = node_named(*o, o->desc.text);
        if (last.logits) {
          logits = rows(last.logits, last.lo, last.hi, 0, 0);
          final_op = comps_.at(last.component).type == "SoftmaxComponent" ? "Softmax" : "LogSoftmax";
        }
      }
      name_ = o->name + "/final";  // not the output's own name, which the graph output keeps
      if (!options_.counts_path.empty()) {
        Value* shifted = subtract_log_priors(logits ? logits : y, o->out_dim);
        y = logits && !options_.remove_output_softmax ? op(final_op, {shifted}, attr_i("axis", 1)) : shifted;
      } else if (logits && options_.remove_output_softmax) {
        y = logits;
      }
      b_.output(b_.main_graph(), y, o->name);
    }
    return b_.finish();
  }


  // ---- recurrent loops: every node on a path from an IfDefined user back to its target runs
  // per frame inside one Scan, from a zero history at the first frame the loop's other inputs
  // cover (as nnet3-compute runs an utterance in one chunk without extra left context). ----

  // The nodes `n` reads directly (not through IfDefined).
  void direct_inputs(const Node& n, const Desc& d, std::vector<size_t>& out) {
    if (d.op.empty()) out.push_back(node_index_.at(node_named(n, d.text).name));
    if (d.op == "IfDefined" || d.op == "#") return;
    for (const Desc& a : d.args) direct_inputs(n, a, out);
  }
  std::vector<size_t> direct_inputs(const Node& n) {
    std::vector<size_t> out;
    if (n.kind == "dim-range-node") out.push_back(node_index_.at(node_named(n, n.input_node).name));
    else if (n.kind != "input-node") direct_inputs(n, n.desc, out);
    return out;
  }

  void make_loops() {
    if (recurrences_.empty()) return;
    // depends[i]: whether node i (directly or not) reads the user of the recurrence at hand.
    std::vector<std::vector<size_t>> inputs(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].state == 2) inputs[i] = direct_inputs(nodes_[i]);
    std::vector<int> group(nodes_.size(), -1);
    std::vector<int> parent;
    auto find = [&](int g) { while (parent[g] != g) g = parent[g] = parent[parent[g]]; return g; };
    for (const Recurrence& r : recurrences_) {
      // Nodes between user and target: those the target reaches (backwards) that reach the user.
      std::vector<int> reaches(nodes_.size(), -1);  // -1 unknown, 0 no, 1 yes
      std::vector<std::pair<size_t, size_t>> stack = {{r.target, 0}};
      reaches[r.target] = 2;  // in progress
      while (!stack.empty()) {
        auto& [i, k] = stack.back();
        if (i == r.user) { reaches[i] = 1; stack.pop_back(); continue; }
        if (k < inputs[i].size()) {
          size_t j = inputs[i][k++];
          if (reaches[j] == -1) { reaches[j] = 2; stack.push_back({j, 0}); }
          continue;
        }
        bool any = false;
        for (size_t j : inputs[i]) any = any || reaches[j] == 1;
        reaches[i] = any ? 1 : 0;
        stack.pop_back();
      }
      if (reaches[r.target] != 1)
        unsupported_config(nodes_[r.user], "IfDefined reads " + nodes_[r.target].name + ", which does not depend on this node: only recurrences (loops) are supported");
      int g = static_cast<int>(parent.size());
      parent.push_back(g);
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (reaches[i] != 1) continue;
        if (group[i] >= 0) parent[find(group[i])] = g;
        group[i] = g;
      }
    }
    std::map<int, size_t> loop_of;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (group[i] < 0) continue;
      int root = find(group[i]);
      if (!loop_of.count(root)) loop_of[root] = loops_.size(), loops_.emplace_back();
      Loop& l = loops_[loop_of[root]];
      Node& n = nodes_[i];
      if (n.lo <= kUnbounded / 2 || n.hi >= -kUnbounded / 2) unsupported_config(n, "a recurrent loop that reads no frames from outside itself");
      if (!l.nodes.empty() && (n.lo != l.lo || n.hi != l.hi))
        unsupported_config(n, "a recurrent loop whose nodes cover different frames (their inputs from outside the loop are offset differently)");
      l.lo = n.lo, l.hi = n.hi;
      l.nodes.push_back(i);
      n.loop = static_cast<int>(loop_of[root]);
    }
    for (const Recurrence& r : recurrences_) {
      Loop& l = loops_[static_cast<size_t>(nodes_[r.target].loop)];
      bool found = false;
      for (auto& st : l.states)
        if (st.first == r.target) st.second = std::max(st.second, r.delay), found = true;
      if (!found) l.states.push_back({r.target, r.delay});
    }
  }

  struct FrameBuild {
    Graph* body;
    Loop* loop;
    std::map<size_t, Value*> frame;    // node -> its [1, dim] value at the current frame
    std::map<size_t, Value*> history;  // state node -> [delay, dim], oldest first
    std::vector<Value*> scan_inputs;   // [frames, dim] tensors of the main graph
  };

  bool reads_loop(const Node& owner, const Desc& d, const Loop& l) {
    if (d.op.empty()) return nodes_[node_index_.at(node_named(owner, d.text).name)].loop == static_cast<int>(&l - loops_.data());
    if (d.op == "IfDefined") return true;
    for (const Desc& a : d.args)
      if (a.op != "#" && reads_loop(owner, a, l)) return true;
    return false;
  }

  Value* frame_desc(FrameBuild& fb, const Node& owner, const Desc& d) {
    if (!reads_loop(owner, d, *fb.loop)) {
      // From outside the loop: computed over all of the loop's frames, fed in frame by frame.
      Graph* saved = graph_;
      std::string saved_name = name_;
      graph_ = nullptr;
      Value* all = desc_value(owner, d, fb.loop->lo, fb.loop->hi);
      graph_ = saved, name_ = saved_name;
      fb.scan_inputs.push_back(all);
      int64_t dim = span(owner, d, 0).dim;
      Value* x = b_.input(*fb.body, name_ + "/in" + std::to_string(fb.scan_inputs.size()), Type::tensor(DataType::kFloat, Shape{Dim::of(dim)}));
      return op("Reshape", {x, i64({1, dim}, {2})});
    }
    if (d.op.empty()) return frame_node(fb, node_index_.at(d.text));
    if (d.op == "IfDefined") {
      const Desc& inner = d.args[0];
      size_t x = node_index_.at(inner.args[0].text);
      int64_t delay = -offset_arg(owner, inner.args[1]);
      Value* h = fb.history.at(x);
      int64_t kept = 0;
      for (auto& st : fb.loop->states)
        if (st.first == x) kept = st.second;
      return op("Slice", {h, i64({kept - delay}, {1}), i64({kept - delay + 1}, {1}), i64({0}, {1})});
    }
    if (d.op == "Offset") unsupported_config(owner, "a time offset inside a recurrent loop (only IfDefined(Offset(node, -d)) may step back in time there)");
    if (d.op == "Scale") return op("Mul", {frame_desc(fb, owner, d.args[1]), b_.owned_constant(b_.main_graph(), name_ + "/scale", {1}, std::vector<float>{static_cast<float>(number_arg(owner, d.args[0]))})});
    std::vector<Value*> parts;
    for (const Desc& a : d.args) parts.push_back(frame_desc(fb, owner, a));
    if (parts.size() == 1) return parts[0];
    if (d.op == "Append") return op("Concat", parts, attr_i("axis", 1));
    Value* sum = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) sum = op("Add", {sum, parts[i]});
    return sum;
  }

  Value* frame_node(FrameBuild& fb, size_t i) {
    auto it = fb.frame.find(i);
    if (it != fb.frame.end()) return it->second;
    Node& n = nodes_[i];
    std::string saved_name = name_, saved_type = type_;
    name_ = n.name, type_ = "<" + n.kind + ">";
    Value* v;
    if (n.kind == "dim-range-node") {
      Value* x = frame_node(fb, node_index_.at(n.input_node));
      name_ = n.name;
      v = op("Slice", {x, i64({n.dim_offset}, {1}), i64({n.dim_offset + n.dim}, {1}), i64({1}, {1})});
    } else {
      Value* x = frame_desc(fb, n, n.desc);
      name_ = n.name;
      const Comp& c = comps_.at(n.component);
      type_ = "<" + c.type + ">";
      Value* ignored = nullptr;
      v = apply(c, x, &ignored);
    }
    name_ = saved_name, type_ = saved_type;
    return fb.frame[i] = v;
  }

  void build_loop(size_t index) {
    Loop& l = loops_[index];
    FrameBuild fb;
    fb.loop = &l;
    std::string loop_name = nodes_[l.nodes.front()].name + "/loop";
    fb.body = b_.new_subgraph(b_.main_graph(), loop_name);
    Graph* saved = graph_;
    std::string saved_name = name_, saved_type = type_;
    graph_ = fb.body;
    name_ = loop_name;
    std::vector<Value*> initial;
    for (auto& [node, kept] : l.states) {
      int64_t dim = nodes_[node].out_dim;
      if (kept * dim > kMaxMadeUp) fail(ErrorKind::kResourceLimit, label_ + ": the history of " + nodes_[node].name + " is over 2^24 values");
      fb.history[node] = b_.input(*fb.body, nodes_[node].name + "/history", Type::tensor(DataType::kFloat, Shape{Dim::of(kept), Dim::of(dim)}));
      initial.push_back(b_.owned_constant(b_.main_graph(), nodes_[node].name + "/history0", {kept, dim}, std::vector<float>(static_cast<size_t>(kept * dim), 0.0f)));
    }
    for (size_t i : l.nodes) frame_node(fb, i);
    name_ = loop_name;
    for (auto& [node, kept] : l.states) {
      Value* now = fb.frame.at(node);
      Value* h = kept == 1 ? now : op("Concat", {op("Slice", {fb.history.at(node), i64({1}, {1}), i64({kept}, {1}), i64({0}, {1})}), now}, attr_i("axis", 0));
      b_.output(*fb.body, h, nodes_[node].name + "/history_next");
    }
    for (size_t i : l.nodes) b_.output(*fb.body, op("Reshape", {fb.frame.at(i), i64({nodes_[i].out_dim}, {1})}), nodes_[i].name + "/frame");
    graph_ = saved;
    if (fb.scan_inputs.empty()) unsupported_config(nodes_[l.nodes.front()], "a recurrent loop that reads no frames from outside itself");
    std::vector<Attribute> attrs(2);
    attrs[0].name = "body";
    attrs[0].kind = AttrKind::kGraph;
    attrs[0].g = b_.take_subgraph(fb.body);
    attrs[1].name = "num_scan_inputs";
    attrs[1].kind = AttrKind::kInt;
    attrs[1].i = static_cast<int64_t>(fb.scan_inputs.size());
    std::vector<Value*> ins = initial;
    ins.insert(ins.end(), fb.scan_inputs.begin(), fb.scan_inputs.end());
    std::vector<Value*> outs = b_.node(graph_ ? *graph_ : b_.main_graph(), "Scan", ins, std::move(attrs), l.states.size() + l.nodes.size(), "", loop_name);
    for (size_t k = 0; k < l.nodes.size(); ++k) nodes_[l.nodes[k]].value = outs[l.states.size() + k];
    name_ = saved_name, type_ = saved_type;
  }

  std::vector<Recurrence> recurrences_;
  std::vector<Loop> loops_;
  Graph* graph_ = nullptr;  // where op() adds nodes: a Scan body while one is built, else the main graph
  std::vector<Node> nodes_;
  std::map<std::string, size_t> node_index_;
  std::map<std::string, Comp> comps_;

  std::shared_ptr<const Storage> data_;
  std::string label_;
  KaldiOptions options_;
  Stream s_;
  Builder b_;
  std::string name_, type_;
  std::vector<Value*> outputs_;
};

// The message with control bytes and bytes that are not valid UTF-8 (quoted from a damaged
// binary file) shown as '?', so that it reaches Python as text.
std::string clean_message(const std::string& m) {
  std::string out;
  for (size_t i = 0; i < m.size();) {
    unsigned char c = static_cast<unsigned char>(m[i]);
    // Well-formed UTF-8 (RFC 3629 table 3-7): no overlong forms, surrogates or code points past
    // U+10FFFF, which Python's decoder refuses.
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = len > 0 && i + len <= m.size() && (len > 1 || c >= 0x20 || c == '\n');
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(m[i + k]) >> 6) == 2;
    if (ok && len > 2) {
      unsigned char c1 = static_cast<unsigned char>(m[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 > 0x9F) && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 > 0x8F);
    }
    if (ok) {
      out.append(m, i, len);
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Model> read_kaldi(std::shared_ptr<const Storage> data, const std::string& label, const KaldiOptions& options) {
  try {
    return Translator(std::move(data), label, options).run();
  } catch (const Error& e) {
    throw Error(e.kind(), clean_message(e.what()));  // messages quote bytes of the file
  }
}

std::unique_ptr<Model> read_kaldi_file(const std::string& path, const KaldiOptions& options) {
  return read_kaldi(std::make_shared<MappedStorage>(MappedFile::open(path)), path, options);
}

}  // namespace irforge
