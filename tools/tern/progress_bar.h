// A one-line progress bar on stderr for long file writers (quantize, synth).
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "tern/quantize.h"

namespace tern::cli {

/// Redraws "[#####.....]  42% blk.3.ffn_up.weight" at most every 100 ms.
class ProgressBar {
 public:
  void update(const quant::QuantizeProgress& p) {
    auto now = std::chrono::steady_clock::now();
    bool last = p.values_done == p.values_total;
    if (!last && now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    double frac = p.values_total > 0 ? double(p.values_done) / double(p.values_total) : 1.0;
    auto filled = static_cast<size_t>(frac * kWidth);
    fmt::print(stderr, "\r[{}{}] {:3.0f}% {:<40.40}", std::string(filled, '#'),
               std::string(kWidth - filled, '.'), frac * 100, p.name);
    if (last) fmt::print(stderr, "\n");
  }

 private:
  static constexpr size_t kWidth = 30;
  std::chrono::steady_clock::time_point drawn_{};
};

}  // namespace tern::cli
