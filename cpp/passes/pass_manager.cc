#include "passes/pass_manager.h"

#include "ir/validate_ops.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "ir/verifier.h"
#include "passes/registry.h"
#include "support/error.h"
#include "support/exception_text.h"
#include "support/usage_error.h"

namespace irforge::passes {

int64_t count_nodes(const Graph& g) {
  int64_t n = 0;
  for (const auto& node : g.nodes()) {
    ++n;
    for (Graph* sub : node->subgraphs()) n += count_nodes(*sub);
  }
  return n;
}

namespace {

// Pipeline text comes from users (CLI, API): every limit is checked while parsing, so no text
// can overflow an integer, recurse without bound or schedule an endless run.
constexpr size_t kMaxPipelineChars = 4096;
constexpr int kMaxGroupDepth = 8;
constexpr int kDefaultRounds = 8;
constexpr int kMaxRounds = 1000;
constexpr int64_t kMaxPassRuns = 10000;  // worst case: every group runs all its rounds

// The bad part of the text, quoted on one line (control characters shown as '?').
std::string excerpt(const std::string& text, size_t at) {
  constexpr size_t kRadius = 24;
  size_t from = at > kRadius ? at - kRadius : 0, to = std::min(text.size(), at + kRadius);
  std::string out = from > 0 ? "..." : "";
  for (size_t i = from; i < to; ++i) out += std::iscntrl(static_cast<unsigned char>(text[i])) ? '?' : text[i];
  if (to < text.size()) out += "...";
  return "\"" + out + "\"";
}

// "';'" for a printable character, "character 0x00" otherwise (messages stay one clean line).
std::string describe_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return "'" + std::string(1, c) + "'";
  const char* hex = "0123456789abcdef";
  return std::string("character 0x") + hex[u >> 4] + hex[u & 15];
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  std::vector<PipelineStep> parse() {
    if (s_.size() > kMaxPipelineChars)
      fail_usage("pipeline text is " + std::to_string(s_.size()) + " characters long, more than the limit of " +
                 std::to_string(kMaxPipelineChars) + ": " + excerpt(s_, 0));
    std::vector<PipelineStep> steps = list(false, 0);
    skip_space();
    if (pos_ != s_.size()) error("unexpected " + describe_char(s_[pos_]));
    int64_t runs = 0;
    for (const auto& st : steps) runs += worst_case_runs(st);
    if (runs > kMaxPassRuns)
      fail_usage("pipeline " + excerpt(s_, 0) + " could run more than " + std::to_string(kMaxPassRuns) +
                 " passes (every group repeating all its rounds): lower the round counts");
    return steps;
  }

 private:
  // Saturates at kMaxPassRuns + 1: products of round counts cannot overflow.
  static int64_t worst_case_runs(const PipelineStep& st) {
    if (!st.pass.empty()) return 1;
    int64_t inner = 0;
    for (const auto& sub : st.group) inner = std::min(inner + worst_case_runs(sub), kMaxPassRuns + 1);
    return std::min(inner * st.max_rounds, kMaxPassRuns + 1);
  }

