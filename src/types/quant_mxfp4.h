// MXFP4 (OCP microscaling): 32 E2M1 values sharing one E8M0 exponent.
#pragma once

#include "types/blocks.h"

namespace tern {

void decode_mxfp4(const BlockMXFP4& b, float* out);
// e = floor(log2(absmax)) - 2 + 127; each value takes the nearest of the 16 E2M1 levels.
void encode_mxfp4(const float* x, BlockMXFP4& b);

}  // namespace tern
