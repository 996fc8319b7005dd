// The interleaved (repacked) weights and their decode kernels (backends/cpu/repack.h) against a
// double-precision reference on the type table's dequantized values, and against the row
// kernels on the file's layout, for every repackable type and SIMD level, on shapes whose
// rows are not a multiple of the 8-row group.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/matmul.h"
#include "backends/cpu/packed_gemm.h"
#include "backends/cpu/repack.h"
#include "cpu_test_support.h"
#include "page_cache.h"
#include "tern/error.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace tern::cpu {
namespace {

using test::random_values;
using test::simd_levels;

struct Problem {
  TensorType type;
  int64_t rows, cols;
  std::vector<uint8_t> w;  // rows x cols in the file's layout
  std::vector<uint8_t> x;  // one row in the type's vec_dot_type
  std::vector<double> expected;
  std::vector<double> magnitude;  // sum |w_j x_j| per row: the scale of rounding errors
};

// Q4_1 and Q5_1 products (Q8_1 activations) take each block's minimum m times the block's
// stored s = d * sum(q), rounded to f16, as llama.cpp defines them: the reference below adds
// m * (s - d * sum(q)) per block to the product of the dequantized values.
double q8_1_sum_correction(TensorType type, const uint8_t* row, const uint8_t* x, int64_t cols) {
  double correction = 0.0;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const auto& a = reinterpret_cast<const BlockQ8_1*>(x)[b];
    uint16_t m = type == TensorType::Q4_1 ? reinterpret_cast<const BlockQ4_1*>(row)[b].m
                                          : reinterpret_cast<const BlockQ5_1*>(row)[b].m;
    int sum = 0;
    for (int8_t q : a.qs) sum += q;
    correction += double{f16_to_f32(m)} * (double{f16_to_f32(a.s)} - double{f16_to_f32(a.d)} * sum);
  }
  return correction;
}

// Each row's dot product in double over dequantized weights and activations.
void reference(Problem& p) {
  TensorType act = type_kernels(p.type).vec_dot_type;
  std::vector<float> xf(static_cast<size_t>(p.cols)), wf(static_cast<size_t>(p.cols));
  dequantize(act, p.x.data(), xf.data(), p.cols);
  size_t row_bytes = checked_row_bytes(p.type, p.cols);
  p.expected.assign(static_cast<size_t>(p.rows), 0.0);
  p.magnitude.assign(static_cast<size_t>(p.rows), 0.0);
  for (int64_t r = 0; r < p.rows; ++r) {
    dequantize(p.type, p.w.data() + row_bytes * static_cast<size_t>(r), wf.data(), p.cols);
    for (size_t j = 0; j < wf.size(); ++j) {
      p.expected[static_cast<size_t>(r)] += double{wf[j]} * xf[j];
      p.magnitude[static_cast<size_t>(r)] += std::abs(double{wf[j]} * xf[j]);
    }
    if (act == TensorType::Q8_1) {
      p.expected[static_cast<size_t>(r)] += q8_1_sum_correction(
          p.type, p.w.data() + row_bytes * static_cast<size_t>(r), p.x.data(), p.cols);
    }
  }
}

Problem random_problem(TensorType type, int64_t rows, int64_t cols, Isa isa, uint32_t seed) {
  Problem p{type, rows, cols, {}, {}, {}, {}};
  std::vector<float> wf = random_values(static_cast<size_t>(rows * cols), seed);
  p.w.resize(checked_row_bytes(type, cols) * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    type_traits(type).from_float(wf.data() + r * cols,
                                 p.w.data() + checked_row_bytes(type, cols) * static_cast<size_t>(r), cols);
  }
  std::vector<float> xf = random_values(static_cast<size_t>(cols), seed + 1);
  TensorType act = type_kernels(type).vec_dot_type;
  p.x.resize(checked_row_bytes(act, cols));
  quantize_rows(act, xf.data(), 1, cols, p.x.data(), 1, isa);
  reference(p);
  return p;
}

