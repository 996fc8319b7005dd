// The SIMD kernels of every type and level this CPU runs against scalar references:
// dot products against double sums of the table's dequantized values, activation
// quantizers against their reconstruction bound, simd_matmul's tiling against the dot
// kernels, and the thread pool and level selection.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/thread_pool.h"
#include "cpu_test_support.h"
#include "tern/error.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

using test::random_values;
using test::simd_levels;

// Quantized rows and their dequantized values.
struct Rows {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  size_t stride = 0;
};

Rows make_rows(TensorType type, int64_t n_rows, int64_t cols, uint32_t seed, FromFloatFn encode) {
  Rows r;
  r.stride = *row_bytes(type, cols);
  std::vector<float> in = random_values(static_cast<size_t>(n_rows * cols), seed);
  r.bytes.resize(r.stride * static_cast<size_t>(n_rows));
  for (int64_t i = 0; i < n_rows; ++i) {
    encode(in.data() + i * cols, r.bytes.data() + r.stride * static_cast<size_t>(i), cols);
  }
  r.values.resize(in.size());
  dequantize(type, r.bytes.data(), r.values.data(), n_rows * cols);
  return r;
}

// Activations for `weight`'s kernels at `isa`: in its vec_dot_type from the level's
// quantizer (F32: the floats themselves); `values` are what the kernels multiply, so
// rounded to BF16 where they round them (rounds_activations_to_bf16).
Rows make_activations(TensorType weight, int64_t n_rows, int64_t cols, uint32_t seed, Isa isa) {
  const TensorType type = type_kernels(weight).vec_dot_type;
  Rows r = type == TensorType::F32
               ? make_rows(type, n_rows, cols, seed, type_traits(type).from_float)
               : make_rows(type, n_rows, cols, seed, simd_kernels(type, isa).quantize);
  if (rounds_activations_to_bf16(weight, isa)) {
    for (float& v : r.values) v = bf16_to_f32(f32_to_bf16(v));
  }
  return r;
}

// Tolerance of a float dot product whose terms are exact (integer products times block
// scales): 1e-5 of the sum of |terms|, far above float rounding over <= 8192 terms and
// far below any wrong value, scale or index (each moves the result by a whole term).
double tolerance(const float* w, const float* x, int64_t n) {
  double mag = 0.0;
  for (int64_t i = 0; i < n; ++i) mag += std::fabs(double{w[i]} * x[i]);
  return 1e-5 * mag + 1e-6;
}

// Q8_1 activations carry s = d * sum(q) rounded to fp16, with d the float scale before its
// own rounding to fp16 (as ggml does); the Q4_1/Q5_1 kernels use s for the minimum term m * s,
// which differs from m * fp16(d) * sum(q) by up to |m| |s| 2^-10 per block (two roundings of
// 2^-11 each; |m| <= the block's max |w|).
double q8_1_sum_tolerance(const float* w, const Rows& x, int j, int64_t cols) {
  const auto* blocks =
      reinterpret_cast<const BlockQ8_1*>(x.bytes.data() + x.stride * static_cast<size_t>(j));
  double extra = 0.0;
  for (int64_t b = 0; b < cols / kBlock32; ++b) {
    float wmax = 0.0f;
    for (int i = 0; i < kBlock32; ++i) wmax = std::max(wmax, std::fabs(w[b * kBlock32 + i]));
    extra += wmax * std::fabs(f16_to_f32(blocks[b].s)) * std::ldexp(1.0, -10) * 1.01;
  }
  return extra;
}

double reference_dot(const float* w, const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double{w[i]} * x[i];
  return s;
}

