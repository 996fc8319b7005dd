// The CUDA kernels' per-block math (backends/cuda/*.cuh), compiled for the host: every
// natively supported type's dequant8, block_dot and row walk against the type table's CPU
// dequantization, on random, extreme and quantized blocks. Needs no GPU; the same source is
// what nvcc compiles for the device (there __dp4a and __vsub4 replace the host fallbacks
// checked here against their definitions).
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../backends/cuda/cuda_types.cuh"
#include "types/type_table.h"

namespace tern::cuda {
namespace {

constexpr TensorType kNativeTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,   TensorType::Q4_1,
    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q2_K,   TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

bool is_listed_native(TensorType type) {
  for (TensorType t : kNativeTypes) {
    if (t == type) return true;
  }
  return false;
}

// ---- the device primitives' host fallbacks against their definitions ----

TEST(CudaBlocks, Dp4aAndVsub4MatchTheirDefinitions) {
  std::mt19937 rng(1);
  std::vector<uint32_t> words = {0u,          0xffffffffu, 0x7f7f7f7fu,
                                 0x80808080u, 0x81818181u, 0x01010101u};
  for (int i = 0; i < 2000; ++i) words.push_back(rng());
  for (uint32_t a : words) {
    for (int i = 0; i < 8; ++i) {
      const uint32_t b = i < 6 ? words[i] : rng();
      int dot = 12345;
      int diff = 0;
      for (int k = 0; k < 4; ++k) {
        const auto ab = static_cast<int8_t>(a >> (8 * k));
        const auto bb = static_cast<int8_t>(b >> (8 * k));
        dot += ab * bb;
        diff |= static_cast<int>(static_cast<uint8_t>((a >> (8 * k)) - (b >> (8 * k)))) << (8 * k);
      }
      ASSERT_EQ(dp4a(static_cast<int>(a), static_cast<int>(b), 12345), dot);
      ASSERT_EQ(vsub4(static_cast<int>(a), static_cast<int>(b)), diff);
    }
  }
}

TEST(CudaBlocks, Iq4LevelsMatchTheTable) {
  for (int idx = 0; idx < 16; ++idx) {
    const int word = idx | ((15 - idx) << 8) | (((idx + 5) % 16) << 16) | (((idx * 7) % 16) << 24);
    const int levels = detail::iq4_levels(word);
    EXPECT_EQ(sbyte(levels, 0), kIq4nlValues[idx]);
    EXPECT_EQ(sbyte(levels, 1), kIq4nlValues[15 - idx]);
    EXPECT_EQ(sbyte(levels, 2), kIq4nlValues[(idx + 5) % 16]);
    EXPECT_EQ(sbyte(levels, 3), kIq4nlValues[(idx * 7) % 16]);
  }
}

// ---- activation quantization: |d * q - x| <= d / 2, d = absmax / 127, s = d * sum(q) ----

TEST(CudaBlocks, ActivationBlocksRoundToNearest) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 500; ++trial) {
    float x[kBlock32];
    const float scale = std::ldexp(1.0f, trial % 40 - 20);
    for (float& v : x) v = normal(rng) * scale;
    if (trial % 7 == 0) x[trial % kBlock32] *= 1000.0f;  // one spike
    ActBlock a;
    quantize_act_block(x, a);
    float amax = 0.0f;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    ASSERT_EQ(a.d, amax / 127.0f);
    int sum = 0;
    for (int j = 0; j < kBlock32; ++j) {
      ASSERT_LE(std::abs(a.qs[j]), 127);
      // Half a step, plus the rounding of x * (1 / d) (a few ulp of |x| / d <= 127).
      ASSERT_LE(std::fabs(a.d * a.qs[j] - x[j]), a.d * (0.5f + 1e-5f)) << j;
      sum += a.qs[j];
    }
    ASSERT_EQ(a.s, a.d * static_cast<float>(sum));
  }
  float zeros[kBlock32] = {};
  ActBlock a;
  quantize_act_block(zeros, a);
  EXPECT_EQ(a.d, 0.0f);
  EXPECT_EQ(a.s, 0.0f);
  for (int8_t q : a.qs) EXPECT_EQ(q, 0);
}

