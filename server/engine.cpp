#include "server/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "tern/error.h"

namespace tern::server {

Job::Job(CompletionRequest request, std::vector<TokenId> prompt, const Tokenizer& tokenizer)
    : request_(std::move(request)),
      prompt_(std::move(prompt)),
      tokenizer_(&tokenizer),
      sampler_(request_.sampling, tokenizer) {}

bool Job::wait_text(std::string& text, int timeout_ms) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                  [&] { return !text_.empty() || ended_; });
  text = std::move(text_);
  text_.clear();
  return ended_;
}

FinishReason Job::finish() const {
  std::lock_guard lock(mutex_);
  return finish_;
}

Usage Job::usage() const {
  std::lock_guard lock(mutex_);
  return usage_;
}

bool Job::ended() const {
  std::lock_guard lock(mutex_);
  return ended_;
}

std::optional<ApiError> Job::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

void Job::echo_prompt(const std::string& text) {
  push_text(text);
  if (!request_.logprobs || prompt_.empty()) return;
  std::lock_guard lock(mutex_);
  logprobs_.push_back({tokenizer_->token_to_piece(prompt_.front(), true),
                       std::numeric_limits<float>::quiet_NaN(),
                       {}});
}

void Job::push_text(const std::string& text) {
  if (text.empty()) return;
  std::lock_guard lock(mutex_);
  text_ += text;
  ready_.notify_all();
}

std::vector<TokenLogprobs> Job::take_logprobs() {
  std::lock_guard lock(mutex_);
  return std::exchange(logprobs_, {});
}

void Job::push_token(const GeneratedToken& token) {
  if (token.token == kNoToken) return;  // held-back text released at the end
  TokenLogprobs t{tokenizer_->token_to_piece(token.token, true), token.logprob, {}};
  for (const TokenLogProb& alt : token.top) {
    t.top.emplace_back(tokenizer_->token_to_piece(alt.token, true), alt.logprob);
  }
  std::lock_guard lock(mutex_);
  logprobs_.push_back(std::move(t));
}

void Job::end(FinishReason finish, Usage usage, std::optional<ApiError> error) {
  std::lock_guard lock(mutex_);
  finish_ = finish;
  usage_ = usage;
  error_ = std::move(error);
  ended_ = true;
  ready_.notify_all();
}

struct Engine::Running {
  std::shared_ptr<Job> job;
  int64_t n_keep = 0;  // prompt tokens found in the slot's cache
};

namespace {

SessionOptions session_options(const EngineOptions& o) {
  SessionOptions s;
  s.n_ctx = o.n_ctx;
  s.n_batch = o.n_batch;
  s.n_threads = o.n_threads;
  s.n_seq = o.n_slots;
  return s;
}

int64_t micros(double seconds) { return static_cast<int64_t>(seconds * 1e6); }

}  // namespace

Engine::Engine(const Model& model, const EngineOptions& options, Metrics& metrics)
    : options_(options),
      metrics_(metrics),
      session_(model, session_options(options)),
      // A long prompt is decoded a micro-batch a step, the other slots' streams going on.
      generator_(session_, model.tokenizer(), options.n_batch) {
  running_.resize(static_cast<size_t>(options.n_slots));
  cached_.resize(static_cast<size_t>(options.n_slots));
  last_used_.resize(static_cast<size_t>(options.n_slots));
  metrics_.slots = options.n_slots;
  metrics_.kv_size = options.n_slots * options.n_ctx;
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = quit_ = true;
    for (const auto& job : queue_) job->end(FinishReason::Stop, {});
    queue_.clear();
    for (const auto& r : running_) {
      if (r) r->job->cancel();
    }
  }
  wake_.notify_all();
  thread_.join();
}

void Engine::submit(std::span<const std::shared_ptr<Job>> jobs) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw ApiError(503, "server_error", "shutting_down", "the server is shutting down");
    if (jobs.size() > options_.max_queue) {  // never fits: retrying would not help
      throw invalid_request("invalid_value",
                            fmt::format("{} choices (prompts times n) are more than the {} the "
                                        "queue holds (--max-queue)",
                                        jobs.size(), options_.max_queue));
    }
    if (queue_.size() + jobs.size() > options_.max_queue) {
      throw ApiError(503, "server_error", "server_busy",
                     fmt::format("every slot is busy and {} requests are waiting; retry later",
                                 queue_.size()));
    }
    queue_.insert(queue_.end(), jobs.begin(), jobs.end());
    metrics_.queued = static_cast<int64_t>(queue_.size());
  }
  wake_.notify_one();
}

