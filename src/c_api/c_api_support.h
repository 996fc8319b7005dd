// What every C API entry point shares: the handle structs behind tern.h's opaque types, the
// guard that turns every exception into a status and the thread's last-error message, and
// argument checks and buffer copies that report as the header promises.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/error.h"
#include "tern/model.h"
#include "tern/sampler.h"
#include "tern/session.h"
#include "tern/tern.h"
#include "tern/tokenizer.h"

struct tern_tokenizer {
  std::optional<tern::Tokenizer> owned;  // from tern_tokenizer_open(); empty: the model's
  const tern::Tokenizer* tokenizer = nullptr;
};

struct tern_model {
  tern::Model model;
  std::string architecture;  // NUL-terminated for tern_model_info
  // The model's tokenizer handle, set by tern_model_tokenizer() (from any thread).
  mutable std::mutex tokenizer_mutex;
  mutable tern_tokenizer tokenizer_handle;
};

struct tern_session {
  tern::Session session;
  tern::AbortCheck abort;  // the C callback, for decodes and generations
};

struct tern_sampler {
  tern::SamplerChain chain;
};

namespace tern::c_api {

/// A failure the wrapper itself detects, with the status to report.
class StatusError : public std::runtime_error {
 public:
  StatusError(tern_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  tern_status status() const { return status_; }

 private:
  tern_status status_;
};

/// Records `message` as this thread's last error and returns `status`.
tern_status fail(tern_status status, const char* message) noexcept;

/// Runs `body`, mapping what it throws: StatusError to its status, ContextOverflow and
/// Cancelled to theirs, any other tern::Error to `on_error` (what a tern::Error means for
/// this entry point), bad_alloc to TERN_ERROR_OUT_OF_MEMORY, anything else to
/// TERN_ERROR_INTERNAL.
template <typename Body>
tern_status guard(tern_status on_error, Body&& body) noexcept {
  try {
    body();
    return TERN_OK;
  } catch (const StatusError& e) {
    return fail(e.status(), e.what());
  } catch (const ContextOverflow& e) {
    return fail(TERN_ERROR_CONTEXT_OVERFLOW, e.what());
  } catch (const Cancelled& e) {
    return fail(TERN_ERROR_CANCELLED, e.what());
  } catch (const Error& e) {
    return fail(on_error, e.what());
  } catch (const std::bad_alloc&) {
    return fail(TERN_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TERN_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(TERN_ERROR_INTERNAL, "unknown exception");
  }
}

/// *pointer, or TERN_ERROR_INVALID_ARGUMENT "`what` is NULL".
template <typename T>
T& need(T* pointer, const char* what) {
  if (pointer == nullptr)
    throw StatusError(TERN_ERROR_INVALID_ARGUMENT, std::string(what) + " is NULL");
  return *pointer;
}

/// A string argument, checked the same way (the pointer itself is returned).
inline const char* need(const char* text, const char* what) {
  return &need<const char>(text, what);
}

/// The tokenizer behind a handle (TERN_ERROR_INVALID_ARGUMENT for NULL).
inline const Tokenizer& unwrap(const tern_tokenizer* tokenizer) {
  return *need(tokenizer, "tokenizer").tokenizer;
}

/// TERN_ERROR_IO naming the path and the system's reason when `path` cannot be opened for
/// reading (a NULL path: TERN_ERROR_INVALID_ARGUMENT).
void check_readable(const char* path);

/// The span of `count` items at `items` (NULL allowed for none).
std::span<const int32_t> token_span(const int32_t* items, size_t count, const char* what);

/// TERN_ERROR_INVALID_ARGUMENT unless `token` is in the tokenizer's vocabulary.
void check_token(const Tokenizer& tokenizer, int32_t token);

/// Copies `text` and a NUL into out[0..capacity) and sets *n_bytes to its length; with too
/// small a buffer sets *n_bytes all the same and throws TERN_ERROR_BUFFER_TOO_SMALL.
void copy_text(std::string_view text, char* out, size_t capacity, size_t* n_bytes);
/// The same for tokens, without a terminator.
void copy_tokens(std::span<const int32_t> tokens, int32_t* out, size_t capacity, size_t* n_tokens);

}  // namespace tern::c_api