// ---- blocks of every type ----

// The weight offset/min the block dots subtract separately (they cancel against the
// quant products, so the tolerance must scale with them): the largest |offset term| per
// value. Types whose offset is folded into the signed quant bytes have none.
float offset_bound(const BlockQ4_0& b) { return 8.0f * std::fabs(half_to_float(b.d)); }
float offset_bound(const BlockQ5_0& b) { return 16.0f * std::fabs(half_to_float(b.d)); }
float offset_bound(const BlockQ4_1& b) { return std::fabs(half_to_float(b.m)); }
float offset_bound(const BlockQ5_1& b) { return std::fabs(half_to_float(b.m)); }
float offset_bound(const BlockQ2_K& b) { return 15.0f * std::fabs(half_to_float(b.dmin)); }
float offset_bound(const BlockQ4_K& b) { return 63.0f * std::fabs(half_to_float(b.dmin)); }
float offset_bound(const BlockQ5_K& b) { return 63.0f * std::fabs(half_to_float(b.dmin)); }
template <typename Block>
float offset_bound(const Block&) {
  return 0.0f;
}

enum class Source { kRandomBytes, kExtremeBytes, kRepeatedByte, kQuantized };

struct Sample {
  std::vector<uint8_t> bytes;  // one block
  std::vector<float> values;   // the CPU reference dequantization
};

