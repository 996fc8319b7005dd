// MXFP4 (OCP microscaling): 32 E2M1 values sharing one E8M0 exponent.
#pragma once

#include <cstdint>
#include <cstring>

#include "types/blocks.h"

namespace tern {

/// E2M1 values doubled (so they are integers); the halving is folded into the scale.
inline constexpr int8_t kE2m1Doubled[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

/// 2^(e - 127) / 2 as a float, exact for every e (e < 2 gives float subnormals): the
/// scale of kE2m1Doubled's values in a block of shared exponent e.
inline float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void decode_mxfp4(const BlockMXFP4& b, float* out);
// e = floor(log2(absmax)) - 2 + 127; each value takes the nearest of the 16 E2M1 levels.
void encode_mxfp4(const float* x, BlockMXFP4& b);

}  // namespace tern
