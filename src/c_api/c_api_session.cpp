// C API (tern.h): sessions: decoding (one sequence or a batch of them), logits, the
// sequences' bookkeeping, and saving and loading their state.
#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "c_api/c_api_support.h"
#include "tern/embeddings.h"

using tern::c_api::guard;
using tern::c_api::need;

static_assert(static_cast<int>(tern::Outputs::Last) == TERN_OUTPUTS_LAST &&
              static_cast<int>(tern::Outputs::All) == TERN_OUTPUTS_ALL &&
              static_cast<int>(tern::Outputs::None) == TERN_OUTPUTS_NONE);
static_assert(static_cast<int>(tern::Pooling::None) == TERN_POOLING_NONE &&
              static_cast<int>(tern::Pooling::Mean) == TERN_POOLING_MEAN &&
              static_cast<int>(tern::Pooling::Last) == TERN_POOLING_LAST &&
              static_cast<int>(tern::Pooling::Cls) == TERN_POOLING_CLS);
static_assert(static_cast<int>(tern::KvType::F32) == TERN_KV_F32 &&
              static_cast<int>(tern::KvType::F16) == TERN_KV_F16);

namespace {

// Sets the optional outputs of a decode from the rows it returned (row_width floats each).
void set_logits(const tern::Session& session, std::span<const float> logits,
                const float** out_logits, size_t* n_rows) {
  if (out_logits != nullptr) *out_logits = logits.data();
  if (n_rows != nullptr) *n_rows = logits.size() / static_cast<size_t>(session.row_width());
}

tern::Outputs outputs_of(tern_outputs outputs) {
  if (outputs < TERN_OUTPUTS_LAST || outputs > TERN_OUTPUTS_NONE) {
    throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT, "unknown tern_outputs value");
  }
  return static_cast<tern::Outputs>(outputs);
}

}  // namespace

extern "C" {

tern_session_options tern_session_options_default(void) {
  const tern::SessionOptions d;
  return {.n_ctx = d.n_ctx,
          .n_batch = d.n_batch,
          .n_threads = d.n_threads,
          .kv_type = static_cast<tern_kv_type>(d.kv_type),
          .n_seq = d.n_seq,
          .embeddings = d.embeddings};
}

tern_status tern_session_create(const tern_model* model, const tern_session_options* options,
                                tern_session** out) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Model& m = need(model, "model").model;
    need(out, "the session output");
    const tern_session_options o = options != nullptr ? *options : tern_session_options_default();
    if (o.kv_type != TERN_KV_F32 && o.kv_type != TERN_KV_F16) {
      throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT, "unknown tern_kv_type value");
    }
    *out = new tern_session{tern::Session(m, {.n_ctx = o.n_ctx,
                                              .n_batch = o.n_batch,
                                              .n_threads = o.n_threads,
                                              .kv_type = static_cast<tern::KvType>(o.kv_type),
                                              .n_seq = o.n_seq,
                                              .embeddings = o.embeddings}),
                            {}};
  });
}

void tern_session_free(tern_session* session) { delete session; }

tern_status tern_session_get_info(const tern_session* session, tern_session_info* out) {
  return guard(TERN_ERROR_INTERNAL, [&] {
    const tern::Session& s = need(session, "session").session;
    need(out, "the info output") = {.n_ctx = s.n_ctx(),
                                    .n_seq = s.n_seq(),
                                    .n_vocab = s.n_vocab(),
                                    .kv_bytes = s.kv_bytes(),
                                    .row_width = s.row_width()};
  });
}

tern_status tern_session_n_past(const tern_session* session, int32_t seq, int64_t* out) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    const tern::Session& s = need(session, "session").session;
    need(out, "the output") = s.n_past(seq);  // tern::Error for a sequence out of range
  });
}

tern_status tern_session_set_abort(tern_session* session, tern_abort_callback callback,
                                   void* user_data) {
  return guard(TERN_ERROR_INTERNAL, [&] {
    tern_session& s = need(session, "session");
    s.abort = {};
    if (callback != nullptr) s.abort = [callback, user_data] { return callback(user_data); };
  });
}

tern_status tern_session_decode(tern_session* session, const int32_t* tokens, size_t n_tokens,
                                tern_outputs outputs, const float** logits, size_t* n_rows) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern_session& s = need(session, "session");
    const auto ids = tern::c_api::token_span(tokens, n_tokens, "tokens");
    set_logits(s.session, s.session.decode(ids, outputs_of(outputs), s.abort), logits, n_rows);
  });
}

tern_status tern_session_decode_batch(tern_session* session, const tern_sequence_tokens* parts,
                                      size_t n_parts, const float** logits, size_t* n_rows) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern_session& s = need(session, "session");
    if (n_parts > 0) need(parts, "parts");
    std::vector<tern::SequenceTokens> batch;
    batch.reserve(n_parts);
    for (size_t i = 0; i < n_parts; ++i) {
      batch.push_back(
          {.seq = parts[i].seq,
           .tokens = tern::c_api::token_span(parts[i].tokens, parts[i].n_tokens, "a part's tokens"),
           .outputs = outputs_of(parts[i].outputs)});
    }
    set_logits(s.session, s.session.decode(batch, s.abort), logits, n_rows);
  });
}

