// Ternary types (BitNet b1.58, TriLM): x = d * t with t in {-1, 0, 1}, 256 per block.
// TQ1_0 packs 5 trits per byte (4 in the tail bytes), TQ2_0 2 bits per value.
#pragma once

#include "types/blocks.h"

namespace tern {

void decode_tq1_0(const BlockTQ1_0& b, float* out);
void decode_tq2_0(const BlockTQ2_0& b, float* out);

// d = absmax, t = round-half-away(x / d); as ggml's and gguf-py's reference quantizers.
void encode_tq1_0(const float* x, BlockTQ1_0& b);
void encode_tq2_0(const float* x, BlockTQ2_0& b);

}  // namespace tern
