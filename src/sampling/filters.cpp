#include "sampling/filters.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "tern/error.h"

namespace tern::sampling {

namespace {

void check_token(int32_t token, size_t n_vocab) {
  if (token < 0 || static_cast<size_t>(token) >= n_vocab) {
    throw Error(fmt::format("sampling: logit bias for token {}, outside the vocabulary's {} tokens",
                            token, n_vocab));
  }
}

}  // namespace

LogitBias::LogitBias(std::vector<std::pair<int32_t, float>> bias, int32_t n_vocab)
    : bias_(std::move(bias)) {
  for (const auto& [token, value] : bias_) {
    if (n_vocab > 0) check_token(token, static_cast<size_t>(n_vocab));
    bans_ |= std::isinf(value);
  }
}

void LogitBias::apply(Candidates& cur) {
  for (const auto& [token, bias] : bias_) {
    check_token(token, cur.items.size());
    cur.items[static_cast<size_t>(token)].logit += bias;
  }
  if (bans_ && std::none_of(cur.items.begin(), cur.items.end(),
                            [](const TokenLogit& t) { return std::isfinite(t.logit); })) {
    throw Error("sampling: the logit bias bans every token");
  }
}

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
