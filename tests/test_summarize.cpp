// Summarization: chunk ranges (exhaustively over small sizes), the summarizer on SmolLM2
// (one prompt when the text fits, chunks and a second round when it does not), the
// parallel summarizer against it, and `tern summarize` over ten files (four at a time, the
// default): killed midway and re-run, it finishes the rest without redoing what was
// written, and a line cut by the kill is dropped; --parallel 4 writes what --parallel 1 does,
// and so does speculative decoding (--spec ngram, -md).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/summarize.h"

namespace tern::summarize {
namespace {

namespace fs = std::filesystem;

TEST(ChunkRanges, CoverOverlapAndStayWithinTheLimit) {
  for (size_t n = 1; n <= 120; ++n) {
    for (size_t max = 2; max <= 40; ++max) {
      for (size_t overlap = 0; overlap < max; overlap += 3) {
        const auto ranges = chunk_ranges(n, max, overlap);
        SCOPED_TRACE(fmt::format("n {} max {} overlap {}", n, max, overlap));
        ASSERT_FALSE(ranges.empty());
        EXPECT_EQ(ranges.front().first, 0u);
        EXPECT_EQ(ranges.back().second, n);
        for (size_t i = 0; i < ranges.size(); ++i) {
          EXPECT_LE(ranges[i].second - ranges[i].first, max);
          EXPECT_LT(ranges[i].first, ranges[i].second);
          if (i > 0) {  // neighbours share exactly `overlap` tokens
            EXPECT_EQ(ranges[i - 1].second - ranges[i].first, overlap);
          }
        }
        // The fewest chunks: one chunk fewer of the longest allowed length would not cover n.
        const size_t k = ranges.size();
        if (k > 1) {
          EXPECT_LT((k - 1) * max - (k - 2) * overlap, n);
        }
      }
    }
  }
}

TEST(ChunkRanges, OverlapMustBeShorterThanAChunk) {
  EXPECT_THROW(chunk_ranges(100, 10, 10), Error);
}

fs::path models_dir() {
  const char* dir = std::getenv("TERN_MODELS");
  const char* home = std::getenv("HOME");
  return dir && *dir ? fs::path(dir) : fs::path(home ? home : ".") / ".cache/tern/models";
}

// ~700 words on one subject: far longer than a 256-token context.
std::string long_text() {
  const char* kSentences[] = {
      "The printing press was developed in Mainz around 1450 by Johannes Gutenberg.",
      "It combined movable metal type, an oil-based ink and a screw press.",
      "Printed books spread quickly across Europe and lowered the cost of knowledge.",
      "Before printing, books were copied by hand in monasteries, slowly and at great cost.",
      "Newspapers appeared in the seventeenth century and changed how people learned of events.",
      "Steam-powered presses in the nineteenth century made cheap books and mass literacy "
      "possible.",
  };
  std::string text;
  for (int i = 0; i < 40; ++i) text += std::string(kSentences[i % 6]) + (i % 6 == 5 ? "\n\n" : " ");
  return text;
}

class SummarizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(models_dir() / "smollm2-135m.gguf")) GTEST_SKIP() << "smollm2-135m absent";
    model_.emplace(Model::load((models_dir() / "smollm2-135m.gguf").string()));
    tokenizer_ = &model_->tokenizer();
    session_.emplace(*model_, SessionOptions{.n_ctx = 256, .n_threads = 2});
  }
  SummarizeOptions options() const {
    return {.n_predict = 12, .n_overlap = 16, .chat = choose_chat_template(*model_).tmpl};
  }
  std::optional<Model> model_;
  const Tokenizer* tokenizer_ = nullptr;
  std::optional<Session> session_;
  SamplerChain sampler_{{.temp = 0.0f}};
};

TEST_F(SummarizerTest, ShortTextIsOnePrompt) {
  Summarizer summarizer(*session_, *tokenizer_, sampler_, options());
  const Summary s = summarizer.summarize(
      "The village of Alder sits beside a river. Every spring the farmers plant barley, and "
      "in autumn they hold a market where traders sell wool and honey.");
  EXPECT_EQ(s.n_chunks, 1);
  EXPECT_EQ(s.n_rounds, 1);
  EXPECT_GT(s.n_tokens_out, 0);
  EXPECT_LE(s.n_tokens_out, 12);
  EXPECT_FALSE(s.text.empty());
}