// Every type with a dot kernel at a level: single blocks, odd block counts and large K,
// 1 to 9 activation rows (the kernels take 4 at a time, so 5..9 cover the remainders).
TEST(CpuKernels, DotMatchesScalarReferenceForEveryTypeAndLevel) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (const TypeTraits& traits : all_types()) {
      const SimdKernels& k = simd_kernels(traits.type, isa);
      TensorType act = type_kernels(traits.type).vec_dot_type;
      if (k.dot == nullptr) continue;
      ASSERT_TRUE(has_simd_matmul(traits.type, isa)) << traits.name;
      int64_t block =
          std::max<int64_t>(traits.block_size, type_traits(act).block_size);
      for (int64_t cols : {block, 3 * block, int64_t{8192}, block == 1 ? int64_t{27} : block}) {
        Rows w = make_rows(traits.type, 1, cols, 11, traits.from_float);
        for (int n_x : {1, 2, 3, 4, 5, 9}) {
          Rows x = make_activations(traits.type, n_x, cols, 12 + n_x, isa);
          std::vector<float> out(static_cast<size_t>(n_x));
          k.dot(cols, w.bytes.data(), x.bytes.data(), x.stride, n_x, out.data());
          for (int j = 0; j < n_x; ++j) {
            const float* xv = x.values.data() + j * cols;
            double tol = tolerance(w.values.data(), xv, cols);
            if (act == TensorType::Q8_1) {
              tol += q8_1_sum_tolerance(w.values.data(), x, j, cols);
            }
            EXPECT_NEAR(out[j], reference_dot(w.values.data(), xv, cols), tol)
                << isa_name(isa) << " " << traits.name << " cols " << cols << " row " << j << " of "
                << n_x;
          }
        }
      }
      ++tested;
    }
  }
  if (detected_isa() == Isa::Scalar) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_GE(tested, 16);  // F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL MXFP4 Q2_K..Q6_K IQ4_XS
}

// The decode kernels (dot_rows: one activation row against n_w weight rows, 4 per pass) of
// every type and level: every type with a dot has one; single blocks, odd block counts and
// large K (8192 + 256); 1 to 9 weight rows (5..9 cover the tails after whole tiles); nothing
// written past y[n_w - 1].
TEST(CpuKernels, DotRowsMatchesScalarReferenceForEveryTypeAndLevel) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (const TypeTraits& traits : all_types()) {
      const SimdKernels& k = simd_kernels(traits.type, isa);
      TensorType act = type_kernels(traits.type).vec_dot_type;
      if (k.dot == nullptr) continue;
      ASSERT_NE(k.dot_rows, nullptr) << isa_name(isa) << " " << traits.name;
      int64_t block =
          std::max<int64_t>(traits.block_size, type_traits(act).block_size);
      for (int64_t cols : {block, 3 * block, int64_t{8192 + 256}}) {
        Rows x = make_activations(traits.type, 1, cols, 51, isa);
        for (int64_t n_w : {1, 2, 3, 4, 5, 6, 7, 9}) {
          Rows w =
              make_rows(traits.type, n_w, cols, 52 + static_cast<uint32_t>(n_w), traits.from_float);
          std::vector<float> y(static_cast<size_t>(n_w + 1), -7.0f);
          k.dot_rows(cols, w.bytes.data(), w.stride, n_w, x.bytes.data(), y.data());
          for (int64_t r = 0; r < n_w; ++r) {
            const float* wv = w.values.data() + r * cols;
            double tol = tolerance(wv, x.values.data(), cols);
            if (act == TensorType::Q8_1) tol += q8_1_sum_tolerance(wv, x, 0, cols);
            EXPECT_NEAR(y[static_cast<size_t>(r)], reference_dot(wv, x.values.data(), cols), tol)
                << isa_name(isa) << " " << traits.name << " cols " << cols << " row " << r << " of "
                << n_w;
          }
          EXPECT_EQ(y[static_cast<size_t>(n_w)], -7.0f) << isa_name(isa) << " " << traits.name;
        }
      }
      ++tested;
    }
  }
  if (detected_isa() == Isa::Scalar) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_GE(tested, 15);
}

