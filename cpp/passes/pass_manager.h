// Runs pipelines of passes given as text:
//   "dce,remove-identity"            passes in order
//   "(fold,dce)"                     a fixed-point group: repeated until no pass changes the
//                                    model, at most 8 rounds
//   "(fold,dce)*3"                   the same with an explicit cap (1..1000)
//   "default"                        the default pipeline (registry.h)
// Limits (pipeline text comes from users): at most 4096 characters, groups nested at most 8
// deep, and at most 10000 pass runs in the worst case (every group using all its rounds).
// Each run is timed and counted; the IR is verified after each pass when asked (tests do), and
// an error inside a pass names it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace irforge::passes {

struct PassRun {
  std::string name;
  double seconds = 0;
  bool changed = false;
  int64_t rewrites = 0;
  int64_t nodes_before = 0, nodes_after = 0;
};

struct PipelineOptions {
  PassOptions pass;
  bool verify = false;  // run the IR verifier after every pass
  // Called after each pass with its name (for --dump_after).
  std::function<void(const std::string& pass, const Model& model)> after_pass;
};

// Parses and validates pipeline text; throws UsageError quoting the bad part (syntax, unknown
// pass, a limit above).
struct PipelineStep {
  std::string pass;              // a single pass, or empty for a group
  std::vector<PipelineStep> group;
  int max_rounds = 1;
};
std::vector<PipelineStep> parse_pipeline(const std::string& text);

std::vector<PassRun> run_pipeline(Model& model, const std::string& pipeline, const PipelineOptions& options);

int64_t count_nodes(const Graph& g);

}  // namespace irforge::passes
