// Continuous batching: slots of one session, one Session::decode per step for all of them,
// and TokenLoop (shared with generate()) for each slot's sampling and stop rules.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "generate/token_loop.h"
#include "tern/batch_generate.h"
#include "tern/error.h"

namespace tern {

struct BatchGenerator::Slot {
  bool busy = false;
  std::vector<TokenId> prompt;  // until the step that decodes (its last piece of) it
  int64_t n_keep = 0;           // of which these are in the sequence already
  double prompt_seconds = 0;    // the steps that decoded it
  std::vector<float> scratch;   // for options.on_prompt_token
  std::vector<TokenLogProb> top;
  SamplerChain* sampler = nullptr;
  GenerateOptions options;
  TextCallback on_text;
  std::optional<detail::TokenLoop> loop;  // from the step that decoded the prompt on
  std::vector<TokenId> step;  // to decode next: the sampled token, then any drafts
};

BatchGenerator::BatchGenerator(Session& session, const Tokenizer& tokenizer, int64_t prompt_step)
    : session_(&session),
      tokenizer_(&tokenizer),
      prompt_step_(prompt_step),
      slots_(static_cast<size_t>(session.n_seq())) {
  if (prompt_step < 0)
    throw Error(fmt::format("BatchGenerator: prompt step {} is negative", prompt_step));
}

BatchGenerator::~BatchGenerator() = default;

int BatchGenerator::busy() const {
  return static_cast<int>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy; }));
}

int BatchGenerator::slots() const { return static_cast<int>(slots_.size()); }

std::optional<int> BatchGenerator::start(std::span<const TokenId> prompt, SamplerChain& sampler,
                                         const GenerateOptions& options, TextCallback on_text,
                                         SlotChoice where) {
  if (prompt.empty()) throw Error("BatchGenerator: a generation needs a prompt");
  for (TokenId token : prompt) {
    if (token < 0 || token >= session_->n_vocab()) {
      throw Error(fmt::format("BatchGenerator: token id {} is outside the vocabulary ({} ids)",
                              token, session_->n_vocab()));
    }
  }
  detail::check_prompt_fits(prompt.size(), session_->n_ctx(), session_->n_ctx());
  detail::check_generate_options(options);
  auto free = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
  int64_t n_keep = 0;
  if (where.slot >= 0) {
    if (where.slot >= slots() || slots_[static_cast<size_t>(where.slot)].busy) {
      throw Error(fmt::format("BatchGenerator: slot {} is not a free slot", where.slot));
    }
    if (where.n_keep < 0 || where.n_keep > session_->n_past(where.slot)) {
      throw Error(fmt::format("BatchGenerator: slot {} holds {} positions, not {}", where.slot,
                              session_->n_past(where.slot), where.n_keep));
    }
    free = slots_.begin() + where.slot;
    // The prompt's log-probabilities need it decoded whole.
    n_keep = options.on_prompt_token ? 0 : std::min<int64_t>(where.n_keep, std::ssize(prompt) - 1);
  }
  if (free == slots_.end()) return std::nullopt;
  const int index = static_cast<int>(free - slots_.begin());
  session_->trim(n_keep, index);
  free->busy = true;
  free->prompt.assign(prompt.begin(), prompt.end());
  free->n_keep = n_keep;
  free->sampler = &sampler;
  free->options = options;
  free->on_text = std::move(on_text);
  free->loop.reset();
  return index;
}