// Integer sums are exact in every path; only the float scaling and summation order differ.
constexpr double kRelativeTolerance = 1e-5;

void expect_near_reference(const Problem& p, const std::vector<float>& y, const char* what) {
  for (int64_t r = 0; r < p.rows; ++r) {
    auto i = static_cast<size_t>(r);
    EXPECT_NEAR(y[i], p.expected[i], kRelativeTolerance * p.magnitude[i] + 1e-6)
        << what << " " << type_traits(p.type).name << " row " << r << " of " << p.rows << " x "
        << p.cols;
  }
}

// Runs the repacked kernel over [0, rows) in pieces that start at whole groups, as decode
// tasks do; 40 rows are 5 groups: two passes of two streams and one group alone. The same
// activation row twice (the batched kernels) must give the one-row result twice.
std::vector<float> repacked_product(const Problem& p, Isa isa) {
  std::vector<uint8_t> packed(repacked_bytes(p.type, p.rows, p.cols));
  repack(p.type, p.w.data(), p.rows, p.cols, packed.data(), 2);
  GroupActBuffer acts;
  GroupActs x = acts.prepare(p.type, p.x.data(), p.cols);
  const GroupActs twice[2] = {x, x};
  std::vector<float> y(static_cast<size_t>(p.rows), NAN);
  std::vector<float> y2(static_cast<size_t>(2 * p.rows), NAN);
  for (int64_t r0 = 0; r0 < p.rows; r0 += 40) {
    int64_t r1 = std::min(p.rows, r0 + 40);
    repacked_gemv(p.type, packed.data(), p.cols, r0, r1, std::span(&x, 1), y.data() + r0, p.rows,
                  isa);
    repacked_gemv(p.type, packed.data(), p.cols, r0, r1, twice, y2.data() + r0, p.rows, isa);
  }
  EXPECT_EQ(std::vector<float>(y2.begin(), y2.begin() + p.rows), y) << isa_name(isa);
  EXPECT_EQ(std::vector<float>(y2.begin() + p.rows, y2.end()), y) << isa_name(isa);
  return y;
}

struct Case {
  TensorType type;
  int64_t block;  // values per block of the type
};
const Case kCases[] = {{TensorType::Q4_0, 32},
                       {TensorType::Q4_1, 32},
                       {TensorType::Q5_0, 32},
                       {TensorType::Q5_1, 32},
                       {TensorType::Q8_0, 32},
                       {TensorType::Q4_K, 256},
                       {TensorType::Q6_K, 256}};

TEST(Repack, KernelsMatchReferenceOnOddShapes) {
  for (Isa isa : simd_levels()) {
    for (const Case& c : kCases) {
      ASSERT_TRUE(has_repacked_form(c.type, isa));
      for (int64_t rows : {1, 7, 8, 13, 67}) {
        for (int64_t blocks : {1, 3, 17}) {
          Problem p = random_problem(c.type, rows, blocks * c.block, isa,
                                     static_cast<uint32_t>(rows * 100 + blocks));
          expect_near_reference(p, repacked_product(p, isa), "repacked");
          // The row kernel over the file's layout, on the same quantized activations.
          std::vector<float> y(static_cast<size_t>(rows));
          simd_kernels(c.type, isa).dot_rows(p.cols, p.w.data(), checked_row_bytes(c.type, p.cols),
                                             rows, p.x.data(), y.data());
          expect_near_reference(p, y, "dot_rows");
        }
      }
    }
  }
}

