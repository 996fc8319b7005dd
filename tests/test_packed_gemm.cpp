// The packed GEMM (cpu/packed_gemm.h) against double sums of the table's dequantized weights
// and the kernel's own quantized activations, for every packable type and SIMD level this
// CPU runs, on odd shapes: rows not a multiple of the 8-row tile, token counts around the
// 4-token kernel, one and many blocks, one and three threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/matmul.h"
#include "cpu/packed_gemm.h"
#include "cpu/packed_gemm_kernels.h"
#include "tern/error.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<Isa> simd_levels() {
  std::vector<Isa> levels;
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (isa <= detected_isa()) levels.push_back(isa);
  }
  return levels;
}

ActFormat act_format_of(TensorType type) {
  switch (type_traits(type).vec_dot_type) {
    case TensorType::Q8_1:
      return ActFormat::Q8_1;
    case TensorType::Q8_K:
      return ActFormat::Q8_K;
    default:
      return ActFormat::Q8_0;
  }
}

// x as the kernel sees it for weights of `type`: quantized by the level's quantizer in the
// type's activation format; values (dequantized) and the per-block scaled sums.
struct Acts {
  ActFormat format;
  int64_t cols;
  std::vector<float> values, sums;
};

Acts quantized_activations(const std::vector<float>& x, int64_t cols, Isa isa, TensorType type) {
  auto quantize = isa == Isa::Avx512 ? avx512::quantize_packed_acts : avx2::quantize_packed_acts;
  int64_t n = static_cast<int64_t>(x.size()) / cols;
  int64_t nb = cols / kPackBlock;
  Acts acts{act_format_of(type), cols, std::vector<float>(x.size()), std::vector<float>(n * nb)};
  std::vector<int8_t> q(x.size());
  std::vector<float> d(acts.sums.size());
  for (int64_t t = 0; t < n; ++t) {
    quantize(acts.format, x.data() + t * cols, cols, q.data() + t * cols, kPackBlock,
             d.data() + t * nb, acts.sums.data() + t * nb, 1);
    for (int64_t c = 0; c < cols; ++c) {
      acts.values[static_cast<size_t>(t * cols + c)] =
          d[static_cast<size_t>(t * nb + c / kPackBlock)] * q[static_cast<size_t>(t * cols + c)];
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
  if (x.format == ActFormat::Q8_1) {
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

constexpr TensorType kPackedTypes[] = {TensorType::Q4_0, TensorType::Q4_1,  TensorType::Q5_0,
                                       TensorType::Q5_1, TensorType::Q8_0,  TensorType::IQ4_NL,
                                       TensorType::Q3_K, TensorType::Q4_K,  TensorType::Q5_K,
                                       TensorType::Q6_K, TensorType::IQ4_XS};

TEST(PackedGemm, MatchesDequantizedReferenceForEveryTypeAndLevel) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : kPackedTypes) {
      const TypeTraits& traits = type_traits(type);
      ASSERT_TRUE(has_packed_gemm(type, isa)) << traits.name;
      for (int64_t cols : {int64_t{256}, int64_t{2304}}) {
        for (int64_t rows : {int64_t{1}, int64_t{8}, int64_t{13}}) {
          size_t stride = *row_bytes(type, cols);
          std::vector<float> wf = random_values(static_cast<size_t>(rows * cols), 7);
          std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r) {
            traits.from_float(wf.data() + r * cols, w.data() + stride * static_cast<size_t>(r),
                              cols);
          }
          std::vector<float> wd(wf.size());
          dequantize(type, w.data(), wd.data(), rows * cols);
          for (int64_t n : {int64_t{1}, int64_t{4}, int64_t{7}}) {
            std::vector<float> x = random_values(static_cast<size_t>(n * cols), 8);
            Acts xq = quantized_activations(x, cols, isa, type);
            for (int threads : {1, 3}) {
              std::vector<float> y(static_cast<size_t>(n * rows), NAN);
              MatmulTarget target{type, w.data(), rows, y.data()};
              packed_matmuls({&target, 1}, cols, x.data(), n, threads, isa);
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

// The activations are the row kernels' formats: Q8_K shares one scale per 256 values, Q8_0
// rounds its scale to fp16.
TEST(PackedGemm, ActivationFormatsFollowTheRowKernels) {
  for (Isa isa : simd_levels()) {
    auto quantize = isa == Isa::Avx512 ? avx512::quantize_packed_acts : avx2::quantize_packed_acts;
    std::vector<float> x = random_values(256, 3);
    x[5] = 50.0f;  // the largest value, in block 0
    std::vector<int8_t> q(256);
    std::vector<float> d(8), s(8);
    quantize(ActFormat::Q8_K, x.data(), 256, q.data(), kPackBlock, d.data(), s.data(), 1);
    for (float v : d) EXPECT_EQ(v, 50.0f / 127.0f);
    quantize(ActFormat::Q8_0, x.data(), 256, q.data(), kPackBlock, d.data(), s.data(), 1);
    EXPECT_NE(d[0], 50.0f / 127.0f);
    EXPECT_NEAR(d[0], 50.0f / 127.0f, 50.0f / 127.0f / 1024);
    EXPECT_LT(d[1], 0.1f);
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
      ASSERT_LT(n, kMinPackedTokens);
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
