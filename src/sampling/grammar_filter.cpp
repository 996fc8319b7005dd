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

}  // namespace

GrammarFilter::GrammarFilter(std::shared_ptr<const grammar::CompiledGrammar> grammar,
                             const Tokenizer& tokenizer, size_t keep)
    : matcher_(std::move(grammar)), tokenizer_(&tokenizer), keep_(keep) {
  is_end_of_generation_.resize(size_t(tokenizer.n_vocab()));
  for (TokenId id = 0; id < tokenizer.n_vocab(); ++id) {
    is_end_of_generation_[size_t(id)] = tokenizer.is_end_of_generation(id);
  }
  tokenizer.token_bytes(0);  // builds the byte table now rather than on the first step
}

size_t GrammarFilter::mark_allowed(const Candidates& cur, size_t begin, size_t end) {
  texts_.clear();
  for (size_t i = begin; i < end; ++i) {
    const int32_t id = cur.items[i].id;
    const bool known = id >= 0 && id < tokenizer_->n_vocab();
    // End-of-generation and empty tokens are decided below, not by the matcher.
    texts_.push_back(known && !is_end_of_generation_[size_t(id)] ? tokenizer_->token_bytes(id)
                                                                  : std::string_view{});
  }
  matcher_.can_accept_each(texts_, allowed_);
  const bool can_end = matcher_.can_end();
  size_t n_allowed = 0;
  for (size_t i = begin; i < end; ++i) {
    const TokenLogit& t = cur.items[i];
    uint8_t& ok = allowed_[i - begin];
    if (t.logit == -INFINITY || t.id < 0 || t.id >= tokenizer_->n_vocab()) {
      ok = 0;  // a banned token (--ignore-eos) or none at all
    } else if (is_end_of_generation_[size_t(t.id)]) {
      ok = can_end;
    } else if (texts_[i - begin].empty()) {
      ok = 0;  // a token without text would let the model stall forever
    }
    n_allowed += ok;
  }
  return n_allowed;
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
    if (mark_allowed(cur, 0, n) >= keep_) {
      keep_allowed(cur, n, keep_);
      cur.sorted = true;  // the best `keep_` allowed tokens, in order
      return;
    }
  }
  mark_allowed(cur, 0, cur.items.size());
  keep_allowed(cur, cur.items.size(), cur.items.size());
  if (cur.items.empty()) {
    throw Error("sampling: no token can continue the grammar (is the end-of-generation token "
                "banned, or does the vocabulary lack a character it needs?)");
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
