// Context shift (Session::shift): dropping positions and rotating the cached keys of the
// later ones to their new positions, on the synthetic golden models of every architecture.
//
// What can be compared exactly: when a cached key or value depends only on its token and
// position (one layer; or layers before the last that add nothing), a shifted cache must
// equal the cache of the kept tokens decoded afresh, and so must the logits of what
// follows. That checks the rotation (NeoX or normal pairs, base, linear scaling, llama3
// factors, gemma3's sliding-window and global layers). In the full models the moved
// tokens' keys and values keep what they saw of the dropped ones (as in llama.cpp), so a
// fresh decode differs by design; there the tests check that shifts compose and that the
// session's bookkeeping follows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "golden_reference.h"
#include "model/model_internals.h"
#include "scratch_dir.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

using golden::max_abs_diff;

const std::string& kGolden = golden::kGoldenDir;
const std::vector<int32_t> kTokens = golden::shared_tokens();

std::vector<int32_t> concat(std::span<const int32_t> a, std::span<const int32_t> b) {
  std::vector<int32_t> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

testing::ScratchDir& scratch() {
  static testing::ScratchDir dir("test_context_shift");
  return dir;
}

// How a golden model is cut down so that every cached key and value depends only on its
// token and position.
enum class Cut {
  OneLayer,        // block_count 1: layer 0 alone (gemma3: a sliding-window layer)
  OneLayerScaled,  // and linear rope scaling (factor 2) with llama3-style rope_freqs
  OneLayerYarn,    // and YaRN (factor 4 over an original context of 16): keys carry mscale
  LastLayerOnly,   // every layer, but all before the last add nothing (attn_output and
                   // ffn_down zero): the last layer sees the embeddings (gemma3: global)
};

// Writes golden model `name` cut by `cut` and returns its path.
std::string cut_model(const std::string& name, Cut cut) {
  const gguf::File file = gguf::File::open(kGolden + name + "/model.gguf");
  const std::string arch(file.get_string("general.architecture"));
  const Model original = Model::load(kGolden + name + "/model.gguf");
  const ModelSpec& spec = ModelInternals::arch(original).spec();
  const bool one_layer = cut != Cut::LastLayerOnly;
  gguf::Writer w;
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (one_layer && kv.key == arch + ".block_count") {
      w.add(kv.key, {uint32_t{1}});
    } else {
      w.add(kv.key, kv.value);
    }
  }
  const std::string last = fmt::format("blk.{}.", spec.n_layer - 1);
  std::vector<uint8_t> zeros;
  for (const gguf::TensorInfo& t : file.tensors()) {
    std::span<const uint8_t> data(t.data, t.n_bytes);
    const bool in_layer = t.name.starts_with("blk.");
    if (one_layer && in_layer && !t.name.starts_with("blk.0.")) continue;
    if (!one_layer && in_layer && !t.name.starts_with(last) &&
        (t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight"))) {
      zeros.resize(std::max(zeros.size(), t.n_bytes));  // 0 in F32, F16 and every quant
      data = std::span(zeros.data(), t.n_bytes);
    }
    w.add_tensor(t.name, t.type, std::span(t.ne, static_cast<size_t>(t.n_dims)), data);
  }
  std::vector<float> factors(static_cast<size_t>(spec.n_rot / 2));
  if (cut == Cut::OneLayerScaled) {
    w.add(arch + ".rope.scaling.type", {std::string_view("linear")});
    w.add(arch + ".rope.scaling.factor", {2.0f});
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.5f * static_cast<float>(i);
    const int64_t shape[] = {std::ssize(factors)};
    w.add_tensor("rope_freqs.weight", TensorType::F32, shape,
                 std::span(reinterpret_cast<const uint8_t*>(factors.data()),
                           factors.size() * sizeof(float)));
  }
  if (cut == Cut::OneLayerYarn) {
    w.add(arch + ".rope.scaling.type", {std::string_view("yarn")});
    w.add(arch + ".rope.scaling.factor", {4.0f});
    w.add(arch + ".rope.scaling.original_context_length", {uint32_t{16}});
  }
  const std::string path =
      (scratch().path() / fmt::format("{}-{}.gguf", name, static_cast<int>(cut))).string();
  w.write_file(path);
  return path;
}

struct ShiftCase {
  std::string model;
  Cut cut = Cut::OneLayer;
  KvType kv = KvType::F32;
};

std::string case_name(const ::testing::TestParamInfo<ShiftCase>& info) {
  std::string name = info.param.model;
  std::replace(name.begin(), name.end(), '-', '_');
  if (info.param.cut == Cut::OneLayerScaled) name += "_scaled";
  if (info.param.cut == Cut::OneLayerYarn) name += "_yarn";
  if (info.param.cut == Cut::LastLayerOnly) name += "_last_layer";
  if (info.param.kv == KvType::F16) name += "_f16";
  return name;
}

// F32: the shifted keys differ from fresh ones by the rounding of one more rotation
// (~1e-7 relative): measured max |dlogit| 6e-6, under the 1e-3. F16: a shifted key
// is rounded to F16 twice (written, then rotated), a fresh one once: up to ~2^-11 relative
// more error in q.k scores of size ~10 on these random models, ~5e-3: measured 5.6e-3
// (llama) and 1.1e-3 (gemma3); 2e-2 allowed. Q4_0 weights round activations to 8 bits,
// which here absorbs the difference (measured 0).
float tolerance(KvType kv) { return kv == KvType::F32 ? 1e-3f : 2e-2f; }

class CutModelShift : public ::testing::TestWithParam<ShiftCase> {};

// Decode 24 tokens, drop 9 after the first 4, decode 8 more: their logits equal those of
// a fresh session that decodes the 15 kept tokens and the same 8.
TEST_P(CutModelShift, LogitsEqualAFreshDecodeOfTheKeptTokens) {
  const ShiftCase& c = GetParam();
  const Model model = Model::load(cut_model(c.model, c.cut));
  const SessionOptions options{.n_ctx = 40, .n_threads = 1, .kv_type = c.kv};
  const std::span<const int32_t> tokens(kTokens);
  const std::span<const int32_t> more = tokens.subspan(24, 8);
  constexpr int64_t kKeep = 4, kDiscard = 9;

  Session shifted(model, options);
  shifted.decode(tokens.first(24), Outputs::None);
  shifted.shift(kKeep, kDiscard);
  const std::vector<int32_t> kept = concat(tokens.first(kKeep), tokens.subspan(13, 11));
  ASSERT_EQ(shifted.n_past(), 15);
  EXPECT_TRUE(std::ranges::equal(shifted.tokens(), kept));
  const auto got = shifted.decode(more, Outputs::All);
  const std::vector<float> got_logits(got.begin(), got.end());

  Session fresh(model, options);
  fresh.decode(kept, Outputs::None);
  const auto want = fresh.decode(more, Outputs::All);
  // gemma3's layer 0 has a 16-position window: the last of the 8 tokens (position 22)
  // no longer sees the first kept ones, in both sessions alike.
  EXPECT_LE(max_abs_diff(got_logits, want), tolerance(c.kv));
}

INSTANTIATE_TEST_SUITE_P(Goldens, CutModelShift,
                         ::testing::Values(ShiftCase{"llama-f32"},
                                           ShiftCase{"llama-f32", Cut::OneLayerScaled},
                                           ShiftCase{"llama-f32", Cut::OneLayerYarn},
                                           ShiftCase{"qwen3-f32", Cut::OneLayerYarn},
                                           ShiftCase{"gemma3-f32", Cut::LastLayerOnly},
                                           ShiftCase{"qwen3-f32"}, ShiftCase{"gemma3-f32"},
                                           ShiftCase{"qwen2-q4_0"},
                                           ShiftCase{"llama-f32", Cut::OneLayer, KvType::F16},
                                           ShiftCase{"gemma3-f32", Cut::OneLayer, KvType::F16}),
                         case_name);

class GoldenShift : public ::testing::TestWithParam<std::string> {};

// Dropping 3 then 5 after the first 4 drops the same 8 tokens as dropping 8 at once, and
// the keys end up rotated by the same angle: the logits that follow agree, on every layer.
// An F32 cache: an F16 one rounds the keys after each rotation, twice against once.
TEST_P(GoldenShift, TwoShiftsEqualOneOfTheirSum) {
  const Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  const SessionOptions options{.n_ctx = 32, .n_threads = 1, .kv_type = KvType::F32};
  const std::span<const int32_t> tokens(kTokens);
  Session twice(model, options);
  twice.decode(tokens.first(24), Outputs::None);
  twice.shift(4, 3);
  twice.shift(4, 5);
  Session once(model, options);
  once.decode(tokens.first(24), Outputs::None);
  once.shift(4, 8);
  EXPECT_TRUE(std::ranges::equal(twice.tokens(), once.tokens()));
  const auto a = twice.decode(tokens.subspan(24, 8), Outputs::All);
  const std::vector<float> twice_logits(a.begin(), a.end());
  EXPECT_LE(max_abs_diff(twice_logits, once.decode(tokens.subspan(24, 8), Outputs::All)), 1e-3f);
}

// The positions freed by a shift are usable: a full context shifted by half takes as many
// tokens again, and a shift of nothing changes nothing.
TEST_P(GoldenShift, FreesPositionsAndAnEmptyShiftChangesNothing) {
  const Model model = Model::load(kGolden + GetParam() + "/model.gguf");
  const std::span<const int32_t> tokens(kTokens);
  Session session(model, {.n_ctx = 16, .n_threads = 1});
  session.decode(tokens.first(16), Outputs::None);
  EXPECT_THROW(session.decode(tokens.subspan(16, 1)), ContextOverflow);
  session.shift(1, 8);
  EXPECT_EQ(session.n_past(), 8);
  session.decode(tokens.subspan(16, 8), Outputs::None);
  EXPECT_EQ(session.n_past(), 16);

  Session a(model, {.n_ctx = 32, .n_threads = 1});
  Session b(model, {.n_ctx = 32, .n_threads = 1});
  a.decode(tokens.first(20), Outputs::None);
  b.decode(tokens.first(20), Outputs::None);
  a.shift(5, 0);
  a.shift(20, 0);
  const auto la = a.decode(tokens.subspan(20, 4), Outputs::All);
  const std::vector<float> a_logits(la.begin(), la.end());
  EXPECT_EQ(max_abs_diff(a_logits, b.decode(tokens.subspan(20, 4), Outputs::All)), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Goldens, GoldenShift,
                         ::testing::Values("llama-f32", "qwen3-f32", "gemma3-f32"),
                         golden::model_test_name);

// Only sequence `seq` moves: the other sequences of the session keep their positions.
TEST(ContextShift, OtherSequencesAreUntouched) {
  const Model model = Model::load(kGolden + "llama-f32/model.gguf");
  const std::span<const int32_t> tokens(kTokens);
  Session session(model, {.n_ctx = 32, .n_threads = 1, .n_seq = 2});
  Session alone(model, {.n_ctx = 32, .n_threads = 1});
  const SequenceTokens both[] = {{0, tokens.first(16), Outputs::None},
                                 {1, tokens.first(16), Outputs::None}};
  session.decode(both);
  alone.decode(tokens.first(16), Outputs::None);
  session.shift(2, 6, 0);
  EXPECT_EQ(session.n_past(0), 10);
  EXPECT_EQ(session.n_past(1), 16);
  const SequenceTokens next[] = {{1, tokens.subspan(16, 4), Outputs::All}};
  const auto got = session.decode(next);
  const std::vector<float> got_logits(got.begin(), got.end());
  EXPECT_LE(max_abs_diff(got_logits, alone.decode(tokens.subspan(16, 4), Outputs::All)), 1e-4f);
}

TEST(ContextShift, BadArgumentsAreRefusedWithTheSessionUnchanged) {
  const Model model = Model::load(kGolden + "llama-f32/model.gguf");
  Session session(model, {.n_ctx = 32, .n_threads = 1});
  session.decode(std::span(kTokens).first(10), Outputs::None);
  EXPECT_THROW(session.shift(-1, 2), Error);
  EXPECT_THROW(session.shift(2, -1), Error);
  EXPECT_THROW(session.shift(11, 0), Error);
  EXPECT_THROW(session.shift(4, 7), Error);
  EXPECT_THROW(session.shift(0, 1, 1), Error);
  EXPECT_EQ(session.n_past(), 10);
  EXPECT_TRUE(std::ranges::equal(session.tokens(), std::span(kTokens).first(10)));
}

// Each architecture tells the session how every layer rotated its keys: gemma3's
// sliding-window layers with base 10000, its global ones (every sixth) with the file's.
TEST(ContextShift, ArchitecturesDescribeEachLayersRope) {
  const Model gemma = Model::load(kGolden + "gemma3-f32/model.gguf");
  const ArchModel& arch = ModelInternals::arch(gemma);
  ASSERT_EQ(std::ssize(arch.layer_ropes()), arch.spec().n_layer);
  for (int il = 0; il < arch.spec().n_layer; ++il) {
    const LayerRope& rope = arch.layer_ropes()[static_cast<size_t>(il)];
    EXPECT_TRUE(rope.neox);
    EXPECT_EQ(rope.base, (il + 1) % 6 == 0 ? arch.spec().rope_freq_base : 10000.0f) << il;
  }
  const Model llama = Model::load(kGolden + "llama-f32/model.gguf");
  for (const LayerRope& rope : ModelInternals::arch(llama).layer_ropes()) {
    EXPECT_FALSE(rope.neox);
    EXPECT_EQ(rope.base, ModelInternals::arch(llama).spec().rope_freq_base);
  }
}

}  // namespace
}  // namespace tern
