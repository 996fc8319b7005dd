#include "tern/embeddings.h"

#include <fmt/format.h>

#include <cmath>

#include "tern/error.h"

namespace tern {

namespace {

constexpr std::pair<Pooling, std::string_view> kPoolingNames[] = {{Pooling::None, "none"},
                                                                  {Pooling::Mean, "mean"},
                                                                  {Pooling::Last, "last"},
                                                                  {Pooling::Cls, "cls"}};

void scale_to_unit(std::span<float> v) {
  double sum_sq = 0.0;
  for (float x : v) sum_sq += double(x) * double(x);
  if (sum_sq == 0.0) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum_sq));
  for (float& x : v) x *= inv;
}

}  // namespace

Pooling parse_pooling(std::string_view name) {
  for (auto [pooling, text] : kPoolingNames) {
    if (name == text) return pooling;
  }
  throw Error(fmt::format("unknown pooling '{}': use none, mean, last or cls", name));
}

std::string_view pooling_name(Pooling pooling) {
  for (auto [p, text] : kPoolingNames) {
    if (p == pooling) return text;
  }
  return "?";
}

std::optional<Pooling> model_pooling(const Model& model) {
  const std::optional<int64_t> type =
      model.meta_int(fmt::format("{}.pooling_type", model.architecture()));
  if (!type) return std::nullopt;
  switch (*type) {
    case 0:
      return Pooling::None;
    case 1:
      return Pooling::Mean;
    case 2:
      return Pooling::Cls;
    case 3:
      return Pooling::Last;
    default:
      return std::nullopt;  // rank (a reranker's head) and unknown kinds
  }
}

std::vector<float> pool_rows(std::span<const float> rows, int64_t n_embd,
                             const EmbedOptions& options) {
  const auto width = static_cast<size_t>(n_embd);
  if (n_embd < 1 || rows.empty() || rows.size() % width != 0) {
    throw Error(fmt::format("cannot pool {} floats as rows of {}", rows.size(), n_embd));
  }
  const size_t n_rows = rows.size() / width;
  std::vector<float> out;
  switch (options.pooling) {
    case Pooling::None:
      out.assign(rows.begin(), rows.end());
      break;
    case Pooling::Cls:
      out.assign(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(width));
      break;
    case Pooling::Last:
      out.assign(rows.end() - static_cast<std::ptrdiff_t>(width), rows.end());
      break;
    case Pooling::Mean: {
      std::vector<double> sum(width);  // double: long texts sum thousands of rows
      for (size_t r = 0; r < n_rows; ++r) {
        for (size_t i = 0; i < width; ++i) sum[i] += rows[r * width + i];
      }
      out.resize(width);
      for (size_t i = 0; i < width; ++i) out[i] = static_cast<float>(sum[i] / double(n_rows));
      break;
    }
  }
  if (options.normalize) {
    for (size_t at = 0; at < out.size(); at += width) {
      scale_to_unit(std::span(out).subspan(at, width));
    }
  }
  return out;
}

namespace {

void require_embeddings(const Session& session) {
  if (!session.embeddings()) {
    throw Error("this session returns logits: embeddings need one made with the embeddings option");
  }
}

// Decodes `texts` as sequences 0.. of `session` in one call and appends each one's pooled
// embedding to `out`.
void embed_together(Session& session, std::span<const std::span<const TokenId>> texts,
                    const EmbedOptions& options, std::vector<std::vector<float>>& out) {
  require_embeddings(session);
  // Hidden-state rows cost one norm each (no vocabulary projection), so Cls takes them all.
  const Outputs outputs = options.pooling == Pooling::Last ? Outputs::Last : Outputs::All;
  std::vector<SequenceTokens> parts;
  for (const std::span<const TokenId> tokens : texts) {
    if (tokens.empty()) throw Error("cannot embed an empty text (no tokens)");
    const int seq = static_cast<int>(parts.size());
    session.clear_sequence(seq);
    parts.push_back({seq, tokens, outputs});
  }
  const std::span<const float> rows = session.decode(parts);
  const auto width = static_cast<size_t>(session.row_width());
  size_t at = 0;
  for (const SequenceTokens& part : parts) {
    const size_t n = (outputs == Outputs::Last ? 1 : part.tokens.size()) * width;
    out.push_back(pool_rows(rows.subspan(at, n), session.row_width(), options));
    at += n;
  }
  for (const SequenceTokens& part : parts) session.clear_sequence(part.seq);
}

}  // namespace

std::vector<float> embed_tokens(Session& session, std::span<const TokenId> tokens,
                                const EmbedOptions& options) {
  std::vector<std::vector<float>> out;
  embed_together(session, std::span(&tokens, 1), options, out);
  return std::move(out.front());
}

std::vector<std::vector<float>> embed_batch(Session& session,
                                            std::span<const std::vector<TokenId>> texts,
                                            const EmbedOptions& options) {
  require_embeddings(session);  // also when there is no text
  std::vector<std::vector<float>> out;
  std::vector<std::span<const TokenId>> group;
  int64_t group_tokens = 0;
  for (size_t i = 0; i <= texts.size(); ++i) {
    const bool fits = i < texts.size() && std::ssize(group) < session.n_seq() &&
                      (group.empty() || group_tokens + std::ssize(texts[i]) <= session.n_batch());
    if (!fits && !group.empty()) {
      embed_together(session, group, options, out);
      group.clear();
      group_tokens = 0;
    }
    if (i == texts.size()) break;
    group.push_back(texts[i]);
    group_tokens += std::ssize(texts[i]);
  }
  return out;
}

double cosine_similarity(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) {
    throw Error(fmt::format("cosine of vectors of {} and {} values", a.size(), b.size()));
  }
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  return aa == 0.0 || bb == 0.0 ? 0.0 : ab / std::sqrt(aa * bb);
}

}  // namespace tern
