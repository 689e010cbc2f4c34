#include "io/mxnet/rnn_params.h"

#include <algorithm>

#include "support/error.h"

namespace irforge::mxnet {

namespace {

// ONNX gate block k is MXNet gate block order[k].
const std::vector<int>& onnx_gate_order(int gates) {
  static const std::vector<int> lstm = {0, 3, 1, 2}, gru = {1, 0, 2}, rnn = {0};
  return gates == 4 ? lstm : gates == 3 ? gru : rnn;
}

// Appends the `gates` row blocks of `rows_per_gate·cols` floats at flat[at...] to `out` in ONNX
// gate order.
void append_reordered(const std::vector<float>& flat, size_t at, int gates, size_t block, std::vector<float>& out) {
  for (int k : onnx_gate_order(gates)) {
    auto from = flat.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(k) * block);
    out.insert(out.end(), from, from + static_cast<std::ptrdiff_t>(block));
  }
}

}  // namespace

std::vector<RnnLayerWeights> split_rnn_parameters(const std::vector<float>& flat, int gates, int64_t hidden, int64_t layers, int64_t dirs,
                                                  const std::string& where) {
  const int64_t gh = gates * hidden;  // callers bound hidden and layers, so none of this overflows
  // Everything but layer 0's input weights: its recurrent weights, the deeper layers' weights
  // (their input is dirs·H wide) and all biases.
  const int64_t fixed = dirs * gh * hidden + (layers - 1) * dirs * gh * (dirs * hidden + hidden) + layers * dirs * 2 * gh;
  const int64_t total = static_cast<int64_t>(flat.size());
  const int64_t per_input = dirs * gh;
  if (total <= fixed || (total - fixed) % per_input)
    fail_invalid(where + ": the parameters vector has " + std::to_string(total) + " values, which fits no input size: " + std::to_string(layers) +
                 " layer(s) of " + std::to_string(dirs) + " direction(s), " + std::to_string(gates) + " gate(s) and state_size " +
                 std::to_string(hidden) + " need " + std::to_string(fixed) + " + " + std::to_string(per_input) + " x input_size values");
  int64_t input = (total - fixed) / per_input;
  std::vector<RnnLayerWeights> out(static_cast<size_t>(layers));
  size_t at = 0;
  for (int64_t l = 0; l < layers; ++l) {
    RnnLayerWeights& lw = out[static_cast<size_t>(l)];
    lw.input_size = l == 0 ? input : dirs * hidden;
    for (int64_t d = 0; d < dirs; ++d) {
      append_reordered(flat, at, gates, static_cast<size_t>(hidden * lw.input_size), lw.w);
      at += static_cast<size_t>(gh * lw.input_size);
      append_reordered(flat, at, gates, static_cast<size_t>(hidden * hidden), lw.r);
      at += static_cast<size_t>(gh * hidden);
    }
  }
  for (int64_t l = 0; l < layers; ++l) {
    RnnLayerWeights& lw = out[static_cast<size_t>(l)];
    for (int64_t d = 0; d < dirs; ++d) {
      append_reordered(flat, at, gates, static_cast<size_t>(hidden), lw.b);  // input bias
      at += static_cast<size_t>(gh);
      append_reordered(flat, at, gates, static_cast<size_t>(hidden), lw.b);  // recurrent bias
      at += static_cast<size_t>(gh);
    }
  }
  return out;
}

}  // namespace irforge::mxnet
