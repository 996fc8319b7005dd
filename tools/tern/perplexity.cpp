// tern perplexity -m MODEL -f TEXT: perplexity in chunks of -c tokens with a running
// estimate; --kl-base saves the log-probabilities, --kl-compare reports KL divergence and
// top-1 agreement of another (quantized) model against them.
#include "tern/perplexity.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "commands.h"
#include "input_file.h"
#include "int_range.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/tokenizer.h"

namespace tern::cli {

namespace {

struct PerplexityCliOptions {
  std::string model, text_file;
  int64_t max_chunks = 0;
  ppl::PerplexityOptions ppl;
};

// The chunked tokens: from the --kl-compare file (same tokens as the base), else the text.
std::vector<TokenId> input_chunks(const PerplexityCliOptions& o, const Model& model,
                                  ppl::PerplexityOptions& po) {
  if (!po.kl_compare_in.empty()) {
    ppl::KlBaseChunks base = ppl::read_kl_base_chunks(po.kl_compare_in);
    po.n_ctx = base.n_ctx;
    return std::move(base.tokens);
  }
  if (o.text_file.empty()) throw Error("perplexity: -f TEXT is required (unless --kl-compare)");
  return ppl::text_chunks(model.tokenizer(), read_input_file(o.text_file), po.n_ctx,
                         o.max_chunks);
}

void print_kl(const ppl::PerplexityReport& r) {
  const ppl::KlReport& k = *r.kl;
  double base_ppl = std::exp(k.base_nll.mean());
  fmt::print("PPL(Q)    = {:.4f} +/- {:.4f}\n", r.ppl(), r.ppl_error());
  fmt::print("PPL(base) = {:.4f} +/- {:.4f}\n", base_ppl, base_ppl * k.base_nll.standard_error());
  fmt::print("Mean KLD  = {:.6f} +/- {:.6f} nats ({} tokens)\n", k.kl.mean(), k.kl.standard_error(),
             k.kl.count());
  fmt::print("KLD median {:.6f}, 99% {:.6f}, max {:.6f}\n", k.kl_median, k.kl_p99, k.kl_max);
  fmt::print("Same top-1 = {:.2f} +/- {:.2f} %\n", 100 * k.same_top.mean(),
             100 * k.same_top.standard_error());
}

void run(PerplexityCliOptions o) {
  Model model = Model::load(resolve_model_path(o.model), with_environment({}));
  std::vector<TokenId> chunks = input_chunks(o, model, o.ppl);
  fmt::print("{} chunks of {} tokens, scoring the last {} of each\n",
             chunks.size() / static_cast<size_t>(o.ppl.n_ctx), o.ppl.n_ctx,
             o.ppl.n_ctx - 1 - o.ppl.n_ctx / 2);
  auto on_chunk = [](const ppl::ChunkReport& c) {
    fmt::print("[{}]{:.4f}{}", c.chunk + 1, c.ppl, c.chunk + 1 == c.n_chunks ? "\n" : ",");
    std::fflush(stdout);
  };
  ppl::PerplexityReport r = ppl::evaluate_perplexity(model, chunks, o.ppl, on_chunk);
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.4f} ({} tokens scored)\n", r.ppl(), r.ppl_error(),
             r.nll.count());
  if (r.kl) print_kl(r);
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("perplexity", "Perplexity over a text, KL divergence vs a base");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a name under $TERN_MODELS")->required();
  cmd->add_option("-f,--file", o->text_file, "Text file to score");
  cmd->add_option("-c,--ctx-size", o->ppl.n_ctx, "Tokens per chunk (the second half is scored)")
      ->check(in_range(4, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--chunks", o->max_chunks, "Score at most N chunks (default: all)")
      ->check(in_range(0, 1 << 30));
  cmd->add_option("-t,--threads", o->ppl.n_threads, "Threads (default: physical cores)")
      ->check(in_range(0, kMaxThreads));
  cmd->add_option("-b,--batch-size", o->ppl.n_batch, "Tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  auto* base = cmd->add_option("--kl-base", o->ppl.kl_base_out,
                               "Save this (full-precision) model's log-probabilities to a file");
  cmd->add_option("--kl-compare", o->ppl.kl_compare_in,
                  "Report KL divergence and top-1 agreement against a --kl-base file")
      ->excludes(base);
  cmd->callback([o] { run(*o); });
}

}  // namespace tern::cli
