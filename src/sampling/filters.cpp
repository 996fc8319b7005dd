#include "sampling/filters.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tern::sampling {

void TopK::apply(Candidates& cur) {
  const size_t k = k_ <= 0 ? cur.items.size() : std::min(size_t(k_), cur.items.size());
  cur.sort_top(k);
  cur.keep_first(k);
  cur.sorted = true;  // the k kept are in order
}

void Typical::apply(Candidates& cur) {
  if (p_ >= 1.0f) return;
  cur.softmax();
  double entropy = 0.0;
  for (const TokenLogit& t : cur.items) {
    if (t.p > 0.0f) entropy -= double(t.p) * std::log(double(t.p));
  }
  // Distance of each token's surprise (nats) from the expected surprise.
  std::vector<double> shift(cur.items.size());
  for (size_t i = 0; i < shift.size(); ++i) {
    shift[i] = std::fabs(-std::log(double(cur.items[i].p)) - entropy);
  }
  std::vector<size_t> order(shift.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return shift[a] < shift[b]; });
  double mass = 0.0;
  size_t keep = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    mass += cur.items[order[i]].p;
    if (mass > p_) {
      keep = i + 1;
      break;
    }
  }
  std::vector<TokenLogit> kept(keep);
  for (size_t i = 0; i < keep; ++i) kept[i] = cur.items[order[i]];
  cur.items = std::move(kept);
  cur.sorted = false;  // now in typicality order, not logit order
}

void TopP::apply(Candidates& cur) {
  if (p_ >= 1.0f) return;
  cur.softmax();
  double cumulative = 0.0;
  for (size_t i = 0; i < cur.items.size(); ++i) {
    cumulative += cur.items[i].p;
    if (cumulative >= p_) {
      cur.keep_first(i + 1);
      return;
    }
  }
}

void MinP::apply(Candidates& cur) {
  if (p_ <= 0.0f) return;
  float max_logit = cur.items.front().logit;
  for (const TokenLogit& t : cur.items) max_logit = std::max(max_logit, t.logit);
  const float min_logit = max_logit + std::log(p_);
  // Erase-remove keeps the relative order, so a sorted set stays sorted. The max always
  // passes, so at least one token is left.
  std::erase_if(cur.items, [&](const TokenLogit& t) { return t.logit < min_logit; });
}

void Temperature::apply(Candidates& cur) {
  if (temp_ <= 0.0f) {
    const auto best = std::max_element(
        cur.items.begin(), cur.items.end(),
        [](const TokenLogit& a, const TokenLogit& b) { return a.logit < b.logit; });
    const TokenLogit keep = *best;
    cur.items.assign(1, keep);
    cur.sorted = true;
    return;
  }
  for (TokenLogit& t : cur.items) t.logit /= temp_;
}

}  // namespace tern::sampling
