// tern summarize -m MODEL FILES... [--input list.jsonl] [--out results.jsonl]: one summary
// per document, one JSON line per document written and flushed as it finishes. With --out,
// a re-run skips the documents the file already holds, so an interrupted job loses nothing.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "int_range.h"
#include "model_path.h"
#include "summarize/summarizer.h"
#include "tern/error.h"

namespace tern::cli {

namespace {

namespace fs = std::filesystem;

struct SummarizeCliOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string list;
  std::string out;
  std::string chat_template;
  bool no_chat_template = false;
  int64_t seed = 0;
  SessionOptions session{.n_ctx = 4096};
  SamplingParams sampling{.temp = 0.0f};
  summarize::SummarizeOptions summarize;
};

// A document: its path (the id in the results) and, from --input, possibly its text.
struct Document {
  std::string path;
  std::optional<std::string> text;
};

// Folders expand to their regular files, sorted; other arguments must be files.
void add_path(const std::string& path, std::vector<Document>& docs) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) docs.push_back({std::move(f), std::nullopt});
    return;
  }
  if (!fs::is_regular_file(path, ec)) throw Error(fmt::format("{}: no such file", path));
  docs.push_back({path, std::nullopt});
}

// --input: one JSON object per line, {"path": "..."} and optionally "text" (the document).
void add_list(const std::string& list, std::vector<Document>& docs) {
  std::ifstream in(list);
  if (!in) throw Error(fmt::format("{}: cannot read", list));
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("path") || !j["path"].is_string() ||
        (j.contains("text") && !j["text"].is_string())) {
      throw Error(fmt::format("{}:{}: expected {{\"path\": \"...\"}} with an optional \"text\"",
                              list, line_no));
    }
    if (j.contains("text")) {
      docs.push_back({j["path"].get<std::string>(), j["text"].get<std::string>()});
    } else {
      add_path(j["path"].get<std::string>(), docs);
    }
  }
}

