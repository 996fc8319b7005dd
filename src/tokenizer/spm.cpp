#include "tokenizer/spm.h"

#include <fmt/format.h>

#include <algorithm>
#include <queue>

#include "tern/error.h"
#include "tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁" U+2581

// A piece of the text in a doubly linked list; merged-away pieces have length 0.
struct Symbol {
  size_t offset;
  size_t length;
  int32_t prev;
  int32_t next;
};

struct Bigram {
  int32_t left;
  int32_t right;
  float score;
  size_t length;  // left + right at the time it was queued; differs once either changed
};

// Highest score first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, std::string_view text) : vocab_(vocab), text_(text) {}

  void run(std::vector<TokenId>& out) {
    split_characters();
    for (size_t i = 1; i < symbols_.size(); ++i) {
      queue_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    }
    merge_all();
    for (int32_t i = 0; i >= 0 && !symbols_.empty(); i = symbols_[i].next) emit(symbols_[i], out);
  }

 private:
  void split_characters() {
    symbols_.reserve(text_.size());
    for (size_t offset = 0; offset < text_.size();) {
      // A byte that starts no valid character is a piece of its own (it will go out as a
      // byte token), so it cannot swallow the start of the next character.
      const size_t n = std::max<size_t>(utf8_valid_length(text_.substr(offset)), 1);
      const auto index = static_cast<int32_t>(symbols_.size());
      symbols_.push_back({offset, n, index - 1, offset + n < text_.size() ? index + 1 : -1});
      offset += n;
    }
  }

  void queue_pair(int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols_[left].length + symbols_[right].length;
    const TokenId id = vocab_.find(text_.substr(symbols_[left].offset, length));
    if (id == kNoToken) return;
    queue_.push({left, right, vocab_.scores[id], length});
  }

  void merge_all() {
    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[b.left];
      Symbol& right = symbols_[b.right];
      if (left.length == 0 || right.length == 0 || left.length + right.length != b.length) continue;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[right.next].prev = b.left;
      queue_pair(left.prev, b.left);
      queue_pair(b.left, left.next);
    }
  }

  // A piece that is not a token (only ever a single character) goes out byte by byte.
  void emit(const Symbol& s, std::vector<TokenId>& out) const {
    const std::string_view piece = text_.substr(s.offset, s.length);
    if (const TokenId id = vocab_.find(piece); id != kNoToken) {
      out.push_back(id);
      return;
    }
    for (char c : piece) out.push_back(byte_token(static_cast<uint8_t>(c)));
  }

  TokenId byte_token(uint8_t byte) const {
    if (vocab_.byte_tokens[byte] != kNoToken) return vocab_.byte_tokens[byte];
    if (const TokenId id = vocab_.find(std::string_view(reinterpret_cast<const char*>(&byte), 1));
        id != kNoToken) {
      return id;
    }
    if (vocab_.special.unk != kNoToken) return vocab_.special.unk;
    throw Error(
        fmt::format("{}: the vocabulary cannot represent byte 0x{:02X} (no byte token, no <unk>)",
                    vocab_.file_name, byte));
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
};

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab) {
  for (const std::string& text : vocab.texts) {
    size_t prev = 0;  // start of the previous character
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::max<size_t>(utf8_valid_length(std::string_view(text).substr(i)), 1);
      if (i > 0 && std::string_view(text).substr(i, n) == kSpmSpace) {
        joins_space_.emplace(text.substr(prev, i - prev));
      }
      prev = i;
      i += n;
    }
  }
}

bool SpmEncoder::may_join_space(std::string_view before) const {
  return before == kSpmSpace || utf8_valid_length(before) != before.size() ||
         joins_space_.contains(std::string(before));
}

void SpmEncoder::encode(const Vocab& vocab, std::string_view text,
                        std::vector<TokenId>& out) const {
  size_t word_start = 0;
  size_t prev = 0;  // start of the previous character
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::max<size_t>(utf8_valid_length(text.substr(i)), 1);
    if (i > word_start && text.substr(i, n) == kSpmSpace &&
        !may_join_space(text.substr(prev, i - prev))) {
      SpmSession(vocab, text.substr(word_start, i - word_start)).run(out);
      word_start = i;
    }
    prev = i;
    i += n;
  }
  if (word_start < text.size()) SpmSession(vocab, text.substr(word_start)).run(out);
}

}  // namespace tern::tokenizer
