#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>

namespace tern::sampling {

void Candidates::assign(std::span<const float> logits) {
  items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    items[i] = TokenLogit{static_cast<int32_t>(i), logits[i], 0.0f};
  }
  sorted = false;
  selected = -1;
}

void Candidates::sort() { sort_top(items.size()); }

void Candidates::sort_top(size_t k) {
  if (sorted) return;
  k = std::min(k, items.size());
  // Ties broken by id so the order (and hence every draw) is the same on every platform.
  std::partial_sort(items.begin(), items.begin() + k, items.end(),
                    [](const TokenLogit& a, const TokenLogit& b) {
                      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
                    });
  sorted = k == items.size();
}

void Candidates::softmax() {
  sort();
  const double max_logit = items.front().logit;
  double sum = 0.0;
  for (const TokenLogit& t : items) sum += std::exp(double(t.logit) - max_logit);
  for (TokenLogit& t : items) t.p = float(std::exp(double(t.logit) - max_logit) / sum);
}

void Candidates::keep_first(size_t n) { items.resize(std::clamp<size_t>(n, 1, items.size())); }

}  // namespace tern::sampling