// The prompt tiles (dot_tile) of every type and level that has one: every row of the tile,
// 1 to 9 activation rows, results written y_stride apart (the column past the tile's rows
// untouched), against the scalar reference. The float types' tiles give the bits of their
// single-row dot (one accumulator per row and token, whatever the tile's shape).
TEST(CpuKernels, DotTileMatchesScalarReferenceForEveryTypeAndLevel) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (const TypeTraits& traits : all_types()) {
      const SimdKernels& k = simd_kernels(traits.type, isa);
      TensorType act = type_kernels(traits.type).vec_dot_type;
      if (k.dot_tile == nullptr) continue;
      const int rows = k.tile_rows;
      ASSERT_GE(rows, 2) << traits.name;
      for (int64_t cols :
           {traits.block_size, 5 * traits.block_size, int64_t{4096}, int64_t{4103}}) {
        if (cols % traits.block_size != 0) continue;
        Rows w = make_rows(traits.type, rows, cols, 31, traits.from_float);
        for (int n_x : {1, 2, 3, 4, 5, 9}) {
          Rows x = make_activations(traits.type, n_x, cols, 32 + n_x, isa);
          const int64_t y_stride = rows + 1;
          std::vector<float> y(static_cast<size_t>(n_x * y_stride), -7.0f);
          k.dot_tile(cols, w.bytes.data(), w.stride, x.bytes.data(), x.stride, n_x, y.data(),
                     y_stride);
          for (int j = 0; j < n_x; ++j) {
            const float* xv = x.values.data() + j * cols;
            for (int r = 0; r < rows; ++r) {
              const float* wv = w.values.data() + r * cols;
              double tol = tolerance(wv, xv, cols);
              if (act == TensorType::Q8_1) {
                tol += q8_1_sum_tolerance(wv, x, j, cols);
              }
              const float got = y[static_cast<size_t>(j * y_stride + r)];
              EXPECT_NEAR(got, reference_dot(wv, xv, cols), tol)
                  << isa_name(isa) << " " << traits.name << " cols " << cols << " row " << r
                  << " x " << j << " of " << n_x;
              if (traits.block_size == 1) {
                float single = 0.0f;
                k.dot(cols, w.bytes.data() + w.stride * static_cast<size_t>(r),
                      x.bytes.data() + x.stride * static_cast<size_t>(j), x.stride, 1, &single);
                EXPECT_EQ(got, single) << isa_name(isa) << " " << traits.name << " row " << r;
              }
            }
            EXPECT_EQ(y[static_cast<size_t>(j * y_stride + rows)], -7.0f);
          }
        }
      }
      ++tested;
    }
  }
  if (detected_isa() == Isa::Scalar) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_GE(tested, 10);  // F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL MXFP4
}

// Extreme weights: the largest quants of every type and zero blocks still dot exactly.
TEST(CpuKernels, DotHandlesZeroAndSaturatedBlocks) {
  for (Isa isa : simd_levels()) {
    for (const TypeTraits& traits : all_types()) {
      const SimdKernels& k = simd_kernels(traits.type, isa);
      TensorType act = type_kernels(traits.type).vec_dot_type;
      if (k.dot == nullptr) continue;
      const int64_t cols = 512;
      std::vector<float> in(cols, 0.0f);
      for (int64_t i = cols / 2; i < cols; ++i)
        in[static_cast<size_t>(i)] = (i % 3 == 0) ? -4.0f : 4.0f;
      Rows w;
      w.stride = *row_bytes(traits.type, cols);
      w.bytes.resize(w.stride);
      traits.from_float(in.data(), w.bytes.data(), cols);
      w.values.resize(cols);
      dequantize(traits.type, w.bytes.data(), w.values.data(), cols);
      Rows x = make_activations(traits.type, 1, cols, 5, isa);
      float out = 0.0f;
      k.dot(cols, w.bytes.data(), x.bytes.data(), x.stride, 1, &out);
      double tol = tolerance(w.values.data(), x.values.data(), cols);
      if (act == TensorType::Q8_1) {
        tol += q8_1_sum_tolerance(w.values.data(), x, 0, cols);
      }
      EXPECT_NEAR(out, reference_dot(w.values.data(), x.values.data(), cols), tol)
          << isa_name(isa) << " " << traits.name;
    }
  }
}

