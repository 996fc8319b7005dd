// C API (tern.h): version and status names, models and tokenizers.
#include <string>

#include "c_api/c_api_support.h"

using tern::c_api::check_readable;
using tern::c_api::check_token;
using tern::c_api::guard;
using tern::c_api::need;

static_assert(static_cast<int>(tern::BackendKind::Auto) == TERN_BACKEND_AUTO &&
              static_cast<int>(tern::BackendKind::Cpu) == TERN_BACKEND_CPU &&
              static_cast<int>(tern::BackendKind::Vulkan) == TERN_BACKEND_VULKAN &&
              static_cast<int>(tern::BackendKind::Cuda) == TERN_BACKEND_CUDA &&
              static_cast<int>(tern::BackendKind::Hip) == TERN_BACKEND_HIP);
static_assert(static_cast<int>(tern::CpuKernels::Auto) == TERN_CPU_KERNELS_AUTO &&
              static_cast<int>(tern::CpuKernels::Scalar) == TERN_CPU_KERNELS_SCALAR &&
              static_cast<int>(tern::CpuKernels::Avx2) == TERN_CPU_KERNELS_AVX2 &&
              static_cast<int>(tern::CpuKernels::Avx512) == TERN_CPU_KERNELS_AVX512 &&
              static_cast<int>(tern::CpuKernels::Amx) == TERN_CPU_KERNELS_AMX);