// One block of `type` from `source`, or nothing when its values are not all finite and
// below 1e4 in magnitude (random f16 scale bits are often inf, NaN or huge).
bool make_block(const TypeTraits& traits, Source source, int index, std::mt19937& rng, Sample& s) {
  s.bytes.assign(traits.block_bytes, 0);
  s.values.assign(traits.block_size, 0.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  switch (source) {
    case Source::kRandomBytes:
      for (uint8_t& b : s.bytes) b = static_cast<uint8_t>(byte(rng));
      break;
    case Source::kExtremeBytes:  // quants at their ends: each byte 0x00, 0xff or random
      for (uint8_t& b : s.bytes) {
        const int pick = byte(rng) % 3;
        b = pick == 0 ? 0x00 : pick == 1 ? 0xff : static_cast<uint8_t>(byte(rng));
      }
      break;
    case Source::kRepeatedByte:
      std::memset(s.bytes.data(), index & 0xff, s.bytes.size());
      break;
    case Source::kQuantized: {
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(traits.block_size);
      const float scale = std::ldexp(1.0f, index % 12 - 8);
      for (float& v : x) v = normal(rng) * scale;
      if (index % 5 == 1) x[index % x.size()] *= 50.0f;  // an outlier
      if (index % 5 == 2)
        for (float& v : x) v = std::fabs(v);  // one sign
      if (index % 5 == 3)
        for (size_t j = 0; j < x.size(); ++j) x[j] = (j % 2 ? 1.0f : -1.0f) * scale;
      traits.from_float(x.data(), s.bytes.data(), traits.block_size);
      break;
    }
  }
  dequantize(traits.type, s.bytes.data(), s.values.data(), traits.block_size);
  for (float v : s.values) {
    if (!std::isfinite(v) || std::fabs(v) >= 1e4f) return false;
  }
  return true;
}

// Activation rows of n values: normal, all at +max, alternating +-max, or one spike.
std::vector<float> make_activations(int64_t n, int pattern, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (int64_t j = 0; j < n; ++j) {
    switch (pattern % 4) {
      case 0:
        x[j] = normal(rng);
        break;
      case 1:
        x[j] = 3.0f;
        break;
      case 2:
        x[j] = j % 2 ? -3.0f : 3.0f;
        break;
      default:
        x[j] = j % 29 == 3 ? 100.0f : 1e-3f * normal(rng);
        break;
    }
  }
  return x;
}

std::vector<ActBlock> quantize_row(const std::vector<float>& x) {
  std::vector<ActBlock> a(x.size() / kBlock32);
  for (size_t i = 0; i < a.size(); ++i) quantize_act_block(x.data() + i * kBlock32, a[i]);
  return a;
}

float act_value(const std::vector<ActBlock>& a, size_t j) {
  return a[j / kBlock32].d * static_cast<float>(a[j / kBlock32].qs[j % kBlock32]);
}

template <typename Block>
void check_dequant8(const Block& b, const Sample& s, const std::string& where) {
  // The host evaluates the CPU decoder's operations in the same order: equal. The bound
  // (4 ulp of the block's largest value) covers the device fusing d * q + m into an FMA.
  float amax = 0.0f;
  for (float v : s.values) amax = std::max(amax, std::fabs(v));
  const float tol = 4.0f * std::ldexp(amax, -23);
  constexpr int kChunk = kChunkValues<Block>;
  for (int j = 0; j < BlockGeometry<Block>::kValues / kChunk; ++j) {
    float v[kChunk];
    dequant8(b, j, v);
    for (int k = 0; k < kChunk; ++k) {
      ASSERT_NEAR(v[k], s.values[kChunk * j + k], tol) << where << " value " << kChunk * j + k;
    }
  }
}

template <typename Block>
void check_block_dot(const Block& b, const Sample& s, int pattern, std::mt19937& rng,
                     const std::string& where) {
  using G = BlockGeometry<Block>;
  const std::vector<float> x = make_activations(G::kValues, pattern, rng);
  const std::vector<ActBlock> a = quantize_row(x);
  float got = 0.0f;
  for (int u = 0; u < G::kValues / G::kUnitValues; ++u) got += block_dot(b, u, a.data());
  double ref_q = 0.0, ref_x = 0.0, magnitude = 0.0, act_error = 0.0;
  const double offset = offset_bound(b);
  for (int j = 0; j < G::kValues; ++j) {
    const double aq = act_value(a, j);
    ref_q += s.values[j] * aq;
    ref_x += static_cast<double>(s.values[j]) * x[j];
    magnitude += (std::fabs(s.values[j]) + offset) * std::fabs(aq);
    act_error += std::fabs(s.values[j]) * a[j / kBlock32].d * 0.5;
  }
  // Against the dequantized product: the kernel's float work is a few products and sums
  // per 16-32 values of exact int32 dot products, each rounding at 2^-24 relative to the
  // terms it combines (the offset terms included), so 1e-5 of their sum is ~10x margin.
  const double tol_q = 1e-5 * magnitude + 1e-30;
  ASSERT_NEAR(got, ref_q, tol_q) << where << " pattern " << pattern;
  // Against the float activations: the 8-bit rounding moves each x by at most d/2.
  ASSERT_NEAR(got, ref_x, act_error * (1 + 1e-5) + tol_q) << where << " pattern " << pattern;
}

// Calls f(traits, Block{}) for every type with native kernels (plain types both ways).
template <typename F>
void for_each_native(F&& f) {
  for (const TypeTraits& traits : all_types()) {
    visit_block(traits.type, true, [&](auto block) { f(traits, block); });
    visit_block(traits.type, false, [&](auto block) { f(traits, block); });
  }
}

TEST(CudaBlocks, NativeTypesAreExactlyTheIssuesList) {
  for (const TypeTraits& traits : all_types()) {
    const bool native = visit_block(traits.type, true, [](auto) {});
    EXPECT_EQ(native, is_listed_native(traits.type)) << traits.name;
  }
}

TEST(CudaBlocks, GeometryAgreesWithTheTypeTable) {
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    using G = BlockGeometry<Block>;
    const std::string name(traits.name);
    EXPECT_EQ(G::kValues % traits.block_size, 0) << name;
    EXPECT_EQ(sizeof(Block), G::kValues / traits.block_size * traits.block_bytes) << name;
    EXPECT_EQ(G::kValues % kChunkValues<Block>, 0) << name;
    if constexpr (G::kQuantized) {
      EXPECT_EQ(G::kValues % G::kUnitValues, 0) << name;
      EXPECT_EQ(G::kUnitValues % kBlock32, 0) << name;
    }
  });
}

