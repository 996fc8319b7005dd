// tern embed -m MODEL (-p TEXT | -f FILE): one embedding per text (each non-empty line of
// the file or of standard input), pooled from the model's final hidden states. Prints one
// vector per line, or with --json an OpenAI-style embeddings list.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "input_file.h"
#include "int_range.h"
#include "output.h"
#include "progress_bar.h"
#include "tern/embeddings.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"

namespace tern::cli {

namespace {

// Texts read together at most: groups of 8, 16 and 32 measured alike (1000 lines of ~15
// tokens with all-MiniLM-L6-v2, docs/benchmarks.md).
constexpr int64_t kTextsTogether = 16;

struct EmbedCliOptions {
  std::string model;
  std::string prompt;
  std::string file;
  std::string pooling;  // "": the model's own ({arch}.pooling_type), else mean
  bool no_normalize = false;
  bool json = false;
  int n_threads = 0;
  int64_t n_ctx = 0;
  ModelOptions model_options;  // --backend, -ngl
};

std::vector<std::string> read_texts(const EmbedCliOptions& o, const CLI::App* cmd) {
  if (cmd->count("--prompt") > 0) return {o.prompt};
  std::string all = o.file.empty() ? std::string(std::istreambuf_iterator<char>(std::cin), {})
                                   : read_input_file(o.file);
  std::vector<std::string> texts;
  std::istringstream lines(all);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) texts.push_back(line);
  }
  if (texts.empty()) throw Error("no text to embed: the input has no non-empty line");
  return texts;
}

void print_vectors(std::span<const float> values, int64_t n_embd) {
  for (size_t at = 0; at < values.size(); at += static_cast<size_t>(n_embd)) {
    out().print("{:.6f}\n", fmt::join(values.subspan(at, static_cast<size_t>(n_embd)), " "));
  }
}

nlohmann::json as_json(std::span<const float> values, int64_t n_embd, bool rows) {
  auto row = [&](size_t at) {
    auto v = values.subspan(at, static_cast<size_t>(n_embd));
    return nlohmann::json(std::vector<float>(v.begin(), v.end()));
  };
  if (!rows) return row(0);
  nlohmann::json all = nlohmann::json::array();
  for (size_t at = 0; at < values.size(); at += static_cast<size_t>(n_embd)) all.push_back(row(at));
  return all;
}

void run(const EmbedCliOptions& o, const CLI::App* cmd) {
  std::optional<Pooling> pooling;
  if (!o.pooling.empty()) pooling = parse_pooling(o.pooling);  // before reading any input
  const std::vector<std::string> texts = read_texts(o, cmd);
  Model model = Model::load(resolve_model_path(o.model), with_environment(o.model_options));
  const EmbedOptions options{
      .pooling = pooling.value_or(model_pooling(model).value_or(Pooling::Mean)),
      .normalize = !o.no_normalize};
  std::vector<std::vector<TokenId>> tokens;
  size_t longest = 0;
  for (const std::string& text : texts) {
    tokens.push_back(model.tokenizer().tokenize(text));
    longest = std::max(longest, tokens.back().size());
  }
  SessionOptions so{.n_ctx = o.n_ctx > 0 ? o.n_ctx : static_cast<int64_t>(longest),
                    .n_threads = o.n_threads,
                    .embeddings = true};
  so.n_batch = std::max<int64_t>(so.n_batch, so.n_ctx);  // a text is one micro-batch
  // Short texts are read several at a time, each a sequence of its own (embed_batch): as
  // many as a micro-batch holds at the context size, so the cache stays a micro-batch's.
  so.n_seq = static_cast<int>(std::clamp<int64_t>(
      so.n_batch / so.n_ctx, 1, std::min<int64_t>(kTextsTogether, std::ssize(texts))));
  Session session(model, so);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (std::ssize(tokens[i]) > session.n_ctx()) {
      throw ContextOverflow(fmt::format("text {} has {} tokens, more than the context size {}",
                                        i + 1, tokens[i].size(), session.n_ctx()));
    }
  }
  nlohmann::json data = nlohmann::json::array();
  size_t n_tokens = 0;
  // Many texts on a terminal: a progress bar on stderr (the vectors go to stdout).
  ProgressBar bar;
  const bool show_progress = texts.size() > 1 && isatty(fileno(stderr));
  for (size_t first = 0; first < texts.size(); first += static_cast<size_t>(session.n_seq())) {
    const size_t n = std::min(texts.size() - first, static_cast<size_t>(session.n_seq()));
    const std::vector<std::vector<float>> vectors =
        embed_batch(session, std::span(tokens).subspan(first, n), options);
    for (size_t i = first; i < first + n; ++i) {
      const std::vector<float>& v = vectors[i - first];
      n_tokens += tokens[i].size();
      if (!o.json) {
        if (i > 0 && options.pooling == Pooling::None) out().print("\n");
        print_vectors(v, model.n_embd());
        continue;
      }
      data.push_back({{"object", "embedding"},
                      {"index", i},
                      {"embedding", as_json(v, model.n_embd(), options.pooling == Pooling::None)}});
    }
    if (show_progress) {
      bar.update(static_cast<int64_t>(first + n), std::ssize(texts),
                 fmt::format("{} of {} texts", first + n, texts.size()));
    }
  }
  if (o.json) {
    nlohmann::json doc = {{"object", "list"},
                          {"data", std::move(data)},
                          {"model", o.model},
                          {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}};
    out().print("{}\n", doc.dump());
  }
}

}  // namespace

void add_embed(CLI::App& app) {
  auto o = std::make_shared<EmbedCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "Print the embedding of a text, or of each line of a file or standard input");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a name under $TERN_MODELS")->required();
  auto* prompt = cmd->add_option("-p,--prompt", o->prompt, "The text to embed");
  cmd->add_option("-f,--file", o->file, "Embed each non-empty line of this file (default: stdin)")
      ->excludes(prompt);
  cmd->add_option("--pooling", o->pooling,
                  "mean, last, cls, or none (every token's vector); default: the model's "
                  "pooling_type, else mean");
  cmd->add_flag("--no-normalize", o->no_normalize, "Keep the vectors' length (default: L2 norm 1)");
  cmd->add_flag("--json", o->json, "Print an OpenAI-style embeddings list");
  cmd->add_option("-t,--threads", o->n_threads, "Threads (default: physical cores)")
      ->check(in_range(0, kMaxThreads));
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Most tokens per text (default: the longest text's)")
      ->check(in_range(0, kMaxContextSize));
  add_backend_options(cmd, o->model_options);
  cmd->callback([o, cmd] { run(*o, cmd); });
}

}  // namespace tern::cli
