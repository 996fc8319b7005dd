// A one-line progress bar on stderr for long work (quantize, synth, embed).
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "tern/quantize.h"

namespace tern::cli {

/// Redraws "[#####.....]  42% blk.3.ffn_up.weight" at most every 100 ms.
class ProgressBar {
 public:
  void update(int64_t done, int64_t total, std::string_view label) {
    auto now = std::chrono::steady_clock::now();
    bool last = done == total;
    if (!last && now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    double frac = total > 0 ? double(done) / double(total) : 1.0;
    auto filled = static_cast<size_t>(frac * kWidth);
    fmt::print(stderr, "\r[{}{}] {:3.0f}% {:<40.40}", std::string(filled, '#'),
               std::string(kWidth - filled, '.'), frac * 100, label);
    if (last) fmt::print(stderr, "\n");
  }
  void update(const quant::QuantizeProgress& p) { update(p.values_done, p.values_total, p.name); }

 private:
  static constexpr size_t kWidth = 30;
  std::chrono::steady_clock::time_point drawn_{};
};

}  // namespace tern::cli
