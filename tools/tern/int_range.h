// One validator for every integer flag, so that a bad value reads as a person writes a
// range ("--batch-size: 0 is not in 1..65536"), not as CLI11's double-valued ranges do.
#pragma once

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>

namespace tern::cli {

/// Threads a command accepts (0: the default).
constexpr int64_t kMaxThreads = 1024;

/// Accepts a whole decimal number in [min, max]; CLI11 prefixes the option's name.
inline CLI::Validator in_range(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::invalid_argument || ptr != end) {
          return fmt::format("'{}' is not a whole number in {}..{}", text, min, max);
        }
        if (ec == std::errc() && value >= min && value <= max) return {};
        return fmt::format("{} is not in {}..{}", text, min, max);  // too large for int64 too
      },
      fmt::format("{}..{}", min, max));
}

}  // namespace tern::cli
