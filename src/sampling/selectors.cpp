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

// Least-squares estimate of the Zipf exponent s from the top m candidates (sorted):
// ln(p_i / p_{i+1}) = logit_i - logit_{i+1} ~ s * ln((i + 2) / (i + 1)).
double zipf_exponent(const Candidates& cur, int32_t m) {
  double sum_tb = 0.0, sum_tt = 0.0;
  const size_t n = std::min(size_t(m), cur.items.size());
  for (size_t i = 0; i + 1 < n; ++i) {
    const double b = double(cur.items[i].logit) - double(cur.items[i + 1].logit);
    if (!std::isfinite(b)) break;  // a -inf tail says nothing about s
    const double t = std::log(double(i + 2) / double(i + 1));
    sum_tb += t * b;
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
  cur.sort_top(size_t(kM));
  const double s = zipf_exponent(cur, kM);
  const double e = s - 1.0;
  const double k = std::pow(e * std::pow(2.0, double(mu_)) / (1.0 - std::pow(n, -e)), 1.0 / s);
  // A flat or degenerate head gives a NaN or huge k: then keep everything.
  const size_t keep = std::isfinite(k) ? size_t(std::clamp(k, 1.0, n)) : size_t(n);
  cur.sort_top(keep);
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
  // -log2 p > mu  <=>  logit < max + ln(sum_j exp(logit_j - max)) - mu ln 2. Filtering on
  // that bound first means only the survivors get sorted, not the whole vocabulary.
  float max_logit = cur.items.front().logit;
  for (const TokenLogit& t : cur.items) max_logit = std::max(max_logit, t.logit);
  double sum = 0.0;
  for (const TokenLogit& t : cur.items) sum += std::exp(double(t.logit) - max_logit);
  const double bound = max_logit + std::log(sum) - double(mu_) * std::log(2.0);
  const TokenLogit best =
      *std::max_element(cur.items.begin(), cur.items.end(),
                        [](const TokenLogit& a, const TokenLogit& b) { return a.logit < b.logit; });
  std::erase_if(cur.items, [&](const TokenLogit& t) { return t.logit < bound; });
  if (cur.items.empty()) cur.items.assign(1, best);  // keep at least the most likely token
  const float surprise = draw_with_surprise(cur, rng_);
  mu_ -= eta_ * (surprise - tau_);
}

}  // namespace tern::sampling