// The decode kernels at the edges of their integer ranges: rows of the largest quants of
// either sign (and a zero row) against activations that all quantize to +-127, where the
// kernels add several byte products in int16 before widening; 5 rows so that a 4-row pass
// and a tail both see them.
TEST(CpuKernels, DotRowsHandleSaturatedWeightsAndActivations) {
  int tested = 0;
  for (Isa isa : simd_levels()) {
    for (const TypeTraits& traits : all_types()) {
      const SimdKernels& k = simd_kernels(traits.type, isa);
      TensorType act = type_kernels(traits.type).vec_dot_type;
      if (k.dot_rows == nullptr) continue;
      const int64_t cols = 512, n_w = 5;
      const float row_values[n_w] = {4.0f, -4.0f, 0.0f, 4.0f, -4.0f};
      std::vector<float> in(static_cast<size_t>(n_w * cols));
      for (int64_t r = 0; r < n_w; ++r) {
        for (int64_t i = 0; i < cols; ++i) {
          // Rows 3 and 4 alternate signs every 3 values (the block's max and min quants).
          bool flip = r >= 3 && i % 3 == 0;
          in[static_cast<size_t>(r * cols + i)] = flip ? -row_values[r] : row_values[r];
        }
      }
      Rows w;
      w.stride = *row_bytes(traits.type, cols);
      w.bytes.resize(w.stride * n_w);
      for (int64_t r = 0; r < n_w; ++r) {
        traits.from_float(in.data() + r * cols, w.bytes.data() + w.stride * r, cols);
      }
      w.values.resize(in.size());
      dequantize(traits.type, w.bytes.data(), w.values.data(), n_w * cols);
      for (float sign : {1.0f, -1.0f}) {
        std::vector<float> xf(static_cast<size_t>(cols), sign);
        Rows x;
        x.stride = *row_bytes(act, cols);
        x.bytes.resize(x.stride);
        x.values = xf;
        if (act != TensorType::F32) {
          simd_kernels(act, isa).quantize(xf.data(), x.bytes.data(), cols);
          dequantize(act, x.bytes.data(), x.values.data(), cols);
        } else {
          std::memcpy(x.bytes.data(), xf.data(), x.stride);
        }
        std::vector<float> y(n_w);
        k.dot_rows(cols, w.bytes.data(), w.stride, n_w, x.bytes.data(), y.data());
        for (int64_t r = 0; r < n_w; ++r) {
          const float* wv = w.values.data() + r * cols;
          double tol = tolerance(wv, x.values.data(), cols);
          if (act == TensorType::Q8_1) tol += q8_1_sum_tolerance(wv, x, 0, cols);
          EXPECT_NEAR(y[static_cast<size_t>(r)], reference_dot(wv, x.values.data(), cols), tol)
              << isa_name(isa) << " " << traits.name << " row " << r << " x " << sign;
        }
      }
      ++tested;
    }
  }
  if (detected_isa() == Isa::Scalar) GTEST_SKIP() << "no SIMD level on this CPU";
  EXPECT_GE(tested, 15);
}