// The paths a results file already holds summaries for. A last line without its newline
// was cut by a kill mid-write: it is removed so appending continues on a clean line.
std::set<std::string> read_done(const std::string& out) {
  std::set<std::string> done;
  std::error_code ec;
  if (!fs::exists(out, ec)) return done;
  std::ifstream in(out, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", out));
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t complete = content.rfind('\n') == std::string::npos ? 0 : content.rfind('\n') + 1;
  if (complete < content.size()) fs::resize_file(out, complete);
  size_t start = 0;
  while (start < complete) {
    const size_t end = content.find('\n', start);
    const nlohmann::json j =
        nlohmann::json::parse(content.substr(start, end - start), nullptr, false);
    if (j.is_object() && j.contains("path") && j["path"].is_string() && j.contains("summary")) {
      done.insert(j["path"].get<std::string>());
    }
    start = end + 1;
  }
  return done;
}

std::string read_text(const Document& doc) {
  if (doc.text) return *doc.text;
  std::ifstream in(doc.path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", doc.path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Progress on stderr: a redrawn bar on a terminal, one plain line per document otherwise.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), terminal_(::isatty(STDERR_FILENO) != 0) {}

  // On a terminal: the bar with the document now being summarized.
  void begin(const std::string& path) const {
    if (terminal_) draw(fs::path(path).filename().string());
  }

  void done(const std::string& path, const std::string& detail) {
    ++n_done_;
    if (!terminal_) {
      fmt::print(stderr, "summarize: [{}/{}] {}: {}\n", n_done_, total_, path, detail);
      return;
    }
    draw(n_done_ == total_ ? "done" : fs::path(path).filename().string());
    if (n_done_ == total_) fmt::print(stderr, "\n");
  }

 private:
  void draw(const std::string& label) const {
    constexpr size_t kWidth = 30;
    const size_t filled = total_ ? kWidth * n_done_ / total_ : kWidth;
    fmt::print(stderr, "\r[{}{}] {}/{} {:<40.40}", std::string(filled, '#'),
               std::string(kWidth - filled, '.'), n_done_, total_, label);
  }

  size_t total_;
  size_t n_done_ = 0;
  bool terminal_;
};

nlohmann::json summarize_one(summarize::Summarizer& summarizer, const Document& doc) {
  const auto start = std::chrono::steady_clock::now();
  try {
    const summarize::Summary s = summarizer.summarize(read_text(doc));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {{"path", doc.path},           {"summary", s.text},
            {"tokens_in", s.n_tokens_in}, {"tokens_out", s.n_tokens_out},
            {"chunks", s.n_chunks},       {"rounds", s.n_rounds},
            {"seconds", seconds}};
  } catch (const Error& e) {  // one bad document does not stop the batch; a re-run retries it
    return {{"path", doc.path}, {"error", e.what()}};
  }
}

void run(SummarizeCliOptions o) {
  std::vector<Document> docs;
  for (const std::string& path : o.inputs) add_path(path, docs);
  if (!o.list.empty()) add_list(o.list, docs);
  if (docs.empty()) throw Error("summarize: no documents (give files, folders or --input)");
  const std::set<std::string> done = o.out.empty() ? std::set<std::string>{} : read_done(o.out);
  std::erase_if(docs, [&](const Document& d) { return done.contains(d.path); });
  if (!done.empty())
    fmt::print(stderr, "summarize: {} documents already in {}\n", done.size(), o.out);
  if (docs.empty()) return;

  std::unique_ptr<FILE, int (*)(FILE*)> owned(nullptr, std::fclose);
  FILE* out = stdout;
  if (!o.out.empty()) {
    owned.reset(std::fopen(o.out.c_str(), "ab"));
    if (!owned) throw Error(fmt::format("{}: cannot write", o.out));
    out = owned.get();
  }
  const Model model = Model::load(resolve_model_path(o.model));
  const Tokenizer tokenizer(model.gguf_file());
  Session session(model, o.session);
  o.sampling.seed = o.seed < 0 ? kRandomSeed : static_cast<uint32_t>(o.seed);
  SamplerChain sampler(o.sampling);
  // Same prompt-format rule as `tern run`: the chat format only for a chat model.
  const ChatTemplateChoice choice = choose_chat_template(model, o.chat_template);
  if (!o.no_chat_template && (choice.source == ChatTemplateSource::Named ||
                              choice.source == ChatTemplateSource::Metadata)) {
    o.summarize.chat = choice.tmpl;
  }
  summarize::Summarizer summarizer(session, tokenizer, sampler, o.summarize);
  Progress progress(docs.size());
  for (const Document& doc : docs) {
    progress.begin(doc.path);
    const nlohmann::json line = summarize_one(summarizer, doc);
    fmt::print(out, "{}\n", line.dump());
    std::fflush(out);
    progress.done(doc.path, line.contains("error") ? line["error"].get<std::string>()
                                                   : fmt::format("{} -> {} tokens, {:.1f} s",
                                                                 line["tokens_in"].get<int64_t>(),
                                                                 line["tokens_out"].get<int64_t>(),
                                                                 line["seconds"].get<double>()));
  }
}

}  // namespace

void add_summarize(CLI::App& app) {
  auto o = std::make_shared<SummarizeCliOptions>();
  CLI::App* cmd = app.add_subcommand("summarize", "Summarize documents, one JSON line each");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a model name in $TERN_MODELS")->required();
  cmd->add_option("files", o->inputs, "Text files or folders of them");
  cmd->add_option("--input", o->list, "JSON lines: {\"path\": ...} with an optional \"text\"");
  cmd->add_option("-o,--out", o->out, "Results (JSON lines); a re-run skips documents done");
  cmd->add_option("-n,--n-predict", o->summarize.n_predict, "Most tokens per summary")
      ->check(in_range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--overlap", o->summarize.n_overlap, "Tokens shared by neighbouring chunks")
      ->check(in_range(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--instruction", o->summarize.instruction, "What to ask for")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", o->session.n_ctx, "Context size; 0: the model's")
      ->check(in_range(0, kMaxContextSize))
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", o->session.n_batch, "Prompt tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->session.n_threads, "Threads; 0: one per physical core")
      ->check(in_range(0, kMaxThreads));
  add_kv_type_option(cmd, o->session.kv_type);
  cmd->add_option("--temp", o->sampling.temp, "Temperature; <= 0: greedy")->capture_default_str();
  cmd->add_option("-s,--seed", o->seed, "Sampling seed; -1: random")
      ->check(in_range(-1, 0xFFFFFFFE))
      ->capture_default_str();
  auto* tmpl = cmd->add_option("--chat-template", o->chat_template, "Chat format to ask in");
  cmd->add_flag("--no-chat-template", o->no_chat_template, "Plain completion prompt")
      ->excludes(tmpl);
  cmd->callback([o] { run(*o); });
}

}  // namespace tern::cli
