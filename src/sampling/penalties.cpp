#include "sampling/penalties.h"

namespace tern::sampling {

Penalties::Penalties(int32_t last_n, float repeat, float frequency, float presence)
    : last_n_(last_n), repeat_(repeat), frequency_(frequency), presence_(presence) {}

bool Penalties::active() const {
  return last_n_ != 0 && (repeat_ != 1.0f || frequency_ != 0.0f || presence_ != 0.0f);
}

void Penalties::accept(int32_t token) {
  if (last_n_ == 0) return;
  window_.push_back(token);
  ++count_[token];
  if (last_n_ > 0 && window_.size() > size_t(last_n_)) {
    const int32_t old = window_.front();
    window_.pop_front();
    if (--count_[old] == 0) count_.erase(old);
  }
}

void Penalties::reset() {
  window_.clear();
  count_.clear();
}

TokenLogit* Penalties::find(Candidates& cur, int32_t token) const {
  // Fast path: the chain runs this stage first, while items are still in id order.
  if (token >= 0 && size_t(token) < cur.items.size() && cur.items[token].id == token) {
    return &cur.items[token];
  }
  for (TokenLogit& t : cur.items) {
    if (t.id == token) return &t;
  }
  return nullptr;
}

void Penalties::apply(Candidates& cur) {
  if (!active()) return;
  for (const auto& [token, count] : count_) {
    TokenLogit* t = find(cur, token);
    if (t == nullptr) continue;
    t->logit = t->logit > 0.0f ? t->logit / repeat_ : t->logit * repeat_;
    t->logit -= float(count) * frequency_ + presence_;
  }
  cur.sorted = false;
}

}  // namespace tern::sampling
