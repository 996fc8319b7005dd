// The drafters of speculative decoding: prompt lookup (n-grams of the sequence itself) and
// a smaller draft model.
#include "tern/speculative.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tern/error.h"

namespace tern {

namespace {

// Ids a draft vocabulary may lack or add: models of one family pad their vocabularies to
// different multiples (e.g. 151936 vs 152064), and padding ids are never generated.
constexpr int32_t kMaxPaddingIds = 128;

// The argmax of `row` and its softmax probability.
std::pair<TokenId, float> top_token(std::span<const float> row) {
  const auto best = std::ranges::max_element(row);
  double sum = 0;
  for (float logit : row) sum += std::exp(static_cast<double>(logit - *best));
  return {static_cast<TokenId>(best - row.begin()), static_cast<float>(1.0 / sum)};
}

}  // namespace

NgramDrafter::NgramDrafter(int n_min, int n_max) : n_min_(n_min), n_max_(n_max) {
  if (n_min < 1 || n_max < n_min) {
    throw Error(fmt::format("n-gram sizes {}..{} are not a range of at least 1", n_min, n_max));
  }
}

std::vector<TokenId> NgramDrafter::draft(std::span<const TokenId> context, int max) {
  const auto size = std::ssize(context);
  for (int64_t n = std::min<int64_t>(n_max_, size - 1); n >= n_min_ && max > 0; --n) {
    const auto tail = context.last(static_cast<size_t>(n));
    // The latest earlier occurrence: it has at least one token after it.
    for (int64_t start = size - n - 1; start >= 0; --start) {
      const auto at = context.begin() + start;
      if (!std::equal(tail.begin(), tail.end(), at)) continue;
      const int64_t end = std::min(size, start + n + max);
      return {at + n, context.begin() + end};
    }
  }
  return {};
}

ModelDrafter::ModelDrafter(Session& session, float p_min) : session_(&session), p_min_(p_min) {
  if (!(p_min >= 0.0f && p_min <= 1.0f)) {
    throw Error(fmt::format("draft p-min {} is not in [0, 1]", p_min));
  }
}

std::vector<TokenId> ModelDrafter::draft(std::span<const TokenId> context, int max) {
  Session& s = *session_;
  const auto size = std::ssize(context);
  max = static_cast<int>(std::min<int64_t>(max, s.n_ctx() - size));
  if (size == 0 || max <= 0) return {};
  if (std::ranges::any_of(context, [&](TokenId t) { return t >= s.n_vocab(); })) return {};
  // Keep what the draft session already holds of the context, less at least its last
  // token: decoding that gives the row the first draft is read from.
  const std::span<const int32_t> held = s.tokens();
  const auto common = std::ranges::mismatch(held, context).in1 - held.begin();
  s.trim(std::min<int64_t>(common, size - 1));
  std::span<const float> row = s.decode(context.subspan(static_cast<size_t>(s.n_past())));
  std::vector<TokenId> drafts;
  for (;;) {
    const auto [token, p] = top_token(row);
    if (p < p_min_) break;
    drafts.push_back(token);
    if (std::ssize(drafts) == max) break;
    row = s.decode(std::span(&drafts.back(), 1));
  }
  return drafts;
}

void check_same_vocabulary(const Tokenizer& target, const Tokenizer& draft,
                           std::string_view target_name, std::string_view draft_name) {
  if (std::abs(target.n_vocab() - draft.n_vocab()) > kMaxPaddingIds) {
    throw Error(fmt::format("the draft model {} has {} tokens, the model {} has {}: not one "
                            "vocabulary",
                            draft_name, draft.n_vocab(), target_name, target.n_vocab()));
  }
  const TokenId shared = std::min(target.n_vocab(), draft.n_vocab());
  for (TokenId id = 0; id < shared; ++id) {
    if (target.token_text(id) != draft.token_text(id)) {
      throw Error(fmt::format("the draft model {} spells token {} differently from the model "
                              "{}: not one vocabulary",
                              draft_name, id, target_name));
    }
  }
}

}  // namespace tern
