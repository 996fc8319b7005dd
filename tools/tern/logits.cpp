// tern logits -m MODEL --tokens "1 2 3": evaluates the tokens as one sequence from
// position 0 and writes every position's logits (n_tokens x n_vocab little-endian
// float32) to -o, or prints the top N per position.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>
#include <vector>

#include "commands.h"
#include "int_range.h"
#include "output.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"

namespace tern::cli {

namespace {

struct LogitsOptions {
  std::string model;
  std::string tokens;
  std::string out;
  int top = 0;
  int n_threads = 0;
  int64_t n_ctx = 0;
  int64_t n_batch = 512;
  ModelOptions model_options;  // --backend, -ngl
  // F32, unlike the library's default: these logits are compared with references, which
  // are F32-cache outputs.
  KvType kv_type = KvType::F32;
};

std::vector<int32_t> parse_tokens(const std::string& text) {
  std::vector<int32_t> ids;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') {
      ++p;
      continue;
    }
    int32_t id = 0;
    auto [next, ec] = std::from_chars(p, end, id);
    if (ec != std::errc() ||
        (next < end && *next != ' ' && *next != ',' && *next != '\t' && *next != '\n')) {
      throw Error(fmt::format("--tokens: '{}' is not a list of token ids", text));
    }
    ids.push_back(id);
    p = next;
  }
  if (ids.empty()) throw Error("--tokens: no token ids given");
  return ids;
}

void write_logits(const std::string& path, std::span<const float> logits) {
  Output file(path, "wb");
  file.write(logits);
  file.close();
}

void print_top(std::span<const float> logits, int64_t n_vocab, int top) {
  std::vector<int32_t> order(static_cast<size_t>(n_vocab));
  auto n_top = static_cast<size_t>(std::min<int64_t>(top, n_vocab));
  for (size_t pos = 0; pos * static_cast<size_t>(n_vocab) < logits.size(); ++pos) {
    const float* row = logits.data() + pos * static_cast<size_t>(n_vocab);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_top),
                      order.end(), [row](int32_t a, int32_t b) { return row[a] > row[b]; });
    out().print("{}:", pos);
    for (size_t i = 0; i < n_top; ++i) out().print(" {} ({:.4f})", order[i], row[order[i]]);
    out().print("\n");
  }
}

void run(const LogitsOptions& o) {
  std::vector<int32_t> tokens = parse_tokens(o.tokens);
  Model model = Model::load(resolve_model_path(o.model), with_environment(o.model_options));
  SessionOptions so;
  so.n_ctx = o.n_ctx > 0 ? o.n_ctx : static_cast<int64_t>(tokens.size());
  so.n_batch = o.n_batch;
  so.n_threads = o.n_threads;
  so.kv_type = o.kv_type;
  Session session(model, so);
  std::span<const float> logits = session.decode(tokens, Outputs::All);
  if (o.top > 0) {
    print_top(logits, model.n_vocab(), o.top);
  } else {
    write_logits(o.out, logits);
  }
}

}  // namespace

void add_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "Write or show the logits of a token sequence");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a name under $TERN_MODELS")->required();
  cmd->add_option("--tokens", o->tokens, "Token ids, separated by spaces or commas")->required();
  auto* out = cmd->add_option("-o,--output", o->out, "Output file (n_tokens x n_vocab float32)");
  auto* top = cmd->add_option("--top", o->top, "Print the top N tokens per position instead")
                  ->check(in_range(1, 1 << 24));
  out->excludes(top);
  cmd->add_option("-t,--threads", o->n_threads, "Threads (default: physical cores)")
      ->check(in_range(0, kMaxThreads));
  cmd->add_option("-c,--ctx-size", o->n_ctx, "KV cache positions (default: the token count)")
      ->check(in_range(0, kMaxContextSize));
  cmd->add_option("-b,--batch-size", o->n_batch, "Tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  add_backend_options(cmd, o->model_options);
  add_kv_type_option(cmd, o->kv_type);
  cmd->callback([o, cmd] {
    if (o->top == 0 && o->out.empty()) {
      throw CLI::RequiredError(cmd->get_name() + ": one of -o or --top");
    }
    run(*o);
  });
}

}  // namespace tern::cli
