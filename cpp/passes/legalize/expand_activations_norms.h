// Expanders (see expand_fused_ops.h) for the activations and normalizations the elementwise
// fusions create: each writes the op's definition from the ONNX spec with ops of the target
// opset. Scalars take the element type of the fused node.
#pragma once

#include <cstdint>

#include "ir/graph.h"

namespace irforge::passes {

void expand_gelu(Graph& g, Node* node, int64_t opset);                 // Gelu-20
void expand_layer_normalization(Graph& g, Node* node, int64_t opset);  // LayerNormalization-17
void expand_rms_normalization(Graph& g, Node* node, int64_t opset);    // RMSNormalization-23
void expand_swish(Graph& g, Node* node, int64_t opset);                // Swish-24
void expand_hard_sigmoid(Graph& g, Node* node, int64_t opset);         // HardSigmoid-6
void expand_hard_swish(Graph& g, Node* node, int64_t opset);           // HardSwish-14
void expand_mish(Graph& g, Node* node, int64_t opset);                 // Mish-18

}  // namespace irforge::passes
