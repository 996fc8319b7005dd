#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <queue>
#include <string>

#include "gguf/file.h"
#include "tern/error.h"
#include "tokenizer/utf8.h"

namespace tern::tokenizer {

BpeMerges::BpeMerges(const gguf::File& file, const Vocab& vocab) {
  const auto& items = file.get_array("tokenizer.ggml.merges", gguf::ValueType::String).items;
  merges_.reserve(items.size());
  std::string joined;
  for (size_t rank = 0; rank < items.size(); ++rank) {
    const std::string_view merge = items[rank].as_string();
    // The separator is the first space after the first character: a part may itself be " ".
    const size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos || space + 1 >= merge.size()) {
      throw Error(fmt::format("{}: tokenizer.ggml.merges[{}] '{}' is not of the form 'left right'",
                              file.name(), rank, merge));
    }
    const std::string_view left = merge.substr(0, space);
    const std::string_view right = merge.substr(space + 1);
    const TokenId left_id = vocab.find(left);
    const TokenId right_id = vocab.find(right);
    if (left_id == kNoToken || right_id == kNoToken) {
      throw Error(fmt::format("{}: tokenizer.ggml.merges[{}] '{}': '{}' is not a token",
                              file.name(), rank, merge, left_id == kNoToken ? left : right));
    }
    joined.assign(left).append(right);
    // A repeated pair keeps its first (best) rank.
    merges_.try_emplace(key(left_id, right_id),
                        Merge{static_cast<int32_t>(rank), vocab.find(joined)});
  }
}

const BpeMerges::Merge* BpeMerges::find(TokenId left, TokenId right) const {
  if (left == kNoToken || right == kNoToken) return nullptr;
  auto it = merges_.find(key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

namespace {

struct Symbol {
  size_t offset;
  size_t length;  // 0 once merged into its left neighbour
  TokenId token;  // token of this piece, kNoToken when the piece is not one
  int32_t prev;
  int32_t next;
};

struct Bigram {
  int32_t left;
  int32_t right;
  int32_t rank;
  size_t length;  // left + right at the time it was queued; differs once either changed
};

// Lowest rank first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

using BigramQueue = std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder>;

void queue_pair(const BpeMerges& merges, const std::vector<Symbol>& symbols, int32_t left,
                int32_t right, BigramQueue& queue) {
  if (left < 0 || right < 0) return;
  if (const auto* m = merges.find(symbols[left].token, symbols[right].token)) {
    queue.push({left, right, m->rank, symbols[left].length + symbols[right].length});
  }
}

std::vector<Symbol> split_characters(const Vocab& vocab, std::string_view word) {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offset = 0; offset < word.size();) {
    const size_t n =
        std::min(utf8_sequence_length(static_cast<uint8_t>(word[offset])), word.size() - offset);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({offset, n, vocab.find(word.substr(offset, n)), index - 1,
                       offset + n < word.size() ? index + 1 : -1});
    offset += n;
  }
  return symbols;
}

// A piece that is no token goes out as the tokens of its single bytes, where those exist.
void emit(const Vocab& vocab, std::string_view piece, TokenId token, std::vector<TokenId>& out) {
  if (token != kNoToken) {
    out.push_back(token);
    return;
  }
  for (size_t i = 0; i < piece.size(); ++i) {
    if (const TokenId id = vocab.find(piece.substr(i, 1)); id != kNoToken) out.push_back(id);
  }
}

}  // namespace

void BpeMerges::encode_word(const Vocab& vocab, std::string_view word, bool ignore_merges,
                            std::vector<TokenId>& out) const {
  if (ignore_merges) {
    if (const TokenId id = vocab.find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols = split_characters(vocab, word);
  BigramQueue queue;
  for (size_t i = 1; i < symbols.size(); ++i) {
    queue_pair(*this, symbols, static_cast<int32_t>(i - 1), static_cast<int32_t>(i), queue);
  }
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != b.length) continue;
    left.token = find(left.token, right.token)->result;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    queue_pair(*this, symbols, left.prev, b.left, queue);
    queue_pair(*this, symbols, b.left, left.next, queue);
  }
  for (int32_t i = 0; i >= 0 && !symbols.empty(); i = symbols[i].next) {
    emit(vocab, word.substr(symbols[i].offset, symbols[i].length), symbols[i].token, out);
  }
}

}  // namespace tern::tokenizer
