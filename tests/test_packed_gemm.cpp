// The packed GEMM (backends/cpu/packed_gemm.h) against double sums of the table's dequantized
// weights and the row kernels' quantized activations (which the GEMM reuses), for every packable
// type and SIMD level this CPU runs, on odd shapes: rows not a multiple of the 8- or 16-row tile,
// token counts around the 4-token kernel and the 16-token chunk, one and many blocks, one and three
// threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/packed_gemm.h"
#include "backends/cpu/packed_gemm_kernels.h"
#include "cpu_test_support.h"
#include "tern/error.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

using test::random_values;
using test::simd_levels;

// x as the kernels see it for weights of `type`: quantized by the level's quantizer of the
// type's activation format (vec_dot_type); values (dequantized) and, for Q8_1, the fp16
// scaled block sums d * sum(q) its minimum terms use.
struct Acts {
  TensorType format;
  int64_t cols;
  std::vector<float> values, sums;
};

Acts quantized_activations(const std::vector<float>& x, int64_t cols, Isa isa, TensorType type) {
  TensorType format = type_kernels(type).vec_dot_type;
  int64_t n = static_cast<int64_t>(x.size()) / cols;
  size_t stride = *row_bytes(format, cols);
  std::vector<uint8_t> bytes(stride * static_cast<size_t>(n));
  quantize_rows(format, x.data(), n, cols, bytes.data(), 1, isa);
  Acts acts{format, cols, std::vector<float>(x.size()), {}};
  dequantize(format, bytes.data(), acts.values.data(), n * cols);
  if (format == TensorType::Q8_1) {
    for (int64_t t = 0; t < n; ++t) {
      const auto* blocks =
          reinterpret_cast<const BlockQ8_1*>(bytes.data() + stride * static_cast<size_t>(t));
      for (int64_t b = 0; b < cols / kPackBlock; ++b) acts.sums.push_back(f16_to_f32(blocks[b].s));
    }
  }
  return acts;
}

// The double dot product of a dequantized weight row and token t, and the tolerance of the
// kernel's float result: integer products are exact, so 1e-5 of sum |terms| bounds the float
// rounding and stays far below one wrong quant, scale or minimum. Q8_1's fp16 sums add up to
// |min| |s| 2^-11 per block to the minimum term (|min| <= the block's max |w|).
std::pair<double, double> reference_dot(const float* w, const Acts& x, int64_t t) {
  double ref = 0.0, mag = 0.0, sum_error = 0.0;
  const float* xt = x.values.data() + t * x.cols;
  for (int64_t c = 0; c < x.cols; ++c) {
    ref += double{w[c]} * xt[c];
    mag += std::fabs(double{w[c]} * xt[c]);
  }
  if (x.format == TensorType::Q8_1) {
    for (int64_t b = 0; b < x.cols / kPackBlock; ++b) {
      float w_max = 0.0f;
      for (int i = 0; i < kPackBlock; ++i)
        w_max = std::max(w_max, std::fabs(w[b * kPackBlock + i]));
      double s = x.sums[static_cast<size_t>(t * (x.cols / kPackBlock) + b)];
      sum_error += w_max * std::fabs(s) * std::ldexp(1.0, -11) * 1.01;
    }
  }
  return {ref, 1e-5 * mag + 1e-6 + sum_error};
}

constexpr TensorType kPackedTypes[] = {TensorType::Q4_0, TensorType::Q4_1,   TensorType::Q5_0,
                                       TensorType::Q5_1, TensorType::Q8_0,   TensorType::IQ4_NL,
                                       TensorType::Q3_K, TensorType::Q4_K,   TensorType::Q5_K,
                                       TensorType::Q6_K, TensorType::IQ4_XS, TensorType::MXFP4};

