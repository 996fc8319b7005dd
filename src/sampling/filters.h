// The truncation and scaling stages, each a faithful reimplementation of llama.cpp's step
// of the same name. All keep at least one candidate.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sampling/stage.h"

namespace tern::sampling {

/// Adds each (token, bias) to the token's logit: llama.cpp's logit-bias, first in the chain
/// (it finds tokens by id, so the candidates must still be in id order). Throws tern::Error
/// for a token past the vocabulary (n_vocab, when known, at construction; else the logits),
/// and when the biases leave no finite logit.
class LogitBias : public Stage {
 public:
  LogitBias(std::vector<std::pair<int32_t, float>> bias, int32_t n_vocab = 0);
  std::string_view name() const override { return "logit-bias"; }
  void apply(Candidates& cur) override;

 private:
  std::vector<std::pair<int32_t, float>> bias_;
  bool bans_ = false;  // some bias is -infinity: every logit may be gone
};

/// Keeps the k highest logits (sorted); k <= 0 keeps everything.
class TopK : public Stage {
 public:
  explicit TopK(int32_t k) : k_(k) {}
  std::string_view name() const override { return "top-k"; }
  void apply(Candidates& cur) override;

 private:
  int32_t k_;
};

/// Locally typical sampling: with entropy H = -sum p ln p, orders tokens by |-ln p - H| and
/// keeps the shortest prefix of that order whose mass exceeds p (strictly). p >= 1: off.
class Typical : public Stage {
 public:
  explicit Typical(float p) : p_(p) {}
  std::string_view name() const override { return "typical"; }
  void apply(Candidates& cur) override;

 private:
  float p_;
};

/// Nucleus: keeps the smallest most-likely prefix whose cumulative p >= p. p >= 1: off.
class TopP : public Stage {
 public:
  explicit TopP(float p) : p_(p) {}
  std::string_view name() const override { return "top-p"; }
  void apply(Candidates& cur) override;

 private:
  float p_;
};

/// Keeps tokens with p >= p * p_max, i.e. logit >= max_logit + ln p. p <= 0: off.
class MinP : public Stage {
 public:
  explicit MinP(float p) : p_(p) {}
  std::string_view name() const override { return "min-p"; }
  void apply(Candidates& cur) override;

 private:
  float p_;
};

/// Divides logits by temp; temp <= 0 keeps only the highest logit.
class Temperature : public Stage {
 public:
  explicit Temperature(float temp) : temp_(temp) {}
  std::string_view name() const override { return "temp"; }
  void apply(Candidates& cur) override;

 private:
  float temp_;
};

}  // namespace tern::sampling