// Activation quantizers: each value within half a step of its input (plus, for the fp16
// scales of Q8_0/Q8_1, 127 times the scale's rounding, 2^-11 d), Q8_1's s = d * sum(q)
// (to fp16 precision) and Q8_K's bsums the exact sums of 16 quants.
TEST(CpuKernels, ActivationQuantizersReconstructWithinHalfAStep) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
      const TypeTraits& traits = type_traits(type);
      ASSERT_NE(simd_kernels(type, isa).quantize, nullptr) << traits.name;
      const int64_t cols = 1024;
      std::vector<float> in = random_values(cols, 3);
      for (int64_t i = 0; i < 32; ++i) in[static_cast<size_t>(i)] = 0.0f;  // an all-zero block
      std::vector<uint8_t> q(*row_bytes(type, cols));
      simd_kernels(type, isa).quantize(in.data(), q.data(), cols);
      std::vector<float> out(cols);
      dequantize(type, q.data(), out.data(), cols);
      for (int64_t b = 0; b < cols / traits.block_size; ++b) {
        float amax = 0.0f;
        for (int64_t i = 0; i < traits.block_size; ++i) {
          amax = std::max(amax, std::fabs(in[static_cast<size_t>(b * traits.block_size + i)]));
        }
        float rounding = type == TensorType::Q8_K ? 1e-6f : 127.0f / 2048.0f;
        float half_step = amax / 127.0f * (0.5f + rounding) + 1e-7f;
        for (int64_t i = 0; i < traits.block_size; ++i) {
          size_t v = static_cast<size_t>(b * traits.block_size + i);
          ASSERT_NEAR(out[v], in[v], half_step) << isa_name(isa) << " " << traits.name << " " << v;
        }
      }
      if (type == TensorType::Q8_1) {
        const auto* blocks = reinterpret_cast<const BlockQ8_1*>(q.data());
        for (int64_t b = 0; b < cols / kBlock32; ++b) {
          int sum = std::accumulate(blocks[b].qs, blocks[b].qs + kBlock32, 0);
          float expect = f16_to_f32(blocks[b].d) * static_cast<float>(sum);
          EXPECT_NEAR(f16_to_f32(blocks[b].s), expect, std::fabs(expect) * 2e-3 + 1e-6);
        }
      }
      if (type == TensorType::Q8_K) {
        const auto* blocks = reinterpret_cast<const BlockQ8_K*>(q.data());
        for (int64_t b = 0; b < cols / kSuperBlock; ++b) {
          for (int g = 0; g < 16; ++g) {
            int sum = std::accumulate(blocks[b].qs + 16 * g, blocks[b].qs + 16 * g + 16, 0);
            EXPECT_EQ(blocks[b].bsums[g], sum) << isa_name(isa) << " block " << b << " group " << g;
          }
        }
      }
    }
  }
}

