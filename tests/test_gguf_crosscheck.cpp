// gguf::File and `tern inspect --json` against gguf-py's GGUFReader (fixtures written by
// tests/gen_gguf_fixtures.py) for every .gguf in ../shared/ and the two real models.
// Metadata types, scalar values and array counts/ends, and the tensor list (name, type,
// shape, offset, bytes) must agree exactly.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "gguf/file.h"
#include "tern/error.h"
#include "types/type_table.h"

namespace tern::gguf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kShared = TERN_SHARED_DIR;
const std::string kFixtures = std::string(TERN_TEST_DATA_DIR) + "/gguf";

std::string models_dir() {
  const char* env = std::getenv("TERN_MODELS");
  if (env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.cache/tern/models";
}

json load_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open (regenerate with tests/gen_gguf_fixtures.py)");
  return json::parse(in);
}

// One value (scalar or array item) against its JSON rendering by gguf-py.
void expect_value(const Value& v, const json& expected) {
  switch (v.type()) {
    case ValueType::String:
      EXPECT_EQ(v.as_string(), expected.get<std::string>());
      break;
    case ValueType::Bool:
      EXPECT_EQ(v.as_bool(), expected.get<bool>());
      break;
    case ValueType::F32:
    case ValueType::F64:
      EXPECT_EQ(v.as_float(), expected.get<double>());
      break;  // exact
    case ValueType::U64:
      EXPECT_EQ(std::get<uint64_t>(v.storage), expected.get<uint64_t>());
      break;
    case ValueType::Array:
      ADD_FAILURE() << "nested array values are not in the fixtures";
      break;
    default:
      EXPECT_EQ(v.as_int(), expected.get<int64_t>());
      break;
  }
}

void expect_metadata(const File& file, const json& fixture) {
  const json& expected = fixture["metadata"];
  ASSERT_EQ(file.metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const KeyValue& kv = file.metadata()[i];
    const json& e = expected[i];
    SCOPED_TRACE(e["key"].get<std::string>());
    EXPECT_EQ(kv.key, e["key"].get<std::string>());  // same order
    ASSERT_EQ(value_type_name(kv.value.type()), e["type"].get<std::string>());
    if (kv.value.type() != ValueType::Array) {
      expect_value(kv.value, e["value"]);
      continue;
    }
    const Array& a = kv.value.as_array();
    EXPECT_EQ(value_type_name(a.element_type), e["element_type"].get<std::string>());
    ASSERT_EQ(a.items.size(), e["count"].get<size_t>());
    if (e.contains("first")) {
      expect_value(a.items.front(), e["first"]);
      expect_value(a.items.back(), e["last"]);
    }
  }
}

void expect_tensors(const File& file, const json& fixture) {
  const json& expected = fixture["tensors"];
  ASSERT_EQ(file.tensors().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    const json& e = expected[i];
    SCOPED_TRACE(e["name"].get<std::string>());
    EXPECT_EQ(t.name, e["name"].get<std::string>());
    EXPECT_EQ(type_traits(t.type).name, e["type"].get<std::string>());
    EXPECT_EQ(std::vector<int64_t>(t.ne, t.ne + t.n_dims), e["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.offset, e["offset"].get<uint64_t>());
    EXPECT_EQ(t.n_bytes, e["n_bytes"].get<size_t>());
    EXPECT_EQ(t.data, file.bytes().data() + file.data_offset() + t.offset);
  }
}

void expect_matches(const std::string& path, const json& fixture) {
  SCOPED_TRACE(path);
  File file = File::open(path);
  EXPECT_EQ(file.bytes().size(), fixture["size"].get<size_t>());
  EXPECT_EQ(file.version(), fixture["version"].get<uint32_t>());
  EXPECT_EQ(file.alignment(), fixture["alignment"].get<uint32_t>());
  // Without tensors there is no data section: gguf-py places it past the end, tern at it.
  if (!file.tensors().empty()) {
    EXPECT_EQ(file.data_offset(), fixture["data_offset"].get<size_t>());
  }
  expect_metadata(file, fixture);
  expect_tensors(file, fixture);
}

// `tern inspect --json FILE` parsed, or null JSON when the command fails.
json inspect_json(const std::string& path) {
  std::string command = std::string(TERN_CLI_PATH) + " inspect --json --max-items 0 '" + path + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return nullptr;
  std::string out;
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe.get())) > 0;)
    out.append(buffer, n);
  return json::parse(out, nullptr, /*allow_exceptions=*/false);
}

// The done-when of the GGUF reader: `tern inspect` lists the tensors gguf-py lists.
void expect_inspect_matches(const std::string& path, const json& fixture) {
  SCOPED_TRACE("tern inspect " + path);
  json out = inspect_json(path);
  ASSERT_TRUE(out.is_object()) << "tern inspect --json failed or printed invalid JSON";
  const json& tensors = out["tensors"];
  const json& expected = fixture["tensors"];
  ASSERT_EQ(tensors.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(tensors[i]["name"], expected[i]["name"]);
    EXPECT_EQ(tensors[i]["type"], expected[i]["type"]);
    EXPECT_EQ(tensors[i]["shape"], expected[i]["shape"]);
    EXPECT_EQ(tensors[i]["offset"], expected[i]["offset"]);
    EXPECT_EQ(tensors[i]["bytes"], expected[i]["n_bytes"]);
  }
  for (const json& e : fixture["metadata"]) {
    EXPECT_EQ(out["metadata"][e["key"].get<std::string>()]["type"], e["type"]) << e["key"];
  }
}

void check(const std::string& path, const std::string& fixture_name) {
  json fixture = load_json(kFixtures + "/" + fixture_name + ".json");
  expect_matches(path, fixture);
  expect_inspect_matches(path, fixture);
}

TEST(GgufCrosscheck, EverySharedFileMatchesGgufPy) {
  int n_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kShared)) {
    if (entry.path().extension() != ".gguf") continue;
    std::string rel = fs::relative(entry.path(), kShared).replace_extension().generic_string();
    std::replace(rel.begin(), rel.end(), '/', '-');
    check(entry.path().string(), "shared-" + rel);  // a new shared file needs a fixture
    ++n_files;
  }
  EXPECT_GE(n_files, 7);
}

// Fails rather than skips when a model is missing: scripts/test pulls them first.
TEST(GgufCrosscheck, RealModelsMatchGgufPy) {
  for (std::string name : {"smollm2-135m", "gemma3-270m"}) {
    std::string path = models_dir() + "/" + name + ".gguf";
    if (!fs::exists(path)) {
      ADD_FAILURE() << path << " is missing: run scripts/pull " << name;
      continue;
    }
    check(path, "model-" + name);
  }
}

TEST(GgufCrosscheck, DetectsADisagreement) {
  std::string path = kShared + "/golden/qwen3-f32/model.gguf";
  json fixture = load_json(kFixtures + "/shared-golden-qwen3-f32-model.json");
  fixture["tensors"][3]["offset"] = fixture["tensors"][3]["offset"].get<uint64_t>() + 32;
  fixture["metadata"][0]["value"] = "not-qwen3";
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    expect_matches(path, fixture);
  }
  EXPECT_EQ(failures.size(), 2);
}

}  // namespace
}  // namespace tern::gguf
