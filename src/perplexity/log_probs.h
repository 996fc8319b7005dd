// Per-position scoring helpers for perplexity and KL divergence: log-softmax of a logits
// row, and running mean/standard-error accumulators.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace tern::ppl {

/// out[i] = logits[i] - log(sum_j exp(logits[j])), computed in double around the max.
void log_softmax(std::span<const float> logits, std::span<float> out);

/// KL(base || q) = sum_i p_base[i] * (base[i] - q[i]) for two log-probability rows.
double kl_divergence(std::span<const float> base_log_probs, std::span<const float> q_log_probs);

/// Index of the largest value (the first on ties).
int64_t argmax(std::span<const float> row);

/// Mean of a series and the standard error of that mean.
class RunningStat {
 public:
  void add(double x) {
    ++n_;
    sum_ += x;
    sum_sq_ += x * x;
  }
  int64_t count() const { return n_; }
  double mean() const { return n_ > 0 ? sum_ / double(n_) : 0.0; }
  /// sqrt(sample variance / n); 0 with fewer than two values.
  double standard_error() const {
    if (n_ < 2) return 0.0;
    double var = (sum_sq_ - sum_ * sum_ / double(n_)) / double(n_ - 1);
    return std::sqrt(std::max(var, 0.0) / double(n_));
  }

 private:
  int64_t n_ = 0;
  double sum_ = 0, sum_sq_ = 0;
};

}  // namespace tern::ppl
