// The stages that end the chain by choosing a token (Candidates::selected).
#pragma once

#include <cstdint>

#include "sampling/rng.h"
#include "sampling/stage.h"

namespace tern::sampling {

/// The highest logit (lowest id among equals); uses no randomness.
class Greedy : public Stage {
 public:
  std::string_view name() const override { return "greedy"; }
  void apply(Candidates& cur) override;
};

/// Softmax over what is left, then one draw from it.
class Dist : public Stage {
 public:
  explicit Dist(uint32_t seed) : rng_(seed) {}
  std::string_view name() const override { return "dist"; }
  void apply(Candidates& cur) override;
  void reset() override { rng_.reset(); }

 private:
  Rng rng_;
};

/// Mirostat (v1, Basu et al. 2020). Estimates the Zipf exponent s from the top m = 100
/// probabilities by least squares, sets k = (e * 2^mu / (1 - N^-e))^(1/s) with e = s - 1 and
/// N the number of candidates, draws from the top k, then mu -= eta * (-log2 p - tau).
/// mu starts at 2 * tau.
class MirostatV1 : public Stage {
 public:
  MirostatV1(float tau, float eta, uint32_t seed);
  std::string_view name() const override { return "mirostat"; }
  void apply(Candidates& cur) override;
  void reset() override;
  float mu() const { return mu_; }

 private:
  static constexpr int32_t kM = 100;
  float tau_, eta_, mu_;
  Rng rng_;
};

/// Mirostat v2: keeps the most likely tokens up to the first whose surprise -log2 p exceeds
/// mu (at least one), renormalises, draws, then mu -= eta * (-log2 p - tau).
class MirostatV2 : public Stage {
 public:
  MirostatV2(float tau, float eta, uint32_t seed);
  std::string_view name() const override { return "mirostat-v2"; }
  void apply(Candidates& cur) override;
  void reset() override;
  float mu() const { return mu_; }

 private:
  float tau_, eta_, mu_;
  Rng rng_;
};

}  // namespace tern::sampling
