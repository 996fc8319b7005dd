// Embeddings: a text's final hidden states (the output norm's rows, before the vocabulary
// projection), pooled into one vector per text and optionally scaled to unit length, as
// retrieval and clustering use them. Stateless functions over a Session made with
// SessionOptions::embeddings; the session is used by one thread at a time (session.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tern/model.h"
#include "tern/session.h"
#include "tern/tokenizer.h"

namespace tern {

/// How a text's token rows become its embedding.
enum class Pooling {
  None,  // every token's row, [n_tokens, n_embd]
  Mean,  // the mean of the rows
  Last,  // the last token's row (what a causal model has read the whole text by)
  Cls,   // the first token's row (BERT-style encoders' [CLS])
};

/// "none", "mean", "last", "cls"; throws tern::Error naming the accepted values otherwise.
Pooling parse_pooling(std::string_view name);
std::string_view pooling_name(Pooling pooling);

/// The pooling the model was trained with, as its file states it ({arch}.pooling_type, as
/// llama.cpp numbers them: 0 none, 1 mean, 2 cls, 3 last); nullopt when absent or another.
std::optional<Pooling> model_pooling(const Model& model);

struct EmbedOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // scale each vector to L2 norm 1 (a zero vector stays zero)
};

/// Pools `rows` ([n_tokens, n_embd] hidden states) as `options` asks: n_embd floats, or
/// for Pooling::None all rows (each normalized on its own). Throws tern::Error for no rows.
std::vector<float> pool_rows(std::span<const float> rows, int64_t n_embd,
                             const EmbedOptions& options);

/// The embedding of `tokens`: decoded from an empty sequence 0 of `session` (cleared
/// before and after), then pooled. The session must have been made with
/// SessionOptions::embeddings (else tern::Error) and n_ctx >= tokens.size() (else
/// tern::ContextOverflow, nothing decoded).
std::vector<float> embed_tokens(Session& session, std::span<const TokenId> tokens,
                                const EmbedOptions& options = {});

/// The embeddings of `texts`, each as embed_tokens gives it alone, decoded several at a time
/// as sequences 0.. of `session` (cleared before and after): up to n_seq() texts whose
/// tokens fit one micro-batch (n_batch()) together, a longer text alone. Reading short texts
/// together reads the weights once for all of them. Throws as embed_tokens (a session
/// without SessionOptions::embeddings even for no texts), for the first text it cannot
/// embed (the ones before it are lost with it).
std::vector<std::vector<float>> embed_batch(Session& session,
                                            std::span<const std::vector<TokenId>> texts,
                                            const EmbedOptions& options = {});

/// Cosine similarity of two vectors of one length (0 when either is zero).
double cosine_similarity(std::span<const float> a, std::span<const float> b);

}  // namespace tern
