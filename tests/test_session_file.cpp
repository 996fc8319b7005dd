// Session::save / Session::load: a loaded session continues bit-identically to the one that
// was saved (F32 and F16 caches, several sequences of different lengths), and every file
// that does not fit (another model, another KV type, a context or sequence count too
// small, a truncated or corrupted file) is refused with the session unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "cli_support.h"
#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

const std::string kGolden = std::string(TERN_SHARED_DIR) + "/golden/";
// The golden token sequence (32 ids < 512).
const std::vector<int32_t> kTokens = {1,   436, 94,  16,  328, 189, 240, 43,  191, 330, 183,
                                      426, 405, 361, 463, 370, 93,  439, 335, 53,  154, 87,
                                      495, 373, 471, 146, 326, 310, 386, 63,  265, 331};

fs::path scratch() {
  static const testing::ScratchDir dir("tern_session_file");
  return dir.path();
}

std::span<const int32_t> tokens(size_t first, size_t n) {
  return std::span(kTokens).subspan(first, n);
}

// Three sequences of different lengths (sequence 3, if any, stays empty).
void fill(Session& session) {
  const SequenceTokens parts[] = {{0, tokens(0, 32)}, {1, tokens(0, 7)}, {2, tokens(5, 20)}};
  session.decode(parts);
}

// The next token's logits in every non-empty sequence, decoded in one batch.
std::vector<float> next_logits(Session& session) {
  const int32_t next[] = {17, 42, 99, 7};
  std::vector<SequenceTokens> parts;
  for (int seq = 0; seq < session.n_seq(); ++seq) {
    if (session.n_past(seq) > 0) parts.push_back({seq, std::span(&next[seq], 1)});
  }
  auto logits = session.decode(parts);
  return {logits.begin(), logits.end()};
}

