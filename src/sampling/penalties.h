// Repetition penalties over the last `last_n` accepted tokens (llama.cpp's semantics):
// a token seen c > 0 times in the window gets
//   logit = logit > 0 ? logit / repeat : logit * repeat;  logit -= c * frequency + presence.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "sampling/stage.h"

namespace tern::sampling {

class Penalties : public Stage {
 public:
  /// last_n: window length in tokens; 0 turns the stage off, -1 keeps the whole history.
  Penalties(int32_t last_n, float repeat, float frequency, float presence);
  std::string_view name() const override { return "penalties"; }
  void apply(Candidates& cur) override;
  void accept(int32_t token) override;
  void reset() override;

 private:
  bool active() const;
  TokenLogit* find(Candidates& cur, int32_t token) const;

  int32_t last_n_;
  float repeat_, frequency_, presence_;
  std::deque<int32_t> window_;                  // oldest first
  std::unordered_map<int32_t, int32_t> count_;  // token -> occurrences in window_
};

}  // namespace tern::sampling