TEST_F(SummarizerTest, LongTextIsChunkedAndSummarizedAgain) {
  Summarizer summarizer(*session_, *tokenizer_, sampler_, options());
  const std::string text = long_text();
  const Summary s = summarizer.summarize(text);
  const size_t n_tokens = tokenizer_->tokenize(text, {.add_bos = false, .add_eos = false}).size();
  EXPECT_EQ(s.n_tokens_in, static_cast<int64_t>(n_tokens));
  const size_t n_chunks = chunk_ranges(n_tokens, summarizer.chunk_capacity(), 16).size();
  ASSERT_GT(n_chunks, 2u);
  EXPECT_EQ(s.n_rounds, 2);  // the partial summaries (12 tokens each) fit in one prompt
  EXPECT_EQ(s.n_chunks, static_cast<int32_t>(n_chunks) + 1);
  EXPECT_FALSE(s.text.empty());
}

// Five documents (a long one chunked over two rounds, an empty one) through three slots:
// each gets the summary and statistics the one-at-a-time summarizer gives it.
TEST_F(SummarizerTest, ParallelGivesWhatOneAtATimeGives) {
  const std::vector<std::string> texts = {
      "The village of Alder sits beside a river. Every spring the farmers plant barley.",
      long_text(),
      "",
      "The meeting moved to Friday at noon because the hall was booked on Thursday.",
      "Bees collect nectar from flowers and turn it into honey inside the hive.",
  };
  Summarizer one_at_a_time(*session_, *tokenizer_, sampler_, options());
  Session slots(*model_, {.n_ctx = 256, .n_threads = 2, .n_seq = 3});
  ParallelSummarizer parallel(slots, *tokenizer_, {.temp = 0.0f}, options());
  std::vector<std::optional<Summary>> got(texts.size());
  size_t next = 0;
  while (next < texts.size() || !parallel.idle()) {
    while (next < texts.size() && parallel.wants_document()) {
      parallel.add(next, texts[next]);
      ++next;
    }
    for (ParallelSummarizer::Finished& f : parallel.step()) {
      ASSERT_FALSE(got[f.id]) << "document " << f.id << " finished twice";
      got[f.id] = std::move(f.summary);
    }
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE("document " + std::to_string(i));
    const Summary want = one_at_a_time.summarize(texts[i]);
    ASSERT_TRUE(got[i]);
    EXPECT_EQ(got[i]->text, want.text);
    EXPECT_EQ(got[i]->n_tokens_in, want.n_tokens_in);
    EXPECT_EQ(got[i]->n_tokens_out, want.n_tokens_out);
    EXPECT_EQ(got[i]->n_chunks, want.n_chunks);
    EXPECT_EQ(got[i]->n_rounds, want.n_rounds);
  }
  EXPECT_EQ(got[1]->n_rounds, 2);
}

// An empty document needs no prompt: the next step returns it at once, before the other
// documents' prompts have decoded anything.
TEST_F(SummarizerTest, ParallelReturnsAnEmptyDocumentBeforeAnyStep) {
  Session slots(*model_, {.n_ctx = 256, .n_threads = 2, .n_seq = 2});
  ParallelSummarizer parallel(slots, *tokenizer_, {.temp = 0.0f}, options());
  parallel.add(0, "The meeting moved to Friday at noon because the hall was booked.");
  parallel.add(1, "");
  const std::vector<ParallelSummarizer::Finished> first = parallel.step();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, 1u);
  EXPECT_TRUE(first[0].summary.text.empty());
  for (int seq = 0; seq < slots.n_seq(); ++seq) EXPECT_EQ(slots.n_past(seq), 0) << seq;
  std::vector<ParallelSummarizer::Finished> rest;
  for (int step = 0; !parallel.idle() && step < 400; ++step) {
    for (auto& f : parallel.step()) rest.push_back(std::move(f));
  }
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, 0u);
}

