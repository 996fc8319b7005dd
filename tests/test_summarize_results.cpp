// `tern summarize --out`: the results file is tern's alone. A file tern did not write is never
// appended to or cut; special files are refused or streamed (no hang, no endless read); a
// write that fails (here: RLIMIT_FSIZE) fails the command and a re-run loses nothing; each
// input document (index + path, file names that are not UTF-8 included) ends with exactly
// one line. The golden llama-f32 model (random weights) keeps each run to milliseconds.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_support.h"
#include "scratch_dir.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";

fs::path scratch() {
  static const testing::ScratchDir dir("tern_summarize_results");
  return dir.path();
}

// A folder of `n` small documents; returns its path.
fs::path make_docs(const std::string& name, int n) {
  const fs::path dir = scratch() / name;
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    testing::write_file(dir / fmt::format("doc{}.txt", i),
                        fmt::format("Village {} holds a market each autumn by the river.\n", i));
  }
  return dir;
}

std::string summarize_args(const std::string& inputs, const std::string& out) {
  return fmt::format("summarize -m {} {} -c 256 -n 4 -t 1 --out '{}'", kModel, inputs, out);
}

testing::CliResult summarize(const std::string& inputs, const std::string& out) {
  return testing::run_cli(scratch(), summarize_args(inputs, out));
}

std::vector<nlohmann::json> records(const std::string& text) {
  std::vector<nlohmann::json> out;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  }
  EXPECT_EQ(start, text.size()) << "a cut last line";
  return out;
}

// Exactly one line per document index 0..n-1, each a summary.
void expect_one_summary_each(const fs::path& results, size_t n) {
  std::map<size_t, int> count;
  for (const nlohmann::json& r : records(testing::read_file(results))) {
    EXPECT_TRUE(r.contains("summary")) << r.dump();
    ++count[r["index"].get<size_t>()];
  }
  EXPECT_EQ(count.size(), n);
  for (const auto& [index, c] : count) EXPECT_EQ(c, 1) << "document " << index;
}

TEST(SummarizeResults, NeverAppendsToOrCutsAFileTernDidNotWrite) {
  const fs::path docs = make_docs("refuse", 2);
  for (const std::string& content :
       {std::string("my notes\nan unterminated last line"), testing::read_file(kModel),
        std::string("{\"index\":0,\"path\":\"x\",\"summary\":\"s\"}\nnot a record\n{\"ind")}) {
    const fs::path out = scratch() / "notes.txt";
    testing::write_file(out, content);
    const testing::CliResult r = summarize(docs.string(), out.string());
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("refusing to append to a file tern did not write"), std::string::npos)
        << r.err;
    EXPECT_TRUE(testing::read_file(out) == content) << "the file was changed";
  }
}

TEST(SummarizeResults, SpecialFilesAreRefusedOrStreamed) {
  const fs::path docs = make_docs("special", 3);
  const fs::path fifo = scratch() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& out : {std::string("/dev/zero"), fifo.string(), docs.string()}) {
    const testing::CliResult r = summarize(docs.string(), out);  // no hang
    EXPECT_EQ(r.code, 1) << out;
    EXPECT_EQ(r.err, fmt::format("tern: error: {}: not a regular file (--out takes a file, or - "
                                 "for standard output)\n",
                                 out));
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  const testing::CliResult full =
      testing::run_cli(scratch(), summarize_args(docs.string(), "-"), "/dev/full");
  EXPECT_EQ(full.code, 1);
  EXPECT_EQ(full.err, "tern: error: <stdout>: No space left on device\n");
  for (const char* out : {"-", "/dev/stdout"}) {  // a stream, through a pipe too
    const fs::path got = scratch() / "streamed.jsonl";
    const std::string cmd = fmt::format("{} {} 2>/dev/null | cat > '{}'", TERN_CLI_PATH,
                                        summarize_args(docs.string(), out), got.string());
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    expect_one_summary_each(got, 3);
  }
}

TEST(SummarizeResults, AFailedWriteFailsTheRunAndTheRerunLosesNothing) {
  const fs::path docs = make_docs("full", 8);  // ~150 bytes a line: past 512 bytes midway
  const fs::path out = scratch() / "full.jsonl";
  // A file size limit stands in for a full disk: writes past 512 bytes fail with EFBIG.
  const std::string limited = fmt::format(
      "sh -c \"trap '' XFSZ; ulimit -f 1; exec {} summarize -m {} '{}' -c 256 -n 4 -t 1 --out "
      "'{}'\" 2>'{}'",
      TERN_CLI_PATH, kModel, docs.string(), out.string(), (scratch() / "err").string());
  ASSERT_EQ(WEXITSTATUS(std::system(limited.c_str())), 1);
  EXPECT_EQ(testing::read_file(scratch() / "err")
                    .find(fmt::format("tern: error: {}: File too large\n", out.string())) !=
                std::string::npos,
            true)
      << testing::read_file(scratch() / "err");
  EXPECT_NE(testing::read_file(out).back(), '\n');  // the limit cut a line
  const testing::CliResult r = summarize(docs.string(), out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  expect_one_summary_each(out, 8);
}

TEST(SummarizeResults, EachDocumentEndsWithOneLineWhateverItsName) {
  const fs::path docs = make_docs("names", 2);
  testing::write_file(docs / "caf\xe9.txt", "A text under a Latin-1 name.\n");  // not UTF-8
  const std::string escaped = (docs / "caf\\xe9.txt").string();  // as records write it
  const std::string dup = (docs / "doc0.txt").string();
  // Documents: 0 caf\xe9.txt, 1 doc0.txt, 2 doc1.txt (the folder, sorted), 3 and 4 doc0.txt.
  const std::string inputs = fmt::format("'{}' '{}' '{}'", docs.string(), dup, dup);
  const fs::path out = scratch() / "names.jsonl";
  // A previous run: document 0 failed, document 3 was summarized, document 4 was cut.
  using Json = nlohmann::ordered_json;
  testing::write_file(out, Json{{"index", 0}, {"path", escaped}, {"error", "boom"}}.dump() + "\n" +
                               Json{{"index", 3}, {"path", dup}, {"summary", "s"}}.dump() + "\n" +
                               "{\"index\":4,\"path\":\"" + dup + "\",\"summ");
  testing::CliResult r = summarize(inputs, out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("1 documents already in"), std::string::npos) << r.err;
  // The run's throughput counts the four documents it summarized (the last line).
  EXPECT_NE(r.err.find("\nsummarize: 4 documents in "), std::string::npos) << r.err;
  EXPECT_TRUE(r.err.ends_with(" per minute\n")) << r.err;
  expect_one_summary_each(out, 5);
  const std::vector<nlohmann::json> lines = records(testing::read_file(out));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["index"], 3);  // kept as it was; the failed one was dropped and redone
  std::map<size_t, std::string> paths;
  for (const nlohmann::json& l : lines) paths[l["index"].get<size_t>()] = l["path"];
  EXPECT_EQ(paths[0], escaped);
  EXPECT_EQ(paths[1], dup);
  EXPECT_EQ(paths[4], dup);
  const std::string finished = testing::read_file(out);
  r = summarize(inputs, out.string());  // nothing left to do
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find(" per minute"), std::string::npos) << r.err;
  EXPECT_TRUE(testing::read_file(out) == finished);
}

}  // namespace
}  // namespace tern
