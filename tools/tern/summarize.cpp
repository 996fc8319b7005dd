// tern summarize -m MODEL FILES... [--input list.jsonl] [--out results.jsonl]: one summary
// per document, one JSON line per document written and flushed in input order (with
// --parallel N, N prompts run at once and a finished record waits for the ones before it).
// With --out, a re-run skips the documents the file already holds, so an interrupted job
// loses nothing; a file tern did not write is never appended to (summarize_results.h).
#include "tern/summarize.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "input_file.h"
#include "int_range.h"
#include "output.h"
#include "speculation.h"
#include "summarize_results.h"
#include "tern/atomic_file.h"
#include "tern/error.h"
#include "tern/grammar.h"
#include "tern/model_path.h"
#include "utf8_escape.h"

namespace tern::cli {

namespace {

namespace fs = std::filesystem;

// Documents summarized at once by default: on the CPU, 4 sequences share each read of the
// weights (the decode kernels take up to 8 activation rows).
constexpr int kDefaultParallel = 4;

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
  int n_parallel = kDefaultParallel;
  std::string json_schema_file;  // structured summaries: the record's summary is the object
  SpeculationOptions speculation;
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
  std::istringstream in(read_input_file(list));
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

// Results on standard output: a stream, with nothing to resume.
bool is_stdout(const std::string& out) { return out.empty() || out == "-" || out == "/dev/stdout"; }

// Which documents the results file `path` already holds (as `record_paths` name them), after
// dropping atomically what this run replaces (plan_resume). Anything but a new path or a
// regular file tern wrote is refused, untouched: no reading a FIFO or /dev/zero.
std::vector<bool> resume(const std::string& path, const std::vector<std::string>& record_paths) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::vector<bool>(record_paths.size(), false);
    throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(
        fmt::format("{}: not a regular file (--out takes a file, or - for standard output)", path));
  }
  std::ifstream in(path, std::ios::binary);
  std::string content(kRecordStart.size(), '\0');  // its start first: a model is not read whole
  if (!in.read(content.data(), static_cast<std::streamsize>(content.size())) && !in.eof()) {
    throw Error(fmt::format("{}: cannot read", path));
  }
  content.resize(static_cast<size_t>(in.gcount()));
  if (!kRecordStart.starts_with(content)) throw not_results_error(path, 1);
  content.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const ResumePlan plan = plan_resume(content, path, record_paths);
  if (plan.rewrite) {
    AtomicFile file(path);
    file.write({reinterpret_cast<const uint8_t*>(plan.kept.data()), plan.kept.size()});
    file.commit();
  }
  if (plan.n_done > 0)
    fmt::print(stderr, "summarize: {} documents already in {}\n", plan.n_done, path);
  return plan.done;
}

