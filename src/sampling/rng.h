// The sampling RNG: std::mt19937 (its output sequence is fixed by the C++ standard) with
// tern's own conversion to [0, 1) and its own categorical draw, so a seed gives the same
// tokens with every standard library.
#pragma once

#include <cstdint>
#include <random>

#include "sampling/candidates.h"

namespace tern::sampling {

class Rng {
 public:
  /// kRandomSeed (0xFFFFFFFF) picks a seed from std::random_device.
  explicit Rng(uint32_t seed);
  /// Restarts the sequence from the seed given at construction (a fresh random one for
  /// kRandomSeed).
  void reset();
  /// Uniform in [0, 1) with 53 random bits, from two 32-bit outputs.
  double uniform();
  /// Index into cur.items drawn with probability proportional to items[i].p: the first
  /// index whose cumulative p exceeds uniform() * total.
  int32_t draw(const Candidates& cur);

 private:
  uint32_t seed_;
  std::mt19937 engine_;
};

}  // namespace tern::sampling
