// K-quants (Q2_K ... Q6_K, Q8_K): 256-value super-blocks with packed sub-block scales.
// Decoders write 256 floats; encoders read 256 and follow ggml's reference quantizers
// (the ones llama-quantize uses without an importance matrix).
#pragma once

#include <cstdint>

#include "types/blocks.h"

namespace tern {

void decode_q2_k(const BlockQ2_K& b, float* out);
void decode_q3_k(const BlockQ3_K& b, float* out);
void decode_q4_k(const BlockQ4_K& b, float* out);
void decode_q5_k(const BlockQ5_K& b, float* out);
void decode_q6_k(const BlockQ6_K& b, float* out);
void decode_q8_k(const BlockQ8_K& b, float* out);

void encode_q2_k(const float* x, BlockQ2_K& b);
void encode_q3_k(const float* x, BlockQ3_K& b);
void encode_q4_k(const float* x, BlockQ4_K& b);
void encode_q5_k(const float* x, BlockQ5_K& b);
void encode_q6_k(const float* x, BlockQ6_K& b);
void encode_q8_k(const float* x, BlockQ8_K& b);

/// Q4_K/Q5_K sub-block j (0..7): its 6-bit scale and min from the 12 packed bytes.
/// Bytes 0-3: scales 0-3 (+ top bits of scales 4-7); 4-7: mins 0-3 (+ top bits of mins
/// 4-7); 8-11: low nibbles of scales 4-7 and high nibbles of mins 4-7.
void unpack_scale_min_k4(const uint8_t* packed, int j, int& scale, int& min);
void pack_scale_min_k4(int j, int scale, int min, uint8_t* packed);

/// Q3_K sub-block j (0..15): the signed 6-bit scale (stored value - 32).
int unpack_scale_q3_k(const uint8_t* packed, int j);
void pack_scale_q3_k(int j, int stored, uint8_t* packed);

}  // namespace tern