tern_status tern_session_logits(const tern_session* session, const float** logits, size_t* n_rows) {
  return guard(TERN_ERROR_INTERNAL, [&] {
    const tern::Session& s = need(session, "session").session;
    need(logits, "the logits output");
    need(n_rows, "the row count output");
    set_logits(s, s.logits(), logits, n_rows);
  });
}

tern_status tern_session_clear(tern_session* session) {
  return guard(TERN_ERROR_INTERNAL, [&] { need(session, "session").session.clear(); });
}

tern_status tern_session_clear_sequence(tern_session* session, int32_t seq) {
  return guard(TERN_ERROR_INVALID_ARGUMENT,
               [&] { need(session, "session").session.clear_sequence(seq); });
}

tern_status tern_session_trim(tern_session* session, int32_t seq, int64_t n_keep) {
  return guard(TERN_ERROR_INVALID_ARGUMENT,
               [&] { need(session, "session").session.trim(n_keep, seq); });
}

tern_status tern_session_copy_sequence(tern_session* session, int32_t src, int32_t dst) {
  return guard(TERN_ERROR_INVALID_ARGUMENT,
               [&] { need(session, "session").session.copy_sequence(src, dst); });
}

tern_status tern_session_save(const tern_session* session, const char* path) {
  return guard(TERN_ERROR_IO, [&] {
    const tern::Session& s = need(session, "session").session;
    s.save(need(path, "path"));
  });
}

tern_status tern_session_load(tern_session* session, const char* path) {
  return guard(TERN_ERROR_BAD_FORMAT, [&] {
    tern::Session& s = need(session, "session").session;
    tern::c_api::check_readable(path);
    s.load(path);
  });
}

namespace {

tern::EmbedOptions embed_options(tern_pooling pooling, bool normalize) {
  if (pooling < TERN_POOLING_NONE || pooling > TERN_POOLING_CLS) {
    throw tern::c_api::StatusError(TERN_ERROR_INVALID_ARGUMENT, "unknown tern_pooling value");
  }
  return {.pooling = static_cast<tern::Pooling>(pooling), .normalize = normalize};
}

// Sets *n_values to `needed`; throws TERN_ERROR_BUFFER_TOO_SMALL when `capacity` is less.
void check_capacity(size_t needed, size_t capacity, size_t* n_values) {
  *n_values = needed;
  if (capacity < needed) {
    throw tern::c_api::StatusError(TERN_ERROR_BUFFER_TOO_SMALL,
                                   fmt::format("{} values; the buffer holds {}", needed, capacity));
  }
}

}  // namespace

tern_status tern_session_embed(tern_session* session, const int32_t* tokens, size_t n_tokens,
                               tern_pooling pooling, bool normalize, float* out, size_t capacity,
                               size_t* n_values) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern_session& s = need(session, "session");
    need(n_values, "the value count output");
    const std::vector<float> v =
        tern::embed_tokens(s.session, tern::c_api::token_span(tokens, n_tokens, "tokens"),
                           embed_options(pooling, normalize));
    check_capacity(v.size(), capacity, n_values);
    std::memcpy(&need(out, "the embedding buffer"), v.data(), v.size() * sizeof(float));
  });
}

tern_status tern_session_embed_batch(tern_session* session, const int32_t* const* texts,
                                     const size_t* n_tokens, size_t n_texts, tern_pooling pooling,
                                     bool normalize, float* out, size_t capacity,
                                     size_t* n_values) {
  return guard(TERN_ERROR_INVALID_ARGUMENT, [&] {
    tern_session& s = need(session, "session");
    need(n_values, "the value count output");
    const tern::EmbedOptions options = embed_options(pooling, normalize);
    if (n_texts > 0) {
      need(texts, "the texts");
      need(n_tokens, "the token counts");
    }
    std::vector<std::vector<tern::TokenId>> tokens;
    size_t rows = 0;
    for (size_t i = 0; i < n_texts; ++i) {
      const auto ids = tern::c_api::token_span(texts[i], n_tokens[i], "tokens");
      tokens.emplace_back(ids.begin(), ids.end());
      rows += options.pooling == tern::Pooling::None ? ids.size() : 1;
    }
    // The buffer is sized in rows of n_embd: a logits session (rows of n_vocab) is left to
    // embed_batch to refuse.
    if (s.session.embeddings()) {
      check_capacity(rows * static_cast<size_t>(s.session.row_width()), capacity, n_values);
    }
    float* at = n_texts > 0 ? &need(out, "the embedding buffer") : out;
    for (const std::vector<float>& v : tern::embed_batch(s.session, tokens, options)) {
      std::memcpy(at, v.data(), v.size() * sizeof(float));
      at += v.size();
    }
  });
}

}  // extern "C"
