// Generation under JSON schemas on SmolLM2: greedy and seeded sampling, five schemas
// (an object, an array, an enum, nested objects, numbers). Every output must end at
// end-of-generation, parse as JSON and satisfy its schema: checked here by hand, and by
// the `jsonschema` package from PyPI when python3 has it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/generate.h"
#include "tern/grammar.h"
#include "tern/model_path.h"

namespace tern {
namespace {

using nlohmann::json;

struct SchemaCase {
  const char* name;
  const char* question;
  const char* schema;
  std::function<bool(const json&)> valid;  // the schema's constraints, checked by hand
};

bool is_short_string(const json& v, size_t max) {
  return v.is_string() && v.get<std::string>().size() <= 4 * max;  // bytes vs characters
}

const std::vector<SchemaCase>& cases() {
  static const std::vector<SchemaCase> all = {
      {"object", "Describe a cat as JSON with its name and age.",
       R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 16},
           "age": {"type": "integer"}}, "required": ["name", "age"]})",
       [](const json& v) {
         return v.is_object() && v.size() == 2 && is_short_string(v["name"], 16) &&
                v["age"].is_number_integer();
       }},
      {"array", "Give the first few prime numbers as a JSON array.",
       R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4})",
       [](const json& v) {
         if (!v.is_array() || v.size() < 2 || v.size() > 4) return false;
         for (const json& x : v) {
           if (!x.is_number_integer()) return false;
         }
         return true;
       }},
      {"enum", "What colour is the sky? Answer with one word.",
       R"({"enum": ["red", "green", "blue"]})",
       [](const json& v) { return v == "red" || v == "green" || v == "blue"; }},
      {"nested", "Describe a pet and its owner as JSON.",
       R"({"type": "object", "properties": {
           "pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]},
                   "legs": {"type": "integer"}}, "required": ["kind", "legs"]},
           "owner": {"type": "string", "maxLength": 12}}, "required": ["pet", "owner"]})",
       [](const json& v) {
         return v.is_object() && v.size() == 2 && v["pet"].is_object() && v["pet"].size() == 2 &&
                (v["pet"]["kind"] == "cat" || v["pet"]["kind"] == "dog") &&
                v["pet"]["legs"].is_number_integer() && is_short_string(v["owner"], 12);
       }},
      {"numbers", "Give the price and quantity of apples in a shop as JSON.",
       R"({"type": "object", "properties": {"price": {"type": "number"},
           "quantity": {"type": "integer"}}, "required": ["price", "quantity"]})",
       [](const json& v) {
         return v.is_object() && v.size() == 2 && v["price"].is_number() &&
                v["quantity"].is_number_integer();
       }},
  };
  return all;
}

bool have_python_jsonschema() {
  static const bool have = std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") == 0;
  return have;
}

// Validates every text against `schema` with python's jsonschema; "" when all pass.
std::string jsonschema_errors(const char* schema, const std::vector<std::string>& texts) {
  static const testing::ScratchDir dir("tern_grammar_generate");
  const std::string input = (dir.path() / "outputs.json").string();
  const std::string report = (dir.path() / "report.txt").string();
  std::ofstream(input) << json{{"schema", json::parse(schema)}, {"texts", texts}}.dump();
  const std::string script =
      "import json, jsonschema, sys\n"
      "d = json.load(open(sys.argv[1]))\n"
      "for t in d['texts']:\n"
      "    try: jsonschema.validate(json.loads(t), d['schema'])\n"
      "    except Exception as e: print(repr(t), str(e).splitlines()[0])\n";
  std::ofstream(dir.path() / "check.py") << script;
  std::system(
      ("python3 " + (dir.path() / "check.py").string() + " " + input + " >" + report + " 2>&1")
          .c_str());
  std::ifstream in(report);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SchemaGeneration : public ::testing::TestWithParam<size_t> {
 protected:
  static void SetUpTestSuite() {
    model_ = new Model(Model::load(resolve_model_path("smollm2-135m")));
  }
  static void TearDownTestSuite() { delete model_; }

  // One reply under the case's schema; fails the test unless it is valid.
  std::string generate_and_check(const SchemaCase& c, const SamplingParams& base) {
    SamplingParams params = base;
    params.grammar = json_schema_to_grammar(c.schema);
    const Tokenizer& tokenizer = model_->tokenizer();
    SamplerChain sampler(params, tokenizer);
    Session session(*model_, {.n_ctx = 256, .n_threads = 2});
    const std::string prompt =
        std::string("<|im_start|>user\n") + c.question + "<|im_end|>\n<|im_start|>assistant\n";
    const GenerateResult r = generate(
        session, tokenizer, sampler,
        tokenizer.tokenize(prompt, {.add_eos = false, .parse_special = true}), {.n_predict = 96});
    SCOPED_TRACE(std::string(c.name) + " (seed " + std::to_string(base.seed) + "): " + r.text);
    EXPECT_EQ(r.stop, StopReason::EndOfGeneration);
    const json value = json::parse(r.text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON";
    EXPECT_TRUE(!value.is_discarded() && c.valid(value));
    return r.text;
  }

  static void check_with_jsonschema(const SchemaCase& c, const std::vector<std::string>& texts) {
    if (have_python_jsonschema()) {
      EXPECT_EQ(jsonschema_errors(c.schema, texts), "") << c.name;
    }
  }

  static Model* model_;
};
Model* SchemaGeneration::model_ = nullptr;

TEST_P(SchemaGeneration, GreedyOutputSatisfiesTheSchema) {
  const SchemaCase& c = cases()[GetParam()];
  check_with_jsonschema(c, {generate_and_check(c, {.temp = 0.0f})});
}

TEST_P(SchemaGeneration, SampledOutputsSatisfyTheSchema) {
  const SchemaCase& c = cases()[GetParam()];
  std::vector<std::string> texts;
  for (uint32_t seed : {1u, 2u, 3u}) texts.push_back(generate_and_check(c, {.seed = seed}));
  check_with_jsonschema(c, texts);
}

TEST_F(SchemaGeneration, TheGrammarsEndStopsEvenWithIgnoreEos) {
  const Tokenizer& tokenizer = model_->tokenizer();
  SamplerChain sampler({.temp = 0.0f, .grammar = R"(root ::= " yes" | " no")"}, tokenizer);
  Session session(*model_, {.n_ctx = 64, .n_threads = 2});
  const GenerateResult r = generate(session, tokenizer, sampler,
                                    tokenizer.tokenize("Is water wet? Answer:", {.add_eos = false}),
                                    {.n_predict = 16, .ignore_eos = true});
  EXPECT_EQ(r.stop, StopReason::EndOfGeneration);
  EXPECT_TRUE(r.text == " yes" || r.text == " no") << r.text;
}

INSTANTIATE_TEST_SUITE_P(Schemas, SchemaGeneration, ::testing::Range<size_t>(0, 5),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return std::string(cases()[param.param].name);
                         });

}  // namespace
}  // namespace tern