void Engine::drain(int grace_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  bool cancelled = false;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      bool any = !queue_.empty();
      for (const auto& r : running_) any = any || r != nullptr;
      if (!any) return;
      if (!cancelled && std::chrono::steady_clock::now() >= deadline) {
        for (const auto& job : queue_) job->cancel();
        for (const auto& r : running_) {
          if (r) r->job->cancel();
        }
        cancelled = true;
      }
    }
    wake_.notify_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {

// Prompt tokens another slot must hold beyond what the chosen free slot holds for copying
// its cache there to pay: a copy moves every position of the sequence (SmolLM2: ~23 KB a
// position), decoding reads every weight once per step.
constexpr int64_t kMinCopiedPrefix = 16;

int64_t common_prefix(std::span<const TokenId> a, std::span<const TokenId> b) {
  return std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin();
}

}  // namespace

// The free slot whose cached tokens share the longest prefix with `prompt` (the least
// recently used among equals), keeping that prefix; but where another slot, free or
// generating, holds a prefix longer by kMinCopiedPrefix (the same system prompt, the other
// choices of a request), its sequence copied there (the last prompt token is decoded
// again in any case, for its logits).
Engine::Placement Engine::place(std::span<const TokenId> prompt) const {
  Placement p{{-1, -1}};
  for (size_t s = 0; s < running_.size(); ++s) {
    if (running_[s]) continue;
    const int64_t common = common_prefix(cached_[s], prompt);
    if (common > p.where.n_keep ||
        (common == p.where.n_keep &&
         last_used_[s] < last_used_[static_cast<size_t>(p.where.slot)])) {
      p.where = {static_cast<int>(s), common};
    }
  }
  int64_t best = p.where.n_keep;
  for (size_t s = 0; s < running_.size(); ++s) {
    if (running_[s] && running_[s]->job->cancelled()) continue;  // its sequence may be stale
    const auto tokens =
        running_[s] ? session_.tokens(static_cast<int>(s)) : std::span<const TokenId>(cached_[s]);
    const int64_t common = std::min(common_prefix(tokens, prompt), std::ssize(prompt) - 1);
    if (common >= best + kMinCopiedPrefix) {
      best = common;
      p.copy_from = static_cast<int>(s);
    }
  }
  if (p.copy_from >= 0) p.where.n_keep = best;
  return p;
}

// Whether a generating slot whose prompt is not decoded yet shares more of `prompt` than
// the n_available positions a free slot offers (by kMinCopiedPrefix): then the prompt waits
// a step to start from a copy of it instead of decoding it again.
bool Engine::waits_for_a_shared_prefix(std::span<const TokenId> prompt, int64_t n_available) const {
  for (size_t s = 0; s < running_.size(); ++s) {
    if (!running_[s] || running_[s]->job->cancelled()) continue;
    const std::span<const TokenId> pending = running_[s]->job->prompt();
    if (session_.n_past(static_cast<int>(s)) >= std::ssize(pending)) continue;  // decoded
    if (std::min(common_prefix(pending, prompt), std::ssize(prompt) - 1) >=
        n_available + kMinCopiedPrefix) {
      return true;
    }
  }
  return false;
}

