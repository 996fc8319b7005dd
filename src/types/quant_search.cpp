#include "types/quant_search.h"

#include <algorithm>
#include <cmath>

#include "types/block_codec.h"

namespace tern {

namespace {

// Below this every value of a group counts as zero.
constexpr float kGroupMaxEps = 1e-15f;

struct WeightedSums {
  float sumlx = 0.0f;  // sum w * x * l
  float suml2 = 0.0f;  // sum w * l * l
};

// Levels for one trial inverse scale, clamped to [-nmax, nmax-1], with their sums.
WeightedSums symmetric_levels(int n, int nmax, const float* x, float iscale, int* l) {
  WeightedSums s;
  for (int i = 0; i < n; ++i) {
    l[i] = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    const float w = x[i] * x[i];
    const float lf = static_cast<float>(l[i]);
    s.sumlx += w * x[i] * lf;
    s.suml2 += w * lf * lf;
  }
  return s;
}

void store_offset(int n, int nmax, const int* l, int8_t* L) {
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(l[i] + nmax);
}

}  // namespace

float fit_symmetric_weighted(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  int l[256];
  const float nmaxf = static_cast<float>(nmax);
  WeightedSums s = symmetric_levels(n, nmax, x, -nmaxf / max, l);
  store_offset(n, nmax, l, L);
  float scale = s.suml2 != 0.0f ? s.sumlx / s.suml2 : 0.0f;
  float best = scale * s.sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    const float iscale = -(nmaxf + 0.1f * static_cast<float>(k)) / max;
    s = symmetric_levels(n, nmax, x, iscale, l);
    // Compares sumlx^2 / suml2 (the fit's explained energy) without dividing.
    if (s.suml2 > 0 && s.sumlx * s.sumlx > best * s.suml2) {
      store_offset(n, nmax, l, L);
      scale = s.sumlx / s.suml2;
      best = scale * s.sumlx;
    }
  }
  return scale;
}

float fit_symmetric_refined(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  int l[256];
  WeightedSums s = symmetric_levels(n, nmax, x, -static_cast<float>(nmax) / max, l);
  for (int pass = 0; pass < 5; ++pass) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(l[i]);
      float slx = s.sumlx - w * x[i] * li;
      if (slx <= 0) continue;
      float sl2 = s.suml2 - w * li * li;
      // Best level for x[i] given the scale of all the others.
      const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == l[i]) continue;
      const float nl = static_cast<float>(new_l);
      slx += w * x[i] * nl;
      sl2 += w * nl * nl;
      if (sl2 > 0 && slx * slx * s.suml2 > s.sumlx * s.sumlx * sl2) {
        l[i] = new_l;
        s.sumlx = slx;
        s.suml2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  store_offset(n, nmax, l, L);
  return s.suml2 > 0.0f ? s.sumlx / s.suml2 : 0.0f;
}

namespace {

float affine_error(int n, const float* x, const float* weights, const uint8_t* L, float scale,
                   float min, bool use_mad) {
  float error = 0.0f;
  for (int i = 0; i < n; ++i) {
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    error += weights[i] * diff;
  }
  return error;
}

void affine_levels(int n, int nmax, const float* x, float iscale, float min, uint8_t* L) {
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
  }
}

}  // namespace

// Here `min` is the (non-positive) offset: x ~ scale * l + min; the caller gets -min.
float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float& min_out,
                 float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    min_out = -min;
    return 0.0f;
  }
  const float nmaxf = static_cast<float>(nmax);
  float iscale = nmaxf / (max - min);
  float scale = 1 / iscale;
  affine_levels(n, nmax, x, iscale, min, L);
  float best_error = affine_error(n, x, weights, L, scale, min, use_mad);
  uint8_t trial[256];
  for (int k = 0; k <= nstep; ++k) {
    iscale = (rmin + rdelta * static_cast<float>(k) + nmaxf) / (max - min);
    affine_levels(n, nmax, x, iscale, min, trial);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      const float l = static_cast<float>(trial[i]);
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    // Weighted least squares for x ~ this_scale * l + this_min.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    const float error = affine_error(n, x, weights, trial, this_scale, this_min, use_mad);
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  min_out = -min;
  return scale;
}

}  // namespace tern
