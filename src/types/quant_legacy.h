// Legacy 32-value block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (symmetric or affine, one
// fp16 scale per block) and Q8_1. Each decoder writes 32 floats; each encoder reads 32.
#pragma once

#include "types/blocks.h"

namespace tern {

void decode_q4_0(const BlockQ4_0& b, float* out);
void decode_q4_1(const BlockQ4_1& b, float* out);
void decode_q5_0(const BlockQ5_0& b, float* out);
void decode_q5_1(const BlockQ5_1& b, float* out);
void decode_q8_0(const BlockQ8_0& b, float* out);
void decode_q8_1(const BlockQ8_1& b, float* out);

// Encoders follow ggml's reference quantizers (and gguf-py's, which match them bit for bit).
void encode_q4_0(const float* x, BlockQ4_0& b);
void encode_q4_1(const float* x, BlockQ4_1& b);
void encode_q5_0(const float* x, BlockQ5_0& b);
void encode_q5_1(const float* x, BlockQ5_1& b);
void encode_q8_0(const float* x, BlockQ8_0& b);

}  // namespace tern
