#include "backends/rope_angles.h"

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
      double theta = pos * p.freq_scale * std::pow(double{p.freq_base}, -2.0 * i / p.n_rot);
      if (factors) theta /= factors[i];
      cs[0] = static_cast<float>(std::cos(theta));
      cs[1] = static_cast<float>(std::sin(theta));
    }
  }
  return angles;
}

}  // namespace tern
