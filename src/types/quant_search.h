// Scale searches shared by the K-quant encoders. Each fits one sub-block x[n] to integer
// levels L[n] and returns the scale; they follow the algorithms of ggml's reference
// quantizers so that tern's quantization error matches llama.cpp's.
#pragma once

#include <cstdint>

namespace tern {

/// Symmetric levels l in [-nmax, nmax-1], weighted by x^2: tries iscale = -(nmax + 0.1 k)
/// / max for k in -9..9 and keeps the least-squares scale with the best fit. Stores
/// L = l + nmax. Returns 0 (and L = 0) for an all-zero group.
float fit_symmetric_weighted(int n, int nmax, const float* x, int8_t* L);

/// Symmetric levels in [-nmax, nmax-1] (weights x^2), refined by up to 5 passes of
/// moving single levels while that improves the weighted least-squares fit. Stores
/// L = l + nmax.
float fit_symmetric_refined(int n, int nmax, const float* x, int8_t* L);

/// Affine levels l in [0, nmax] for x ~ scale * l - min (min >= 0 returned in `min`):
/// tries nstep+1 grid spacings iscale = (rmin + rdelta*k + nmax) / (max - min), solving
/// weighted least squares for (scale, min) at each, and keeps the lowest weighted error
/// (absolute error when use_mad, else squared).
float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float& min,
                 float rmin, float rdelta, int nstep, bool use_mad);

}  // namespace tern
