// gguf::Writer: read-then-write is byte-identical for the files in ../shared/ and the real
// models; files built from scratch read back exactly; bad input is refused by name.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "tern/error.h"

namespace tern::gguf {
namespace {

namespace fs = std::filesystem;

const std::string kShared = TERN_SHARED_DIR;

std::vector<std::string> shared_gguf_files() {
  std::vector<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(kShared)) {
    if (entry.path().extension() == ".gguf") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string models_dir() {
  const char* env = std::getenv("TERN_MODELS");
  if (env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.cache/tern/models";
}

// Streams the writer's output against `original` without holding a copy: counts the bytes
// and remembers the first offset where they differ.
struct StreamComparison {
  uint64_t size = 0;
  uint64_t first_mismatch = UINT64_MAX;
};

StreamComparison compare_stream(const Writer& writer, std::span<const uint8_t> original) {
  StreamComparison result;
  writer.write([&](std::span<const uint8_t> chunk) {
    if (result.first_mismatch == UINT64_MAX) {
      size_t n = result.size < original.size()
                     ? std::min<size_t>(chunk.size(), original.size() - result.size)
                     : 0;
      if (n < chunk.size() || std::memcmp(chunk.data(), original.data() + result.size, n) != 0) {
        for (size_t i = 0; i < chunk.size(); ++i) {
          if (result.size + i >= original.size() || chunk[i] != original[result.size + i]) {
            result.first_mismatch = result.size + i;
            break;
          }
        }
      }
    }
    result.size += chunk.size();
  });
  return result;
}

void expect_round_trip(const std::string& path) {
  File file = File::open(path);
  StreamComparison cmp = compare_stream(Writer::copy_of(file), file.bytes());
  EXPECT_EQ(cmp.size, file.bytes().size()) << path;
  EXPECT_EQ(cmp.first_mismatch, UINT64_MAX) << path << ": first differing byte";
}

TEST(GgufWriter, RoundTripsEverySharedFileByteForByte) {
  auto paths = shared_gguf_files();
  ASSERT_GE(paths.size(), 7u) << "expected the golden models and tokenizer vocabularies";
  for (const auto& path : paths) expect_round_trip(path);
}

TEST(GgufWriter, StreamComparisonFindsADifferingByte) {
  File file = File::open(kShared + "/golden/llama-q4_k_m/model.gguf");
  std::vector<uint8_t> altered(file.bytes().begin(), file.bytes().end());
  altered[700001] ^= 1;
  EXPECT_EQ(compare_stream(Writer::copy_of(file), altered).first_mismatch, 700001u);
  altered.pop_back();
  EXPECT_EQ(compare_stream(Writer::copy_of(file), altered).first_mismatch, 700001u);
}

TEST(GgufWriter, RoundTripsRealModelsByteForByte) {
  for (const char* name : {"smollm2-135m", "gemma3-270m"}) {
    std::string path = models_dir() + "/" + name + ".gguf";
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present (scripts/pull " << name << ")";
    auto start = std::chrono::steady_clock::now();
    expect_round_trip(path);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 10.0) << name;
    std::printf("[          ] %s: round trip streamed in %.2f s\n", name, seconds);
  }
}

TEST(GgufWriter, StreamsWholeFileToDiskIdentically) {
  std::string path = kShared + "/golden/qwen2-q4_0/model.gguf";
  File file = File::open(path);
  fs::path out = fs::temp_directory_path() / fmt::format("tern-writer-{}.gguf", ::getpid());
  Writer::copy_of(file).write_file(out.string());
  std::ifstream in(out, std::ios::binary);
  std::vector<uint8_t> written((std::istreambuf_iterator<char>(in)), {});
  fs::remove(out);
  ASSERT_EQ(written.size(), file.bytes().size());
  EXPECT_TRUE(std::equal(written.begin(), written.end(), file.bytes().begin()));
}

// Every value type, nested arrays, a custom alignment, span and callback tensors.
Writer sample_writer(const std::vector<uint8_t>& q8_data, std::vector<float>& f32_data) {
  Writer w;
  w.add("general.alignment", {uint32_t{64}});
  w.add("u8", {uint8_t{200}});
  w.add("i8", {int8_t{-100}});
  w.add("u16", {uint16_t{60000}});
  w.add("i16", {int16_t{-30000}});
  w.add("u32", {uint32_t{4000000000u}});
  w.add("i32", {int32_t{-2000000000}});
  w.add("f32", {1.5f});
  w.add("bool", {true});
  w.add("string", {std::string_view("héllo\nworld")});
  w.add("u64", {uint64_t{1} << 63});
  w.add("i64", {int64_t{-(int64_t{1} << 62)}});
  w.add("f64", {-0.25});
  std::string temporary = "strings are copied";
  w.add("strings",
        {Array{ValueType::String, {{std::string_view(temporary)}, {std::string_view()}}}});
  temporary.assign(temporary.size(), 'x');
  Array inner{ValueType::I32, {{int32_t{1}}, {int32_t{2}}}};
  w.add("nested", {Array{ValueType::Array, {{inner}, {Array{ValueType::I32, {}}}}}});
  w.add("empty", {Array{ValueType::F32, {}}});
  const int64_t q8_shape[] = {64, 3};
  w.add_tensor("q8", TensorType::Q8_0, q8_shape, q8_data);
  const int64_t f32_shape[] = {5, 2, 1, 3};
  w.add_tensor("f32.weight", TensorType::F32, f32_shape, [&f32_data](const ByteSink& sink) {
    auto bytes = std::as_bytes(std::span(f32_data));
    for (size_t i = 0; i < bytes.size(); i += 7) {  // odd chunks, as a streaming quantizer would
      auto chunk = bytes.subspan(i, std::min<size_t>(7, bytes.size() - i));
      sink({reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()});
    }
  });
  return w;
}

TEST(GgufWriter, BuiltFileReadsBackExactly) {
  std::vector<uint8_t> q8(6 * 34);
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
  std::vector<float> f32(30);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::vector<uint8_t> bytes = sample_writer(q8, f32).to_bytes();
  File file = File::parse(bytes, "built");

  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  ASSERT_EQ(file.metadata().size(), 16u);
  EXPECT_EQ(file.metadata()[1].key, "u8");  // file order is call order
  EXPECT_EQ(file.get_int("u8"), 200);
  EXPECT_EQ(file.get_int("i8"), -100);
  EXPECT_EQ(file.get_int("u16"), 60000);
  EXPECT_EQ(file.get_int("i16"), -30000);
  EXPECT_EQ(file.get_int("u32"), 4000000000);
  EXPECT_EQ(file.get_int("i32"), -2000000000);
  EXPECT_EQ(file.get_float("f32"), 1.5);
  EXPECT_TRUE(file.get_bool("bool"));
  EXPECT_EQ(file.get_string("string"), "héllo\nworld");
  EXPECT_EQ(std::get<uint64_t>(file.find("u64")->storage), uint64_t{1} << 63);
  EXPECT_EQ(file.get_int("i64"), -(int64_t{1} << 62));
  EXPECT_EQ(file.get_float("f64"), -0.25);
  const Array& strings = file.get_array("strings", ValueType::String);
  ASSERT_EQ(strings.items.size(), 2u);
  EXPECT_EQ(strings.items[0].as_string(), "strings are copied");
  EXPECT_EQ(strings.items[1].as_string(), "");
  const Array& nested = file.get_array("nested", ValueType::Array);
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.items[0].as_array().items[1].as_int(), 2);
  EXPECT_TRUE(nested.items[1].as_array().items.empty());
  EXPECT_EQ(file.get_array("empty", ValueType::F32).items.size(), 0u);

  ASSERT_EQ(file.tensors().size(), 2u);
  const TensorInfo& a = file.tensors()[0];
  EXPECT_EQ(a.name, "q8");
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(a.n_dims, 2);
  EXPECT_EQ(a.ne[1], 3);
  ASSERT_EQ(a.n_bytes, q8.size());
  EXPECT_EQ(std::memcmp(a.data, q8.data(), q8.size()), 0);
  const TensorInfo& b = file.tensors()[1];
  EXPECT_EQ(b.offset, 256u);  // 204 bytes of q8 padded to the 64-byte alignment
  EXPECT_EQ(b.n_dims, 4);
  EXPECT_EQ(b.ne[3], 3);
  ASSERT_EQ(b.n_bytes, f32.size() * 4);
  EXPECT_EQ(std::memcmp(b.data, f32.data(), b.n_bytes), 0);
  EXPECT_EQ(bytes.size(), file.data_offset() + 256 + 128);  // last tensor padded too
}

TEST(GgufWriter, FileWithoutTensorsEndsAfterMetadata) {
  Writer w;
  w.add("general.architecture", {std::string_view("llama")});
  std::vector<uint8_t> bytes = w.to_bytes();
  // magic, version, counts, key (8 + 20), type, value (8 + 5)
  EXPECT_EQ(bytes.size(), 4 + 4 + 8 + 8 + 28 + 4 + 13u);
  EXPECT_EQ(File::parse(bytes, "vocab").get_string("general.architecture"), "llama");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GgufWriter, RefusesInvalidInputByName) {
  Writer w;
  w.add("a", {uint8_t{1}});
  EXPECT_NE(error_of([&] { w.add("a", {uint8_t{2}}); }).find("duplicate metadata key 'a'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.add("", {uint8_t{2}}); }).find("key length 0"), std::string::npos);
  for (uint32_t a : {0u, 3u, 1u << 30}) {
    EXPECT_NE(error_of([&] { w.add("general.alignment", {a}); }).find("power of two"),
              std::string::npos);
  }
  EXPECT_NE(error_of([&] { w.add("general.alignment", {uint64_t{32}}); }).find("got u64 32"),
            std::string::npos);
  Array mixed{ValueType::U8, {{uint8_t{1}}, {int8_t{1}}}};
  EXPECT_NE(error_of([&] { w.add("m", {mixed}); }).find("'m' holds an array with items of mixed"),
            std::string::npos);

  std::vector<uint8_t> data(34);
  const int64_t shape[] = {32};
  w.add_tensor("t", TensorType::Q8_0, shape, data);
  EXPECT_NE(error_of([&] {
              w.add_tensor("t", TensorType::Q8_0, shape, data);
            }).find("tensor 't' is a duplicate"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor("u", TensorType::Q8_0, shape, std::span(data).first(33));
            }).find("tensor 'u' has 33 data bytes, its shape and type need 34"),
            std::string::npos);
  const int64_t odd[] = {31};
  EXPECT_NE(error_of([&] {
              w.add_tensor("u", TensorType::Q8_0, odd, data);
            }).find("row length 31 is not a multiple of the Q8_0 block size 32"),
            std::string::npos);
  const int64_t zero[] = {32, 0};
  EXPECT_NE(error_of([&] {
              w.add_tensor("u", TensorType::Q8_0, zero, data);
            }).find("invalid dimension 0"),
            std::string::npos);
  const int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 30};
  EXPECT_NE(error_of([&] {
              w.add_tensor("u", TensorType::F32, huge, data);
            }).find("invalid dimension 1073741824"),
            std::string::npos);
  const int64_t five[] = {1, 1, 1, 1, 1};
  EXPECT_NE(
      error_of([&] { w.add_tensor("u", TensorType::F32, five, data); }).find("has 5 dimensions"),
      std::string::npos);
  EXPECT_EQ(File::parse(w.to_bytes(), "still valid").tensors().size(), 1u);
}

TEST(GgufWriter, ShortSourceFailsAndLeavesTargetUntouched) {
  fs::path dir = fs::temp_directory_path() / fmt::format("tern-writer-fail-{}", ::getpid());
  fs::create_directories(dir);
  fs::path target = dir / "model.gguf";
  std::ofstream(target) << "previous";
  Writer w;
  const int64_t shape[] = {8};
  w.add_tensor("short", TensorType::F32, shape, [](const ByteSink& sink) {
    const uint8_t four[4] = {};
    sink(four);
  });
  std::string message = error_of([&] { w.write_file(target.string()); });
  EXPECT_NE(message.find("tensor 'short' source gave 4 bytes, expected 32"), std::string::npos)
      << message;
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "previous");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1)
      << "the temporary file must be removed";
  fs::remove_all(dir);
}

TEST(GgufWriter, UnwritableFolderIsAnError) {
  Writer w;
  EXPECT_NE(error_of([&] { w.write_file("/nonexistent-dir/x.gguf"); }).find("cannot create"),
            std::string::npos);
}

}  // namespace
}  // namespace tern::gguf