// On the device, load_i32<kBlockAlign<Block>> reads a 32-bit word as one 4-byte load when
// the block size is a multiple of 4 and as two 2-byte loads otherwise; a 4-byte load from
// a 2-byte aligned address faults. The host reads with memcpy and cannot see that, so the
// offsets of every field the block dots read as words are checked here: words start
// every 4 bytes from the field, so the field must sit at a multiple of the alignment.
TEST(CudaBlocks, FieldsReadAsWordsKeepTheBlockAlignment) {
  auto expect_aligned = [](size_t offset, int align, const char* what) {
    EXPECT_EQ(offset % static_cast<size_t>(align), 0u) << what << " at byte " << offset;
  };
#define TERN_EXPECT_WORD_FIELD(Block, field) \
  expect_aligned(offsetof(Block, field), kBlockAlign<Block>, #Block "::" #field)
  TERN_EXPECT_WORD_FIELD(BlockQ4_0, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ4_1, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ5_0, qh);
  TERN_EXPECT_WORD_FIELD(BlockQ5_0, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ5_1, qh);
  TERN_EXPECT_WORD_FIELD(BlockQ5_1, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ8_0, qs);
  TERN_EXPECT_WORD_FIELD(BlockIQ4_NL, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ2_K, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ3_K, hmask);
  TERN_EXPECT_WORD_FIELD(BlockQ3_K, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ4_K, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ5_K, qh);
  TERN_EXPECT_WORD_FIELD(BlockQ5_K, qs);
  TERN_EXPECT_WORD_FIELD(BlockQ6_K, ql);
  TERN_EXPECT_WORD_FIELD(BlockQ6_K, qh);
  TERN_EXPECT_WORD_FIELD(BlockIQ4_XS, qs);
#undef TERN_EXPECT_WORD_FIELD
  expect_aligned(offsetof(ActBlock, qs), 4, "ActBlock::qs");  // read with load_i32<4>
  // A block's alignment must hold for every block of a row: its size keeps it.
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    if constexpr (BlockGeometry<Block>::kQuantized) {
      EXPECT_EQ(sizeof(Block) % kBlockAlign<Block>, 0u) << traits.name;
      EXPECT_LE(kBlockAlign<Block>, 16) << traits.name;  // check_matrix: rows 16-byte aligned
    }
  });
}

TEST(CudaBlocks, QuantizedBlocksMatchTheCpuDequantization) {
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    if constexpr (BlockGeometry<Block>::kQuantized) {
      std::mt19937 rng(static_cast<uint32_t>(traits.type) + 100);
      int checked[4] = {};
      for (int source = 0; source < 4; ++source) {
        const int attempts = source == 2 ? 256 : 3000;
        for (int i = 0; i < attempts && checked[source] < 300; ++i) {
          Sample s;
          if (!make_block(traits, static_cast<Source>(source), i, rng, s)) continue;
          Block b;
          std::memcpy(&b, s.bytes.data(), sizeof b);
          const std::string where = std::string(traits.name) + " source " + std::to_string(source) +
                                    " block " + std::to_string(i);
          check_dequant8(b, s, where);
          check_block_dot(b, s, checked[source], rng, where);
          ++checked[source];
        }
      }
      // Every source must have produced usable blocks, or the test checked little.
      for (int source = 0; source < 4; ++source) {
        EXPECT_GE(checked[source], source == 2 ? 40 : 300) << traits.name << " source " << source;
      }
    }
  });
}

TEST(CudaBlocks, PlainBlocksMatchTheCpuConversion) {
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    if constexpr (!BlockGeometry<Block>::kQuantized) {
      std::mt19937 rng(static_cast<uint32_t>(traits.type) + 200);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      constexpr int kValues = BlockGeometry<Block>::kValues;
      for (int i = 0; i < 200; ++i) {
        std::vector<float> x(kValues);
        for (float& v : x) v = normal(rng) * std::ldexp(1.0f, i % 30 - 15);
        Sample s;
        s.bytes.resize(sizeof(Block));
        s.values.resize(kValues);
        traits.from_float(x.data(), s.bytes.data(), kValues);
        dequantize(traits.type, s.bytes.data(), s.values.data(), kValues);
        Block b;
        std::memcpy(&b, s.bytes.data(), sizeof b);
        check_dequant8(b, s, std::string(traits.name) + " block " + std::to_string(i));
      }
    }
  });
}

