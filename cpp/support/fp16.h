// float32 → float16 / bfloat16 conversion with exact round-to-nearest-even, vectorized with F16C
// where the CPU has it (chosen at run time), plus the clamping rule OpenVINO's FP16 compression
// uses (finite values beyond ±65504 become ±65504).
#pragma once

#include <cstddef>
#include <cstdint>

namespace irforge {

uint16_t f32_to_f16(float f);   // IEEE half, RNE; overflow → ±inf, NaN stays NaN
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // RNE; NaN stays NaN

// Converts n floats to fp16, clamping finite out-of-range values to ±65504 (as OpenVINO's
// compression does). Returns how many values were out of fp16 range: |x| > 65504, or non-zero
// and smaller than the smallest fp16 subnormal (they would flush to zero).
size_t convert_f32_to_f16_clamped(const float* src, uint16_t* dst, size_t n);

}  // namespace irforge
