#include "perplexity/log_probs.h"

#include <algorithm>
#include <cmath>

namespace tern::ppl {

void log_softmax(std::span<const float> logits, std::span<float> out) {
  float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - max);
  auto log_norm = static_cast<float>(max + std::log(sum));
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_norm;
}

double kl_divergence(std::span<const float> base_log_probs, std::span<const float> q_log_probs) {
  double kl = 0;
  for (size_t i = 0; i < base_log_probs.size(); ++i) {
    double lp = base_log_probs[i];
    kl += std::exp(lp) * (lp - double(q_log_probs[i]));
  }
  return kl;
}

int64_t argmax(std::span<const float> row) {
  return std::max_element(row.begin(), row.end()) - row.begin();
}

}  // namespace tern::ppl
