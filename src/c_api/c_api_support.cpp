// The C API's shared machinery: the thread's last error, argument checks, buffer copies.
#include "c_api/c_api_support.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tern::c_api {

namespace {

// Fixed storage, so that recording an error never allocates (nor throws).
thread_local char last_error[1024] = "";

}  // namespace

tern_status fail(tern_status status, const char* message) noexcept {
  std::snprintf(last_error, sizeof(last_error), "%s", message);
  return status;
}

void check_readable(const char* path) {
  need(path, "path");
  std::FILE* file = std::fopen(path, "rb");
  if (file == nullptr) {
    throw StatusError(TERN_ERROR_IO,
                      fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  std::fclose(file);
}

std::span<const int32_t> token_span(const int32_t* items, size_t count, const char* what) {
  if (count == 0) return {};
  return {&need(items, what), count};
}

void check_token(const Tokenizer& tokenizer, int32_t token) {
  if (token < 0 || token >= tokenizer.n_vocab()) {
    throw StatusError(
        TERN_ERROR_INVALID_ARGUMENT,
        fmt::format("token {} is outside the vocabulary [0, {})", token, tokenizer.n_vocab()));
  }
}

void copy_text(std::string_view text, char* out, size_t capacity, size_t* n_bytes) {
  need(n_bytes, "the size output") = text.size();
  if (capacity < text.size() + 1) {
    throw StatusError(
        TERN_ERROR_BUFFER_TOO_SMALL,
        fmt::format("the text is {} bytes and a NUL; the buffer holds {}", text.size(), capacity));
  }
  std::memcpy(&need(out, "the text buffer"), text.data(), text.size());
  out[text.size()] = '\0';
}

void copy_tokens(std::span<const int32_t> tokens, int32_t* out, size_t capacity, size_t* n_tokens) {
  need(n_tokens, "the token count output") = tokens.size();
  if (capacity < tokens.size()) {
    throw StatusError(TERN_ERROR_BUFFER_TOO_SMALL,
                      fmt::format("{} tokens; the buffer holds {}", tokens.size(), capacity));
  }
  if (!tokens.empty())
    std::memcpy(&need(out, "the token buffer"), tokens.data(), tokens.size_bytes());
}

}  // namespace tern::c_api

extern "C" const char* tern_last_error(void) { return tern::c_api::last_error; }
