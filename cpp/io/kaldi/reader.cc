#include "io/kaldi/reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

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
    expect("[");
    int64_t rows = 0, cols = -1, in_row = 0;
    int row_line = line_;
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
    if (first == "<Nnet3>") fail(ErrorKind::kUnsupported, label_ + ": an nnet3 model; irforge reads Kaldi nnet1 models only (yet)");
    if (first == "<TransitionModel>") fail(ErrorKind::kUnsupported, label_ + ": a model with a transition model (nnet2/nnet3 .mdl); irforge reads Kaldi nnet1 models only (yet)");
    if (first != "<Nnet>") s_.bad("not a Kaldi nnet1 model (expected <Nnet>, found '" + first + "')");
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
    return b_.node(b_.main_graph(), t, in, std::move(a), 1, "", name_)[0];
  }
  Value* constant(Floats f, const std::string& what) {
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
    fail(ErrorKind::kUnsupported, label_ + ": component " + name_ + " of type " + t +
                                      " is not supported (supported: AffineTransform, LinearTransform, AddShift, Rescale, Splice, Sigmoid, Tanh, Softmax, Dropout)");
  }

  std::shared_ptr<const Storage> data_;
  std::string label_;
  KaldiOptions options_;
  Stream s_;
  Builder b_;
  std::string name_, type_;
  std::vector<Value*> outputs_;
};

}  // namespace

std::unique_ptr<Model> read_kaldi(std::shared_ptr<const Storage> data, const std::string& label, const KaldiOptions& options) {
  return Translator(std::move(data), label, options).run();
}

std::unique_ptr<Model> read_kaldi_file(const std::string& path, const KaldiOptions& options) {
  return read_kaldi(std::make_shared<MappedStorage>(MappedFile::open(path)), path, options);
}

}  // namespace irforge
