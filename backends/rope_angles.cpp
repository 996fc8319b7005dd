#include "backends/rope_angles.h"

#include <cmath>

namespace tern {

std::vector<float> rope_angles(int64_t n_tokens, int64_t pos0, const graph::RopeParams& p,
                               const float* factors) {
  int half = p.n_rot / 2;
  std::vector<float> angles(static_cast<size_t>(n_tokens * 2 * half));
  float* cs = angles.data();
  for (int64_t tok = 0; tok < n_tokens; ++tok) {
    auto pos = static_cast<double>(pos0 + tok);
    for (int i = 0; i < half; ++i, cs += 2) {
      // theta_i = pos * freq_scale * base^(-2i / n_rot), divided by the pair's factor.
      double theta = pos * p.freq_scale * std::pow(double{p.freq_base}, -2.0 * i / p.n_rot);
      if (factors) theta /= factors[i];
      cs[0] = static_cast<float>(std::cos(theta));
      cs[1] = static_cast<float>(std::sin(theta));
    }
  }
  return angles;
}

}  // namespace tern