std::vector<std::vector<int32_t>> all_tokens(const Session& session) {
  std::vector<std::vector<int32_t>> out;
  for (int seq = 0; seq < session.n_seq(); ++seq) {
    auto t = session.tokens(seq);
    out.emplace_back(t.begin(), t.end());
  }
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Expects load(path) to throw tern::Error holding `what`.
void expect_refused(Session& session, const fs::path& path, const std::string& what) {
  try {
    session.load(path.string());
    ADD_FAILURE() << "loaded " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

struct RoundTrip {
  std::string model;
  KvType kv_type;
};

class SessionFileTest : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(SessionFileTest, LoadedSessionContinuesBitIdentically) {
  Model model = Model::load(kGolden + GetParam().model + "/model.gguf");
  const SessionOptions options{
      .n_ctx = 40, .n_threads = 2, .kv_type = GetParam().kv_type, .n_seq = 4};
  Session original(model, options);
  fill(original);
  const fs::path path = scratch() / "roundtrip.tkvs";
  original.save(path.string());

  Session loaded(model, options);
  loaded.decode(tokens(3, 9));  // replaced by the load
  loaded.load(path.string());
  EXPECT_EQ(all_tokens(loaded), all_tokens(original));
  EXPECT_TRUE(loaded.logits().empty());
  EXPECT_TRUE(bit_identical(next_logits(loaded), next_logits(original)));

  // A session with a longer context and more sequences takes the file as well.
  Session larger(model, {.n_ctx = 64, .n_threads = 2, .kv_type = GetParam().kv_type, .n_seq = 6});
  larger.decode(std::vector<SequenceTokens>{{5, tokens(0, 4)}});  // emptied by the load
  larger.load(path.string());
  EXPECT_EQ(larger.n_past(5), 0);
  Session reference(model, options);
  fill(reference);
  EXPECT_TRUE(bit_identical(next_logits(larger), next_logits(reference)));
}

INSTANTIATE_TEST_SUITE_P(Goldens, SessionFileTest,
                         ::testing::Values(RoundTrip{"llama-f32", KvType::F32},
                                           RoundTrip{"llama-f32", KvType::F16},
                                           RoundTrip{"qwen3-f32", KvType::F32},
                                           RoundTrip{"gemma3-f32", KvType::F16},
                                           RoundTrip{"llama-q4_k_m", KvType::F32}),
                         [](const auto& test) {
                           std::string name = test.param.model + "_" +
                                              (test.param.kv_type == KvType::F16 ? "f16" : "f32");
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// On a GPU (all layers, and one of them: the cache split between the GPU and the CPU), a
// loaded session continues as the saved one (the same kernels over the same rows; 1e-4
// leaves room for a kernel whose sums are not ordered); a file saved there loads on the
// CPU, within the GPU goldens' tolerance (0.02, test_vulkan_golden.cpp).
class SessionFileGpuTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(SessionFileGpuTest, RoundTripThroughDeviceBuffers) {
  if (!backend_available(GetParam())) GTEST_SKIP() << "no device";
  for (int n_gpu_layers : {-1, 1}) {
    Model model = Model::load(kGolden + "llama-f32/model.gguf",
                              {.backend = GetParam(), .n_gpu_layers = n_gpu_layers});
    const SessionOptions options{.n_ctx = 40, .n_threads = 2, .n_seq = 4};
    Session original(model, options);
    fill(original);
    const fs::path path = scratch() / "gpu.tkvs";
    original.save(path.string());
    Session loaded(model, options);
    loaded.load(path.string());
    EXPECT_LE(max_difference(next_logits(loaded), next_logits(original)), 1e-4f) << n_gpu_layers;

    Model cpu_model = Model::load(kGolden + "llama-f32/model.gguf", {.backend = BackendKind::Cpu});
    Session on_cpu(cpu_model, options);
    on_cpu.load(path.string());
    Session cpu_reference(cpu_model, options);
    fill(cpu_reference);
    EXPECT_LE(max_difference(next_logits(on_cpu), next_logits(cpu_reference)), 0.02f);
  }
}

INSTANTIATE_TEST_SUITE_P(Gpus, SessionFileGpuTest,
                         ::testing::Values(BackendKind::Vulkan, kCudaSourcesKind),
                         [](const auto& test) {
                           return test.param == BackendKind::Vulkan ? std::string("vulkan")
                                                                    : std::string("cuda");
                         });

// A session holding sequence 0 of the golden tokens, and its file.
struct Saved {
  Model model;
  Session session;
  fs::path path;
};

Saved saved_llama(const std::string& name, int64_t n_tokens = 32) {
  Model model = Model::load(kGolden + "llama-f32/model.gguf");
  Session session(model, {.n_ctx = 40, .n_threads = 2});
  session.decode(tokens(0, static_cast<size_t>(n_tokens)));
  const fs::path path = scratch() / name;
  session.save(path.string());
  return {std::move(model), std::move(session), path};
}

TEST(SessionFile, RefusesWhatDoesNotFitAndLeavesTheSessionUnchanged) {
  Saved s = saved_llama("fits.tkvs");
  for (const std::string other : {"llama-q4_k_m", "qwen3-f32"}) {  // same shapes; another arch
    Model model = Model::load(kGolden + other + "/model.gguf");
    Session session(model, {.n_ctx = 40, .n_threads = 2});
    expect_refused(session, s.path, "saved from a different model");
  }
  Session target(s.model, {.n_ctx = 40, .n_threads = 2});
  target.decode(tokens(4, 6));
  const std::vector<float> before = next_logits(target);
  target.trim(6);
  Session f32(s.model, {.n_ctx = 40, .n_threads = 2, .kv_type = KvType::F32});
  expect_refused(f32, s.path, "KV cache type F16 in the file, this session's is F32");
  Session short_context(s.model, {.n_ctx = 31, .n_threads = 2});
  expect_refused(short_context, s.path,
                 "sequence 0 holds 32 positions, more than this context's 31");
  expect_refused(target, scratch() / "absent.tkvs", "cannot read");
  expect_refused(target, scratch(), "is a directory");
  expect_refused(target, "/dev/null", "is not a regular file");

  Session two(s.model, {.n_ctx = 40, .n_threads = 2, .n_seq = 2});
  two.decode(std::vector<SequenceTokens>{{1, tokens(0, 3)}});
  two.save((scratch() / "seq1.tkvs").string());
  expect_refused(target, scratch() / "seq1.tkvs", "holds sequence 1, this session has 1 sequences");
  two.clear();  // sequences it stores empty need no slot
  two.decode(tokens(0, 3));
  two.save((scratch() / "seq0.tkvs").string());
  Session one(s.model, {.n_ctx = 40, .n_threads = 2});
  one.load((scratch() / "seq0.tkvs").string());
  EXPECT_EQ(one.n_past(), 3);

  EXPECT_EQ(target.n_past(), 6);
  EXPECT_TRUE(bit_identical(next_logits(target), before));
}

TEST(SessionFile, RefusesEveryTruncationAndHeaderFlip) {
  Saved s = saved_llama("small.tkvs", 3);
  const std::string bytes = testing::read_file(s.path);
  Session target(s.model, {.n_ctx = 40, .n_threads = 2});
  target.decode(tokens(4, 6));
  const std::vector<float> before = next_logits(target);
  target.trim(6);
  const fs::path bad = scratch() / "bad.tkvs";
  for (size_t n = 0; n < bytes.size(); ++n) {
    testing::write_file(bad, bytes.substr(0, n));
    EXPECT_THROW(target.load(bad.string()), Error) << n << " bytes";
  }
  testing::write_file(bad, bytes + '\0');
  expect_refused(target, bad, "truncated or corrupt session file");
  // Every bit of the header, the lengths and the tokens: 40 + 4 + 3 * 4 bytes.
  for (size_t i = 0; i < 56; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      testing::write_file(bad, flipped);
      EXPECT_THROW(target.load(bad.string()), Error) << "byte " << i << " bit " << bit;
    }
  }
  expect_refused(target, bad, "checksum");  // the last flip: bit 7 of the last token
  EXPECT_EQ(target.n_past(), 6);
  EXPECT_TRUE(bit_identical(next_logits(target), before));
  target.load(s.path.string());  // and the intact file still loads
  EXPECT_EQ(target.n_past(), 3);
}

TEST(SessionFile, SaveReplacesTheFileWhole) {
  Saved s = saved_llama("replaced.tkvs", 3);
  const auto small = fs::file_size(s.path);
  s.session.decode(tokens(3, 10));
  s.session.save(s.path.string());
  EXPECT_GT(fs::file_size(s.path), small);
  for (const auto& entry : fs::directory_iterator(scratch())) {
    EXPECT_EQ(entry.path().extension(), ".tkvs") << entry.path();  // no partial file left
  }
}

}  // namespace
}  // namespace tern
