// fuse-attention — recognises scaled dot-product attention written out as ops and replaces it
// by one ONNX Attention (opset 23) node with 4-D [batch, heads, seq, head_size] inputs.
//
// Why: the OpenVINO writer lowers Attention to ScaledDotProductAttention-13, which the CPU plugin
// runs as one fused kernel (no [B, H, S, L] score tensor in memory), and the graph loses 4-7
// layers per attention block. ONNX output below opset 23 gets the decomposition back
// (expand_attention, registered in legalize/expand_fused_ops.cc).
//
// Math:   Y = softmax(scale · Q·Kᵀ + mask + causal) · V
//
//   Q ─[Mul/Div c]──────────────────────┐
//   K ─[Mul/Div c]─Transpose(…)─────────MatMul─[Mul/Div c]─[Add mask | Where(causal, -big)]─Softmax(-1)─MatMul── Y
//   V ─[Unsqueeze(2)→Expand→Reshape: GQA head repeat]───────────────────────────────────────────────────┘
//     ⇒  Attention(Q, K', V', mask; scale = product of the constants, is_causal)
// K' is K in [B, H, L, E] order (the transposes feeding the MatMul, with the last two axes swapped,
// composed into one Transpose, or none when that is the identity); a GQA head repeat of K and V
// (Unsqueeze at axis 2, Expand of that axis, Reshape merging it into the heads) is dropped, since
// Attention repeats kv heads itself, in the same order ([h0, h0, h1, h1, ...]).
// Causal masks are recognised when they provably mask exactly the keys j > i: constant tensors
// with that pattern; Trilu of ConstantOfShape or of an Expand-ed scalar (torch.tril/triu, as a
// masked_fill condition or an additive mask); Range-index comparisons (arange(L) > arange(S)[:,
// None]); Not/Cast/Equal-to-0 of those.
// The masking value must be -inf or at most half the type's lowest value, so masked keys get
// weight exactly 0 as with -inf. Any other additive mask becomes attn_mask.
//
// Must not fire when: softmax is not over the last axis; the transpose does not make the second
// MatMul operand Kᵀ; a scale is not a scalar constant; any intermediate has another user or is a
// graph output; ranks are not known to be 4; a mask cannot broadcast to [B, Hq, S, L]; known dims
// disagree (batch of Q/K/V, heads, key lengths). Dims that shape inference could not name are
// accepted: the original and the fused op differ only when a length-1 axis broadcasts against a
// longer one, which attention blocks do not do.
// Semantic note: a score row whose every entry is -inf gives NaN in the decomposed form and 0 in
// ONNX Attention. Fused nodes with a mask carry metadata irforge.fully_masked_rows=nan: the
// OpenVINO lowering then keeps the source's NaN (SDPA's own result) instead of adding a 3-layer
// guard, and the expander writes the source form back; only onnxruntime's Attention (opset >= 23
// output) gives 0 for such rows. Torch masks use the lowest finite value, so they do not occur.
#pragma once

#include <cstdint>

#include "passes/pass.h"

namespace irforge::passes {

class FuseAttention final : public Pass {
 public:
  const char* name() const override { return "fuse-attention"; }
  const char* summary() const override { return "fuse MatMul-scale-mask-Softmax-MatMul attention (GQA, causal) into Attention"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

// The legalize expander for Attention (see legalize/expand_fused_ops.h): rewrites an Attention
// node as MatMul/Mul/Add/Where/Softmax/MatMul ops of `opset` (>= 11 for causal masks). Handles
// the 4-D forms fuse-attention creates; throws kUnsupported for past/present, softcap, qk
// outputs, windows and 3-D inputs.
void expand_attention(Graph& graph, Node* node, int64_t opset);

// onnxruntime (1.32) requires an Attention mask's query axis to equal the query length, though
// the spec lets it broadcast ([B,1,1,L] BERT masks): such nodes are expanded for ONNX output.
bool attention_runs_in_onnxruntime(const Node& node);

}  // namespace irforge::passes