  std::vector<PipelineStep> list(bool in_group, int depth) {
    std::vector<PipelineStep> steps;
    for (;;) {
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] == ')') {
        if (!steps.empty()) error("expected a pass name after ','");
        break;
      }
      steps.push_back(step(depth));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      break;
    }
    if (in_group && steps.empty()) error("empty group");
    return steps;
  }

  PipelineStep step(int depth) {
    PipelineStep st;
    if (s_[pos_] == '(') {
      if (depth >= kMaxGroupDepth) error("groups nested more than " + std::to_string(kMaxGroupDepth) + " deep");
      ++pos_;
      st.group = list(true, depth + 1);
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ')') error("missing ')'");
      ++pos_;
      st.max_rounds = kDefaultRounds;
      if (pos_ < s_.size() && s_[pos_] == '*') st.max_rounds = round_count();
      return st;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && (isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' || s_[pos_] == '_')) ++pos_;
    if (start == pos_) error("expected a pass name");
    std::string name = s_.substr(start, pos_ - start);
    if (name == "default") {
      PipelineStep group;
      group.group = Parser(default_pipeline()).parse();
      group.max_rounds = 1;
      return group;
    }
    if (!create_pass(name)) {
      std::string known;
      for (const auto& p : list_passes()) known += (known.empty() ? "" : ", ") + p.name;
      pos_ = start;
      error("unknown pass '" + name + "'; passes: " + known);
    }
    st.pass = name;
    return st;
  }

  // "*N" after a group: N in 1..kMaxRounds, read digit by digit (no overflow, no sign).
  int round_count() {
    size_t star = pos_++;
    skip_space();
    size_t start = pos_;
    int64_t n = 0;
    while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) {
      n = std::min<int64_t>(n * 10 + (s_[pos_] - '0'), kMaxRounds + 1);
      ++pos_;
    }
    if (start == pos_) {
      pos_ = star;
      error("expected a round count (1.." + std::to_string(kMaxRounds) + ") after '*'");
    }
    if (n < 1 || n > kMaxRounds) {
      pos_ = star;
      error("round count '" + s_.substr(start, std::min<size_t>(pos_ - start, 24)) + "' is not within 1.." + std::to_string(kMaxRounds));
    }
    return static_cast<int>(n);
  }

  void skip_space() {
    while (pos_ < s_.size() && isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  [[noreturn]] void error(const std::string& what) {
    fail_usage("bad pipeline at position " + std::to_string(pos_) + " " + excerpt(s_, pos_) + ": " + what);
  }

  const std::string& s_;
  size_t pos_ = 0;
};

class Runner {
 public:
  Runner(Model& m, const PipelineOptions& o) : model_(m), opts_(o) {}
  std::vector<PassRun> runs;

  bool steps(const std::vector<PipelineStep>& steps) {
    bool changed = false;
    for (const auto& st : steps) changed |= step(st);
    return changed;
  }

 private:
  bool step(const PipelineStep& st) {
    if (!st.pass.empty()) return pass(st.pass);
    bool any = false;
    for (int round = 0; round < st.max_rounds; ++round) {
      if (!steps(st.group)) break;
      any = true;
    }
    return any;
  }

  bool pass(const std::string& name) {
    std::unique_ptr<Pass> p = create_pass(name);
    PassRun run;
    run.name = name;
    run.nodes_before = count_nodes(*model_.graph);
    auto t0 = std::chrono::steady_clock::now();
    PassResult r;
    try {
      r = p->run(model_, opts_.pass);
    } catch (const UsageError& e) {
      throw UsageError("pass '" + name + "' failed: " + e.what());
    } catch (const Error& e) {
      throw Error(e.kind(), "pass '" + name + "' failed: " + e.what());
    } catch (const std::logic_error& e) {
      // A bug in the pass (an unchecked index, ...): name the pass so the report can. Other
      // exceptions (bad_alloc, a Python exception from a Python pass) pass through unchanged.
      throw Error(ErrorKind::kInternal, "pass '" + name + "' failed: " + exception_text(e));
    } catch (const std::runtime_error& e) {
      throw Error(ErrorKind::kInternal, "pass '" + name + "' failed: " + exception_text(e));
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    run.changed = r.changed;
    run.rewrites = r.rewrites;
    run.nodes_after = count_nodes(*model_.graph);
    if (opts_.verify) verify_or_throw(model_, "after pass '" + name + "'");
    if (opts_.after_pass) opts_.after_pass(name, model_);
    runs.push_back(run);
    return r.changed;
  }

  Model& model_;
  const PipelineOptions& opts_;
};

}  // namespace

std::vector<PipelineStep> parse_pipeline(const std::string& text) { return Parser(text).parse(); }

std::vector<PassRun> run_pipeline(Model& model, const std::string& pipeline, const PipelineOptions& options) {
  auto steps = parse_pipeline(pipeline);
  Runner r(model, options);
  r.steps(steps);
  // The passes learnt ranks and dims the reader's validation could not use: a node those make
  // invalid is refused here, not written into a model no runtime (nor irforge) reads back.
  if (!r.runs.empty()) validate_op_rules(model);
  return r.runs;
}

}  // namespace irforge::passes
