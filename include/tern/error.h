// tern::Error: the one exception type that crosses the public API.
//
// Threads: exceptions are plain values; nothing here is shared between threads.
#pragma once

#include <stdexcept>
#include <string>

namespace tern {

/// What failed and where (file, key, tensor, expected vs actual), as one line of text.
/// Every recoverable failure (bad input, missing file, unsupported type) is reported as
/// a tern::Error; the library never aborts the host program on bad input.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Tokens that do not fit in the free positions of a session's context.
class ContextOverflow : public Error {
 public:
  using Error::Error;
};

/// A decode stopped because its abort check asked (see tern::AbortCheck in session.h).
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

}  // namespace tern
