// The SIMD attention and elementwise ops (backends/cpu/attention.h, elementwise.h) of every
// level this CPU runs against the scalar reference kernels (backends/cpu/reference_kernels.h),
// and the vectorized exp against double-precision e^x.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/reference_kernels.h"
#include "cpu_test_support.h"
#include "tern/error.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

using test::random_values;
using test::simd_levels;

struct Shape {
  int n_head, n_head_kv, head_dim_k, head_dim_v;
  int64_t n_tokens, pos0, window;
  float score_std;       // standard deviation of the scaled scores q.k * scale
  float softcap = 0.0f;  // attention logit soft cap (0: none)
  bool sinks = false;    // gpt-oss attention sinks: a logit per query head
  bool causal = true;    // false: encoders' attention, every row sees its whole segment
};

// Largest |simd - reference| and largest |reference| over the output.
struct Diff {
  double max_diff = 0.0, max_ref = 0.0;
};

// The cache as `kv_type` stores it: F16 rounds the values, and the reference then reads
// those rounded values as floats while the SIMD kernels read the F16 bits in place.
struct Cache {
  std::vector<float> values;
  std::vector<uint16_t> f16;
  const void* data(TensorType kv_type) const {
    return kv_type == TensorType::F16 ? static_cast<const void*>(f16.data()) : values.data();
  }
};

Cache make_cache(std::vector<float> values, TensorType kv_type) {
  Cache c{std::move(values), {}};
  if (kv_type == TensorType::F16) {
    for (float& x : c.values) {
      c.f16.push_back(f32_to_f16(x));
      x = f16_to_f32(c.f16.back());
    }
  }
  return c;
}

// The SIMD kernels against the scalar reference run segment by segment (not causal: row by
// row, each at its segment's last position, as the CPU backend runs the reference). Without
// `segments`, one sequence's s.n_tokens tokens at s.pos0 (slot row 0).
Diff compare_attention(const Shape& s, Isa isa, int n_threads, TensorType kv_type = TensorType::F32,
                       std::vector<graph::Segment> segments = {}) {
  graph::AttentionParams p{s.n_head, s.n_head_kv, s.head_dim_k, s.head_dim_v, 0.0f, s.window};
  // q and k ~ N(0, 1): q.k has standard deviation sqrt(head_dim_k).
  p.scale = s.score_std / std::sqrt(static_cast<float>(s.head_dim_k));
  p.softcap = s.softcap;
  if (segments.empty()) segments.push_back({0, s.n_tokens, s.pos0, 0});
  int64_t n_kv = 0, n_tokens = 0;
  for (const graph::Segment& g : segments) {
    n_kv = std::max(n_kv, g.slot_row + g.pos0 + g.n_rows);
    n_tokens += g.n_rows;
  }
  auto q = random_values(static_cast<size_t>(n_tokens * s.n_head * s.head_dim_k), 1);
  Cache k = make_cache(random_values(static_cast<size_t>(n_kv * s.n_head_kv * s.head_dim_k), 2),
                       kv_type);
  Cache v = make_cache(random_values(static_cast<size_t>(n_kv * s.n_head_kv * s.head_dim_v), 3),
                       kv_type);
  // Sinks around the scores' scale: some rows give the sink most of the weight, some little.
  std::vector<float> sinks = random_values(static_cast<size_t>(s.n_head), 7);
  for (float& x : sinks) x *= 2.0f * s.score_std;
  const float* sink_logits = s.sinks ? sinks.data() : nullptr;
  size_t n_out = static_cast<size_t>(n_tokens * s.n_head * s.head_dim_v);
  std::vector<float> ref(n_out), out(n_out, NAN);
  const int64_t q_cols = int64_t{s.n_head} * s.head_dim_k, o_cols = int64_t{s.n_head} * s.head_dim_v;
  for (const graph::Segment& g : segments) {
    const float* k_slot = k.values.data() + g.slot_row * s.n_head_kv * s.head_dim_k;
    const float* v_slot = v.values.data() + g.slot_row * s.n_head_kv * s.head_dim_v;
    if (s.causal) {
      attention(q.data() + g.row0 * q_cols, k_slot, v_slot, g.n_rows, g.pos0, p, sink_logits,
                ref.data() + g.row0 * o_cols, n_threads);
      continue;
    }
    for (int64_t r = g.row0; r < g.row0 + g.n_rows; ++r) {
      attention(q.data() + r * q_cols, k_slot, v_slot, 1, g.pos0 + g.n_rows - 1, p, sink_logits,
                ref.data() + r * o_cols, n_threads);
    }
  }
  p.causal = s.causal;
  simd_attention(q.data(), k.data(kv_type), v.data(kv_type), kv_type, segments, p, sink_logits,
                 out.data(), n_threads, isa);
  Diff d;
  for (size_t i = 0; i < n_out; ++i) {
    d.max_diff = std::max(d.max_diff, std::fabs(double{out[i]} - ref[i]));
    if (std::isnan(out[i])) d.max_diff = INFINITY;
    d.max_ref = std::max(d.max_ref, std::fabs(double{ref[i]}));
  }
  return d;
}

