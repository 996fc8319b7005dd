#include "tokenizer/special_splitter.h"

#include <algorithm>

namespace tern::tokenizer {

SpecialSplitter::SpecialSplitter(const Vocab& vocab) {
  for (TokenId id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.types[id];
    const bool control = type == TokenType::Control || type == TokenType::Unknown;
    if ((control || type == TokenType::UserDefined) && !vocab.texts[id].empty()) {
      candidates_.push_back({vocab.texts[id], id, control});
    }
  }
  std::sort(candidates_.begin(), candidates_.end(), [](const Candidate& a, const Candidate& b) {
    return a.text.size() != b.text.size() ? a.text.size() > b.text.size() : a.token < b.token;
  });
  trie_.emplace_back();
  for (size_t c = 0; c < candidates_.size(); ++c) {
    int32_t node = 0;
    for (char ch : candidates_[c].text) {
      const auto byte = static_cast<uint8_t>(ch);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(trie_.size());
        auto& children = trie_[node].children;
        children.insert(std::lower_bound(children.begin(), children.end(), std::pair(byte, 0)),
                        {byte, next});
        trie_.emplace_back();  // after the insert: emplace_back may move trie_[node]
      }
      node = next;
    }
    if (trie_[node].candidate < 0) trie_[node].candidate = static_cast<int32_t>(c);
  }
}

int32_t SpecialSplitter::child(int32_t node, uint8_t byte) const {
  const auto& children = trie_[node].children;
  auto it = std::lower_bound(children.begin(), children.end(), std::pair(byte, int32_t{0}));
  return it != children.end() && it->first == byte ? it->second : -1;
}

// Indices of the candidates found anywhere in `text`, in cutting order.
std::vector<int32_t> SpecialSplitter::occurring(std::string_view text, bool parse_special) const {
  std::vector<bool> seen(candidates_.size(), false);
  for (size_t start = 0; start < text.size(); ++start) {
    int32_t node = 0;
    for (size_t i = start; i < text.size(); ++i) {
      node = child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      const int32_t c = trie_[node].candidate;
      if (c >= 0 && (parse_special || !candidates_[c].needs_parse_special)) seen[c] = true;
    }
  }
  std::vector<int32_t> found;
  for (size_t c = 0; c < seen.size(); ++c) {
    if (seen[c]) found.push_back(static_cast<int32_t>(c));
  }
  return found;
}

std::vector<Fragment> SpecialSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({text, kNoToken});
  for (int32_t c : occurring(text, parse_special)) {
    const Candidate& cand = candidates_[c];
    std::vector<Fragment> next;
    next.reserve(fragments.size() + 2);
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t done = 0;
      for (size_t pos = f.text.find(cand.text); pos != std::string_view::npos;
           pos = f.text.find(cand.text, done)) {
        if (pos > done) next.push_back({f.text.substr(done, pos - done), kNoToken});
        next.push_back({cand.text, cand.token});
        done = pos + cand.text.size();
      }
      if (done < f.text.size()) next.push_back({f.text.substr(done), kNoToken});
    }
    fragments = std::move(next);
  }
  return fragments;
}

}  // namespace tern::tokenizer
