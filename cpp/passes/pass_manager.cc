#include "passes/pass_manager.h"

#include <chrono>
#include <memory>

#include "ir/verifier.h"
#include "passes/registry.h"
#include "support/error.h"

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

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  std::vector<PipelineStep> parse() {
    std::vector<PipelineStep> steps = list(false);
    skip_space();
    if (pos_ != s_.size()) error("unexpected '" + std::string(1, s_[pos_]) + "'");
    return steps;
  }

 private:
  std::vector<PipelineStep> list(bool in_group) {
    std::vector<PipelineStep> steps;
    for (;;) {
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] == ')') break;
      steps.push_back(step());
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

  PipelineStep step() {
    PipelineStep st;
    if (s_[pos_] == '(') {
      ++pos_;
      st.group = list(true);
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ')') error("missing ')'");
      ++pos_;
      st.max_rounds = 8;
      if (pos_ < s_.size() && s_[pos_] == '*') {
        ++pos_;
        size_t start = pos_;
        while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        if (start == pos_) error("expected a round count after '*'");
        st.max_rounds = std::stoi(s_.substr(start, pos_ - start));
        if (st.max_rounds < 1 || st.max_rounds > 1000) error("round count must be 1..1000");
      }
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
      fail(ErrorKind::kUnsupported, "unknown pass '" + name + "' in pipeline \"" + s_ + "\"; passes: " + known);
    }
    st.pass = name;
    return st;
  }

  void skip_space() {
    while (pos_ < s_.size() && isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  [[noreturn]] void error(const std::string& what) {
    fail(ErrorKind::kUnsupported, "bad pipeline \"" + s_ + "\" at position " + std::to_string(pos_) + ": " + what);
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
    } catch (const Error& e) {
      throw Error(e.kind(), "pass '" + name + "' failed: " + e.what());
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
  return r.runs;
}

}  // namespace irforge::passes