// simd_matmul tiles rows (16 per task, 64 for one token) and tokens (4 per call; one token
// through dot_rows): odd row counts, one row, enough rows that pool threads take tasks, and
// token counts around the tile, on 1 and 3 threads, against the reference dot of the same
// quantized activations.
TEST(CpuKernels, SimdMatmulMatchesReferenceOnOddShapes) {
  for (Isa isa : simd_levels()) {
    for (TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K,
                            TensorType::F16}) {
      const TypeTraits& traits = type_traits(type);
      TensorType act = type_kernels(type).vec_dot_type;
      const int64_t cols = 512;
      for (int64_t rows : {int64_t{1}, int64_t{37}, int64_t{1001}}) {
        Rows w = make_rows(type, rows, cols, 21, traits.from_float);
        for (int64_t n : {int64_t{1}, int64_t{4}, int64_t{7}}) {
          std::vector<float> x = random_values(static_cast<size_t>(n * cols), 22);
          // The activations simd_matmul quantizes, dequantized for the reference.
          std::vector<float> xq(x.size());
          std::vector<uint8_t> xb(*row_bytes(act, cols) * static_cast<size_t>(n));
          quantize_rows(act, x.data(), n, cols, xb.data(), 1, isa);
          dequantize(act, xb.data(), xq.data(), n * cols);
          for (int threads : {1, 3}) {
            std::vector<float> y(static_cast<size_t>(n * rows));
            simd_matmul(type, w.bytes.data(), rows, cols, x.data(), n, y.data(), threads, isa);
            for (int64_t t = 0; t < n; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                const float* wr = w.values.data() + r * cols;
                const float* xt = xq.data() + t * cols;
                ASSERT_NEAR(y[static_cast<size_t>(t * rows + r)], reference_dot(wr, xt, cols),
                            tolerance(wr, xt, cols))
                    << isa_name(isa) << " " << traits.name << " rows " << rows << " n " << n
                    << " t " << t << " r " << r << " threads " << threads;
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuKernels, ThreadPoolRunsEveryTaskOnce) {
  ThreadPool& pool = ThreadPool::shared();
  for (int threads : {1, 2, 3, 8}) {
    for (int64_t n_tasks : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{1000}}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n_tasks));
      for (int rep = 0; rep < 20; ++rep) {
        pool.run(n_tasks, threads, [&](int64_t t) { hits[static_cast<size_t>(t)]++; });
      }
      for (auto& h : hits) ASSERT_EQ(h.load(), 20) << threads << " threads, " << n_tasks;
    }
  }
}

// Grouped products (q/k/v, gate/up) give exactly what one simd_matmul per weight gives, and
// refuse weights whose activation formats differ.
TEST(CpuKernels, SimdMatmulsEqualSeparateProducts) {
  for (Isa isa : simd_levels()) {
    const int64_t cols = 256;
    const int64_t n = 6;
    Rows a = make_rows(TensorType::Q4_0, 37, cols, 41, type_traits(TensorType::Q4_0).from_float);
    Rows b = make_rows(TensorType::Q8_0, 16, cols, 42, type_traits(TensorType::Q8_0).from_float);
    std::vector<float> x = random_values(static_cast<size_t>(n * cols), 43);
    std::vector<float> ya(static_cast<size_t>(n * 37)), yb(static_cast<size_t>(n * 16));
    std::vector<float> ya1(ya.size()), yb1(yb.size());
    MatmulTarget targets[] = {{TensorType::Q4_0, a.bytes.data(), 37, ya.data()},
                              {TensorType::Q8_0, b.bytes.data(), 16, yb.data()}};
    simd_matmuls(targets, cols, x.data(), n, 2, isa);
    simd_matmul(TensorType::Q4_0, a.bytes.data(), 37, cols, x.data(), n, ya1.data(), 1, isa);
    simd_matmul(TensorType::Q8_0, b.bytes.data(), 16, cols, x.data(), n, yb1.data(), 1, isa);
    EXPECT_EQ(ya, ya1) << isa_name(isa);
    EXPECT_EQ(yb, yb1) << isa_name(isa);
    Rows k = make_rows(TensorType::Q4_K, 2, cols, 44, type_traits(TensorType::Q4_K).from_float);
    MatmulTarget mixed[] = {targets[0], {TensorType::Q4_K, k.bytes.data(), 2, yb.data()}};
    EXPECT_THROW(simd_matmuls(mixed, cols, x.data(), n, 2, isa), Error);
  }
}

// Many short jobs back to back: a worker that read one job's counter late must never
// claim a task number of the next (each task runs exactly once, none after run() returns).
TEST(CpuKernels, ThreadPoolBackToBackJobsNeverShareTasks) {
  ThreadPool& pool = ThreadPool::shared();
  std::mt19937 rng(7);
  for (int job = 0; job < 100000; ++job) {
    auto n_tasks = static_cast<int64_t>(1 + rng() % 40);
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n_tasks));
    pool.run(n_tasks, 2, [&](int64_t t) { hits.at(static_cast<size_t>(t))++; });
    for (int64_t t = 0; t < n_tasks; ++t) {
      ASSERT_EQ(hits[static_cast<size_t>(t)].load(), 1) << "job " << job << " task " << t;
    }
  }
}

TEST(CpuKernels, ThreadPoolNestsAndRethrows) {
  ThreadPool& pool = ThreadPool::shared();
  std::atomic<int> inner{0};
  pool.run(4, 2, [&](int64_t) { pool.run(3, 2, [&](int64_t) { inner++; }); });
  EXPECT_EQ(inner.load(), 12);
  EXPECT_THROW(pool.run(100, 2,
                        [](int64_t t) {
                          if (t == 37) throw std::runtime_error("task 37");
                        }),
               std::runtime_error);
  // The pool still works after a throw.
  std::atomic<int> after{0};
  pool.run(10, 2, [&](int64_t) { after++; });
  EXPECT_EQ(after.load(), 10);
}