std::string read_text(const Document& doc) {
  if (doc.text) return *doc.text;
  return read_input_file(doc.path);
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

  // The run's throughput: documents over the time from the first one's start (the model
  // loaded) to the last one's end.
  void finish(double seconds) const {
    if (n_done_ == 0 || seconds <= 0.0) return;
    fmt::print(stderr, "summarize: {} documents in {:.2f} s, {:.1f} per minute\n", n_done_, seconds,
               60.0 * static_cast<double>(n_done_) / seconds);
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

// A document's record: its identity first (index in the input, path with bytes that are not
// UTF-8 written as \xNN), then its summary or its error.
nlohmann::ordered_json record_of(size_t index, const std::string& record_path) {
  return {{"index", index}, {"path", record_path}};
}

// With a JSON schema the summary is the object it describes (or, cut short by -n, the text
// and a `summary_error`).
void add_summary(nlohmann::ordered_json& record, const summarize::Summary& s, double seconds,
                 bool structured) {
  nlohmann::ordered_json summary = s.text;
  if (structured) {
    summary = nlohmann::ordered_json::parse(s.text, nullptr, false);
    if (summary.is_discarded()) {
      summary = s.text;
      record["summary_error"] = "the summary is not complete JSON (raise -n)";
    }
  }
  record.update({{"summary", summary},
                 {"tokens_in", s.n_tokens_in},
                 {"tokens_out", s.n_tokens_out},
                 {"chunks", s.n_chunks},
                 {"rounds", s.n_rounds},
                 {"seconds", seconds},
                 {"generate_seconds", s.generate_seconds}});
  if (s.n_drafted > 0) record.update({{"drafted", s.n_drafted}, {"accepted", s.n_accepted}});
}

// Writes the finished records in input order: a record waits until every document before
// it is written, so the file reads as --parallel 1 writes it.
class OrderedWriter {
 public:
  OrderedWriter(Output& results, Progress& progress, const std::vector<Document>& docs,
                const std::vector<bool>& done)
      : results_(&results), progress_(&progress), docs_(&docs), done_(&done) {}

  void finished(size_t index, nlohmann::ordered_json record) {
    waiting_.emplace(index, std::move(record));
    for (auto it = waiting_.begin(); it != waiting_.end(); it = waiting_.erase(it)) {
      while (next_ < docs_->size() && (*done_)[next_]) ++next_;
      if (it->first != next_) break;
      write(docs_->at(next_).path, it->second);
      ++next_;
    }
  }

 private:
  void write(const std::string& path, const nlohmann::ordered_json& line) {
    // Each line is written and flushed whole (a summary cut mid-character is not UTF-8).
    results_->print("{}\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    results_->flush();
    progress_->done(
        path, line.contains("error")
                  ? line["error"].get<std::string>()
                  : fmt::format("{} -> {} tokens, {:.1f} s", line["tokens_in"].get<int64_t>(),
                                line["tokens_out"].get<int64_t>(), line["seconds"].get<double>()));
  }

  Output* results_;
  Progress* progress_;
  const std::vector<Document>* docs_;
  const std::vector<bool>* done_;
  std::map<size_t, nlohmann::ordered_json> waiting_;  // finished, by input index
  size_t next_ = 0;                                   // the next document to write
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run(SummarizeCliOptions o) {
  if (!o.json_schema_file.empty()) {  // checked before anything is read or loaded
    o.summarize.grammar = json_schema_to_grammar(read_input_file(o.json_schema_file));
  }
  std::vector<Document> docs;
  for (const std::string& path : o.inputs) add_path(path, docs);
  if (!o.list.empty()) add_list(o.list, docs);
  if (docs.empty()) throw Error("summarize: no documents (give files, folders or --input)");
  std::vector<std::string> record_paths;
  for (const Document& d : docs) record_paths.push_back(escape_invalid_utf8(d.path));
  const std::vector<bool> done =
      is_stdout(o.out) ? std::vector<bool>(docs.size(), false) : resume(o.out, record_paths);
  const size_t n_todo = static_cast<size_t>(std::count(done.begin(), done.end(), false));
  if (n_todo == 0) return;

  std::optional<Output> file;
  if (!is_stdout(o.out)) file.emplace(o.out, "ab");
  Output& results = file ? *file : out();
  const Model model = Model::load(resolve_model_path(o.model), with_environment({}));
  const Tokenizer& tokenizer = model.tokenizer();
  // No more slots than documents: each slot holds a KV cache of n_ctx positions.
  o.session.n_seq = static_cast<int>(std::min<size_t>(static_cast<size_t>(o.n_parallel), n_todo));
  Session session(model, o.session);
  const Speculation speculation(o.speculation, model, {}, o.session);
  if (speculation.uses_draft_model() && o.session.n_seq > 1) {
    throw Error("summarize: a draft model follows one document at a time: use --parallel 1");
  }
  o.summarize.drafter = speculation.drafter();
  o.summarize.n_draft = o.speculation.n_draft;
  o.sampling.seed = o.seed < 0 ? kRandomSeed : static_cast<uint32_t>(o.seed);
  // Same prompt-format rule as `tern run`: the chat format only for a chat model.
  const ChatTemplateChoice choice = choose_chat_template(model, o.chat_template);
  if (!o.no_chat_template && (choice.source == ChatTemplateSource::Named ||
                              choice.source == ChatTemplateSource::Metadata)) {
    o.summarize.chat = choice.tmpl;
  }
  summarize::ParallelSummarizer summarizer(session, tokenizer, o.sampling, o.summarize);
  Progress progress(n_todo);
  OrderedWriter writer(results, progress, docs, done);
  std::vector<std::chrono::steady_clock::time_point> started(docs.size());
  const auto run_start = std::chrono::steady_clock::now();
  size_t next = 0;  // the next document to start
  while (true) {
    for (; next < docs.size() && summarizer.wants_document(); ++next) {
      if (done[next]) continue;
      progress.begin(docs[next].path);
      started[next] = std::chrono::steady_clock::now();
      try {
        summarizer.add(next, read_text(docs[next]));
      } catch (const Error& e) {  // one bad document does not stop the batch; a re-run retries it
        nlohmann::ordered_json record = record_of(next, record_paths[next]);
        record["error"] = e.what();
        writer.finished(next, std::move(record));
      }
    }
    if (summarizer.idle() && next == docs.size()) break;
    for (summarize::ParallelSummarizer::Finished& f : summarizer.step()) {
      nlohmann::ordered_json record = record_of(f.id, record_paths[f.id]);
      add_summary(record, f.summary, seconds_since(started[f.id]), !o.summarize.grammar.empty());
      writer.finished(f.id, std::move(record));
    }
  }
  if (file) file->close();
  progress.finish(seconds_since(run_start));
}

}  // namespace

void add_summarize(CLI::App& app) {
  auto o = std::make_shared<SummarizeCliOptions>();
  CLI::App* cmd = app.add_subcommand("summarize", "Summarize documents, one JSON line each");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a model name in $TERN_MODELS")->required();
  cmd->add_option("files", o->inputs, "Text files or folders of them");
  cmd->add_option("--input", o->list, "JSON lines: {\"path\": ...} with an optional \"text\"");
  cmd->add_option("-o,--out", o->out,
                  "Results (JSON lines); a re-run skips documents done; -: standard output");
  cmd->add_option("--json-schema", o->json_schema_file,
                  "JSON Schema file: each summary is a JSON value it describes (the record "
                  "carries the parsed value)");
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
  cmd->add_option("--parallel", o->n_parallel,
                  "Prompts summarized at once (-np), each with a KV cache of --ctx-size")
      ->check(in_range(1, kMaxSequences))
      ->capture_default_str();
  add_kv_type_option(cmd, o->session.kv_type);
  add_speculation_options(cmd, o->speculation);
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
