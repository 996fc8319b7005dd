// Per-position scoring helpers for perplexity and KL divergence: log-softmax of a logits
// row, KL divergence of two such rows, and the most likely token.
#pragma once

#include <cstdint>
#include <span>

namespace tern::ppl {

/// out[i] = logits[i] - log(sum_j exp(logits[j])), computed in double around the max.
void log_softmax(std::span<const float> logits, std::span<float> out);

/// KL(base || q) = sum_i p_base[i] * (base[i] - q[i]) for two log-probability rows.
double kl_divergence(std::span<const float> base_log_probs, std::span<const float> q_log_probs);

/// Index of the largest value (the first on ties).
int64_t argmax(std::span<const float> row);

}  // namespace tern::ppl