TEST(CpuKernels, LevelNamesAndLimits) {
  EXPECT_EQ(parse_isa("scalar"), Isa::Scalar);
  EXPECT_THROW(parse_isa("avx3"), Error);
  if (detected_isa() < Isa::Avx512) {
    EXPECT_THROW(parse_isa("avx512"), Error);
  }
  if (detected_isa() < Isa::Amx) {
    EXPECT_THROW(parse_isa("amx"), Error);
  }
  EXPECT_EQ(parse_isa(isa_name(detected_isa())), detected_isa());
  EXPECT_GE(physical_cores(), 1);
  EXPECT_FALSE(cpu_flags().empty());
}

// tern bench on a small golden model: one JSON object per test with the documented fields,
// and positive speeds; --memory alone reports the read bandwidth.
std::string run_cli(const std::string& args) {
  std::string out;
  FILE* pipe = popen((std::string(TERN_CLI_PATH) + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << out;
  return out;
}

TEST(CpuKernels, BenchCliReportsEveryTestAsJson) {
  std::string model = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";
  std::string out = run_cli("bench -m " + model + " -p 8,16 -n 4 -r 2 -t 1,2 --json");
  for (const char* test : {"\"pp8\"", "\"pp16\"", "\"tg4\""}) {
    size_t at = 0, count = 0;
    while ((at = out.find(test, at)) != std::string::npos) ++count, ++at;
    EXPECT_EQ(count, 2u) << test << " once per thread count\n" << out;  // -t 1,2
  }
  for (const char* key : {"\"tps\"", "\"tps_std\"", "\"gbps\"", "\"read_gbps\""}) {
    EXPECT_NE(out.find(key), std::string::npos) << key << "\n" << out;
  }
  EXPECT_EQ(out.find("\"tps\": 0"), std::string::npos) << out;
  std::string mem = run_cli("bench --memory --json");
  EXPECT_NE(mem.find("\"read_gbps\""), std::string::npos) << mem;
}

// --interleave: every test prepared first, then their runs in turn; each still reports its
// own runs (as many as -r asks) and speeds.
TEST(CpuKernels, BenchCliInterleavesTheTestsRuns) {
  std::string model = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";
  nlohmann::json out = nlohmann::json::parse(
      run_cli("bench -m " + model + " -p 8 -n 4 -np 1,2 -r 3 -t 1 --interleave --json"));
  std::vector<std::string> tests;
  for (const auto& r : out) {
    tests.push_back(r.at("test").get<std::string>());
    EXPECT_EQ(r.at("samples_tps").size(), 3u) << r.dump();
    for (double tps : r.at("samples_tps")) EXPECT_GT(tps, 0.0) << r.dump();
  }
  EXPECT_EQ(tests, (std::vector<std::string>{"pp8", "tg4", "pp8 x2", "tg4 x2"}));
}

// --profile: after the table, each test's time per kind of operation (and in the JSON).
TEST(CpuKernels, BenchCliProfilesTheOperations) {
  std::string model = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";
  std::string out = run_cli("bench -m " + model + " -p 8 -n 4 -r 2 -t 1 --profile");
  for (const char* row : {"model.gguf pp8 (1 thread)", "model.gguf tg4 (1 thread)",
                          "| attention |", "| matmul Q4_K |", "| outside operations |"}) {
    EXPECT_NE(out.find(row), std::string::npos) << row << "\n" << out;
  }
  std::string json = run_cli("bench -m " + model + " -p 0 -n 4 -r 1 -t 1 --profile --json");
  for (const char* key : {"\"profile\"", "\"ops\"", "\"op\": \"attention\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
  }
}

}  // namespace
}  // namespace tern::cpu
