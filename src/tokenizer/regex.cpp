#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <fmt/format.h>
#include <pcre2.h>

#include "tern/error.h"

namespace tern::tokenizer {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code)
      : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (data == nullptr) throw Error("tokenizer regex: out of memory for match data");
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

}  // namespace

Regex::Regex(std::string_view pattern)
    : compiled_(std::make_unique<Compiled>()), pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
  if (compiled_->code == nullptr) {
    throw Error(fmt::format("tokenizer regex '{}': {} at offset {}", pattern, pcre2_message(error),
                            error_offset));
  }
  // JIT is an optimisation only: without it (unsupported CPU) pcre2_match interprets.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

std::vector<Span> Regex::split(std::string_view text, const std::vector<Span>& spans) const {
  MatchData match(compiled_->code);
  std::vector<Span> out;
  out.reserve(spans.size() * 2);
  for (const Span& span : spans) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + span.offset);
    size_t done = 0;  // end of the last match, relative to the span
    size_t start = 0;
    while (start <= span.length) {
      // The caller guarantees valid UTF-8, so PCRE2 need not check it again per match.
      const int rc = pcre2_match(compiled_->code, subject, span.length, start, PCRE2_NO_UTF_CHECK,
                                 match.data, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        throw Error(fmt::format("tokenizer regex '{}': {}", pattern_, pcre2_message(rc)));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
      const size_t begin = ovector[0];
      const size_t end = ovector[1];
      if (end == begin) {  // empty match: step over one character and search again
        start = end + 1;
        while (start < span.length && (static_cast<uint8_t>(subject[start]) & 0xC0) == 0x80)
          ++start;
        continue;
      }
      if (begin > done) out.push_back({span.offset + done, begin - done});
      out.push_back({span.offset + begin, end - begin});
      done = start = end;
    }
    if (span.length > done) out.push_back({span.offset + done, span.length - done});
  }
  return out;
}

}  // namespace tern::tokenizer