// Both sides round each score to float with an error of a few ulps of sum |q_i k_i| * scale
// (~1e-6 for scores of standard deviation ~1); a relative score error e moves each softmax
// weight by ~e, so the output (a convex combination of V rows, |v| < ~5) moves by < ~1e-5.
// A wrong mask, scale, head or rescale moves it by whole weights (> 1e-2).
double attention_tolerance(const Diff& d, float score_std) {
  return 1e-5 * (1.0 + d.max_ref) * std::max(1.0f, score_std);
}

TEST(AttentionSimd, MatchesScalarReferenceOverShapes) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (auto [n_head, n_head_kv] : {std::pair{9, 3}, std::pair{32, 8}, std::pair{4, 4}}) {
      for (int head_dim : {64, 128, 256, 80}) {
        for (int64_t n_tokens : {1, 7, 100}) {
          for (int64_t pos0 : {0, 37}) {
            for (int64_t window : {0, 16}) {
              Shape s{n_head, n_head_kv, head_dim, head_dim, n_tokens, pos0, window, 1.0f};
              Diff d = compare_attention(s, isa, 2);
              EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
                  << isa_name(isa) << " heads " << n_head << "/" << n_head_kv << " dim " << head_dim
                  << " tokens " << n_tokens << " pos0 " << pos0 << " window " << window;
              ++tested;
            }
          }
        }
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_EQ(tested, 144 * static_cast<int>(simd_levels().size()));
}

// Head sizes that are not a multiple of 8 (masked loads), K and V of different sizes, one
// thread and several, long caches (many key chunks: the online softmax rescales), peaked
// softmaxes (scores of standard deviation 8), a window of 1 (each row sees itself only).
// Work items of 8+ tokens take the 16-row tiles (x86/attention_tiles.h), here with last
// tiles of 15 and 1 rows, 6/4/1-value output steps, windows, caches and chunks of keys;
// fewer tokens (1-5 here, up to 24 rows of a group) the per-row path; 12 tokens on 3
// threads make items of one query head (12-row tiles); a group of 10 heads gives items of 10
// tiles, taken as sets of 8 and 2 over their own key chunks. Every shape with an F32 and an
// F16 cache (read in place, a key chunk at a time).
TEST(AttentionSimd, MatchesScalarReferenceOnEdgeShapes) {
  const Shape shapes[] = {
      {6, 2, 20, 36, 5, 3, 0, 1.0f},    {6, 2, 36, 20, 9, 0, 4, 1.0f},
      {3, 1, 5, 3, 11, 2, 0, 1.0f},     {8, 8, 64, 128, 3, 0, 0, 1.0f},
      {9, 3, 64, 64, 1, 1500, 0, 1.0f}, {9, 3, 64, 64, 33, 700, 100, 1.0f},
      {9, 3, 64, 64, 64, 300, 0, 8.0f}, {16, 4, 128, 128, 2, 999, 0, 8.0f},
      {4, 1, 256, 256, 40, 0, 1, 1.0f}, {10, 5, 72, 72, 513, 0, 0, 1.0f},
      {9, 3, 64, 64, 12, 5, 0, 1.0f},   {20, 2, 32, 40, 40, 10, 12, 1.0f},
  };
  for (Isa isa : simd_levels()) {
    for (const Shape& s : shapes) {
      for (auto [n_threads, kv_type] :
           {std::pair{1, TensorType::F32}, std::pair{3, TensorType::F32},
            std::pair{1, TensorType::F16}, std::pair{3, TensorType::F16}}) {
        Diff d = compare_attention(s, isa, n_threads, kv_type);
        EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
            << type_traits(kv_type).name << " cache " << isa_name(isa) << " heads " << s.n_head
            << "/" << s.n_head_kv << " dims " << s.head_dim_k << "/" << s.head_dim_v << " tokens "
            << s.n_tokens << " pos0 " << s.pos0 << " window " << s.window << " score std "
            << s.score_std << " threads " << n_threads;
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// Soft-capped scores (gemma2: cap * tanh(score / cap) before the mask) and attention sinks
// (gpt-oss: a logit per query head in the softmax denominator only) on both SIMD paths: 1
// and 5 tokens (per-row scores), 9 and 40 (16-row tiles, mixing query heads of different
// sinks), with windows and F16 caches. Scores of standard deviation 8 against caps of 0.5
// and 5: the cap changes every weight; sinks with peaked (8) and flat (1) scores.
TEST(AttentionSimd, SoftCapAndSinksMatchScalarReference) {
  struct Variant {
    float score_std, cap;
    bool sinks;
  };
  const Variant variants[] = {
      {8.0f, 0.5f, false}, {8.0f, 5.0f, false}, {1.0f, 0.0f, true}, {8.0f, 0.0f, true}};
  for (Isa isa : simd_levels()) {
    for (const Variant& v : variants) {
      for (int64_t n_tokens : {1, 5, 9, 40}) {
        for (auto [window, kv_type] :
             {std::pair{int64_t{0}, TensorType::F32}, std::pair{int64_t{8}, TensorType::F16}}) {
          Shape s{8, 2, 64, 64, n_tokens, 30, window, v.score_std, v.cap, v.sinks};
          Diff d = compare_attention(s, isa, 2, kv_type);
          EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
              << isa_name(isa) << " cap " << v.cap << " sinks " << v.sinks << " score std "
              << v.score_std << " tokens " << n_tokens << " window " << window;
        }
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// Batched decoding: segments of several sequences (slots 100 rows apart) in one call, a
// prompt beside single tokens and a sequence split into two segments, on 1 and 3 threads.
// Encoders' attention (every row sees its whole segment, cache before it included): prompt
// tiles and few-token splits, F16 caches, grouped heads, several segments and threads.
TEST(AttentionSimd, NonCausalMatchesTheReferenceRowByRow) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (auto [n_head, n_head_kv, head_dim] : {std::tuple{12, 12, 32}, std::tuple{8, 2, 64}}) {
      for (int64_t n_tokens : {1, 5, 37, 300}) {
        for (TensorType kv_type : {TensorType::F32, TensorType::F16}) {
          Shape s{n_head, n_head_kv, head_dim, head_dim, n_tokens, n_tokens > 100 ? 0 : 9, 0, 1.0f};
          s.causal = false;
          Diff d = compare_attention(s, isa, 2, kv_type);
          EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
              << isa_name(isa) << " heads " << n_head << "/" << n_head_kv << " tokens " << n_tokens
              << " " << type_traits(kv_type).name;
          ++tested;
        }
      }
    }
    // Three texts side by side in one batch (embed_batch), in slots of 64 rows.
    Shape s{12, 12, 32, 32, 0, 0, 0, 1.0f};
    s.causal = false;
    const std::vector<graph::Segment> texts = {{0, 20, 0, 0}, {20, 64, 0, 64}, {84, 3, 0, 128}};
    for (int n_threads : {1, 2}) {
      Diff d = compare_attention(s, isa, n_threads, TensorType::F16, texts);
      EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std)) << isa_name(isa);
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_EQ(tested, 16 * static_cast<int>(simd_levels().size()));
}

TEST(AttentionSimd, MatchesScalarReferenceOverSegmentsOfSeveralSequences) {
  const std::vector<graph::Segment> segments = {
      {0, 1, 40, 200}, {1, 20, 0, 100}, {21, 1, 7, 0}, {22, 2, 41, 200}, {24, 1, 99, 300}};
  for (Isa isa : simd_levels()) {
    for (auto [n_threads, kv_type] : {std::pair{1, TensorType::F32}, std::pair{3, TensorType::F16}}) {
      for (int64_t window : {0, 16}) {
        Shape s{8, 2, 64, 64, 0, 0, window, 1.0f};
        Diff d = compare_attention(s, isa, n_threads, kv_type, segments);
        EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
            << isa_name(isa) << " threads " << n_threads << " window " << window;
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// Several sequences decoding a few tokens each: items then take every kv head of a
// sequence and one split of its keys (attention.cpp), on 1 and 3 threads, with odd head
// sizes and windows.
TEST(AttentionSimd, MatchesScalarReferenceOverSequencesDecodingTogether) {
  const std::vector<graph::Segment> segments = {{0, 1, 40, 0},   {1, 2, 299, 400},
                                                {3, 1, 7, 800},  {4, 3, 530, 1200},
                                                {7, 1, 0, 1800}, {8, 1, 263, 2200}};
  const Shape shapes[] = {{8, 2, 64, 64, 0, 0, 0, 1.0f},
                          {9, 3, 64, 64, 0, 0, 16, 1.0f},
                          {6, 2, 20, 36, 0, 0, 0, 1.0f},
                          {4, 4, 80, 80, 0, 0, 5, 8.0f}};
  for (Isa isa : simd_levels()) {
    for (const Shape& s : shapes) {
      for (auto [n_threads, kv_type] :
           {std::pair{1, TensorType::F32}, std::pair{3, TensorType::F16},
            std::pair{3, TensorType::F32}}) {
        Diff d = compare_attention(s, isa, n_threads, kv_type, segments);
        EXPECT_LE(d.max_diff, attention_tolerance(d, s.score_std))
            << isa_name(isa) << " heads " << s.n_head << "/" << s.n_head_kv << " threads "
            << n_threads << " " << type_traits(kv_type).name;
      }
    }
  }
  // Rows of several key splits in each kind of item: one sequence over single heads (few
  // splits, several threads), and beside a prompt (items of one kv head). The windowed
  // rows follow the same rows unwindowed, so the splits before their window hold results
  // a merge must not take.
  struct Case {
    Shape shape;
    std::vector<graph::Segment> segments;
  };
  const Case split_cases[] = {{{4, 1, 64, 64, 0, 0, 0, 1.0f}, {{0, 1, 200, 0}}},
                              {{8, 2, 64, 64, 0, 0, 0, 1.0f}, {{0, 9, 0, 0}, {9, 1, 300, 400}}},
                              {{8, 2, 64, 64, 0, 0, 0, 1.0f}, {{0, 2, 520, 0}}},
                              {{8, 2, 64, 64, 0, 0, 64, 1.0f}, {{0, 2, 520, 0}}}};
  for (Isa isa : simd_levels()) {
    for (const Case& c : split_cases) {
      for (TensorType kv_type : {TensorType::F32, TensorType::F16}) {
        Diff d = compare_attention(c.shape, isa, 3, kv_type, c.segments);
        EXPECT_LE(d.max_diff, attention_tolerance(d, c.shape.score_std))
            << isa_name(isa) << " heads " << c.shape.n_head << "/" << c.shape.n_head_kv << " "
            << type_traits(kv_type).name << " segments " << c.segments.size();
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// A speculative step or a short batch: each of up to 7 tokens of a sequence gets exactly
// the bits it gets decoded alone (so greedy output does not depend on how tokens were
// grouped into decodes), with windows, F16 caches, grouped heads and several threads.
TEST(AttentionSimd, FewTokensGetTheBitsEachGetsAlone) {
  struct Case {
    int n_head, n_head_kv, head_dim;
    int64_t window;
  };
  const Case cases[] = {{9, 3, 64, 0}, {32, 8, 128, 0}, {4, 1, 256, 16}, {6, 2, 20, 5}};
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (const Case& c : cases) {
      for (TensorType kv_type : {TensorType::F32, TensorType::F16}) {
        graph::AttentionParams p{c.n_head, c.n_head_kv, c.head_dim, c.head_dim, 0.3f, c.window};
        const int64_t q_cols = int64_t{c.n_head} * c.head_dim;
        const int64_t kv_cols = int64_t{c.n_head_kv} * c.head_dim;
        for (int64_t pos0 : {0, 37, 62, 301}) {
          for (int64_t n = 2; n < kAttentionMinTileTokens; ++n) {
            const auto n_kv = static_cast<size_t>(pos0 + n);
            auto q = random_values(static_cast<size_t>(n * q_cols), 4);
            Cache k = make_cache(random_values(n_kv * static_cast<size_t>(kv_cols), 5), kv_type);
            Cache v = make_cache(random_values(n_kv * static_cast<size_t>(kv_cols), 6), kv_type);
            for (int n_threads : {1, 2, 3}) {
              std::vector<float> together(static_cast<size_t>(n * q_cols)), alone(together.size());
              const graph::Segment all{0, n, pos0, 0};
              simd_attention(q.data(), k.data(kv_type), v.data(kv_type), kv_type,
                             std::span(&all, 1), p, nullptr, together.data(), n_threads, isa);
              for (int64_t t = 0; t < n; ++t) {
                const graph::Segment one{0, 1, pos0 + t, 0};
                simd_attention(q.data() + t * q_cols, k.data(kv_type), v.data(kv_type), kv_type,
                               std::span(&one, 1), p, nullptr, alone.data() + t * q_cols, n_threads,
                               isa);
              }
              EXPECT_EQ(together, alone) << isa_name(isa) << " heads " << c.n_head << "/"
                                         << c.n_head_kv << " dim " << c.head_dim << " window "
                                         << c.window << " pos0 " << pos0 << " tokens " << n
                                         << " threads " << n_threads;
              ++tested;
            }
          }
        }
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_EQ(tested, 4 * 2 * 4 * 6 * 3 * static_cast<int>(simd_levels().size()));
}

TEST(AttentionSimd, RejectsScalarLevelBadCacheTypesAndHeadCounts) {
  std::vector<float> x(64, 0.0f);
  graph::AttentionParams p{4, 4, 8, 8, 1.0f, 0};
  const graph::Segment one{0, 1, 0, 0};
  auto run = [&](TensorType kv_type, Isa isa) {
    simd_attention(x.data(), x.data(), x.data(), kv_type, std::span(&one, 1), p, nullptr, x.data(),
                   1, isa);
  };
  EXPECT_THROW(run(TensorType::F32, Isa::Scalar), Error);
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_THROW(run(TensorType::Q8_0, simd_levels()[0]), Error);  // F32 or F16 caches only
  p.n_head_kv = 3;  // 4 query heads do not split over 3 kv heads
  EXPECT_THROW(run(TensorType::F32, simd_levels()[0]), Error);
}

// Relative error of the vectorized e^x against e^x in double over [-100, 88] where the
// result is a normal float; below FLT_MIN (x < -87.3) the results are denormals, whose
// spacing is 2^-149: there the error is bounded by one such step.
TEST(AttentionSimd, ExpIsAccurateOverTheFloatRange) {
  constexpr double kMaxRelative = 2.5e-7;  // ~2 ulps
  const int64_t n = 1 << 21;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] =
        static_cast<float>(-100.0 + 188.0 * static_cast<double>(i) / (n - 1));
  }
  for (Isa isa : simd_levels()) {
    std::vector<float> out(x.size());
    simd_exp(x.data(), n, out.data(), isa);
    double max_relative = 0.0, max_denormal = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      double ref = std::exp(double{x[i]});
      double err = std::fabs(double{out[i]} - ref);
      if (ref >= FLT_MIN) {
        max_relative = std::max(max_relative, err / ref);
      } else {
        max_denormal = std::max(max_denormal, err);
      }
    }
    EXPECT_LE(max_relative, kMaxRelative) << isa_name(isa);
    EXPECT_LE(max_denormal, std::numeric_limits<float>::denorm_min()) << isa_name(isa);
    RecordProperty(std::string("max_relative_error_") + std::string(isa_name(isa)),
                   std::to_string(max_relative));
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// The F16 cache append: F16C's rounding against f32_to_f16, bit for bit, over a spread of
// every float's bit patterns (normal, subnormal and overflowing halves, both signs), the
// ties of each kind, and the specials; a NaN must stay a NaN (its payload may differ).
TEST(AttentionSimd, F16StoreMatchesTheReferenceBits) {
  std::vector<float> x;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 4093) {
    const auto b = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  for (uint32_t tie : {0x3f801000u, 0x3f803000u, 0x33000000u, 0x33c00000u, 0x387fe000u, 0x477fefffu,
                       0x477ff000u}) {  // halfway cases, normal and subnormal
    for (uint32_t sign : {0u, 0x80000000u}) {
      float f;
      const uint32_t b = tie | sign;
      std::memcpy(&f, &b, 4);
      x.push_back(f);
    }
  }
  for (float f : {0.0f, -0.0f, 65504.0f, 65520.0f, INFINITY, -INFINITY, NAN}) x.push_back(f);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = f32_to_f16(x[i]);
  for (Isa isa : simd_levels()) {
    std::vector<uint16_t> got(x.size());
    simd_to_f16(x.data(), n, got.data(), isa);
    int64_t differing = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const bool nan = (want[i] & 0x7c00u) == 0x7c00u && (want[i] & 0x3ffu) != 0;
      if (nan) {
        EXPECT_TRUE((got[i] & 0x7c00u) == 0x7c00u && (got[i] & 0x3ffu) != 0) << i;
      } else if (got[i] != want[i]) {
        ++differing;
      }
    }
    EXPECT_EQ(differing, 0) << isa_name(isa);
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

TEST(AttentionSimd, ExpHandlesExtremes) {
  const float in[] = {-INFINITY, -1000.0f, -104.0f, 0.0f, 89.0f, 1000.0f, INFINITY, NAN, -0.0f};
  constexpr int64_t kN = 9;
  for (Isa isa : simd_levels()) {
    float out[kN];
    simd_exp(in, kN, out, isa);
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], 0.0f);
    EXPECT_EQ(out[2], 0.0f);  // e^-104 ~ 6.8e-46 rounds to 0
    EXPECT_EQ(out[3], 1.0f);
    EXPECT_EQ(out[4], INFINITY);
    EXPECT_EQ(out[5], INFINITY);
    EXPECT_EQ(out[6], INFINITY);
    EXPECT_TRUE(std::isnan(out[7]));
    EXPECT_EQ(out[8], 1.0f);
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// Gates over the whole useful range and beyond (e^-x overflows for x < -88.7), n not a
// multiple of 8. The reference evaluates silu with expf and GELU through 1 + tanh(u),
// whose float rounding near tanh = -1 costs up to ~1 ulp of 1 (1.2e-7) times |gate|; the
// SIMD forms (x / (1 + e^-t)) are accurate to a few ulps. So the bound is absolute in
// |gate * up|: 4e-7 * |gate * up| + 1e-30.
TEST(AttentionSimd, GatedActivationsMatchScalarReference) {
  const int64_t n = 4099;
  std::vector<float> gate = random_values(static_cast<size_t>(n), 11, 6.0f);
  std::vector<float> up = random_values(static_cast<size_t>(n), 12);
  gate[0] = -200.0f;
  gate[1] = 200.0f;
  gate[2] = -90.0f;
  gate[3] = 0.0f;
  for (Isa isa : simd_levels()) {
    std::vector<float> ref(gate.size()), out(gate.size(), NAN);
    swiglu(gate.data(), up.data(), n, ref.data());
    simd_swiglu(gate.data(), up.data(), n, out.data(), isa);
    for (size_t i = 0; i < gate.size(); ++i) {
      EXPECT_NEAR(out[i], ref[i], 4e-7 * std::fabs(gate[i] * up[i]) + 1e-30)
          << isa_name(isa) << " swiglu gate " << gate[i];
    }
    geglu(gate.data(), up.data(), n, ref.data());
    simd_geglu(gate.data(), up.data(), n, out.data(), isa);
    for (size_t i = 0; i < gate.size(); ++i) {
      EXPECT_NEAR(out[i], ref[i], 4e-7 * std::fabs(gate[i] * up[i]) + 1e-30)
          << isa_name(isa) << " geglu gate " << gate[i];
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// GELU (erf form) against the formula in double precision over [-12, 12] and a few far
// values: relative 1e-6 of the exact value, the negative tail included (its values fall to
// ~1e-33, where the scalar reference's float 1 + erf loses all to cancellation), plus what
// e^-z^2 makes of the float rounding of z = |x| / sqrt 2 (2 z^2 ulps: 1.2e-7 x^2); against
// the scalar reference an absolute 2e-7 |x| (one float ulp of the 1 + erf it rounds).
TEST(AttentionSimd, GeluMatchesFormulaAndScalarReference) {
  std::vector<float> x = random_values(4099, 17, 12.0f);
  for (float special : {0.0f, -0.0f, 1e-30f, -1e-30f, 40.0f, -13.0f, 3e38f, INFINITY}) {
    x.push_back(special);
  }
  const auto n = static_cast<int64_t>(x.size());
  std::vector<float> ref(x.size()), out(x.size(), NAN);
  gelu(x.data(), n, ref.data());
  for (Isa isa : simd_levels()) {
    simd_gelu(x.data(), n, out.data(), isa);
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = 0.5 * double{x[i]} * std::erfc(-double{x[i]} / std::sqrt(2.0));
      if (std::isinf(want)) {
        EXPECT_EQ(out[i], want) << isa_name(isa) << " x " << x[i];
        continue;
      }
      const double x2 = double{x[i]} * x[i];
      EXPECT_NEAR(out[i], want, (1e-6 + 1.2e-7 * x2) * std::fabs(want) + 1e-38)
          << isa_name(isa) << " x " << x[i];
      EXPECT_NEAR(out[i], ref[i], 2e-7 * std::fabs(x[i]) + 1e-38) << isa_name(isa) << " x " << x[i];
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// RMS normalization per group, with and without weights, groups that are and are not a
// multiple of 8, values from 1e-3 to 1e4. Both sum the squares in double (orders differ),
// so the scale 1 / rms can differ in its last bit: 2.5e-7 relative to each output.
TEST(AttentionSimd, RmsNormMatchesScalarReference) {
  for (int64_t group : {int64_t{576}, int64_t{83}, int64_t{5}}) {
    const int64_t n = 3 * group;
    std::vector<float> x = random_values(static_cast<size_t>(n), 15, 3.0f);
    std::vector<float> w = random_values(static_cast<size_t>(group), 16);
    for (int64_t i = 0; i < group; ++i) x[static_cast<size_t>(group + i)] *= 1e4f;
    for (int64_t i = 0; i < group; ++i) x[static_cast<size_t>(2 * group + i)] *= 1e-3f;
    for (const float* weights : std::vector<const float*>{nullptr, w.data()}) {
      std::vector<float> ref(x.size()), out(x.size(), NAN);
      rms_norm(x.data(), weights, group, n, 1e-6f, ref.data());
      for (Isa isa : simd_levels()) {
        simd_rms_norm(x.data(), weights, group, n, 1e-6f, out.data(), isa);
        for (size_t i = 0; i < x.size(); ++i) {
          EXPECT_NEAR(out[i], ref[i], 2.5e-7 * std::fabs(ref[i]))
              << isa_name(isa) << " group " << group << " value " << i;
        }
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// gpt-oss's clamped SwiGLU: the scalar reference against the formula in double precision
// (gate clamped above at the limit, up to [-limit, limit], out = g sigmoid(alpha g) (u + 1)),
// then each SIMD level against the scalar one, with gates and ups past both clamps. Float
// evaluation costs a few ulps of the output (4e-7 relative), plus, for negative gates, the
// rounding of alpha g (~1e-7 relative) that e^(-alpha g) turns into a relative error of
// ~1e-7 |alpha g|.
TEST(AttentionSimd, SwiGluOaiMatchesFormulaAndScalarReference) {
  const int64_t n = 1027;
  std::vector<float> gate = random_values(static_cast<size_t>(n), 13, 6.0f);
  std::vector<float> up = random_values(static_cast<size_t>(n), 14, 6.0f);
  gate[0] = -200.0f;
  gate[1] = 200.0f;  // clamped to 7
  up[1] = -50.0f;    // clamped to -7
  gate[2] = 7.5f;
  up[2] = 7.5f;
  const graph::SwiGluOaiParams p;  // alpha 1.702, limit 7
  std::vector<float> ref(gate.size()), out(gate.size(), NAN);
  swiglu_oai(gate.data(), up.data(), n, p, ref.data());
  auto tolerance = [&](double v, size_t i) {
    return (4e-7 + 2e-7 * std::fabs(1.702 * gate[i])) * std::fabs(v) + 1e-30;
  };
  for (size_t i = 0; i < gate.size(); ++i) {
    double g = std::min(double{gate[i]}, 7.0), u = std::clamp(double{up[i]}, -7.0, 7.0);
    double want = g / (1.0 + std::exp(-1.702 * g)) * (u + 1.0);
    EXPECT_NEAR(ref[i], want, tolerance(want, i)) << "gate " << gate[i] << " up " << up[i];
  }
  EXPECT_NEAR(ref[1], 7.0 / (1.0 + std::exp(-1.702 * 7.0)) * -6.0, 1e-5);
  for (Isa isa : simd_levels()) {
    simd_swiglu_oai(gate.data(), up.data(), n, p.alpha, p.limit, out.data(), isa);
    for (size_t i = 0; i < gate.size(); ++i) {
      EXPECT_NEAR(out[i], ref[i], tolerance(ref[i], i))
          << isa_name(isa) << " gate " << gate[i] << " up " << up[i];
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

}  // namespace
}  // namespace tern::cpu
