#include "sampling/grammar_filter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tern/error.h"

namespace tern::sampling {

namespace {

// How many of the best candidates are checked first when the next stages keep `keep`:
// a few more than `keep`, since the best tokens of an unconstrained model often break
// the grammar (a code fence instead of "{").
size_t first_batch(size_t keep) { return std::max<size_t>(2 * keep, 32); }

// Every token's bytes; end-of-generation tokens get none (the stage decides them).
std::vector<std::string_view> token_texts(const Tokenizer& tokenizer,
                                          const std::vector<uint8_t>& is_end_of_generation) {
  std::vector<std::string_view> texts(size_t(tokenizer.n_vocab()));
  for (TokenId id = 0; id < tokenizer.n_vocab(); ++id) {
    if (!is_end_of_generation[size_t(id)]) texts[size_t(id)] = tokenizer.token_bytes(id);
  }
  return texts;
}

std::vector<uint8_t> end_of_generation_flags(const Tokenizer& tokenizer) {
  std::vector<uint8_t> flags(size_t(tokenizer.n_vocab()));
  for (TokenId id = 0; id < tokenizer.n_vocab(); ++id) {
    flags[size_t(id)] = tokenizer.is_end_of_generation(id);
  }
  return flags;
}

}  // namespace

GrammarFilter::GrammarFilter(std::shared_ptr<const grammar::CompiledGrammar> grammar,
                             const Tokenizer& tokenizer, size_t keep)
    : matcher_(std::move(grammar)),
      tokenizer_(&tokenizer),
      is_end_of_generation_(end_of_generation_flags(tokenizer)),
      vocabulary_(token_texts(tokenizer, is_end_of_generation_)),
      keep_(keep) {}

uint8_t GrammarFilter::verdict(int32_t id, bool text_ok, bool can_end) const {
  if (id < 0 || id >= tokenizer_->n_vocab()) return 0;
  if (is_end_of_generation_[size_t(id)]) return can_end;
  // A token without text would let the model stall forever.
  return text_ok && !tokenizer_->token_bytes(id).empty();
}

size_t GrammarFilter::check_first(const Candidates& cur, size_t n) {
  texts_.clear();
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = cur.items[i].id;
    const bool known = id >= 0 && id < tokenizer_->n_vocab();
    texts_.push_back(known ? tokenizer_->token_bytes(id) : std::string_view{});
  }
  matcher_.can_accept_each(texts_, allowed_);
  const bool can_end = matcher_.can_end();
  size_t n_allowed = 0;
  for (size_t i = 0; i < n; ++i) {
    allowed_[i] = verdict(cur.items[i].id, allowed_[i] != 0, can_end);
    n_allowed += allowed_[i];
  }
  return n_allowed;
}

void GrammarFilter::check_all(const Candidates& cur) {
  matcher_.can_accept_all(vocabulary_, allowed_ids_);
  const bool can_end = matcher_.can_end();
  allowed_.resize(cur.items.size());
  for (size_t i = 0; i < cur.items.size(); ++i) {
    const int32_t id = cur.items[i].id;
    const bool text_ok = id >= 0 && size_t(id) < allowed_ids_.size() && allowed_ids_[size_t(id)];
    allowed_[i] = verdict(id, text_ok, can_end);
  }
}

void GrammarFilter::keep_allowed(Candidates& cur, size_t n, size_t limit) {
  size_t out = 0;
  for (size_t i = 0; i < n && out < limit; ++i) {
    if (allowed_[i]) cur.items[out++] = cur.items[i];
  }
  cur.items.resize(out);
}

void GrammarFilter::apply(Candidates& cur) {
  if (keep_ > 0 && keep_ < cur.items.size()) {
    const size_t n = std::min(cur.items.size(), first_batch(keep_));
    cur.sort_top(n);
    if (check_first(cur, n) >= keep_) {
      keep_allowed(cur, n, keep_);
      cur.sorted = true;  // the best `keep_` allowed tokens, in order
      return;
    }
  }
  check_all(cur);
  keep_allowed(cur, cur.items.size(), cur.items.size());
  if (cur.items.empty()) {
    throw Error(
        "sampling: no token can continue the grammar (does the vocabulary lack a "
        "character it needs?)");
  }
  // Only banned tokens (-inf: an end of generation under --ignore-eos) are left: the
  // grammar allows nothing else, so they become the choice the stages after this can make.
  if (std::all_of(cur.items.begin(), cur.items.end(),
                  [](const TokenLogit& t) { return t.logit == -INFINITY; })) {
    for (TokenLogit& t : cur.items) t.logit = 0.0f;
  }
}

void GrammarFilter::accept_generated(int32_t token) {
  const bool known = token >= 0 && token < tokenizer_->n_vocab();
  const bool allowed = known && (is_end_of_generation_[size_t(token)]
                                     ? matcher_.can_end()
                                     : matcher_.accept(tokenizer_->token_bytes(token)));
  if (!allowed) throw Error(fmt::format("sampling: token {} does not continue the grammar", token));
}

}  // namespace tern::sampling
