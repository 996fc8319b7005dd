// tern::SamplerChain: builds the stages from SamplingParams and runs them in order.
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <vector>

#include "grammar/compiled.h"
#include "sampling/candidates.h"
#include "sampling/filters.h"
#include "sampling/grammar_filter.h"
#include "sampling/penalties.h"
#include "sampling/selectors.h"
#include "tern/error.h"
#include "tern/sampler.h"
#include "tern/tokenizer.h"

namespace tern {
namespace {

using sampling::Stage;

void check(bool ok, const char* what, float value, const char* range) {
  if (!ok) throw Error(fmt::format("sampling: {} must be {}, got {}", what, range, value));
}

void validate(const SamplingParams& p) {
  const auto unit = [](float v) { return v >= 0.0f && v <= 1.0f; };  // false for NaN
  check(!std::isnan(p.temp), "temp", p.temp, "a number");
  check(unit(p.top_p), "top_p", p.top_p, "in [0, 1]");
  check(unit(p.min_p), "min_p", p.min_p, "in [0, 1]");
  check(unit(p.typical_p), "typical_p", p.typical_p, "in [0, 1]");
  check(p.repeat_penalty > 0.0f, "repeat_penalty", p.repeat_penalty, "> 0");
  check(p.repeat_last_n >= -1, "repeat_last_n", float(p.repeat_last_n), ">= -1");
  check(std::isfinite(p.presence_penalty), "presence_penalty", p.presence_penalty, "finite");
  check(std::isfinite(p.frequency_penalty), "frequency_penalty", p.frequency_penalty, "finite");
  check(p.mirostat >= 0 && p.mirostat <= 2, "mirostat", float(p.mirostat), "0, 1 or 2");
  check(p.mirostat_tau >= 0.0f, "mirostat_tau", p.mirostat_tau, ">= 0");
  check(p.mirostat_eta >= 0.0f, "mirostat_eta", p.mirostat_eta, ">= 0");
  for (const auto& [token, bias] : p.logit_bias) {
    check(!std::isnan(bias) && bias != INFINITY, "a logit bias", bias, "a number or -inf");
  }
}

// The most candidates the stages after the grammar can use (0: no limit), which lets the
// grammar stage check only the best ones: greedy takes one, top-k k.
size_t candidates_used_after_grammar(const SamplingParams& p) {
  if (p.temp <= 0.0f) return 1;
  if (p.mirostat == 0 && p.top_k > 0) return size_t(p.top_k);
  return 0;
}

// llama.cpp's default order; see SamplingParams.
std::vector<std::unique_ptr<Stage>> build_stages(const SamplingParams& p,
                                                 const Tokenizer* tokenizer) {
  std::vector<std::unique_ptr<Stage>> stages;
  if (!p.logit_bias.empty()) {
    stages.push_back(std::make_unique<sampling::LogitBias>(
        p.logit_bias, tokenizer != nullptr ? tokenizer->n_vocab() : 0));
  }
  stages.push_back(std::make_unique<sampling::Penalties>(p.repeat_last_n, p.repeat_penalty,
                                                         p.frequency_penalty, p.presence_penalty));
  if (!p.grammar.empty()) {
    if (!tokenizer) {
      throw Error(
          "sampling: a grammar needs the vocabulary: construct the SamplerChain with "
          "the model's tokenizer");
    }
    stages.push_back(std::make_unique<sampling::GrammarFilter>(
        std::make_shared<const grammar::CompiledGrammar>(grammar::compile(p.grammar)), *tokenizer,
        candidates_used_after_grammar(p)));
  }
  if (p.temp <= 0.0f) {
    stages.push_back(std::make_unique<sampling::Greedy>());
  } else if (p.mirostat == 1) {
    stages.push_back(std::make_unique<sampling::Temperature>(p.temp));
    stages.push_back(
        std::make_unique<sampling::MirostatV1>(p.mirostat_tau, p.mirostat_eta, p.seed));
  } else if (p.mirostat == 2) {
    stages.push_back(std::make_unique<sampling::Temperature>(p.temp));
    stages.push_back(
        std::make_unique<sampling::MirostatV2>(p.mirostat_tau, p.mirostat_eta, p.seed));
  } else {
    stages.push_back(std::make_unique<sampling::TopK>(p.top_k));
    stages.push_back(std::make_unique<sampling::Typical>(p.typical_p));
    stages.push_back(std::make_unique<sampling::TopP>(p.top_p));
    stages.push_back(std::make_unique<sampling::MinP>(p.min_p));
    stages.push_back(std::make_unique<sampling::Temperature>(p.temp));
    stages.push_back(std::make_unique<sampling::Dist>(p.seed));
  }
  return stages;
}

}  // namespace

struct SamplerChain::Impl {
  SamplingParams params;
  std::vector<std::unique_ptr<Stage>> stages;
  sampling::Candidates cur;  // reused between calls to avoid reallocating n_vocab entries
};

SamplerChain::SamplerChain(const SamplingParams& params) : impl_(std::make_unique<Impl>()) {
  validate(params);
  impl_->params = params;
  impl_->stages = build_stages(params, nullptr);
}

SamplerChain::SamplerChain(const SamplingParams& params, const Tokenizer& tokenizer)
    : impl_(std::make_unique<Impl>()) {
  validate(params);
  impl_->params = params;
  impl_->stages = build_stages(params, &tokenizer);
}

SamplerChain::~SamplerChain() = default;
SamplerChain::SamplerChain(SamplerChain&&) noexcept = default;
SamplerChain& SamplerChain::operator=(SamplerChain&&) noexcept = default;

int32_t SamplerChain::sample(std::span<const float> logits) {
  if (logits.empty()) throw Error("sampling: empty logits");
  bool any_finite = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    // NaN has no order, so every filter after it would be meaningless.
    if (std::isnan(logits[i])) throw Error(fmt::format("sampling: logit of token {} is NaN", i));
    any_finite |= std::isfinite(logits[i]);
  }
  if (!any_finite) {
    throw Error(fmt::format("sampling: none of the {} logits is finite", logits.size()));
  }
  sampling::Candidates& cur = impl_->cur;
  cur.assign(logits);
  for (const auto& stage : impl_->stages) stage->apply(cur);
  return cur.items[cur.selected].id;
}

void SamplerChain::accept(int32_t token) {
  for (const auto& stage : impl_->stages) {
    stage->accept(token);
    stage->accept_generated(token);
  }
}

void SamplerChain::accept_prompt(int32_t token) {
  for (const auto& stage : impl_->stages) stage->accept(token);
}

void SamplerChain::reset() {
  for (const auto& stage : impl_->stages) stage->reset();
}

const SamplingParams& SamplerChain::params() const { return impl_->params; }

std::string SamplerChain::describe() const {
  std::string out;
  for (const auto& stage : impl_->stages) {
    if (!out.empty()) out += " -> ";
    out += stage->name();
  }
  return out;
}

}  // namespace tern
