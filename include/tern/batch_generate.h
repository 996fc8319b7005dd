// Several generations in one batch (continuous batching): each generation has a sequence
// slot of a Session; every step() decodes all of them in one Session::decode (new prompts
// whole, one token for each generation under way, with its drafts when its options have a
// drafter: speculative decoding, tern/speculative.h), so the weights are read once per step
// for all. A generation may start whenever a slot is free and finishes on its own stop
// rule, freeing its slot for the next one. Each generation gives exactly what generate()
// gives for it alone in a fresh sequence (up to the batched kernels' rounding).
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "tern/generate.h"

namespace tern {

/// A generation that ended in a step: its slot (as start() returned it) and its result.
struct FinishedGeneration {
  int slot = 0;
  GenerateResult result;
};

/// Where start() puts a generation: by default any free slot, emptied. With `slot`, that
/// free slot keeping the first `n_keep` positions of its sequence, which must hold the
/// prompt's first n_keep tokens (a conversation's earlier turns, kept by a server between
/// requests): only the rest of the prompt is decoded. (With GenerateOptions::on_prompt_token
/// the prompt is decoded whole: n_keep is taken as 0.)
struct SlotChoice {
  int slot = -1;
  int64_t n_keep = 0;
};

/// Threading: one thread drives a BatchGenerator (start(), step() and the callbacks they
/// run), and nothing else may use its session meanwhile. The text callbacks and
/// options.abort checks run on that thread, inside step().
class BatchGenerator {
 public:
  /// One slot per sequence of `session` (SessionOptions::n_seq). `session` and `tokenizer`
  /// must outlive the generator; it empties a slot's sequence when a generation starts there.
  /// `prompt_step`: the most prompt tokens of one slot a step decodes (0: the whole prompt
  /// at once); a longer prompt takes several steps, and the generations under way beside it
  /// get a token at each (a server's streams do not stall behind a long prompt).
  BatchGenerator(Session& session, const Tokenizer& tokenizer, int64_t prompt_step = 0);
  ~BatchGenerator();
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  /// Queues a generation of `prompt` in a free slot: the next step() decodes the prompt and
  /// samples its first token. Returns the slot, or nullopt when every slot is busy. Throws,
  /// with nothing queued: tern::ContextOverflow when the prompt does not fit in a sequence
  /// (n_ctx), tern::Error for an empty prompt (a fresh sequence has no logits to continue
  /// from) or a token outside the vocabulary. `sampler` must outlive the generation; it is
  /// used as generate() uses it (prompt tokens recorded, no reset). options.abort is asked
  /// before each step and after each generated token, not inside the batched decode (one
  /// generation's abort must not abandon the others'): a prompt aborted before its step
  /// ends with n_prompt 0, like generate()'s prompt abandoned mid-decode.
  ///
  /// `where` picks the slot (see SlotChoice); n_keep is capped at prompt.size() - 1, as the
  /// last prompt token must be decoded for its logits, and the result's n_prompt still
  /// counts the whole prompt. Throws tern::Error for a slot that is busy or out of range, or
  /// n_keep past its sequence.
  std::optional<int> start(std::span<const TokenId> prompt, SamplerChain& sampler,
                           const GenerateOptions& options, TextCallback on_text = {},
                           SlotChoice where = {});

  /// One Session::decode over every busy slot (each new prompt whole, or its next piece),
  /// then for each generation under way or whose prompt is in: sample, stream and apply
  /// generate()'s stop rules. Returns the generations that finished in this step, in slot
  /// order, and frees their slots. Timings are wall-clock of the shared steps: prompt_seconds
  /// is the step that decoded the prompt, generate_seconds from then to the finish. Does
  /// nothing when idle(). An error of the decode propagates before any slot changed.
  std::vector<FinishedGeneration> step();

  /// No generation in any slot.
  bool idle() const { return busy() == 0; }
  /// Slots holding a generation (queued or under way).
  int busy() const;
  /// Slots in all (the session's n_seq).
  int slots() const;

 private:
  struct Slot;
  Session* session_;
  const Tokenizer* tokenizer_;
  int64_t prompt_step_;
  std::vector<Slot> slots_;
};

}  // namespace tern
