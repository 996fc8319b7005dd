// --spec ngram|draft|none, -md/--model-draft, --draft-max, --draft-p-min for `tern run` and
// `tern summarize`, and the drafter they ask for with what it owns (the draft model and its
// session).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "tern/generate.h"
#include "tern/speculative.h"

namespace tern::cli {

struct SpeculationOptions {
  std::string mode;  // "none", "ngram" or "draft"; "": draft with -md, else none
  std::string draft_model;
  int n_draft = 6;
  float p_min = 0.75f;
};

void add_speculation_options(CLI::App* cmd, SpeculationOptions& options);

class Speculation {
 public:
  /// The drafter `options` ask for over `target`; a draft model is loaded here with
  /// `model_options`, checked to share the target's vocabulary (tern::Error otherwise) and
  /// given a session like `session` (one sequence).
  Speculation(const SpeculationOptions& options, const Model& target, ModelOptions model_options,
              SessionOptions session);
  /// nullptr for --spec none.
  Drafter* drafter() const { return drafter_.get(); }
  bool uses_draft_model() const { return draft_session_.has_value(); }

 private:
  std::optional<Model> draft_model_;
  std::optional<Session> draft_session_;
  std::unique_ptr<Drafter> drafter_;
};

/// " | drafted N, accepted M (P%), T tokens per decode" when anything was drafted, else "".
std::string speculation_summary(const GenerateResult& r);

}  // namespace tern::cli
