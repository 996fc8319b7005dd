#include "sampling/rng.h"

#include "tern/sampler.h"

namespace tern::sampling {
namespace {

uint32_t resolve_seed(uint32_t seed) { return seed == kRandomSeed ? std::random_device{}() : seed; }

}  // namespace

Rng::Rng(uint32_t seed) : seed_(seed), engine_(resolve_seed(seed)) {}

void Rng::reset() { engine_.seed(resolve_seed(seed_)); }

double Rng::uniform() {
  const uint64_t hi = engine_() >> 5;  // 27 bits
  const uint64_t lo = engine_() >> 6;  // 26 bits
  return double((hi << 26) | lo) * 0x1.0p-53;
}

int32_t Rng::draw(const Candidates& cur) {
  double total = 0.0;
  for (const TokenLogit& t : cur.items) total += t.p;
  const double target = uniform() * total;
  double cumulative = 0.0;
  int32_t last_nonzero = 0;
  for (size_t i = 0; i < cur.items.size(); ++i) {
    if (cur.items[i].p <= 0.0f) continue;
    cumulative += cur.items[i].p;
    last_nonzero = int32_t(i);
    if (cumulative > target) return int32_t(i);
  }
  return last_nonzero;  // rounding left target at the very top of the range
}

}  // namespace tern::sampling