std::vector<FinishedGeneration> BatchGenerator::step() {
  std::vector<FinishedGeneration> finished;
  const auto finish = [&](int index, GenerateResult result) {
    Slot& slot = slots_[static_cast<size_t>(index)];
    slot = Slot{};
    finished.push_back({index, std::move(result)});
  };
  // Aborted generations leave before the decode, as generate()'s decode would abandon them.
  for (int i = 0; i < slots(); ++i) {
    Slot& slot = slots_[static_cast<size_t>(i)];
    if (!slot.busy || !slot.options.abort || !slot.options.abort()) continue;
    if (!slot.loop) {
      finish(i, GenerateResult{.stop = StopReason::Interrupted});
      continue;
    }
    slot.loop->interrupt();
    finish(i, slot.loop->finish());
  }

  std::vector<SequenceTokens> batch;
  std::vector<int64_t> n_past;  // of each part's sequence before the decode
  for (int i = 0; i < slots(); ++i) {
    const Slot& slot = slots_[static_cast<size_t>(i)];
    if (!slot.busy) continue;
    if (slot.loop) {
      batch.push_back({i, slot.step, Outputs::All});
    } else {  // the prompt, or its next piece: every position's logits for on_prompt_token
      const auto rest = std::span(slot.prompt).subspan(static_cast<size_t>(slot.n_keep));
      size_t piece = prompt_step_ > 0 ? static_cast<size_t>(prompt_step_) : rest.size();
      if (slot.options.on_prompt_token) {
        piece = std::min(piece, static_cast<size_t>(prompt_logprob_rows(session_->n_vocab())));
      }
      const size_t n = std::min(piece, rest.size());
      const Outputs outputs = slot.options.on_prompt_token ? Outputs::All
                              : n == rest.size()           ? Outputs::Last
                                                           : Outputs::None;
      batch.push_back({i, rest.first(n), outputs});
    }
    n_past.push_back(session_->n_past(i));
  }
  if (batch.empty()) return finished;
  const auto decode_start = std::chrono::steady_clock::now();
  const std::span<const float> logits = session_->decode(batch);
  const double decode_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - decode_start).count();

  const auto n_vocab = static_cast<size_t>(session_->n_vocab());
  size_t row = 0;  // the first logits row of the part
  for (size_t part = 0; part < batch.size(); ++part) {
    const int index = batch[part].seq;
    Slot& slot = slots_[static_cast<size_t>(index)];
    std::optional<TokenId> next;
    if (!slot.loop) {
      const Outputs outputs = batch[part].outputs;
      const size_t n_rows = outputs == Outputs::All    ? batch[part].tokens.size()
                            : outputs == Outputs::Last ? 1
                                                       : 0;
      const std::span<const float> rows = logits.subspan(row * n_vocab, n_rows * n_vocab);
      row += n_rows;
      slot.prompt_seconds += decode_seconds;
      if (slot.options.on_prompt_token) {
        detail::report_prompt_tokens(*tokenizer_, slot.options, slot.prompt,
                                     static_cast<size_t>(slot.n_keep), rows, n_vocab, slot.scratch,
                                     slot.top);
      }
      slot.n_keep += std::ssize(batch[part].tokens);
      if (slot.n_keep < std::ssize(slot.prompt)) continue;  // its next piece next step
      // The prompt is in: generation starts as generate()'s does.
      if (slot.options.after_prompt) slot.options.after_prompt();
      slot.loop.emplace(*tokenizer_, *slot.sampler, slot.prompt, slot.prompt_seconds, slot.options,
                        slot.on_text);
      slot.prompt = {};
      if (!slot.loop->finished()) {
        next = slot.loop->advance(rows.last(n_vocab), session_->n_past(index) >= session_->n_ctx());
      }
    } else {
      const size_t n_rows = batch[part].tokens.size();
      int64_t n_kept = 0;
      next = slot.loop->verify(slot.step, logits.subspan(row * n_vocab, n_rows * n_vocab),
                               n_past[part], session_->n_ctx(), n_kept);
      session_->trim(n_past[part] + n_kept, index);  // the rejected drafts leave the cache
      row += n_rows;
    }
    if (next) {
      slot.step = slot.loop->next_step(*next, session_->tokens(index),
                                       session_->n_ctx() - session_->n_past(index));
    } else {
      finish(index, slot.loop->finish());
    }
  }
  std::sort(
      finished.begin(), finished.end(),
      [](const FinishedGeneration& a, const FinishedGeneration& b) { return a.slot < b.slot; });
  return finished;
}

}  // namespace tern
