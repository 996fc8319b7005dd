#include "backends/rope_angles.h"

#include <algorithm>
#include <cmath>

namespace tern {

std::vector<float> rope_angles(std::span<const graph::TokenPlace> places,
                               const graph::RopeParams& p, const float* factors) {
  int half = p.n_rot / 2;
  std::vector<float> angles(places.size() * 2 * static_cast<size_t>(half));
  float* cs = angles.data();
  for (const graph::TokenPlace& place : places) {
    auto pos = static_cast<double>(place.pos);
    for (int i = 0; i < half; ++i, cs += 2) {
      // theta_i = pos * freq_scale * base^(-2i / n_rot), divided by the pair's factor.
      double extrapolated = pos * std::pow(double{p.freq_base}, -2.0 * i / p.n_rot);
      if (factors) extrapolated /= factors[i];
      double theta = p.freq_scale * extrapolated;
      if (p.ext_factor != 0.0f) {  // YaRN: high-frequency pairs keep their unscaled angle
        double y = (i - p.corr_low) / std::max(0.001, double{p.corr_high} - p.corr_low);
        double mix = (1.0 - std::clamp(y, 0.0, 1.0)) * p.ext_factor;
        theta = theta * (1.0 - mix) + extrapolated * mix;
      }
      cs[0] = static_cast<float>(std::cos(theta) * p.mscale);
      cs[1] = static_cast<float>(std::sin(theta) * p.mscale);
    }
  }
  return angles;
}

}  // namespace tern
