#include "sampling/selectors.h"

#include <algorithm>
#include <cmath>

namespace tern::sampling {
namespace {

// Draws from the softmax of the candidates and returns the surprise of the pick, in bits.
float draw_with_surprise(Candidates& cur, Rng& rng) {
  cur.softmax();
  cur.selected = rng.draw(cur);
  return -std::log2(cur.items[cur.selected].p);
}

// Least-squares estimate of the Zipf exponent s from the top m probabilities (sorted):
// ln(p_i / p_{i+1}) ~ s * ln((i + 2) / (i + 1)).
double zipf_exponent(const Candidates& cur, int32_t m) {
  double sum_tb = 0.0, sum_tt = 0.0;
  const size_t n = std::min(size_t(m), cur.items.size());
  for (size_t i = 0; i + 1 < n; ++i) {
    const float p0 = cur.items[i].p, p1 = cur.items[i + 1].p;
    if (p0 <= 0.0f || p1 <= 0.0f) break;  // underflowed tail says nothing about s
    const double t = std::log(double(i + 2) / double(i + 1));
    sum_tb += t * std::log(double(p0) / double(p1));
    sum_tt += t * t;
  }
  return sum_tt > 0.0 ? sum_tb / sum_tt : 0.0;
}

}  // namespace

void Greedy::apply(Candidates& cur) {
  int32_t best = 0;
  for (size_t i = 1; i < cur.items.size(); ++i) {
    const TokenLogit& a = cur.items[i];
    const TokenLogit& b = cur.items[best];
    if (a.logit > b.logit || (a.logit == b.logit && a.id < b.id)) best = int32_t(i);
  }
  cur.selected = best;
}

void Dist::apply(Candidates& cur) { draw_with_surprise(cur, rng_); }

MirostatV1::MirostatV1(float tau, float eta, uint32_t seed)
    : tau_(tau), eta_(eta), mu_(2.0f * tau), rng_(seed) {}

void MirostatV1::reset() {
  mu_ = 2.0f * tau_;
  rng_.reset();
}

void MirostatV1::apply(Candidates& cur) {
  const double n = double(cur.items.size());
  cur.softmax();
  const double s = zipf_exponent(cur, kM);
  const double e = s - 1.0;
  const double k = std::pow(e * std::pow(2.0, double(mu_)) / (1.0 - std::pow(n, -e)), 1.0 / s);
  // A flat or degenerate head gives a NaN or huge k: then keep everything.
  const size_t keep = std::isfinite(k) ? size_t(std::clamp(k, 1.0, n)) : size_t(n);
  cur.keep_first(keep);
  const float surprise = draw_with_surprise(cur, rng_);
  mu_ -= eta_ * (surprise - tau_);
}

MirostatV2::MirostatV2(float tau, float eta, uint32_t seed)
    : tau_(tau), eta_(eta), mu_(2.0f * tau), rng_(seed) {}

void MirostatV2::reset() {
  mu_ = 2.0f * tau_;
  rng_.reset();
}

void MirostatV2::apply(Candidates& cur) {
  cur.softmax();
  const auto too_surprising =
      std::find_if(cur.items.begin(), cur.items.end(),
                   [&](const TokenLogit& t) { return -std::log2(t.p) > mu_; });
  cur.keep_first(size_t(too_surprising - cur.items.begin()));
  const float surprise = draw_with_surprise(cur, rng_);
  mu_ -= eta_ * (surprise - tau_);
}

}  // namespace tern::sampling
