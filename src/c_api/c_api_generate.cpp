// C API (tern.h): samplers, chat templates and generate() with a per-token callback.
#include <string>
#include <vector>

#include "c_api/c_api_support.h"
#include "tern/chat.h"
#include "tern/generate.h"

using tern::c_api::guard;
using tern::c_api::need;

static_assert(static_cast<int>(tern::StopReason::EndOfGeneration) == TERN_STOP_END_OF_GENERATION &&
              static_cast<int>(tern::StopReason::MaxTokens) == TERN_STOP_MAX_TOKENS &&
              static_cast<int>(tern::StopReason::ContextFull) == TERN_STOP_CONTEXT_FULL &&
              static_cast<int>(tern::StopReason::Interrupted) == TERN_STOP_INTERRUPTED &&
              static_cast<int>(tern::StopReason::StopString) == TERN_STOP_STOP_STRING);

namespace {

// The fields tern_sampling_params shares with tern::SamplingParams (all but the grammar and
// the logit biases),
// named once for both directions of the conversion.
// clang-format off
#define TERN_SAMPLING_FIELDS(X)                                                      \
  X(temp) X(top_k) X(top_p) X(min_p) X(typical_p) X(repeat_penalty) X(repeat_last_n) \
  X(presence_penalty) X(frequency_penalty) X(mirostat) X(mirostat_tau) X(mirostat_eta) X(seed)
// clang-format on
#define TERN_COPY_FIELD(name) to.name = from.name;

tern::SamplingParams sampling_params_of(const tern_sampling_params& from) {
  tern::SamplingParams to;
  TERN_SAMPLING_FIELDS(TERN_COPY_FIELD)
  to.grammar = from.grammar != nullptr ? from.grammar : "";
  if (from.n_logit_bias > 0) need(from.logit_bias, "the logit biases");
  for (size_t i = 0; i < from.n_logit_bias; ++i) {
    to.logit_bias.emplace_back(from.logit_bias[i].token, from.logit_bias[i].bias);
  }
  return to;
}

tern::ChatTemplate chat_template_of(const tern_model* model, const char* name) {
  const std::string_view chosen = name != nullptr ? name : "";
  if (model != nullptr) return tern::choose_chat_template(model->model, chosen).tmpl;
  if (chosen.empty()) {
    throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT,
                                   "model and template name are both missing");
  }
  return tern::chat_template_from_name(chosen);
}

tern::GenerateOptions generate_options_of(const tern_generate_options& o) {
  tern::GenerateOptions options;
  options.n_predict = o.n_predict;
  options.ignore_eos = o.ignore_eos;
  if (o.n_stop > 0) need(o.stop, "the stop strings");
  for (size_t i = 0; i < o.n_stop; ++i) options.stop.emplace_back(need(o.stop[i], "a stop string"));
  options.context_shift = o.context_shift;
  options.n_keep = o.n_keep;
  options.n_top_logprobs = o.n_top_logprobs;
  return options;
}

}  // namespace

extern "C" {

tern_sampling_params tern_sampling_params_default(void) {
  const tern::SamplingParams from;
  tern_sampling_params to{};
  TERN_SAMPLING_FIELDS(TERN_COPY_FIELD)
  to.grammar = nullptr;
  to.logit_bias = nullptr;
  to.n_logit_bias = 0;
  return to;
}

tern_status tern_sampler_create(const tern_sampling_params* params, const tern_tokenizer* tokenizer,
                                tern_sampler** out) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    need(out, "the sampler output");
    const tern::SamplingParams p =
        sampling_params_of(params != nullptr ? *params : tern_sampling_params_default());
    *out = tokenizer != nullptr
               ? new tern_sampler{tern::SamplerChain(p, tern::c_api::unwrap(tokenizer))}
               : new tern_sampler{tern::SamplerChain(p)};
  });
}

void tern_sampler_free(tern_sampler* sampler) { delete sampler; }

tern_status tern_sampler_sample(tern_sampler* sampler, const float* logits, size_t n_logits,
                                int32_t* token) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern::SamplerChain& chain = need(sampler, "sampler").chain;
    need(token, "the token output");
    const std::span<const float> row =
        n_logits > 0 ? std::span<const float>(&need(logits, "logits"), n_logits)
                     : std::span<const float>();
    *token = chain.sample(row);
  });
}

tern_status tern_sampler_accept(tern_sampler* sampler, int32_t token) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] { need(sampler, "sampler").chain.accept(token); });
}

tern_status tern_sampler_accept_prompt(tern_sampler* sampler, int32_t token) {
  return guard(TERN_ERROR_INVALID_ARGUMENT,
               [&] { need(sampler, "sampler").chain.accept_prompt(token); });
}

tern_status tern_sampler_reset(tern_sampler* sampler) {
  return guard(TERN_ERROR_INTERNAL, [&] { need(sampler, "sampler").chain.reset(); });
}

tern_status tern_chat_apply_template(const tern_model* model, const char* template_name,
                                     const tern_chat_message* messages, size_t n_messages,
                                     bool add_generation_prompt, char* text, size_t capacity,
                                     size_t* n_bytes) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::ChatTemplate tmpl = chat_template_of(model, template_name);
    if (n_messages > 0) need(messages, "messages");
    std::vector<tern::ChatMessage> conversation;
    conversation.reserve(n_messages);
    for (size_t i = 0; i < n_messages; ++i) {
      conversation.push_back({need(messages[i].role, "a message's role"),
                              need(messages[i].content, "a message's content")});
    }
    tern::c_api::copy_text(tern::apply_chat_template(tmpl, conversation, add_generation_prompt),
                           text, capacity, n_bytes);
  });
}

tern_generate_options tern_generate_options_default(void) {
  const tern::GenerateOptions d;
  return {.n_predict = d.n_predict,
          .ignore_eos = d.ignore_eos,
          .stop = nullptr,
          .n_stop = 0,
          .context_shift = d.context_shift,
          .n_keep = d.n_keep,
          .n_top_logprobs = d.n_top_logprobs};
}

tern_status tern_generate(tern_session* session, const tern_tokenizer* tokenizer,
                          tern_sampler* sampler, const int32_t* prompt, size_t n_prompt,
                          const tern_generate_options* options, tern_token_callback callback,
                          void* user_data, tern_generate_result* result) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern_session& s = need(session, "session");
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    tern::SamplerChain& chain = need(sampler, "sampler").chain;
    const auto ids = tern::c_api::token_span(prompt, n_prompt, "prompt");
    tern::GenerateOptions o =
        generate_options_of(options != nullptr ? *options : tern_generate_options_default());
    o.abort = s.abort;
    std::vector<tern_token_logprob> top;  // the alternatives of the token being reported
    if (callback != nullptr) {
      o.on_token = [&](const tern::GeneratedToken& g) {
        top.clear();
        for (const tern::TokenLogProb& alt : g.top) top.push_back({alt.token, alt.logprob});
        return callback(g.token, g.text.data(), g.text.size(), g.logprob, top.data(), top.size(),
                        user_data);
      };
    }
    const tern::GenerateResult r = tern::generate(s.session, t, chain, ids, o);
    if (result != nullptr) {
      *result = {.stop = static_cast<tern_stop_reason>(r.stop),
                 .n_prompt = r.n_prompt,
                 .n_generated = std::ssize(r.tokens),
                 .pending = r.pending.empty() ? -1 : r.pending.front(),
                 .prompt_seconds = r.prompt_seconds,
                 .generate_seconds = r.generate_seconds};
    }
  });
}

}  // extern "C"
