// tern::StreamDecoder: token-by-token text that never splits a UTF-8 character.
#include "tern/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace tern {

namespace {

// Could `tail` (shorter than its lead byte announces) still become a valid character?
bool may_complete(std::string_view tail) {
  const auto lead = static_cast<uint8_t>(tail[0]);
  const size_t need = tokenizer::utf8_sequence_length(lead);
  if (need <= tail.size() || lead < 0xC2 || lead > 0xF4) return false;
  // Pad with the smallest continuation allowed; valid iff some completion exists.
  std::string probe(tail);
  while (probe.size() < need) probe += static_cast<char>(0x80);
  if (tokenizer::utf8_valid_length(probe) == need) return true;
  probe.resize(tail.size());
  while (probe.size() < need) probe += static_cast<char>(0xBF);
  return tokenizer::utf8_valid_length(probe) == need;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

std::string StreamDecoder::push(TokenId token) {
  tokenizer_->impl_->append_piece(token, render_special_, at_text_start_, pending_);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(i);
    const size_t n = tokenizer::utf8_valid_length(rest);
    if (n > 0) {
      out.append(rest.substr(0, n));
      i += n;
    } else if (may_complete(rest)) {
      break;  // wait for the rest of the character
    } else {
      out += tokenizer::kReplacementChar;
      i += 1;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = pending_.empty() ? "" : tokenizer::utf8_sanitize(pending_);
  pending_.clear();
  at_text_start_ = true;
  return out;
}

}  // namespace tern
