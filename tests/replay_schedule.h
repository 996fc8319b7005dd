// The decode schedule the GPU golden tests run twice, recording launches anew at every
// step and replaying recorded ones (CUDA Graphs, Vulkan command buffers), to compare the
// logits bit for bit. Besides single-token steps at rising positions it takes in a batch
// (new shapes, scratch growth) and a trim (steps at positions already seen), the events
// that must make a backend record again or replay at the right place.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "golden_reference.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern::golden {

/// Sets an environment variable while it lives, then restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Tokens needed by replay_schedule_logits.
inline constexpr size_t kReplayScheduleTokens = 20;

/// The last-row logits of each decode of the schedule over `tokens` (at least
/// kReplayScheduleTokens): 5 single steps, a batch of 6, 5 single steps, trim to 8
/// positions, then single steps to the end. The model at `path` and its session (with the
/// model's backend) are made while `env` is set to `value`.
inline std::vector<float> replay_schedule_logits(const std::string& path,
                                                 const ModelOptions& model_options,
                                                 const SessionOptions& options,
                                                 std::span<const int32_t> tokens, const char* env,
                                                 const char* value) {
  std::optional<Model> model;
  std::optional<Session> session;
  {
    ScopedEnv scoped(env, value);
    model.emplace(Model::load(path, model_options));
    session.emplace(*model, options);
  }
  std::vector<float> logits;
  auto decode = [&](size_t from, size_t n) {
    std::span<const float> row = session->decode(tokens.subspan(from, n));
    logits.insert(logits.end(), row.begin(), row.end());
  };
  for (size_t i = 0; i < 5; ++i) decode(i, 1);
  decode(5, 6);
  for (size_t i = 11; i < 16; ++i) decode(i, 1);
  session->trim(8);
  for (size_t i = 16; i < tokens.size(); ++i) decode(i, 1);
  return logits;
}

/// Runs the schedule over golden model `g` on `backend` with `env` = `direct` (every
/// launch recorded anew) and = `replay`, and requires the same logits bit for bit.
inline void expect_replay_matches_direct(const Golden& g, BackendKind backend, const char* env,
                                         const char* direct, const char* replay) {
  ASSERT_GE(g.tokens.size(), kReplayScheduleTokens);
  const std::string path = g.dir + "/model.gguf";
  const ModelOptions model_options{.backend = backend};
  const SessionOptions options{.n_ctx = 64, .n_threads = 2, .kv_type = KvType::F16};
  std::vector<float> want =
      replay_schedule_logits(path, model_options, options, g.tokens, env, direct);
  std::vector<float> got =
      replay_schedule_logits(path, model_options, options, g.tokens, env, replay);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i], got[i]) << "logit " << i << " of " << g.dir << " (" << env << ")";
  }
}

}  // namespace tern::golden
