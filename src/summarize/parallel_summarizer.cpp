// Several documents' summary rounds at once: each prompt under way holds a slot of a
// BatchGenerator; free slots go to the earliest document with a prompt not yet started, so
// documents finish roughly in the order they were added.
#include <memory>
#include <utility>

#include "tern/summarize.h"

namespace tern::summarize {

struct ParallelSummarizer::Document {
  size_t id = 0;
  SummaryRounds rounds;
  size_t n_started = 0;  // prompts of the round under way given a slot
};

struct ParallelSummarizer::Job {
  Document* document = nullptr;  // null: the slot is free
  size_t prompt = 0;             // index in the document's round
  std::unique_ptr<SamplerChain> sampler;
  bool pooled = true;  // false: a final round's grammar chain, dropped when done
};

ParallelSummarizer::ParallelSummarizer(Session& session, const Tokenizer& tokenizer,
                                       const SamplingParams& sampling, SummarizeOptions options)
    : prompt_(tokenizer, std::move(options), session.n_ctx()),
      generator_(std::make_unique<BatchGenerator>(session, tokenizer)),
      jobs_(static_cast<size_t>(session.n_seq())) {
  for (int i = 0; i < session.n_seq(); ++i) {
    idle_samplers_.push_back(std::make_unique<SamplerChain>(sampling));
  }
}

ParallelSummarizer::~ParallelSummarizer() = default;

bool ParallelSummarizer::wants_document() const {
  size_t n_waiting = 0;  // prompts that will take a slot before a new document would
  for (const Document& d : documents_) n_waiting += d.rounds.prompts().size() - d.n_started;
  return static_cast<size_t>(generator_->busy()) + n_waiting <
         static_cast<size_t>(generator_->slots());
}

void ParallelSummarizer::add(size_t id, std::string_view text) {
  SummaryRounds rounds(prompt_, text);
  if (rounds.done()) {
    finished_.push_back({id, rounds.summary()});
    return;
  }
  documents_.push_back({id, std::move(rounds)});
}

bool ParallelSummarizer::idle() const { return documents_.empty() && finished_.empty(); }

std::vector<ParallelSummarizer::Finished> ParallelSummarizer::step() {
  // Done without a prompt: returned now, not after a step of the others' work (a caller
  // timing each document would have charged an empty one with that step).
  if (!finished_.empty()) return std::exchange(finished_, {});
  for (Document& d : documents_) {
    while (d.n_started < d.rounds.prompts().size() && generator_->busy() < generator_->slots()) {
      std::unique_ptr<SamplerChain> sampler = std::move(idle_samplers_.back());
      idle_samplers_.pop_back();
      bool pooled = true;
      if (std::optional<SamplerChain> constrained =
              final_sampler(prompt_, d.rounds, sampler->params())) {
        idle_samplers_.push_back(std::move(sampler));
        sampler = std::make_unique<SamplerChain>(std::move(*constrained));
        pooled = false;
      }
      sampler->reset();  // as Summarizer does before every prompt
      const int slot = generator_
                           ->start(d.rounds.prompts()[d.n_started], *sampler,
                                   generate_options(prompt_.options()))
                           .value();  // a slot is free, and every prompt fits (SummaryPrompt)
      jobs_.at(static_cast<size_t>(slot)) = {&d, d.n_started++, std::move(sampler), pooled};
    }
  }
  std::vector<Finished> finished;
  for (const FinishedGeneration& g : generator_->step()) {
    Job job = std::move(jobs_[static_cast<size_t>(g.slot)]);
    jobs_[static_cast<size_t>(g.slot)] = {};
    if (job.pooled) idle_samplers_.push_back(std::move(job.sampler));
    Document& d = *job.document;
    if (!d.rounds.record(job.prompt, g.result)) continue;
    d.n_started = 0;
    if (!d.rounds.done()) continue;
    finished.push_back({d.id, d.rounds.summary()});
    documents_.remove_if([&d](const Document& other) { return &other == &d; });
  }
  return finished;
}

}  // namespace tern::summarize