// Under mutex_: moves queued jobs into free slots.
void Engine::start_queued() {
  while (!queue_.empty() && generator_.busy() < generator_.slots()) {
    std::shared_ptr<Job> job = queue_.front();
    if (job->cancelled()) {  // its client left while it waited
      queue_.pop_front();
      job->end(FinishReason::Stop, {});
      continue;
    }
    // A prompt with log-probabilities is decoded whole; others start from the longest
    // prefix a slot holds or will hold after this step (then they wait for it, in order).
    const bool whole = job->request().echo && job->request().logprobs;
    Placement placement = place(job->prompt());
    if (whole) placement = {{placement.where.slot, 0}, -1};
    // (Also when a copy is at hand: a prompt decoded a piece a step would otherwise be
    // copied after its first piece and the rest decoded again by each.)
    if (!whole && waits_for_a_shared_prefix(job->prompt(), placement.where.n_keep)) break;
    queue_.pop_front();
    GenerateOptions options;
    options.n_predict = job->request().max_tokens;
    options.abort = [job] { return job->cancelled(); };
    options.stop = job->request().stop;
    if (job->request().logprobs) {
      options.n_top_logprobs = job->request().top_logprobs;
      options.on_token = [job = job.get()](const GeneratedToken& token) {
        job->push_token(token);
        return true;
      };
      if (whole) options.on_prompt_token = options.on_token;
    }
    TextCallback on_text = [job = job.get()](std::string_view text) {
      job->push_text(std::string(text));
      return true;
    };
    try {
      const SlotChoice where = placement.where;
      if (placement.copy_from >= 0) {
        session_.copy_sequence(placement.copy_from, where.slot);
        session_.trim(where.n_keep, where.slot);
        cached_[static_cast<size_t>(where.slot)].assign(job->prompt().begin(),
                                                        job->prompt().begin() + where.n_keep);
        ++metrics_.copied_prefixes;
      }
      std::optional<int> slot =
          generator_.start(job->prompt(), job->sampler_, options, on_text, where);
      const auto s = static_cast<size_t>(*slot);
      running_[s] = std::make_unique<Running>(Running{job, std::min<int64_t>(
                                                               where.n_keep, std::ssize(job->prompt()) - 1)});
      last_used_[s] = ++clock_;
    } catch (const ContextOverflow& e) {
      job->end(FinishReason::Length, {},
               ApiError(400, "invalid_request_error", "context_length_exceeded", e.what()));
    } catch (const Error& e) {
      job->end(FinishReason::Stop, {}, invalid_request("invalid_value", e.what()));
    } catch (const std::exception& e) {  // out of memory: this job fails, the server goes on
      job->end(FinishReason::Stop, {}, ApiError(500, "server_error", "engine_error", e.what()));
    }
  }
  metrics_.queued = static_cast<int64_t>(queue_.size());
  metrics_.busy_slots = generator_.busy();
}

void Engine::finish(int slot, const GenerateResult& result) {
  const Running& r = *running_[static_cast<size_t>(slot)];
  Job& job = *r.job;
  // What the sequence now holds: the prompt and the answer, up to its length (the last
  // sampled token may not have been decoded).
  std::vector<TokenId>& cached = cached_[static_cast<size_t>(slot)];
  cached.assign(job.prompt().begin(), job.prompt().end());
  cached.insert(cached.end(), result.tokens.begin(), result.tokens.end());
  cached.resize(std::min<size_t>(cached.size(), static_cast<size_t>(session_.n_past(slot))));
  if (job.ended()) return;  // failed with the session already
  const bool length = result.stop == StopReason::MaxTokens || result.stop == StopReason::ContextFull;
  Usage usage{result.n_prompt, static_cast<int64_t>(result.tokens.size())};
  metrics_.prompt_tokens += usage.prompt_tokens - r.n_keep;
  metrics_.completion_tokens += usage.completion_tokens;
  metrics_.prompt_us += micros(result.prompt_seconds);
  metrics_.generate_us += micros(result.generate_seconds);
  job.end(length ? FinishReason::Length : FinishReason::Stop, usage);
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return quit_ || !queue_.empty() || !generator_.idle(); });
      if (quit_ && generator_.idle()) return;
      start_queued();
      if (generator_.idle()) continue;
    }
    try {
      for (FinishedGeneration& f : generator_.step()) {
        finish(f.slot, f.result);
        std::lock_guard lock(mutex_);
        running_[static_cast<size_t>(f.slot)].reset();
      }
    } catch (const std::exception& e) {
      // The session failed (a device error): every running job ends with it; the next step
      // takes them out of the generator (they are cancelled).
      std::lock_guard lock(mutex_);
      for (auto& c : cached_) c.clear();  // what the sequences hold is unknown now
      for (auto& r : running_) {
        if (!r) continue;
        r->job->cancel();
        r->job->end(FinishReason::Stop, {}, ApiError(500, "server_error", "engine_error", e.what()));
      }
    }
    int64_t used = 0;
    for (int s = 0; s < generator_.slots(); ++s) used += session_.n_past(s);
    metrics_.kv_used = used;
    metrics_.busy_slots = generator_.busy();
  }
}

}  // namespace tern::server
