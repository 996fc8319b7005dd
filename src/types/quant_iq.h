// IQ types: values are points of fixed lattices (iq1_grid.h, iq2_grids.h, iq3_grids.h)
// times sub-block scales, with separately stored signs (IQ2/IQ3), a shifted ternary grid
// (IQ1), or a non-linear 16-level codebook (IQ4). Decoders write 256 floats (32 for IQ4_NL).
#pragma once

#include <cstdint>

#include "types/blocks.h"

namespace tern {

/// The 16 levels of IQ4_NL/IQ4_XS, ascending.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

void decode_iq2_xxs(const BlockIQ2_XXS& b, float* out);
void decode_iq2_xs(const BlockIQ2_XS& b, float* out);
void decode_iq2_s(const BlockIQ2_S& b, float* out);
void decode_iq3_xxs(const BlockIQ3_XXS& b, float* out);
void decode_iq3_s(const BlockIQ3_S& b, float* out);
void decode_iq1_s(const BlockIQ1_S& b, float* out);
void decode_iq1_m(const BlockIQ1_M& b, float* out);
void decode_iq4_nl(const BlockIQ4_NL& b, float* out);
void decode_iq4_xs(const BlockIQ4_XS& b, float* out);

// Encoders for the non-linear types, as llama-quantize runs them without an importance
// matrix (weights x^2, scale search over 15 candidates).
void encode_iq4_nl(const float* x, BlockIQ4_NL& b);
void encode_iq4_xs(const float* x, BlockIQ4_XS& b);

}  // namespace tern
