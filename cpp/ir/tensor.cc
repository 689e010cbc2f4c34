#include "ir/tensor.h"

namespace irforge {

uint64_t Tensor::element_count() const {
  uint64_t n = 1;
  for (int64_t d : dims_) n *= static_cast<uint64_t>(d);
  return n;
}

}  // namespace irforge