// A grammar constrains the final summary only: a long text's chunk summaries stay free
// text (they are summarized again), the answer is the grammar's; serial and parallel agree.
TEST_F(SummarizerTest, GrammarShapesTheFinalSummaryOnly) {
  SummarizeOptions o = options();
  o.grammar = R"(root ::= "{\"mood\": \"" ("calm" | "busy") "\"}")";
  Summarizer summarizer(*session_, *tokenizer_, sampler_, o);
  const Summary s = summarizer.summarize(long_text());
  EXPECT_EQ(s.n_rounds, 2);
  EXPECT_TRUE(s.text == R"({"mood": "calm"})" || s.text == R"({"mood": "busy"})") << s.text;
  Session parallel_session(*model_, SessionOptions{.n_ctx = 256, .n_threads = 2, .n_seq = 2});
  ParallelSummarizer parallel(parallel_session, *tokenizer_, {.temp = 0.0f}, o);
  parallel.add(0, long_text());
  std::vector<ParallelSummarizer::Finished> done;
  for (int step = 0; !parallel.idle() && step < 400; ++step) {
    for (auto& f : parallel.step()) done.push_back(std::move(f));
  }
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].summary.text, s.text);
  EXPECT_EQ(done[0].summary.n_chunks, s.n_chunks);
}

TEST_F(SummarizerTest, EmptyTextNeedsNoPrompt) {
  Summarizer summarizer(*session_, *tokenizer_, sampler_, options());
  const Summary s = summarizer.summarize("");
  EXPECT_EQ(s.n_chunks, 0);
  EXPECT_TRUE(s.text.empty());
}

TEST_F(SummarizerTest, ContextTooSmallIsNamed) {
  SummarizeOptions o = options();
  o.n_predict = 240;
  try {
    Summarizer summarizer(*session_, *tokenizer_, sampler_, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use a larger context or fewer summary tokens"),
              std::string::npos)
        << e.what();
  }
}

// --- the CLI ---

fs::path temp_dir() {
  static const tern::testing::ScratchDir dir("tern_summarize");
  static const bool made_docs = fs::create_directories(dir.path() / "docs");
  (void)made_docs;
  return dir.path();
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string path_of(const std::string& json_line) {
  const size_t at = json_line.find("\"path\":\"") + 8;
  return json_line.substr(at, json_line.find('"', at) - at);
}

int run_shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SummarizeCli, KilledMidwayThenResumedWritesTenLines) {
  if (!fs::exists(models_dir() / "smollm2-135m.gguf")) GTEST_SKIP() << "smollm2-135m absent";
  const fs::path docs = temp_dir() / "docs";
  for (int i = 0; i < 9; ++i) {
    std::ofstream(docs / fmt::format("doc{}.txt", i)) << fmt::format(
        "Village number {} sits beside a river and holds a market each autumn.\n", i);
  }
  std::ofstream(docs / "doc9_long.txt") << long_text();
  const fs::path out = temp_dir() / "results.jsonl";
  const std::string cmd =
      fmt::format("{} summarize -m smollm2-135m '{}' -c 256 -n 8 -t 2 --out '{}'", TERN_CLI_PATH,
                  docs.string(), out.string());

  // First run: killed (SIGKILL, no chance to clean up) once two documents are written.
  const fs::path pid_file = temp_dir() / "pid";
  ASSERT_EQ(run_shell(fmt::format("{} 2>/dev/null & echo $! > '{}'", cmd, pid_file.string())), 0);
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (read_lines(out).size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<std::string> first = read_lines(out);
  ASSERT_GE(first.size(), 2u);
  ASSERT_LT(first.size(), 10u) << "finished before the kill";
  std::ofstream(out, std::ios::app) << "{\"index\":8,\"path\":\"" << (docs / "doc8.txt").string()
                                    << "\",\"summ";  // a line cut mid-write

  // Second run: completes the rest and leaves the first lines as they were.
  const fs::path log = temp_dir() / "resume.log";
  ASSERT_EQ(run_shell(fmt::format("{} 2>'{}'", cmd, log.string())), 0);
  const std::vector<std::string> all = read_lines(out);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), all.begin()));
  std::set<std::string> paths;
  for (const std::string& line : all) {
    paths.insert(path_of(line));
    for (const char* key : {"\"summary\":", "\"tokens_in\":", "\"tokens_out\":", "\"seconds\":"}) {
      EXPECT_NE(line.find(key), std::string::npos) << key << " in " << line;
    }
  }
  EXPECT_EQ(paths.size(), 10u);
  std::ifstream log_in(log);
  const std::string log_text((std::istreambuf_iterator<char>(log_in)),
                             std::istreambuf_iterator<char>());
  EXPECT_NE(log_text.find(fmt::format("{} documents already in", first.size())), std::string::npos)
      << log_text;
  for (const std::string& line : all) {
    if (path_of(line).ends_with("doc9_long.txt")) {
      EXPECT_EQ(line.find("\"chunks\":1,"), std::string::npos) << line;  // it was chunked
      EXPECT_NE(line.find("\"rounds\":2"), std::string::npos) << line;
    }
  }

  // Third run: nothing left to do, nothing written.
  ASSERT_EQ(run_shell(cmd + " 2>/dev/null"), 0);
  EXPECT_EQ(read_lines(out).size(), 10u);
}