extern "C" {

const char* tern_version(void) { return tern::version(); }

const char* tern_status_name(tern_status status) {
  switch (status) {
    case TERN_OK:
      return "ok";
    case TERN_ERROR_INVALID_ARGUMENT:
      return "invalid argument";
    case TERN_ERROR_IO:
      return "I/O error";
    case TERN_ERROR_BAD_FORMAT:
      return "bad format";
    case TERN_ERROR_CONTEXT_OVERFLOW:
      return "context overflow";
    case TERN_ERROR_BUFFER_TOO_SMALL:
      return "buffer too small";
    case TERN_ERROR_OUT_OF_MEMORY:
      return "out of memory";
    case TERN_ERROR_CANCELLED:
      return "cancelled";
    case TERN_ERROR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

tern_model_options tern_model_options_default(void) {
  const tern::ModelOptions d;
  return {.strict = d.strict,
          .backend = static_cast<tern_backend>(d.backend),
          .n_gpu_layers = d.n_gpu_layers,
          .cuda_device = d.cuda_device,
          .vulkan_device = d.vulkan_device,
          .cpu_kernels = static_cast<tern_cpu_kernels>(d.cpu_kernels),
          .repack = d.repack};
}

tern_status tern_model_load(const char* path, const tern_model_options* options, tern_model** out) {
  return guard(TERN_ERROR_BAD_FORMAT, [&] {
    need(out, "the model output");
    check_readable(path);
    const tern_model_options o = options != nullptr ? *options : tern_model_options_default();
    if (o.backend < TERN_BACKEND_AUTO || o.backend > TERN_BACKEND_CUDA) {
      throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT, "unknown backend");
    }
    if (o.cpu_kernels < TERN_CPU_KERNELS_AUTO || o.cpu_kernels > TERN_CPU_KERNELS_AMX) {
      throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT, "unknown cpu_kernels level");
    }
    tern::ModelOptions model_options;
    model_options.strict = o.strict;
    model_options.backend = static_cast<tern::BackendKind>(o.backend);
    model_options.n_gpu_layers = o.n_gpu_layers;
    model_options.cuda_device = o.cuda_device;
    model_options.vulkan_device = o.vulkan_device;
    model_options.cpu_kernels = static_cast<tern::CpuKernels>(o.cpu_kernels);
    model_options.repack = o.repack;
    tern::Model model = tern::Model::load(path, model_options);
    std::string architecture(model.architecture());
    *out = new tern_model{std::move(model), std::move(architecture), {}, {}};
  });
}

void tern_model_free(tern_model* model) { delete model; }

tern_status tern_model_get_info(const tern_model* model, tern_model_info* out) {
  return guard(TERN_ERROR_INTERNAL, [&] {
    const tern::Model& m = need(model, "model").model;
    need(out, "the info output") = {.architecture = model->architecture.c_str(),
                                    .n_vocab = m.n_vocab(),
                                    .n_ctx_train = m.n_ctx_train(),
                                    .n_embd = m.n_embd(),
                                    .n_layer = m.n_layer(),
                                    .weight_bytes = m.weight_bytes(),
                                    .file_bytes = m.file_bytes()};
  });
}

tern_status tern_model_tokenizer(const tern_model* model, const tern_tokenizer** out) {
  return guard(TERN_ERROR_BAD_FORMAT, [&] {
    need(out, "the tokenizer output");
    const tern_model& m = need(model, "model");
    const tern::Tokenizer& tokenizer = m.model.tokenizer();
    const std::lock_guard lock(m.tokenizer_mutex);
    // Written once: later calls (and the threads that use the handle) only read it.
    if (m.tokenizer_handle.tokenizer == nullptr) m.tokenizer_handle.tokenizer = &tokenizer;
    *out = &m.tokenizer_handle;
  });
}

tern_status tern_tokenizer_open(const char* path, tern_tokenizer** out) {
  return guard(TERN_ERROR_BAD_FORMAT, [&] {
    need(out, "the tokenizer output");
    check_readable(path);
    auto* handle = new tern_tokenizer{tern::Tokenizer::open(path), nullptr};
    handle->tokenizer = &*handle->owned;
    *out = handle;
  });
}

void tern_tokenizer_free(tern_tokenizer* tokenizer) {
  if (tokenizer != nullptr && tokenizer->owned) delete tokenizer;  // the model's: not ours
}

tern_status tern_tokenizer_get_info(const tern_tokenizer* tokenizer, tern_tokenizer_info* out) {
  return guard(TERN_ERROR_INTERNAL, [&] {
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    const tern::SpecialTokens& s = t.special();
    need(out, "the info output") = {.n_vocab = t.n_vocab(),
                                    .bos = s.bos,
                                    .eos = s.eos,
                                    .eot = s.eot,
                                    .unk = s.unk,
                                    .pad = s.pad,
                                    .sep = s.sep,
                                    .add_bos = t.add_bos(),
                                    .add_eos = t.add_eos()};
  });
}

tern_status tern_tokenize(const tern_tokenizer* tokenizer, const char* text, size_t text_len,
                          uint32_t flags, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    if (text_len > 0) need(text, "text");
    const std::vector<tern::TokenId> ids =
        t.tokenize(std::string_view(text_len > 0 ? text : "", text_len),
                   {.add_bos = (flags & TERN_TOKENIZE_ADD_BOS) != 0,
                    .add_eos = (flags & TERN_TOKENIZE_ADD_EOS) != 0,
                    .parse_special = (flags & TERN_TOKENIZE_PARSE_SPECIAL) != 0});
    tern::c_api::copy_tokens(ids, tokens, capacity, n_tokens);
  });
}

tern_status tern_detokenize(const tern_tokenizer* tokenizer, const int32_t* tokens, size_t n_tokens,
                            bool render_special, char* text, size_t capacity, size_t* n_bytes) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    const auto ids = tern::c_api::token_span(tokens, n_tokens, "tokens");
    for (int32_t id : ids) check_token(t, id);
    tern::c_api::copy_text(t.detokenize(ids, render_special), text, capacity, n_bytes);
  });
}

tern_status tern_token_to_piece(const tern_tokenizer* tokenizer, int32_t token, bool render_special,
                                char* text, size_t capacity, size_t* n_bytes) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    check_token(t, token);
    tern::c_api::copy_text(t.token_to_piece(token, render_special), text, capacity, n_bytes);
  });
}

tern_status tern_token_is_end_of_generation(const tern_tokenizer* tokenizer, int32_t token,
                                            bool* out) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Tokenizer& t = tern::c_api::unwrap(tokenizer);
    check_token(t, token);
    need(out, "the output") = t.is_end_of_generation(token);
  });
}

}  // extern "C"
