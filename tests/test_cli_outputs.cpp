// Every output of the CLI is checked: a command whose standard output or output file cannot
// be written (here /dev/full: every write fails with ENOSPC) says so in one line and exits 1,
// instead of exiting 0 with nothing written. And `inspect --json` on strings that are not
// UTF-8 escapes them instead of failing.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_support.h"
#include "gguf/writer.h"
#include "scratch_dir.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-f32/model.gguf";
constexpr const char* kStdoutFull = "tern: error: <stdout>: No space left on device\n";

fs::path scratch() {
  static const testing::ScratchDir dir("tern_cli_outputs");
  return dir.path();
}

testing::CliResult tern_to_full(const std::string& args) {
  return testing::run_cli(scratch(), args, "/dev/full");
}

TEST(CliOutputs, EveryCommandFailsWhenStdoutCannotBeWritten) {
  ASSERT_TRUE(fs::exists("/dev/full"));
  const std::string m = "-m " + kModel;
  for (const std::string& args : {
           "inspect " + kModel,
           "inspect --json " + kModel,
           "tokenize -p 'hello world' " + m,
           "detokenize -p '1 2 3' " + m,
           "logits --tokens '1 2 3' --top 2 " + m,
           "run -p hi -n 4 -t 1 " + m,
           "run -p hi -n 4 -t 1 --json " + m,
       }) {
    const testing::CliResult r = tern_to_full(args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_EQ(r.err, kStdoutFull) << args;  // one line, and no timings after it
  }
}

TEST(CliOutputs, OutputFilesThatCannotBeWrittenFailTheCommand) {
  testing::CliResult r =
      tern_to_full("inspect " + kModel + " --tensor output.weight --dump /dev/full");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "tern: error: /dev/full: No space left on device\n");  // no "wrote"
  r = tern_to_full("logits -m " + kModel + " --tokens '1 2 3' -o /dev/full");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "tern: error: /dev/full: No space left on device\n");
  r = tern_to_full("logits -m " + kModel + " --tokens '1 2 3' -o /nonexistent/dir/x.f32");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "tern: error: /nonexistent/dir/x.f32: No such file or directory\n");
}

TEST(CliOutputs, WrittenOutputsStillSucceed) {
  const fs::path dump = scratch() / "dump.f32";
  testing::CliResult r = testing::run_cli(
      scratch(), "inspect " + kModel + " --tensor output.weight --dump " + dump.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fs::file_size(dump), 512u * 128u * sizeof(float));
  r = testing::run_cli(scratch(), "tokenize -m " + kModel + " -p 'hello world'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

// inspect names its model as the other commands do: a path or a name in $TERN_MODELS,
// positional or with -m.
TEST(CliOutputs, InspectTakesAModelNameAndDashM) {
  const fs::path models = scratch() / "models";
  fs::create_directories(models);
  fs::copy_file(kModel, models / "tiny.gguf", fs::copy_options::overwrite_existing);
  const std::string env = "TERN_MODELS='" + models.string() + "'";
  for (const std::string& args : std::vector<std::string>{
           "inspect tiny", "inspect -m tiny", "inspect -m tiny.gguf", "inspect " + kModel}) {
    const testing::CliResult r = testing::run_cli(scratch(), args, "", ".", env);
    EXPECT_EQ(r.code, 0) << args << ": " << r.err;
    EXPECT_NE(r.out.find("GGUF v3"), std::string::npos) << args << ": " << r.out;
  }
  const testing::CliResult missing = testing::run_cli(scratch(), "inspect -m absent", "", ".", env);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("model 'absent' not found"), std::string::npos) << missing.err;
}

TEST(CliOutputs, InspectJsonEscapesStringsThatAreNotUtf8) {
  const fs::path path = scratch() / "latin1.gguf";
  gguf::Writer w;
  w.add("general.architecture", gguf::Value{std::string_view("llama")});
  w.add("general.name", gguf::Value{std::string_view("caf\xe9 \\ \xff")});
  w.add("caf\xe9.key", gguf::Value{uint32_t{7}});
  w.write_file(path.string());
  const testing::CliResult r = testing::run_cli(scratch(), "inspect --json " + path.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(R"("value": "caf\\xe9 \\ \\xff")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("caf\\xe9.key": {)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tern