TEST(PackedGemm, MatchesDequantizedReferenceForEveryTypeAndLevel) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : kPackedTypes) {
      const TypeTraits& traits = type_traits(type);
      ASSERT_TRUE(has_packed_gemm(type, isa)) << traits.name;
      // 288: an odd number of blocks (AMX pairs a token's blocks; the last pair is half).
      for (int64_t cols : {int64_t{256}, int64_t{2304}, int64_t{288}}) {
        if (cols % traits.block_size != 0) continue;
        // 45: a whole AMX tile of 32 rows, then a partial one.
        for (int64_t rows : {int64_t{1}, int64_t{8}, int64_t{13}, int64_t{29}, int64_t{45}}) {
          size_t stride = *row_bytes(type, cols);
          std::vector<float> wf = random_values(static_cast<size_t>(rows * cols), 7);
          std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r) {
            traits.from_float(wf.data() + r * cols, w.data() + stride * static_cast<size_t>(r),
                              cols);
          }
          std::vector<float> wd(wf.size());
          dequantize(type, w.data(), wd.data(), rows * cols);
          // 13 tokens: a wide level's two-group calls, a single group and a partial one;
          // 37: two whole 16-token chunks (AMX), then a group and a partial one.
          for (int64_t n : {int64_t{1}, int64_t{4}, int64_t{7}, int64_t{13}, int64_t{37}}) {
            std::vector<float> x = random_values(static_cast<size_t>(n * cols), 8);
            Acts xq = quantized_activations(x, cols, isa, type);
            for (int threads : {1, 3}) {
              // A guard of 4 tokens' rows past y: no level may write a padding token.
              std::vector<float> y(static_cast<size_t>((n + 4) * rows), NAN);
              MatmulTarget target{type, w.data(), rows, y.data()};
              packed_matmuls({&target, 1}, cols, x.data(), n, threads, isa);
              for (size_t i = static_cast<size_t>(n * rows); i < y.size(); ++i) {
                ASSERT_TRUE(std::isnan(y[i]))
                    << isa_name(isa) << " " << traits.name << " wrote past y";
              }
              for (int64_t t = 0; t < n; ++t) {
                for (int64_t r = 0; r < rows; ++r) {
                  auto [ref, tol] = reference_dot(wd.data() + r * cols, xq, t);
                  ASSERT_NEAR(y[static_cast<size_t>(t * rows + r)], ref, tol)
                      << isa_name(isa) << " " << traits.name << " cols " << cols << " rows " << rows
                      << " n " << n << " t " << t << " r " << r << " threads " << threads;
                }
              }
            }
          }
        }
      }
    }
  }
}

// Weights at the ends of their ranges (int8 -128/127, top nibbles, every sub-scale extreme)
// against activations of +-127 steps: the 16-bit partial sums must not saturate or wrap.
TEST(PackedGemm, ExtremeQuantsDoNotOverflow) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : kPackedTypes) {
      const TypeTraits& traits = type_traits(type);
      const int64_t cols = 256;
      size_t stride = *row_bytes(type, cols);
      // Large alternating weights push every quant to its extreme, and random bytes cover the
      // raw encodings (scales included) no quantizer would write.
      std::vector<float> wf(static_cast<size_t>(2 * cols));
      for (size_t i = 0; i < wf.size(); ++i) wf[i] = (i % 3 == 0 ? -1.0f : 1.0f) * 100.0f;
      std::vector<uint8_t> w(2 * stride);
      traits.from_float(wf.data(), w.data(), cols);
      std::mt19937 rng(5);
      for (size_t i = stride; i < 2 * stride; ++i) w[i] = static_cast<uint8_t>(rng());
      std::vector<float> wd(static_cast<size_t>(2 * cols));
      dequantize(type, w.data(), wd.data(), 2 * cols);
      bool finite = true;
      for (float v : wd) finite = finite && std::isfinite(v);
      int rows = finite ? 2 : 1;  // a random fp16 scale may be Inf/NaN: then row 0 only
      std::vector<float> x(static_cast<size_t>(4 * cols));
      for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? 1.0f : -1.0f);
      Acts xq = quantized_activations(x, cols, isa, type);
      std::vector<float> y(8);
      MatmulTarget target{type, w.data(), rows, y.data()};
      packed_matmuls({&target, 1}, cols, x.data(), 4, 1, isa);
      for (int t = 0; t < 4; ++t) {
        for (int r = 0; r < rows; ++r) {
          auto [ref, tol] = reference_dot(wd.data() + r * cols, xq, t);
          EXPECT_NEAR(y[static_cast<size_t>(t * rows + r)], ref, tol)
              << isa_name(isa) << " " << traits.name << " t " << t << " r " << r;
        }
      }
    }
  }
}

