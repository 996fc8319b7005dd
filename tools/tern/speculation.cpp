// Speculative decoding's flags, in llama.cpp's names where it has them.
#include "speculation.h"

#include <fmt/format.h>

#include <algorithm>

#include "commands.h"
#include "int_range.h"
#include "tern/error.h"
#include "tern/model_path.h"

namespace tern::cli {

void add_speculation_options(CLI::App* cmd, SpeculationOptions& options) {
  cmd->add_option("--spec", options.mode,
                  "Speculative decoding: ngram (prompt lookup), draft (-md), none; output "
                  "unchanged, only faster")
      ->check(CLI::IsMember({"ngram", "draft", "none"}))
      ->default_str("none, or draft with -md");
  cmd->add_option("--model-draft", options.draft_model,
                  "Draft model (-md): a smaller model of the same vocabulary");
  cmd->add_option("--draft-max,--draft", options.n_draft, "Most tokens drafted per step")
      ->check(in_range(1, 64))
      ->capture_default_str();
  cmd->add_option("--draft-p-min", options.p_min,
                  "The draft model stops drafting below this probability")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
}

Speculation::Speculation(const SpeculationOptions& options, const Model& target,
                         ModelOptions model_options, SessionOptions session) {
  const std::string mode =
      !options.mode.empty() ? options.mode : options.draft_model.empty() ? "none" : "draft";
  if (mode == "none") return;
  if (mode == "ngram") {
    drafter_ = std::make_unique<NgramDrafter>();
    return;
  }
  if (options.draft_model.empty()) throw Error("--spec draft needs a draft model (-md FILE)");
  draft_model_.emplace(Model::load(resolve_model_path(options.draft_model), with_environment(model_options)));
  check_same_vocabulary(target.tokenizer(), draft_model_->tokenizer(), "being run",
                        options.draft_model);
  session.n_seq = 1;
  draft_session_.emplace(*draft_model_, session);
  drafter_ = std::make_unique<ModelDrafter>(*draft_session_, options.p_min);
}

std::string speculation_summary(const GenerateResult& r) {
  if (r.n_drafted == 0) return "";
  return fmt::format(" | drafted {}, accepted {} ({:.0f}%), {:.2f} tokens per decode", r.n_drafted,
                     r.n_accepted, 100.0 * r.acceptance_rate(),
                     static_cast<double>(r.tokens.size()) / static_cast<double>(std::max<int64_t>(r.n_steps, 1)));
}

}  // namespace tern::cli
