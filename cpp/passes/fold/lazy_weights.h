// Weights derived from other weights without a second copy in memory: a Transpose of a large
// constant (TensorFlow's HWIO -> OIHW kernels) and a weight scaled per channel (a BatchNorm
// folded into a Conv) become ComputedStorage whose bytes the writers stream, reading their
// source range by range. Chains compose: a scaled transposed kernel reads the transposed bytes
// through produce(), never through a materialized buffer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace irforge::passes {

// Below this size a derived weight is computed at once as before (small ones cost nothing).
constexpr size_t kLazyWeightBytes = size_t{64} << 10;

// Bytes [offset, offset + n) of `t`'s data, produced when `t` is computed (never materialized).
void read_tensor_bytes(const Tensor& t, size_t offset, size_t n, uint8_t* out);

// `src` transposed by `perm` as a computed tensor named `name`, or nullptr when it cannot be
// (a sub-byte or string type, a bad perm, a computed source: those fold the ordinary way).
std::shared_ptr<Tensor> lazy_transpose(std::shared_ptr<const Tensor> src, const std::vector<int64_t>& perm,
                                       const std::string& name);

// The float32 `src` with element i multiplied by scale[channel(i)] (in double, rounded once to
// float, as the eager fusions compute it), as a computed tensor named `name`.
std::shared_ptr<Tensor> lazy_scaled_f32(std::shared_ptr<const Tensor> src, std::vector<double> scale,
                                        std::function<size_t(size_t)> channel, const std::string& name);

}  // namespace irforge::passes
