// The working set every sampling stage reads and narrows: token ids with logits and
// (after softmax) probabilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tern::sampling {

struct TokenLogit {
  int32_t id;
  float logit;
  float p;  // valid only after Candidates::softmax()
};

struct Candidates {
  std::vector<TokenLogit> items;
  bool sorted = false;    // items are in descending logit order
  int32_t selected = -1;  // index into items of the chosen token, set by a selecting stage

  /// One entry per token id, in id order (so items[id].id == id until reordered).
  void assign(std::span<const float> logits);
  /// Sorts by descending logit (equal logits: lower id first).
  void sort();
  /// Puts the k highest first, in sort() order; the rest stay unordered (O(n log k)).
  void sort_top(size_t k);
  /// Sorts, then sets p = softmax(logit) over the current items (accumulated in double).
  void softmax();
  /// Keeps the first n items (n is clamped to [1, size]).
  void keep_first(size_t n);
};

}  // namespace tern::sampling
