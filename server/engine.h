// The generation engine of tern serve: one thread drives a BatchGenerator over a session
// with one sequence slot per parallel request (-np), taking queued requests into free
// slots between steps (continuous batching). HTTP threads submit Jobs and read their
// output as it comes; a Job cancelled by its client (disconnect) leaves its slot at the
// next step. A slot keeps its last conversation in the KV cache: a request goes to the
// free slot whose cached tokens share the longest prefix with its prompt (a chat's next
// turn finds its earlier turns there) and decodes only the rest.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "server/openai_api.h"
#include "tern/batch_generate.h"
#include "tern/generate.h"
#include "tern/model.h"
#include "tern/sampler.h"
#include "tern/session.h"

namespace tern::server {

/// One request's generation, shared by the HTTP thread that waits on it and the engine.
class Job {
 public:
  /// `tokenizer` (the model's) must outlive the job: a grammar's sampler reads it.
  Job(CompletionRequest request, std::vector<TokenId> prompt, const Tokenizer& tokenizer);

  const CompletionRequest& request() const { return request_; }
  std::span<const TokenId> prompt() const { return prompt_; }

  /// Waits until text is ready or the job ended (or `timeout_ms` passed) and takes the text
  /// produced since the last call; true once the job has ended and all text was taken.
  bool wait_text(std::string& text, int timeout_ms);
  /// Takes the log-probabilities of the tokens generated since the last call (when the
  /// request asked for them; a token's may come a little after its text).
  std::vector<TokenLogprobs> take_logprobs();
  /// The outcome once ended: finish reason and usage, or the error of a failed job.
  FinishReason finish() const;
  Usage usage() const;
  std::optional<ApiError> error() const;

  /// A completion with echo: `text` (the prompt's) comes first, and with logprobs its
  /// first token's entry, which has none (NaN); the engine reports the other prompt tokens'
  /// as it decodes the prompt. Call before the job is submitted.
  void echo_prompt(const std::string& text);

  /// Asks the engine to stop this job at its next step (the client went away).
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  bool ended() const;

 private:
  friend class Engine;
  // Engine side.
  void push_text(const std::string& text);
  void push_token(const GeneratedToken& token);
  void end(FinishReason finish, Usage usage, std::optional<ApiError> error = std::nullopt);

  CompletionRequest request_;
  std::vector<TokenId> prompt_;
  const Tokenizer* tokenizer_;
  SamplerChain sampler_;
  std::atomic<bool> cancelled_{false};

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::string text_;
  std::vector<TokenLogprobs> logprobs_;
  bool ended_ = false;
  FinishReason finish_ = FinishReason::Stop;
  Usage usage_;
  std::optional<ApiError> error_;
};

struct EngineOptions {
  int n_slots = 4;            // sequences decoded in one batch
  int64_t n_ctx = 4096;       // positions per slot
  int n_threads = 0;          // CPU threads (0: one per physical core)
  size_t max_queue = 64;      // jobs waiting for a slot before submit() refuses (503)
  int64_t n_batch = 512;
};

class Engine {
 public:
  /// Makes the session (n_slots sequences of n_ctx positions) and starts the thread.
  Engine(const Model& model, const EngineOptions& options, Metrics& metrics);
  /// Cancels every job and joins the thread.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Queues a request's jobs, all or none. Throws ApiError 400 when they are more than the
  /// queue holds, 503 when it has no room for them now or the engine is stopping.
  void submit(std::span<const std::shared_ptr<Job>> jobs);
  /// Stops taking jobs; running and queued ones go on until they end or `grace_ms` passes,
  /// then are cancelled. Returns when none is left.
  void drain(int grace_ms);

  int64_t n_ctx() const { return options_.n_ctx; }

 private:
  struct Running;
  // Where a prompt starts: a free slot keeping the prefix it shares with the prompt, or a
  // copy there of another slot's longer one (copy_from).
  struct Placement {
    SlotChoice where;
    int copy_from = -1;
  };
  void loop();
  void start_queued();
  Placement place(std::span<const TokenId> prompt) const;
  bool waits_for_a_shared_prefix(std::span<const TokenId> prompt, int64_t n_available) const;
  void finish(int slot, const GenerateResult& result);

  EngineOptions options_;
  Metrics& metrics_;
  Session session_;
  BatchGenerator generator_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;  // no new jobs
  bool quit_ = false;      // the thread ends
  std::vector<std::unique_ptr<Running>> running_;  // by slot
  // By slot, for the engine thread: the tokens a free slot's sequence holds (a finished
  // conversation's prompt and answer, reused by a follow-up that starts with them) and
  // when it was last used.
  std::vector<std::vector<TokenId>> cached_;
  std::vector<int64_t> last_used_;
  int64_t clock_ = 0;
  std::thread thread_;
};

}  // namespace tern::server
