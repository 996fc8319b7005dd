// Speculative decoding: a Drafter guesses the tokens that follow a sequence; generate()
// decodes the guesses together with the token it sampled, in one batched pass, and keeps
// them while the target model's own samples agree (GenerateOptions::drafter).
//
// The drafts are deterministic guesses, so the acceptance rule of speculative sampling
// (keep a draft x with probability p(x), else draw from p without x) reduces to: sample from
// the target's row as without speculation and keep going while the sample equals the
// draft. The output therefore follows the target's distribution exactly, and greedy output
// is the same token for token; only the number of model passes changes.
//
// Threads: a drafter is used by one generation, from one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern {

class Drafter {
 public:
  virtual ~Drafter() = default;
  /// Up to `max` tokens likely to follow `context` (the whole sequence so far, its newest
  /// token last); fewer or none when there is no good guess.
  virtual std::vector<TokenId> draft(std::span<const TokenId> context, int max) = 0;
};

/// Prompt lookup: finds the latest earlier occurrence of the sequence's last n tokens
/// (n from n_max down to n_min) and drafts what followed it. Needs no second model; pays
/// off when the output repeats its input (summaries, quotes, code edits).
class NgramDrafter : public Drafter {
 public:
  /// Throws tern::Error unless 1 <= n_min <= n_max.
  explicit NgramDrafter(int n_min = 2, int n_max = 4);
  std::vector<TokenId> draft(std::span<const TokenId> context, int max) override;

 private:
  int n_min_;
  int n_max_;
};

/// A smaller model of the same vocabulary drafts greedily, token by token, over its own
/// session (sequence 0), which it keeps in step with the context it is given: only what
/// changed since the last call is decoded. Drafting stops early when the draft model's
/// top token has probability below p_min (a guess that would likely be rejected).
class ModelDrafter : public Drafter {
 public:
  /// `session` (over the draft model) must outlive the drafter. Throws tern::Error unless
  /// 0 <= p_min <= 1.
  explicit ModelDrafter(Session& session, float p_min = 0.75f);
  std::vector<TokenId> draft(std::span<const TokenId> context, int max) override;

 private:
  Session* session_;
  float p_min_;
};

/// Throws tern::Error naming both models when `draft` cannot draft for `target`: a token
/// id the two vocabularies share spells differently, or the draft's vocabulary is smaller
/// than the target's by more than padding (a few unused ids).
void check_same_vocabulary(const Tokenizer& target, const Tokenizer& draft,
                           std::string_view target_name, std::string_view draft_name);

}  // namespace tern
