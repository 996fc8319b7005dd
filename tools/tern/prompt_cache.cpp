#include "prompt_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "tern/error.h"

namespace tern::cli {

CachedPrompt reuse_prompt_cache(const std::string& path, Session& session,
                                std::span<const TokenId> prompt) {
  std::error_code ec;
  if (prompt.empty() || !std::filesystem::exists(path, ec)) return {};
  const auto start = std::chrono::steady_clock::now();
  try {
    session.load(path);
  } catch (const Error& e) {
    fmt::print(stderr, "tern: warning: prompt cache not used: {}\n", e.what());
    return {};
  }
  const std::span<const TokenId> cached = session.tokens();
  const auto shared = std::mismatch(cached.begin(), cached.end(), prompt.begin(), prompt.end());
  const int64_t n_keep =
      std::min(std::distance(cached.begin(), shared.first), std::ssize(prompt) - 1);
  session.trim(n_keep);
  return {
      .n_tokens = n_keep,
      .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      .holds_prompt = shared.second == prompt.end()};
}

}  // namespace tern::cli