// A record without its "seconds" (the one field that differs between runs).
std::string without_seconds(const std::string& line) {
  const size_t at = line.find(",\"seconds\":");
  return at == std::string::npos ? line : line.substr(0, at);
}

// Eight documents four at a time (-np 4: the llama.cpp spelling) give, greedy, the lines one
// at a time gives, in input order.
TEST(SummarizeCli, ParallelWritesWhatOneAtATimeWrites) {
  if (!fs::exists(models_dir() / "smollm2-135m.gguf")) GTEST_SKIP() << "smollm2-135m absent";
  const char* kTexts[] = {
      "The town council met on Tuesday to discuss the new bridge over the river. Engineers "
      "said the old bridge is unsafe for heavy trucks.",
      "Honeybees live in colonies of tens of thousands. A single queen lays the eggs, while "
      "workers gather nectar and build wax combs.",
      "The library will close for renovation from March to June. A small branch in the school "
      "gym will lend books meanwhile.",
      "Marie Curie was the first person to win two Nobel prizes, in physics and in chemistry.",
      "A storm is expected on the coast on Friday night. Schools will stay closed on Saturday "
      "and the ferries are cancelled.",
      "The company reported higher profits this quarter thanks to strong sales of its new phone.",
      "Volcanoes form where molten rock rises through cracks in the crust of the Earth.",
      "The football club signed a young striker from Brazil for a record fee.",
  };
  const fs::path docs = temp_dir() / "parallel_docs";
  fs::create_directories(docs);
  for (size_t i = 0; i < std::size(kTexts); ++i) {
    std::ofstream(docs / fmt::format("doc{}.txt", i)) << kTexts[i] << "\n";
  }
  std::vector<std::vector<std::string>> runs;
  for (const char* parallel :
       {"--parallel 1", "-np 4", "-np 4 --spec ngram", "--parallel 1 -md smollm2-135m"}) {
    const fs::path out = temp_dir() / "parallel_out.jsonl";
    fs::remove(out);
    ASSERT_EQ(run_shell(fmt::format("{} summarize -m smollm2-135m '{}' -c 256 -n 40 -t 2 {} "
                                    "--out '{}' 2>/dev/null",
                                    TERN_CLI_PATH, docs.string(), parallel, out.string())),
              0)
        << parallel;
    runs.push_back(read_lines(out));
  }
  for (const auto& run : runs) ASSERT_EQ(run.size(), std::size(kTexts));
  int64_t accepted = 0;
  for (size_t i = 0; i < std::size(kTexts); ++i) {
    EXPECT_TRUE(runs[1][i].starts_with(fmt::format("{{\"index\":{},", i))) << runs[1][i];
    EXPECT_EQ(without_seconds(runs[1][i]), without_seconds(runs[0][i]));
    // Speculative decoding: the same summaries, with the drafts counted.
    for (size_t r : {2, 3}) {
      const auto record = nlohmann::json::parse(runs[r][i]);
      EXPECT_EQ(record["summary"], nlohmann::json::parse(runs[0][i])["summary"]) << r;
      accepted += record.value("accepted", int64_t{0});
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(SummarizeCli, JsonSchemaRecordsCarryTheParsedObject) {
  if (!fs::exists(models_dir() / "smollm2-135m.gguf")) GTEST_SKIP() << "smollm2-135m absent";
  const fs::path schema = temp_dir() / "schema.json";
  std::ofstream(schema) << R"({"type": "object", "properties": {"sentiment": {"enum": )"
                           R"(["positive", "negative", "neutral"]}}, "required": ["sentiment"]})";
  const fs::path list = temp_dir() / "schema_list.jsonl";
  std::ofstream(list) << "{\"path\": \"a\", \"text\": \"We won the cup! Best day ever.\"}\n"
                      << "{\"path\": \"b\", \"text\": \"The ferry is cancelled again.\"}\n";
  const fs::path out = temp_dir() / "schema_out.jsonl";
  fs::remove(out);
  ASSERT_EQ(run_shell(fmt::format("{} summarize -m smollm2-135m --input '{}' -c 256 -n 24 -t 2 "
                                  "--json-schema '{}' --out '{}' 2>/dev/null",
                                  TERN_CLI_PATH, list.string(), schema.string(), out.string())),
            0);
  const std::vector<std::string> lines = read_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    const nlohmann::json record = nlohmann::json::parse(line);
    ASSERT_TRUE(record["summary"].is_object()) << line;
    const std::string sentiment = record["summary"]["sentiment"];
    EXPECT_TRUE(sentiment == "positive" || sentiment == "negative" || sentiment == "neutral");
  }
  // A schema tern cannot use is a one-line error before any model is loaded.
  std::ofstream(schema) << R"({"type": "string", "format": "date"})";
  EXPECT_NE(run_shell(fmt::format("{} summarize -m no-such-model --input '{}' --json-schema '{}' "
                                  "2>/dev/null",
                                  TERN_CLI_PATH, list.string(), schema.string())),
            0);
}

TEST(SummarizeCli, InputListWithInlineText) {
  if (!fs::exists(models_dir() / "smollm2-135m.gguf")) GTEST_SKIP() << "smollm2-135m absent";
  const fs::path list = temp_dir() / "list.jsonl";
  std::ofstream(list)
      << "{\"path\": \"note-1\", \"text\": \"The meeting moved to Friday at noon.\"}\n";
  const fs::path out = temp_dir() / "list_out.jsonl";
  ASSERT_EQ(run_shell(fmt::format("{} summarize -m smollm2-135m --input '{}' -c 256 -n 6 -t 2 "
                                  "--out '{}' 2>/dev/null",
                                  TERN_CLI_PATH, list.string(), out.string())),
            0);
  const std::vector<std::string> lines = read_lines(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(path_of(lines[0]), "note-1");
}

TEST(SummarizeCli, ErrorsAreOneLineWithExitCodes) {
  const fs::path err = temp_dir() / "err.txt";
  const auto run = [&](const std::string& args) {
    const int code = run_shell(
        fmt::format("{} summarize {} 2>'{}' >/dev/null", TERN_CLI_PATH, args, err.string()));
    std::ifstream in(err);
    return std::pair(
        code, std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  };
  auto [code, text] = run("-m smollm2-135m /nonexistent/doc.txt");
  EXPECT_EQ(code, 1);
  EXPECT_EQ(text, "tern: error: /nonexistent/doc.txt: no such file\n");
  const fs::path bad_list = temp_dir() / "bad.jsonl";
  std::ofstream(bad_list) << "{\"path\": \"a\", \"text\": \"b\"}\nnot json\n";
  std::tie(code, text) = run(fmt::format("-m smollm2-135m --input '{}'", bad_list.string()));
  EXPECT_EQ(code, 1);
  EXPECT_NE(text.find("bad.jsonl:2: expected"), std::string::npos) << text;
  std::tie(code, text) = run("-m smollm2-135m");
  EXPECT_EQ(code, 1);
  EXPECT_NE(text.find("no documents"), std::string::npos) << text;
  std::tie(code, text) = run("-m smollm2-135m x.txt -n 0");
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace tern::summarize
