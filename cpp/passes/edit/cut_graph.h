// Cutting a model as Model Optimizer's --input / --output did (ovc dropped it): `--input` naming
// an inner tensor makes that tensor a new graph input, `--output` naming tensors makes them the
// graph outputs; everything no output needs any more is removed. Not a pipeline pass (it needs
// the user's names); convert_model applies it before the input specs and the pipeline.
//
//   inputs:  x → A → t → B → y        cut inputs {t}:   t' → B → y   (x and A are gone)
//   outputs: {t}                                         x → A → t
//
// Rules (a UsageError naming the tensor when broken, nothing changed):
// - every name is a tensor of the main graph (a graph input, a node output; outputs may not be
//   initializers or constants, there is nothing to compute);
// - a cut input needs a known element type (a tensor type in the model, or given by the caller);
// - after the cut, every new input must feed some output, and every model input the outputs
//   still need must be one the caller kept (`keep_inputs`): else the cut does not separate the
//   graph (the outputs still depend on data from before the cut).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

struct CutInput {
  std::string name;
  DataType type = DataType::kUndefined;  // kUndefined: the tensor's type in the model
};

// `cut_inputs`: inner tensors that become inputs; `keep_inputs`: model inputs the caller named
// (they stay even when a cut is given); `outputs`: new outputs in order (empty: keep the model's).
// Model inputs neither named nor needed are dropped when any cut input or output is given.
// `input_order`: input names in the order the caller gave them; the inputs follow it (as ovc).
void cut_graph(Model& model, const std::vector<CutInput>& cut_inputs, const std::vector<std::string>& keep_inputs,
               const std::vector<std::string>& outputs, const std::vector<std::string>& input_order = {});

}  // namespace irforge::passes