// One call over weights of several types with the same activations (Q8_K: a Q4_K_M file's
// q/k/v, an IQ4_XS file's Q6_K beside IQ4_XS): where not every type sums K-quant
// super-blocks, AMX takes the activations by blocks, not pairs, so its super-block products
// run at K = 32 too. Each target as against the dequantized reference.
TEST(PackedGemm, MixedTypesInOneCallMatchTheReference) {
  const std::vector<std::vector<TensorType>> calls = {{TensorType::Q4_K, TensorType::Q6_K},
                                                      {TensorType::IQ4_XS, TensorType::Q6_K}};
  const int64_t cols = 512, rows = 40, n = 37;
  for (Isa isa : simd_levels()) {
    for (const auto& types : calls) {
      std::vector<std::vector<uint8_t>> w;
      std::vector<std::vector<float>> wd, y;
      std::vector<MatmulTarget> targets;
      for (size_t i = 0; i < types.size(); ++i) {
        const TypeTraits& traits = type_traits(types[i]);
        size_t stride = *row_bytes(types[i], cols);
        std::vector<float> wf = random_values(static_cast<size_t>(rows * cols), 20 + i);
        w.emplace_back(stride * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          traits.from_float(wf.data() + r * cols, w.back().data() + stride * static_cast<size_t>(r),
                            cols);
        }
        wd.emplace_back(wf.size());
        dequantize(types[i], w.back().data(), wd.back().data(), rows * cols);
        y.emplace_back(static_cast<size_t>(n * rows));
      }
      for (size_t i = 0; i < types.size(); ++i)
        targets.push_back({types[i], w[i].data(), rows, y[i].data()});
      std::vector<float> x = random_values(static_cast<size_t>(n * cols), 30);
      packed_matmuls(targets, cols, x.data(), n, 2, isa);
      for (size_t i = 0; i < types.size(); ++i) {
        Acts xq = quantized_activations(x, cols, isa, types[i]);
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            auto [ref, tol] = reference_dot(wd[i].data() + r * cols, xq, t);
            ASSERT_NEAR(y[i][static_cast<size_t>(t * rows + r)], ref, tol)
                << isa_name(isa) << " " << type_traits(types[i]).name << " beside "
                << type_traits(types[1 - i]).name << " t " << t << " r " << r;
          }
        }
      }
    }
  }
}

// Batching must not change the math (the session tests hold logits to 1e-5 across micro-batch
// sizes): the packed GEMM and the row kernels see the same activation values, so they agree
// to float rounding.
TEST(PackedGemm, AgreesWithTheRowKernels) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : kPackedTypes) {
      const TypeTraits& traits = type_traits(type);
      const int64_t cols = 512, rows = 16, n = 8;
      size_t stride = *row_bytes(type, cols);
      std::vector<float> wf = random_values(static_cast<size_t>(rows * cols), 11);
      std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        traits.from_float(wf.data() + r * cols, w.data() + stride * static_cast<size_t>(r), cols);
      }
      std::vector<float> wd(wf.size());
      dequantize(type, w.data(), wd.data(), rows * cols);
      std::vector<float> x = random_values(static_cast<size_t>(n * cols), 12);
      for (size_t i = 0; i < x.size(); ++i) x[i] += 3.0f;  // large block sums: offsets matter
      Acts xq = quantized_activations(x, cols, isa, type);
      std::vector<float> packed(static_cast<size_t>(n * rows)), by_rows(packed.size());
      MatmulTarget target{type, w.data(), rows, packed.data()};
      packed_matmuls({&target, 1}, cols, x.data(), n, 1, isa);
      ASSERT_LT(n, kMinPackedTokens);  // so simd_matmul takes the row kernels
      simd_matmul(type, w.data(), rows, cols, x.data(), n, by_rows.data(), 1, isa);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          auto [ref, tol] = reference_dot(wd.data() + r * cols, xq, t);
          size_t i = static_cast<size_t>(t * rows + r);
          EXPECT_NEAR(packed[i], by_rows[i], 2 * tol)
              << isa_name(isa) << " " << traits.name << " t " << t << " r " << r << " ref " << ref;
        }
      }
    }
  }
}

TEST(PackedGemm, RefusesTypesWithoutAPackedForm) {
  for (Isa isa : simd_levels()) {
    EXPECT_FALSE(has_packed_gemm(TensorType::Q2_K, isa));
    EXPECT_FALSE(has_packed_gemm(TensorType::F16, isa));
    std::vector<uint8_t> w(2 * 256);
    std::vector<float> x(256), y(1);
    MatmulTarget target{TensorType::F16, w.data(), 1, y.data()};
    EXPECT_THROW(packed_matmuls({&target, 1}, 256, x.data(), 1, 1, isa), Error);
  }
  EXPECT_FALSE(has_packed_gemm(TensorType::Q4_0, Isa::Scalar));
}

}  // namespace
}  // namespace tern::cpu