// Batched decoding: several activation rows in one call (kMaxActRows per pass over the
// weights, then further passes) give each row exactly its single-row result: the integer
// sums are exact and each row's float steps are the same.
TEST(Repack, SeveralActivationRowsGiveEachRowsOwnResult) {
  constexpr int64_t kRows = 67;
  for (Isa isa : simd_levels()) {
    for (const Case& c : kCases) {
      const int64_t cols = 3 * c.block;
      Problem p = random_problem(c.type, kRows, cols, isa, 7);
      std::vector<uint8_t> packed(repacked_bytes(c.type, kRows, cols));
      repack(c.type, p.w.data(), kRows, cols, packed.data(), 2);
      const TensorType act = type_kernels(c.type).vec_dot_type;
      const size_t x_bytes = checked_row_bytes(act, cols);
      std::vector<float> xf = random_values(static_cast<size_t>(kMaxDecodeRows * cols), 11);
      std::vector<uint8_t> x(x_bytes * kMaxDecodeRows);
      quantize_rows(act, xf.data(), kMaxDecodeRows, cols, x.data(), 1, isa);
      std::vector<GroupActBuffer> buffers(kMaxDecodeRows);
      std::vector<GroupActs> acts;
      for (size_t j = 0; j < buffers.size(); ++j) {
        acts.push_back(buffers[j].prepare(c.type, x.data() + j * x_bytes, cols));
      }
      for (int n : {2, 3, 4, 5, kMaxDecodeRows}) {
        std::vector<float> y(static_cast<size_t>(n * kRows), NAN);
        for (int64_t r0 = 0; r0 < kRows; r0 += 40) {  // decode tasks: whole groups, a tail
          repacked_gemv(c.type, packed.data(), cols, r0, std::min(kRows, r0 + 40),
                        std::span(acts).first(static_cast<size_t>(n)), y.data() + r0, kRows, isa);
        }
        for (int j = 0; j < n; ++j) {
          std::vector<float> one(static_cast<size_t>(kRows), NAN);
          repacked_gemv(c.type, packed.data(), cols, 0, kRows, std::span(&acts[static_cast<size_t>(j)], 1),
                        one.data(), kRows, isa);
          EXPECT_EQ(std::vector<float>(y.begin() + j * kRows, y.begin() + (j + 1) * kRows), one)
              << isa_name(isa) << " " << type_traits(c.type).name << " " << n << " rows, row " << j;
        }
      }
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// Largest nibbles, scales and minimums against activations of -128: the 16-bit partial
// sums the kernels keep must not overflow.
TEST(Repack, ExtremeValuesDoNotOverflow) {
  for (Isa isa : simd_levels()) {
    {
      Problem p{TensorType::Q4_0, 9, 64, {}, {}, {}, {}};
      std::vector<BlockQ4_0> w(static_cast<size_t>(p.rows * 2));
      for (auto& b : w) {
        b.d = 0x3c00;  // 1.0
        std::memset(b.qs, 0xff, sizeof b.qs);
      }
      std::vector<BlockQ8_0> x(2);
      for (auto& b : x) {
        b.d = 0x3c00;
        std::memset(b.qs, 0x80, sizeof b.qs);  // -128
      }
      p.w.assign(reinterpret_cast<uint8_t*>(w.data()), reinterpret_cast<uint8_t*>(w.data() + w.size()));
      p.x.assign(reinterpret_cast<uint8_t*>(x.data()), reinterpret_cast<uint8_t*>(x.data() + x.size()));
      reference(p);
      ASSERT_EQ(p.expected[0], 2 * 32 * 7 * -128.0);
      expect_near_reference(p, repacked_product(p, isa), "extreme Q4_0");
    }
    {
      Problem p{TensorType::Q4_K, 9, 256, {}, {}, {}, {}};
      std::vector<BlockQ4_K> w(static_cast<size_t>(p.rows));
      for (auto& b : w) {
        b.d = 0x3c00;
        b.dmin = 0x3c00;
        std::memset(b.scales, 0xff, sizeof b.scales);  // every 6-bit scale and minimum 63
        std::memset(b.qs, 0xff, sizeof b.qs);
      }
      BlockQ8_K x{};
      x.d = 1.0f;
      std::memset(x.qs, 0x80, sizeof x.qs);
      for (auto& s : x.bsums) s = 16 * -128;
      p.w.assign(reinterpret_cast<uint8_t*>(w.data()), reinterpret_cast<uint8_t*>(w.data() + w.size()));
      p.x.assign(reinterpret_cast<uint8_t*>(&x), reinterpret_cast<uint8_t*>(&x + 1));
      reference(p);
      ASSERT_EQ(p.expected[0], 256 * (63 * 15 - 63) * -128.0);
      expect_near_reference(p, repacked_product(p, isa), "extreme Q4_K");
    }
    {
      Problem p{TensorType::Q8_0, 9, 64, {}, {}, {}, {}};
      std::vector<BlockQ8_0> w(static_cast<size_t>(p.rows * 2));
      for (auto& b : w) {
        b.d = 0x3c00;
        std::memset(b.qs, 0x81, sizeof b.qs);  // -127
      }
      std::vector<BlockQ8_0> x(2);  // Q8_0 activations stay within +-127 (d = max / 127)
      for (auto& b : x) {
        b.d = 0x3c00;
        std::memset(b.qs, 0x81, sizeof b.qs);
      }
      p.w.assign(reinterpret_cast<uint8_t*>(w.data()), reinterpret_cast<uint8_t*>(w.data() + w.size()));
      p.x.assign(reinterpret_cast<uint8_t*>(x.data()), reinterpret_cast<uint8_t*>(x.data() + x.size()));
      reference(p);
      ASSERT_EQ(p.expected[0], 64 * 127 * 127.0);
      expect_near_reference(p, repacked_product(p, isa), "extreme Q8_0");
    }
    for (int q : {0, 63}) {  // the extremes of (q - 32): -32 and 31, scales -128 and 127
      for (int scale : {-128, 127}) {
        Problem p{TensorType::Q6_K, 9, 256, {}, {}, {}, {}};
        std::vector<BlockQ6_K> w(static_cast<size_t>(p.rows));
        for (auto& b : w) {
          b.d = 0x3c00;
          std::memset(b.scales, scale & 0xff, sizeof b.scales);
          std::memset(b.ql, (q & 15) * 0x11, sizeof b.ql);
          std::memset(b.qh, (q >> 4) * 0x55, sizeof b.qh);
        }
        BlockQ8_K x{};
        x.d = 1.0f;
        std::memset(x.qs, 0x80, sizeof x.qs);
        for (auto& s16 : x.bsums) s16 = 16 * -128;
        p.w.assign(reinterpret_cast<uint8_t*>(w.data()), reinterpret_cast<uint8_t*>(w.data() + w.size()));
        p.x.assign(reinterpret_cast<uint8_t*>(&x), reinterpret_cast<uint8_t*>(&x + 1));
        reference(p);
        ASSERT_EQ(p.expected[0], 256.0 * scale * (q - 32) * -128.0);
        expect_near_reference(p, repacked_product(p, isa), "extreme Q6_K");
      }
    }
  }
}

// simd_matmuls with interleaved targets (one token, several products in one job) gives
// what the row kernels give.
TEST(Repack, MatmulsUseInterleavedWeightsForOneToken) {
  for (Isa isa : simd_levels()) {
    for (const Case& c : kCases) {
      int64_t cols = 4 * c.block;
      Problem a = random_problem(c.type, 75, cols, isa, 7);
      Problem b = random_problem(c.type, 130, cols, isa, 8);
      std::vector<float> x = random_values(static_cast<size_t>(cols), 9);
      RepackedWeights store;
      const void* pa = store.get(c.type, a.w.data(), a.rows, cols, isa, 2);
      const void* pb = store.get(c.type, b.w.data(), b.rows, cols, isa, 2);
      EXPECT_EQ(store.get(c.type, a.w.data(), a.rows, cols, isa, 2), pa);  // made once
      EXPECT_EQ(store.bytes(), repacked_bytes(c.type, 75, cols) + repacked_bytes(c.type, 130, cols));
      std::vector<float> ya(75), yb(130), ra(75), rb(130);
      MatmulTarget packed[] = {{c.type, a.w.data(), 75, ya.data(), pa},
                               {c.type, b.w.data(), 130, yb.data(), pb}};
      MatmulTarget plain[] = {{c.type, a.w.data(), 75, ra.data()}, {c.type, b.w.data(), 130, rb.data()}};
      simd_matmuls(packed, cols, x.data(), 1, 2, isa);
      simd_matmuls(plain, cols, x.data(), 1, 2, isa);
      for (size_t i = 0; i < ya.size(); ++i) {
        EXPECT_NEAR(ya[i], ra[i], kRelativeTolerance * a.magnitude[i] + 1e-4) << i;
      }
      for (size_t i = 0; i < yb.size(); ++i) {
        EXPECT_NEAR(yb[i], rb[i], kRelativeTolerance * b.magnitude[i] + 1e-4) << i;
      }
    }
  }
}

// The packed GEMM's tiles from interleaved groups are the tiles it makes from the file's
// blocks, so its results are bit for bit the same; simd_matmuls takes that path from 2
// tokens on and agrees with the row kernels on the file's layout.
TEST(Repack, PackedGemmReadsInterleavedWeightsExactly) {
  for (Isa isa : simd_levels()) {
    for (const Case& c : kCases) {
      for (int64_t rows : {13, 24, 64}) {  // 24: a 16-row tile of one group
        for (int64_t n : {2, 5, 33}) {
          int64_t cols = 3 * c.block;
          Problem p = random_problem(c.type, rows, cols, isa, static_cast<uint32_t>(rows + n));
          std::vector<float> x = random_values(static_cast<size_t>(n * cols), 11);
          std::vector<uint8_t> packed(repacked_bytes(c.type, rows, cols));
          repack(c.type, p.w.data(), rows, cols, packed.data(), 1);
          std::vector<float> from_file(static_cast<size_t>(n * rows)), from_groups(from_file.size()),
              by_matmul(from_file.size()), by_rows(from_file.size());
          MatmulTarget file{c.type, p.w.data(), rows, from_file.data()};
          MatmulTarget groups{c.type, p.w.data(), rows, from_groups.data(), packed.data()};
          MatmulTarget chosen{c.type, p.w.data(), rows, by_matmul.data(), packed.data()};
          MatmulTarget plain{c.type, p.w.data(), rows, by_rows.data()};
          packed_matmuls({&file, 1}, cols, x.data(), n, 2, isa);
          packed_matmuls({&groups, 1}, cols, x.data(), n, 2, isa);
          EXPECT_EQ(from_groups, from_file) << type_traits(c.type).name << " " << rows << " x " << n;
          // Up to kMaxDecodeRows tokens the decode kernels take interleaved weights.
          EXPECT_EQ(prefer_packed_gemm({&chosen, 1}, n, isa), n > kMaxDecodeRows);
          simd_matmuls({&chosen, 1}, cols, x.data(), n, 2, isa);
          simd_matmuls({&plain, 1}, cols, x.data(), n, 2, isa);  // row kernels below 16 tokens
          for (size_t i = 0; i < by_rows.size(); ++i) {
            EXPECT_NEAR(from_groups[i], by_rows[i], 1e-4 * (1 + std::abs(by_rows[i]))) << i;
            EXPECT_NEAR(by_matmul[i], by_rows[i], 1e-4 * (1 + std::abs(by_rows[i]))) << i;
          }
        }
      }
    }
  }
}

// A row range of a matrix interleaved whole (phi3's fused attn_qkv, bound as q, k and v
// ranges) is a slice of that copy when it starts and ends at group boundaries: no second
// copy, the same bytes as interleaving the range alone. Other ranges get their own copy.
TEST(Repack, GroupAlignedRowRangesAreSlicesOfTheWholeCopy) {
  for (Isa isa : simd_levels()) {
    for (const Case& c : kCases) {
      int64_t cols = 2 * c.block, rows = 48;
      Problem p = random_problem(c.type, rows, cols, isa, 5);
      const size_t row_bytes = checked_row_bytes(c.type, cols);
      RepackedWeights store;
      const auto* whole =
          static_cast<const uint8_t*>(store.get(c.type, p.w.data(), rows, cols, isa, 1));
      const size_t bytes = store.bytes();
      const uint8_t* k_rows = p.w.data() + 16 * row_bytes;  // rows [16, 40)
      const void* slice = store.get(c.type, k_rows, 24, cols, isa, 1);
      EXPECT_EQ(slice, whole + repacked_bytes(c.type, 16, cols));
      EXPECT_EQ(store.bytes(), bytes);
      std::vector<uint8_t> alone(repacked_bytes(c.type, 24, cols));
      repack(c.type, k_rows, 24, cols, alone.data(), 1);
      EXPECT_EQ(std::memcmp(slice, alone.data(), alone.size()), 0) << type_traits(c.type).name;
      const void* unaligned = store.get(c.type, p.w.data() + 4 * row_bytes, 8, cols, isa, 1);
      EXPECT_GT(store.bytes(), bytes);  // rows [4, 12) start inside a group: a copy of their own
      EXPECT_NE(unaligned, whole + repacked_bytes(c.type, 4, cols));
    }
  }
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
}

// A weight mapped from a file, once copied, stays in the page cache with the same bytes
// (unmapped or not): the next load of the file, and lookups of rows of a tied embedding
// table, need not read the disk.
TEST(Repack, CopiedWeightsLeaveTheirFileInThePageCache) {
  if (simd_levels().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  const Isa isa = simd_levels().front();
  const int64_t rows = 64, cols = 2048;
  Problem p = random_problem(TensorType::Q8_0, rows, cols, isa, 3);
  for (FilePages pages : {FilePages::Keep, FilePages::UnmapShared}) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("tern_repack_" + std::to_string(getpid()) + ".bin"))
                                 .string();
    {
      std::FILE* f = std::fopen(path.c_str(), "wb");
      ASSERT_NE(f, nullptr);
      ASSERT_EQ(std::fwrite(p.w.data(), 1, p.w.size(), f), p.w.size());
      ASSERT_EQ(std::fflush(f), 0);
      ASSERT_EQ(fsync(fileno(f)), 0);  // clean pages, which the kernel could drop at once
      std::fclose(f);
    }
    int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* map = mmap(nullptr, p.w.size(), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    std::filesystem::remove(path);
    ASSERT_NE(map, MAP_FAILED);
    const auto* w = static_cast<const uint8_t*>(map);
    RepackedWeights store;
    ASSERT_NE(store.get(TensorType::Q8_0, w, rows, cols, isa, 1, pages), nullptr);
    EXPECT_EQ(testing::resident_fraction(w, p.w.size()), 1.0);
    EXPECT_EQ(std::memcmp(w, p.w.data(), p.w.size()), 0);
    munmap(map, p.w.size());
  }
}

TEST(Repack, RefusesWhatItCannotPack) {
  EXPECT_FALSE(has_repacked_form(TensorType::Q5_K, Isa::Avx2));
  EXPECT_FALSE(has_repacked_form(TensorType::Q4_0, Isa::Scalar));
  EXPECT_THROW(repacked_bytes(TensorType::F32, 8, 64), Error);
  EXPECT_THROW(repacked_bytes(TensorType::Q4_K, 8, 100), Error);  // not whole blocks
  RepackedWeights store;
  std::vector<float> w(64);
  EXPECT_EQ(store.get(TensorType::F32, w.data(), 1, 64, Isa::Avx2, 1), nullptr);
}

}  // namespace
}  // namespace tern::cpu
