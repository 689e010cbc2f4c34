// MXNet's fused RNN op keeps every weight of every layer in one flat `parameters` vector
// (src/operator/rnn-inl.h, gluon's rnn_layer.py): first, per layer and per direction (forward
// then backward), the input weights [gates·H, I] and the recurrent weights [gates·H, H]; then,
// in the same order, the input biases [gates·H] and the recurrent biases [gates·H]. Gate blocks
// are LSTM i,f,c,o and GRU r,z,n. This splits it into the ONNX LSTM/GRU/RNN inputs per layer
// (W [dirs, gates·H, I], R [dirs, gates·H, H], B [dirs, 2·gates·H], gate blocks LSTM i,o,f,c
// and GRU z,r,h) so the ONNX recurrent lowering converts them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irforge::mxnet {

struct RnnLayerWeights {
  int64_t input_size = 0;
  std::vector<float> w, r, b;
};

// gates: 4 (lstm), 3 (gru), 1 (rnn_tanh/rnn_relu). The input size of layer 0 follows from the
// vector's length; a length no input size fits throws kInvalidModel naming `where`.
std::vector<RnnLayerWeights> split_rnn_parameters(const std::vector<float>& flat, int gates, int64_t hidden, int64_t layers, int64_t dirs,
                                                  const std::string& where);

}  // namespace irforge::mxnet
