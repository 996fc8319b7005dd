// tern run's constraint flags: --grammar, --grammar-file, --json-schema, --json-schema-file
// and -j on SmolLM2, and their errors (one line, exit 1; conflicting flags exit 2).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_support.h"
#include "scratch_dir.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kRun =
    "run -m smollm2-135m -t 2 --temp 0 --json -p 'Describe a dog as JSON with its name.' ";

fs::path scratch() {
  static const testing::ScratchDir dir("tern_grammar_cli");
  return dir.path();
}

// The generated text of a `tern run --json` that must succeed.
std::string generated_text(const std::string& flags) {
  const testing::CliResult r = testing::run_cli(scratch(), kRun + flags);
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out).at("text").get<std::string>();
}

TEST(GrammarCli, GrammarTextAndFile) {
  EXPECT_EQ(generated_text(R"(-n 8 --grammar 'root ::= "woof" [!.]')").substr(0, 4), "woof");
  testing::write_file(scratch() / "yes_no.gbnf", "root ::= (\"yes\" | \"no\") # one word\n");
  const std::string text =
      generated_text("-n 8 --grammar-file " + (scratch() / "yes_no.gbnf").string());
  EXPECT_TRUE(text == "yes" || text == "no") << text;
}

TEST(GrammarCli, JsonSchemaTextFileAndAnyJson) {
  const std::string schema =
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":10}},"required":["name"]})";
  const nlohmann::json dog =
      nlohmann::json::parse(generated_text("-n 48 --json-schema '" + schema + "'"));
  EXPECT_TRUE(dog.at("name").is_string()) << dog.dump();
  testing::write_file(scratch() / "schema.json", schema);
  EXPECT_EQ(nlohmann::json::parse(
                generated_text("-n 48 --json-schema-file " + (scratch() / "schema.json").string())),
            dog);  // greedy: the same object
  const testing::CliResult any =
      testing::run_cli(scratch(),
                       "run -m smollm2-135m -t 2 --temp 0 -n 96 -j -p 'Reply with a JSON list of "
                       "three colour names.'");  // "three colours." ran on in a URL (F16 cache)
  ASSERT_EQ(any.code, 0) << any.err;
  EXPECT_TRUE(nlohmann::json::accept(any.out)) << any.out;
}

TEST(GrammarCli, BadGrammarsAndSchemasAreOneLineErrors) {
  testing::CliResult r = testing::run_cli(scratch(), kRun + "--grammar 'root ::= (\"a\"'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "tern: error: grammar: 1:10: unbalanced '(': no matching ')'\n");
  r = testing::run_cli(scratch(), kRun + R"(--json-schema '{"type":"string","format":"email"}')");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "tern: error: json schema: #: unsupported keyword 'format'\n");
  r = testing::run_cli(scratch(), kRun + "-j --grammar 'root ::= \"a\"'");
  EXPECT_EQ(r.code, 2) << r.err;  // one constraint at a time
}

}  // namespace
}  // namespace tern