// The kernels' row walk: lanes x units x tokens over several blocks, summed over the
// lanes, against the CPU dequantized rows times the (8-bit dequantized) activations.
TEST(CudaBlocks, RowDotOverLanesAndTokens) {
  constexpr int kTokens = 3;
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    using G = BlockGeometry<Block>;
    std::mt19937 rng(static_cast<uint32_t>(traits.type) + 300);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const int64_t n_blocks : {int64_t{1}, int64_t{7}, int64_t{40}}) {
      const int64_t n = n_blocks * G::kValues;
      std::vector<float> w(n);
      for (float& v : w) v = normal(rng) * 0.1f;
      std::vector<uint8_t> bytes(n_blocks * sizeof(Block));
      traits.from_float(w.data(), bytes.data(), n);
      std::vector<float> w_ref(n);
      dequantize(traits.type, bytes.data(), w_ref.data(), n);
      std::vector<Block> row(n_blocks);
      std::memcpy(row.data(), bytes.data(), bytes.size());

      std::vector<float> x(kTokens * n);
      for (float& v : x) v = normal(rng);
      std::vector<ActBlock> act;
      std::vector<float> x_used = x;  // what the kernel multiplies: 8-bit values if quantized
      int64_t x_stride = n;
      if constexpr (G::kQuantized) {
        act = quantize_row(x);
        x_stride = n / kBlock32;
        for (size_t j = 0; j < x.size(); ++j) x_used[j] = act_value(act, j);
      }
      const void* xp = G::kQuantized ? static_cast<const void*>(act.data()) : x.data();
      for (const int lanes : {1, 5, 32}) {
        float acc[kTokens] = {};
        for (int lane = 0; lane < lanes; ++lane) {
          row_dot<Block, kTokens>(row.data(), n_blocks, xp, x_stride, lane, lanes, acc);
        }
        for (int t = 0; t < kTokens; ++t) {
          double ref = 0.0, magnitude = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            const double xv = x_used[t * n + j];
            ref += static_cast<double>(w_ref[j]) * xv;
            magnitude += (std::fabs(w_ref[j]) + offset_bound(row[j / G::kValues])) * std::fabs(xv);
          }
          // Float sums of up to 10k terms in lane order, and block_dot's rounding relative
          // to its terms (offsets included): 1e-5 of the absolute sum.
          ASSERT_NEAR(acc[t], ref, 1e-5 * magnitude)
              << traits.name << " blocks " << n_blocks << " lanes " << lanes << " token " << t;
        }
      }
    }
  });
}

// get_rows / dequant_f16 walk rows in chunks: chunk c of a row is values c*8 .. c*8+7.
TEST(CudaBlocks, DequantChunksCoverTheRow) {
  for_each_native([](const TypeTraits& traits, auto block) {
    using Block = decltype(block);
    using G = BlockGeometry<Block>;
    std::mt19937 rng(static_cast<uint32_t>(traits.type) + 400);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t n = 5 * G::kValues;
    std::vector<float> w(n);
    for (float& v : w) v = normal(rng);
    std::vector<Block> row(n / G::kValues);
    traits.from_float(w.data(), row.data(), n);
    std::vector<float> ref(n), got(n);
    dequantize(traits.type, row.data(), ref.data(), n);
    constexpr int kChunk = kChunkValues<Block>;
    for (int64_t c = 0; c < n / kChunk; ++c) dequant_chunk(row.data(), c, got.data() + c * kChunk);
    float amax = 0.0f;
    for (float v : ref) amax = std::max(amax, std::fabs(v));
    for (int64_t j = 0; j < n; ++j) {
      ASSERT_NEAR(got[j], ref[j], 4.0f * std::ldexp(amax, -23))  // as check_dequant8
          << traits.name << " value " << j;
    }
  });
}

}  // namespace
}  // namespace tern::cuda
