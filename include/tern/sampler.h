// tern::SamplerChain: turns one row of logits into the next token.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tern {

class Tokenizer;

/// Seed value that asks for a non-deterministic seed (std::random_device), as llama.cpp's -1.
inline constexpr uint32_t kRandomSeed = 0xFFFFFFFFu;

/// Sampling settings, with llama.cpp's defaults. The chain applies, in this order:
/// [logit bias] -> penalties -> [grammar] -> top-k -> typical -> top-p -> min-p ->
/// temperature -> draw.
/// With mirostat on, the tail after the penalties is [grammar] -> temperature -> mirostat
/// (v1 or v2). temp <= 0 means greedy: the argmax after the penalties (and the grammar),
/// with no random draw. The grammar stage, present when `grammar` is set, removes every
/// token that cannot continue the grammar; see docs/grammars.md for how it stays cheap.
struct SamplingParams {
  float temp = 0.8f;               // logits are divided by temp; <= 0: greedy
  int32_t top_k = 40;              // keep the k most likely tokens; <= 0: off
  float top_p = 0.95f;             // keep the smallest prefix with cumulative p >= top_p; 1: off
  float min_p = 0.05f;             // keep tokens with p >= min_p * p_max; 0: off
  float typical_p = 1.0f;          // locally typical sampling mass; 1: off
  float repeat_penalty = 1.0f;     // divides positive / multiplies negative logits; 1: off
  int32_t repeat_last_n = 64;      // tokens of history the penalties see; 0: off, -1: all
  float presence_penalty = 0.0f;   // subtracted once from every token seen in the window
  float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
  int32_t mirostat = 0;            // 0: off, 1: mirostat, 2: mirostat v2
  float mirostat_tau = 5.0f;       // target surprise in bits (--mirostat-ent)
  float mirostat_eta = 0.1f;       // learning rate of mu (--mirostat-lr)
  uint32_t seed = kRandomSeed;     // RNG seed (std::mt19937); kRandomSeed: pick one at random
  std::string grammar;             // GBNF the generated text must match (tern/grammar.h); "": none
  /// (token id, bias) pairs added to those tokens' logits before every other stage; a bias
  /// of -infinity bans the token. Ids must lie in the vocabulary.
  std::vector<std::pair<int32_t, float>> logit_bias;
};

/// A chain of samplers built from SamplingParams. Deterministic for a fixed seed: the RNG is
/// std::mt19937 and the draw from it is tern's own, so results do not depend on the standard
/// library's distributions. Not thread-safe; use one chain per sequence.
class SamplerChain {
 public:
  /// Throws tern::Error naming the parameter when a setting is out of range, and when
  /// params.grammar is set (a grammar needs the vocabulary: use the other constructor).
  /// Without the vocabulary, a logit bias token id past the logits fails in sample().
  explicit SamplerChain(const SamplingParams& params = {});
  /// The same, with the tokenizer whose tokens the chain samples: required for a grammar,
  /// which it parses here (tern::Error "grammar: LINE:COL: ..."), and checks the logit
  /// bias token ids against. `tokenizer` must outlive the chain.
  SamplerChain(const SamplingParams& params, const Tokenizer& tokenizer);
  ~SamplerChain();
  SamplerChain(SamplerChain&&) noexcept;
  SamplerChain& operator=(SamplerChain&&) noexcept;

  /// Picks the next token from `logits` (n_vocab floats, one per token id). Does not record
  /// it: call accept() with the token that is actually fed to the model. Throws tern::Error
  /// when `logits` is empty or has no finite value, also once the logit bias is added.
  int32_t sample(std::span<const float> logits);
  /// Records a generated token: the penalty history takes it and the grammar advances over
  /// it (tern::Error if the grammar does not allow it).
  void accept(int32_t token);
  /// Records a prompt token: in the penalty history only, as the grammar constrains only
  /// the generated text.
  void accept_prompt(int32_t token);
  /// Forgets the history, reseeds the RNG from the params, resets mirostat's mu and puts
  /// the grammar back at its start.
  void reset();

  const SamplingParams& params() const;
  /// The stages in order, e.g. "penalties -> top-k -> typical -> top-p -> min-p -> temp -> dist"
  /// ("penalties -> grammar -> top-k -> ..." with a grammar).
  std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern
