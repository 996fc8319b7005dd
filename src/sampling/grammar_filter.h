// The grammar stage: removes the candidates whose bytes cannot continue the grammar, and
// keeps end-of-generation tokens only where the grammar can end. It runs before the
// truncation stages, so they and the draw only ever see tokens the grammar allows.
//
// Cost: checking every token of a large vocabulary on every step is what makes grammars
// slow. When the next stages use at most `keep` candidates (greedy: 1, top-k: k), the stage
// checks the best-scoring ones first and stops once `keep` of them pass: the same set a
// full check followed by those stages would give, for a few dozen checks per step. Only
// when too few of the best pass (or with no such limit) is every candidate checked.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "grammar/matcher.h"
#include "sampling/stage.h"
#include "tern/tokenizer.h"

namespace tern::sampling {

class GrammarFilter : public Stage {
 public:
  /// `keep`: most candidates the following stages can use; 0 for no limit. `tokenizer`
  /// must outlive the stage (it holds the bytes of every token).
  GrammarFilter(std::shared_ptr<const grammar::CompiledGrammar> grammar, const Tokenizer& tokenizer,
                size_t keep);
  std::string_view name() const override { return "grammar"; }
  void apply(Candidates& cur) override;
  /// Advances the grammar; throws tern::Error for a token it does not allow.
  void accept_generated(int32_t token) override;
  void reset() override { matcher_.reset(); }

 private:
  // Sets allowed_[i] for the first n items by checking just them; returns how many pass.
  size_t check_first(const Candidates& cur, size_t n);
  // Sets allowed_[i] for every item from the whole vocabulary's check.
  void check_all(const Candidates& cur);
  // The verdict for end-of-generation and textless tokens, else `text_ok`.
  uint8_t verdict(int32_t id, bool text_ok, bool can_end) const;
  // Keeps the allowed items among the first `n` (in order), at most `limit` of them.
  void keep_allowed(Candidates& cur, size_t n, size_t limit);

  grammar::Matcher matcher_;
  const Tokenizer* tokenizer_;
  std::vector<uint8_t> is_end_of_generation_;  // per token id
  grammar::TextIndex vocabulary_;              // every token's text (none for the ends)
  size_t keep_;
  std::vector<std::string_view> texts_;  // scratch, reused between steps
  std::vector<uint8_t> allowed_;
  std::vector<uint8_t> allowed_ids_;  // per token id, from the whole-vocabulary check
};

}  // namespace tern::sampling
