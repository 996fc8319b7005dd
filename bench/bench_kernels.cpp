// Micro-benchmarks of the hot CPU kernels: one weight matrix (4096 x 4096, the size of a
// 7B model's attention projection; 16-64 MiB, well past the caches) times 1 activation
// row (decode: memory bound) and 32 rows (prompt: compute bound), per type and SIMD
// level, single-threaded. Bytes/s counts weight bytes, so decode runs read as bandwidth.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/memory_bandwidth.h"
#include "backends/cpu/packed_gemm.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/cpu/repack.h"
#include "backends/cpu/thread_pool.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace {

using tern::TensorType;
using tern::cpu::Isa;

constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;

std::vector<float> random_values(size_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A kRows x kCols weight matrix of `type` (each row the same random values, quantized), n
// random activation rows and room for the result.
struct Product {
  std::vector<uint8_t> w;
  std::vector<float> x, y;
};

Product make_product(TensorType type, int64_t n) {
  const tern::TypeTraits& traits = tern::type_traits(type);
  size_t stride = *tern::row_bytes(type, kCols);
  Product p{std::vector<uint8_t>(stride * kRows), random_values(static_cast<size_t>(n * kCols)),
            std::vector<float>(static_cast<size_t>(n * kRows))};
  std::vector<float> row = random_values(kCols);
  for (int64_t r = 0; r < kRows; ++r) traits.from_float(row.data(), p.w.data() + stride * r, kCols);
  return p;
}

void matmul(benchmark::State& state, TensorType type, Isa isa) {
  if (isa > tern::cpu::detected_isa() || !tern::cpu::has_simd_matmul(type, isa)) {
    state.SkipWithError("level not available on this CPU");
    return;
  }
  const int64_t n = state.range(0);
  Product p = make_product(type, n);
  auto& [w, x, y] = p;
  for (auto _ : state) {
    tern::cpu::simd_matmul(type, w.data(), kRows, kCols, x.data(), n, y.data(), 1, isa);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.size()));
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["MAC/s"] = benchmark::Counter(
      static_cast<double>(n * kRows * kCols) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void register_all() {
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Amx}) {
    for (TensorType type :
         {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
          TensorType::IQ4_XS, TensorType::F16, TensorType::BF16}) {
      std::string name = std::string("matmul/") + std::string(tern::type_traits(type).name) + "/" +
                         std::string(tern::cpu::isa_name(isa));
      benchmark::RegisterBenchmark(name.c_str(), matmul, type, isa)
          ->Arg(1)
          ->Arg(8)  // the row kernels' largest use
          ->Arg(16)
          ->Arg(32)  // the packed GEMM's smallest (backends/cpu/packed_gemm.h)
          ->Arg(128)
          ->Arg(512)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// ---- Attention at the 135M shape: 9 query heads over 3 kv heads, head_dim 64; a 512-token
// prompt (causal, no cache before it) and one token decoded after 4096 cached ones; the
// scalar reference against the SIMD kernel of a level, single-threaded, over an F32 cache
// and (SIMD levels) an F16 one, the default. tok/s counts query tokens. Args: {query
// tokens, cached positions before them, F16 cache}.

namespace {

void attention_135m(benchmark::State& state, Isa isa) {
  if (isa > tern::cpu::detected_isa()) {
    state.SkipWithError("level not available on this CPU");
    return;
  }
  constexpr int kHeads = 9, kHeadsKv = 3, kDim = 64;
  const int64_t n = state.range(0);
  const int64_t pos0 = state.range(1);
  const tern::graph::AttentionParams p{kHeads, kHeadsKv, kDim, kDim, 0.125f, 0};
  std::vector<float> q = random_values(static_cast<size_t>(n * kHeads * kDim));
  std::vector<float> k = random_values(static_cast<size_t>((pos0 + n) * kHeadsKv * kDim));
  std::vector<float> v = random_values(static_cast<size_t>((pos0 + n) * kHeadsKv * kDim));
  std::vector<float> out(q.size());
  const bool f16 = state.range(2) != 0;
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  tern::f16_from_float(k.data(), k16.data(), static_cast<int64_t>(k.size()));
  tern::f16_from_float(v.data(), v16.data(), static_cast<int64_t>(v.size()));
  for (auto _ : state) {
    if (isa == Isa::Scalar) {
      tern::cpu::attention(q.data(), k.data(), v.data(), n, pos0, p, nullptr, out.data(), 1);
    } else {
      const tern::graph::Segment all{0, n, pos0, 0};
      tern::cpu::simd_attention(q.data(), f16 ? static_cast<const void*>(k16.data()) : k.data(),
                                f16 ? static_cast<const void*>(v16.data()) : v.data(),
                                f16 ? tern::TensorType::F16 : tern::TensorType::F32,
                                std::span(&all, 1), p, nullptr, out.data(), 1, isa);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(attention_135m, scalar, Isa::Scalar)
    ->Args({512, 0, 0})
    ->Args({1, 4096, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(attention_135m, avx2, Isa::Avx2)
    ->ArgsProduct({{512}, {0}, {0, 1}})
    ->Args({1, 4096, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(attention_135m, avx512, Isa::Avx512)
    ->ArgsProduct({{512}, {0}, {0, 1}})
    ->Args({1, 4096, 0})
    ->Unit(benchmark::kMillisecond);

// ---- Decoding attention over a model's layers: the 1B shape (32 query heads over 8 kv heads
// of 64, 16 layers; at 4096 positions the F32 caches are 16 x 16 MiB, far past L3, as in a
// real decode step) and the 135M shape (9 over 3) at depth 160 with 120 layers, four times
// SmolLM2's 30 (at 4 sequences its 30 layers' 15 MB of F16 cache would stay in L3, where in
// a real step the weights streaming through evict it), and with its 30 layers at 4096
// positions (a long document: 94 MB of F16 cache); each layer's cache visited in turn, two
// threads. tok/s counts decoded tokens
// (all layers). Args: {cached positions, F16 cache, sequences decoded at once (batched
// decoding: each its own slot of the cache, tok/s counts all of them)}.

struct DecodeShape {
  int heads, heads_kv, dim, layers;
};
constexpr DecodeShape k1B{32, 8, 64, 16}, k135M{9, 3, 64, 120}, k135MLong{9, 3, 64, 30};

void attention_decode(benchmark::State& state, Isa isa, DecodeShape shape) {
  if (isa > tern::cpu::detected_isa()) {
    state.SkipWithError("level not available on this CPU");
    return;
  }
  const int kHeads = shape.heads, kHeadsKv = shape.heads_kv, kDim = shape.dim;
  const int kLayers = shape.layers;
  const int64_t pos0 = state.range(0);
  const bool f16 = state.range(1) != 0;
  const int64_t n_seq = state.range(2);
  const tern::graph::AttentionParams p{kHeads, kHeadsKv, kDim, kDim, 0.125f, 0};
  const auto cache_values = static_cast<size_t>(n_seq * (pos0 + 1) * kHeadsKv * kDim);
  std::vector<float> q = random_values(static_cast<size_t>(n_seq * kHeads * kDim));
  std::vector<float> one = random_values(cache_values);
  std::vector<uint16_t> one16(cache_values);
  tern::f16_from_float(one.data(), one16.data(), static_cast<int64_t>(cache_values));
  // Separate copies per layer (and K apart from V), so no layer finds another's in cache.
  std::vector<std::vector<float>> k32, v32;
  std::vector<std::vector<uint16_t>> k16, v16;
  for (int l = 0; l < kLayers; ++l) {
    if (f16) {
      k16.push_back(one16);
      v16.push_back(one16);
    } else {
      k32.push_back(one);
      v32.push_back(one);
    }
  }
  std::vector<float> out(q.size());
  const tern::TensorType type = f16 ? tern::TensorType::F16 : tern::TensorType::F32;
  std::vector<tern::graph::Segment> steps;
  for (int64_t s = 0; s < n_seq; ++s) steps.push_back({s, 1, pos0, s * (pos0 + 1)});
  for (auto _ : state) {
    for (int l = 0; l < kLayers; ++l) {
      const void* k = f16 ? static_cast<const void*>(k16[l].data()) : k32[l].data();
      const void* v = f16 ? static_cast<const void*>(v16[l].data()) : v32[l].data();
      tern::cpu::simd_attention(q.data(), k, v, type, steps, p, nullptr, out.data(), 2, isa);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n_seq * static_cast<int64_t>(state.iterations())),
                         benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(attention_decode, 1b_avx2, Isa::Avx2, k1B)
    ->Args({4096, 0, 1})
    ->Args({4096, 1, 1})
    ->Args({256, 0, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(attention_decode, 1b_avx512, Isa::Avx512, k1B)
    ->Args({4096, 0, 1})
    ->Args({4096, 1, 1})
    ->Args({256, 0, 4})
    ->Args({256, 1, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(attention_decode, 135m_avx2, Isa::Avx2, k135M)
    ->Args({160, 1, 1})
    ->Args({160, 1, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(attention_decode, 135m_avx512, Isa::Avx512, k135M)
    ->Args({160, 1, 1})
    ->Args({160, 1, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(attention_decode, 135m_long_avx2, Isa::Avx2, k135MLong)
    ->Args({4096, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(attention_decode, 135m_long_avx512, Isa::Avx512, k135MLong)
    ->Args({4096, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

// ---- decode kernels (DotRowsFn) alone, one thread ----
// Weight rows against one activation row, as a decode step reads them. The first argument
// is the weights' size in KiB: 262144 (256 MiB, 8x the L3 of the machines measured:
// streamed from DRAM) and 384 (stays in L2: the kernel's compute speed). Bytes/s counts
// weight bytes, so compare the DRAM figure with `tern bench --memory` (per-thread share)
// and with the L2 figure to see whether a kernel is bandwidth or compute bound. The second
// is the activation rows (batched decoding: sequences decoded at once; interleaved
// weights only); tok/s counts them.
namespace {

constexpr int64_t kDecodeCols = 4096;

// `repacked`: the same rows in their interleaved form (backends/cpu/repack.h) through its kernel.
void decode_rows(benchmark::State& state, TensorType type, Isa isa, bool repacked) {
  const tern::cpu::SimdKernels& k = tern::cpu::simd_kernels(type, isa);
  if (isa > tern::cpu::detected_isa() || k.dot_rows == nullptr ||
      (repacked && !tern::cpu::has_repacked_form(type, isa))) {
    state.SkipWithError("level or kernel not available on this CPU");
    return;
  }
  const tern::TypeTraits& traits = tern::type_traits(type);
  const tern::TypeTraits& act = tern::type_traits(tern::cpu::type_kernels(type).vec_dot_type);
  size_t stride = *tern::row_bytes(type, kDecodeCols);
  auto rows = std::max<int64_t>(static_cast<int64_t>((size_t(state.range(0)) << 10) / stride), 1);
  // One quantized row copied everywhere: the values do not change the speed.
  std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
  std::vector<float> values = random_values(kDecodeCols);
  traits.from_float(values.data(), w.data(), kDecodeCols);
  for (int64_t r = 1; r < rows; ++r) std::copy_n(w.data(), stride, w.data() + stride * r);
  const auto n_x = static_cast<int>(state.range(1));
  const size_t x_bytes = *tern::row_bytes(act.type, kDecodeCols);
  std::vector<uint8_t> x(x_bytes * static_cast<size_t>(n_x));
  for (int j = 0; j < n_x; ++j) {
    tern::cpu::quantize_rows(act.type, values.data(), 1, kDecodeCols, x.data() + x_bytes * j, 1,
                             isa);
  }
  std::vector<float> y(static_cast<size_t>(rows * n_x));
  if (repacked) {
    std::vector<uint8_t> packed(tern::cpu::repacked_bytes(type, rows, kDecodeCols));
    tern::cpu::repack(type, w.data(), rows, kDecodeCols, packed.data(), 1);
    std::vector<tern::cpu::GroupActBuffer> buffers(static_cast<size_t>(n_x));
    std::vector<tern::cpu::GroupActs> xa;
    for (int j = 0; j < n_x; ++j) {
      xa.push_back(buffers[static_cast<size_t>(j)].prepare(type, x.data() + x_bytes * j, kDecodeCols));
    }
    for (auto _ : state) {
      tern::cpu::repacked_gemv(type, packed.data(), kDecodeCols, 0, rows, xa, y.data(), rows, isa);
      benchmark::DoNotOptimize(y.data());
    }
  } else {
    for (auto _ : state) {
      k.dot_rows(kDecodeCols, w.data(), stride, rows, x.data(), y.data());
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.size()));
  state.counters["tok/s"] = benchmark::Counter(
      static_cast<double>(n_x) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

const bool kDecodeRegistered = [] {
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    for (TensorType type :
         {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::Q4_1,
          TensorType::Q5_0, TensorType::Q5_1, TensorType::Q5_K, TensorType::IQ4_NL,
          TensorType::IQ4_XS, TensorType::MXFP4, TensorType::F16}) {
      for (bool repacked : {false, true}) {
        if (repacked && !tern::cpu::has_repacked_form(type, isa)) continue;
        std::string name = std::string(repacked ? "decode_repacked/" : "decode_rows/") +
                           std::string(tern::type_traits(type).name) + "/" +
                           std::string(tern::cpu::isa_name(isa));
        auto* b = benchmark::RegisterBenchmark(name.c_str(), decode_rows, type, isa, repacked);
        for (int64_t n_x : repacked ? std::vector<int64_t>{1, 2, 4, 8} : std::vector<int64_t>{1}) {
          b->Args({262144, n_x})->Args({384, n_x});
        }
        b->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return true;
}();

}  // namespace

// ---- decoding against a plain read of the same bytes, both threads, one process ----
// A decode kernel's stream of weights next to memory's own ceiling (issue #26: decoding at
// 90% of the read bandwidth): 256 MiB of interleaved weights from DRAM, the product with
// n_x activation rows in 32 tasks on 2 threads, and the read test's kernel over the same
// bytes, iteration by iteration in turn, so a shared machine's drifting speed (+-25% within
// minutes on the VMs of docs/benchmarks.md) falls on both alike. Counters: decode_GBps and
// read_GBps (1e9 bytes/s) and decode/read, at the detected SIMD level.

namespace {

constexpr int64_t kVsReadTasks = 32;

void decode_vs_read(benchmark::State& state, TensorType type) {
  const Isa isa = tern::cpu::detected_isa();
  if (isa == Isa::Scalar || !tern::cpu::has_repacked_form(type, isa)) {
    state.SkipWithError("no interleaved decode kernel at this level");
    return;
  }
  const size_t stride = *tern::row_bytes(type, kDecodeCols);
  const int64_t rows = static_cast<int64_t>((size_t{256} << 20) / stride) / 8 * 8;
  std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
  std::vector<float> values = random_values(kDecodeCols);
  tern::type_traits(type).from_float(values.data(), w.data(), kDecodeCols);
  for (int64_t r = 1; r < rows; ++r) std::copy_n(w.data(), stride, w.data() + stride * r);
  // The read kernel takes whole 64-byte aligned tasks: the copy lives in such a buffer.
  const size_t bytes = tern::cpu::repacked_bytes(type, rows, kDecodeCols);
  const size_t n_words = (bytes + tern::cpu::kReadTaskBytes - 1) / tern::cpu::kReadTaskBytes *
                         tern::cpu::kReadTaskWords;
  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], Free> words(
      static_cast<uint64_t*>(std::aligned_alloc(64, n_words * sizeof(uint64_t))));
  std::fill_n(words.get(), n_words, uint64_t{0});
  tern::cpu::repack(type, w.data(), rows, kDecodeCols, words.get(), 2);
  w = {};
  const auto n_x = static_cast<int>(state.range(0));
  const tern::TypeTraits& act = tern::type_traits(tern::cpu::type_kernels(type).vec_dot_type);
  const size_t x_bytes = *tern::row_bytes(act.type, kDecodeCols);
  std::vector<uint8_t> x(x_bytes * static_cast<size_t>(n_x));
  std::vector<tern::cpu::GroupActBuffer> buffers(static_cast<size_t>(n_x));
  std::vector<tern::cpu::GroupActs> xa;
  for (int j = 0; j < n_x; ++j) {
    tern::cpu::quantize_rows(act.type, values.data(), 1, kDecodeCols, x.data() + x_bytes * j, 1,
                             isa);
    xa.push_back(
        buffers[static_cast<size_t>(j)].prepare(type, x.data() + x_bytes * j, kDecodeCols));
  }
  std::vector<float> y(static_cast<size_t>(rows * n_x));
  const int64_t task_rows = rows / kVsReadTasks / 8 * 8;
  const auto n_read_tasks = static_cast<int64_t>(n_words / tern::cpu::kReadTaskWords);
  std::vector<uint64_t> sums(static_cast<size_t>(n_read_tasks));
  tern::cpu::ThreadPool& pool = tern::cpu::ThreadPool::shared();
  double seconds[2] = {0, 0};
  int64_t iteration = 0;
  for (auto _ : state) {
    const int read = static_cast<int>(iteration++ % 2);
    const auto start = std::chrono::steady_clock::now();
    if (read) {
      pool.run(n_read_tasks, 2, [&](int64_t t) {
        sums[static_cast<size_t>(t)] = tern::cpu::avx2::sum_task_words(
            words.get() + static_cast<size_t>(t) * tern::cpu::kReadTaskWords);
      });
      benchmark::DoNotOptimize(sums.data());
    } else {
      pool.run(kVsReadTasks, 2, [&](int64_t t) {
        const int64_t r0 = t * task_rows, r1 = t + 1 == kVsReadTasks ? rows : r0 + task_rows;
        tern::cpu::repacked_gemv(type, words.get(), kDecodeCols, r0, r1, xa, y.data() + r0, rows,
                                 isa);
      });
      benchmark::DoNotOptimize(y.data());
    }
    seconds[read] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double half = static_cast<double>(iteration / 2);
  const double decode_gbps = static_cast<double>(bytes) * half / seconds[0] / 1e9;
  const double read_gbps =
      static_cast<double>(n_words * sizeof(uint64_t)) * half / seconds[1] / 1e9;
  state.counters["decode_GBps"] = decode_gbps;
  state.counters["read_GBps"] = read_gbps;
  state.counters["decode/read"] = decode_gbps / read_gbps;
}

const bool kVsReadRegistered = [] {
  for (TensorType type :
       {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
    std::string name = "decode_vs_read/" + std::string(tern::type_traits(type).name);
    benchmark::RegisterBenchmark(name.c_str(), decode_vs_read, type)
        ->Arg(1)
        ->Arg(4)
        ->Iterations(100)
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace

// ---- a decoded token's products, job by job, against one product of the same bytes ----
// What a token's many small products cost beyond their bytes (issues #18, #26): a model's
// layers of product groups as the CPU backend runs them (simd_matmuls on 2 threads: q/k/v,
// o, gate/up, down; interleaved weights from DRAM, several copies of the model's products
// taken in turn where one copy would fit in L3), against one product over a single matrix
// of the same bytes, iterations in turn. Shapes: SmolLM2 (576 wide, kv 192, ffn 1536, 30
// layers, Q4_1) and the #6 1B (2048, 512, 8192, 16 layers, Q4_K), at 1 and 4 activation
// rows, at the detected level and at AVX2. Counters: both GB/s and the time each product
// group takes beyond the single product's rate.

namespace {

struct LayerShape {
  std::vector<int64_t> rows;  // the group's products
  int64_t cols;
};

struct ModelShape {
  TensorType type;
  int64_t hidden, kv, ffn;
  int layers, copies;
  int n_x = 1;
  bool avx2 = false;
};

void decode_jobs(benchmark::State& state, ModelShape m) {
  const Isa isa = m.avx2 ? Isa::Avx2 : tern::cpu::detected_isa();
  const TensorType type = m.type;
  if (isa == Isa::Scalar || isa > tern::cpu::detected_isa() ||
      !tern::cpu::has_repacked_form(type, isa)) {
    state.SkipWithError("no interleaved decode kernel at this level");
    return;
  }
  const std::vector<LayerShape> layer = {{{m.hidden, m.kv, m.kv}, m.hidden},
                                         {{m.hidden}, m.hidden},
                                         {{m.ffn, m.ffn}, m.hidden},
                                         {{m.hidden}, m.ffn}};
  const int kLayers = m.layers, kCopies = m.copies;
  struct Group {
    std::vector<tern::cpu::MatmulTarget> targets;
    int64_t cols;
  };
  std::vector<std::vector<uint8_t>> store;
  std::vector<Group> groups;
  size_t bytes = 0;
  std::vector<float> values = random_values(static_cast<size_t>(m.ffn * m.n_x));
  std::vector<float> y(static_cast<size_t>(m.ffn * m.n_x));
  for (int c = 0; c < kCopies * kLayers; ++c) {
    for (const LayerShape& shape : layer) {
      Group g{{}, shape.cols};
      for (int64_t rows : shape.rows) {
        const size_t stride = *tern::row_bytes(type, shape.cols);
        std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
        tern::type_traits(type).from_float(values.data(), w.data(), shape.cols);
        for (int64_t r = 1; r < rows; ++r) std::copy_n(w.data(), stride, w.data() + stride * r);
        store.emplace_back(tern::cpu::repacked_bytes(type, rows, shape.cols));
        tern::cpu::repack(type, w.data(), rows, shape.cols, store.back().data(), 2);
        bytes += store.back().size();
        g.targets.push_back({type, nullptr, rows, y.data(), store.back().data()});
      }
      groups.push_back(std::move(g));
    }
  }
  // The single product: one matrix of the same bytes (the hidden-width shape).
  const size_t stride = *tern::row_bytes(type, m.hidden);
  const int64_t big_rows = static_cast<int64_t>(bytes / stride) / 8 * 8;
  std::vector<uint8_t> big_w(stride * static_cast<size_t>(big_rows));
  tern::type_traits(type).from_float(values.data(), big_w.data(), m.hidden);
  for (int64_t r = 1; r < big_rows; ++r)
    std::copy_n(big_w.data(), stride, big_w.data() + stride * r);
  std::vector<uint8_t> big(tern::cpu::repacked_bytes(type, big_rows, m.hidden));
  tern::cpu::repack(type, big_w.data(), big_rows, m.hidden, big.data(), 2);
  big_w = {};
  std::vector<float> big_y(static_cast<size_t>(big_rows * m.n_x));
  const tern::cpu::MatmulTarget whole{type, nullptr, big_rows, big_y.data(), big.data()};
  double seconds[2] = {0, 0};
  int64_t iteration = 0;
  size_t next = 0;  // the copy of the model's products taken next
  for (auto _ : state) {
    const int single = static_cast<int>(iteration++ % 2);
    const auto start = std::chrono::steady_clock::now();
    if (single) {
      tern::cpu::simd_matmuls({&whole, 1}, m.hidden, values.data(), m.n_x, 2, isa);
    } else {
      for (size_t i = 0; i < kLayers * layer.size(); ++i, next = (next + 1) % groups.size()) {
        tern::cpu::simd_matmuls(groups[next].targets, groups[next].cols, values.data(), m.n_x, 2,
                                isa);
      }
    }
    seconds[single] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double half = static_cast<double>(iteration / 2);
  const double token_bytes = static_cast<double>(bytes) / kCopies;
  const double jobs_gbps = token_bytes * half / seconds[0] / 1e9;
  const double single_gbps = static_cast<double>(big.size()) * half / seconds[1] / 1e9;
  state.counters["jobs_GBps"] = jobs_gbps;
  state.counters["single_GBps"] = single_gbps;
  state.counters["us_per_group"] =
      (seconds[0] / half - token_bytes / (single_gbps * 1e9)) / (kLayers * layer.size()) * 1e6;
}
const bool kDecodeJobsRegistered = [] {
  const std::pair<const char*, ModelShape> models[] = {
      {"smollm2_q4_1", {TensorType::Q4_1, 576, 192, 1536, 30, 8}},
      {"1b_q4_k", {TensorType::Q4_K, 2048, 512, 8192, 16, 1}}};
  for (const auto& [name, shape] : models) {
    for (int n_x : {1, 4}) {
      for (bool avx2 : {false, true}) {
        ModelShape m = shape;
        m.n_x = n_x;
        m.avx2 = avx2;
        std::string full = std::string("decode_jobs/") + name + "/x" + std::to_string(n_x) +
                           (avx2 ? "/avx2" : "/detected");
        benchmark::RegisterBenchmark(full.c_str(), decode_jobs, m)
            ->Iterations(m.copies > 1 ? 400 : 80)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return true;
}();

}  // namespace

// ---- prompt-sized products: row kernels (16 tokens per call) vs the packed GEMM ----
// The same 4096 x 4096 weights and n tokens through both paths, one thread: where the
// packed GEMM's tile unpacking pays off decides each type's threshold (packed_gemm.cpp).

namespace {

// The ways prompt-sized products run: the row kernels (8 tokens per call), the packed GEMM
// unpacking the file's blocks, and the packed GEMM over interleaved weights
// (backends/cpu/repack.h).
enum class PromptPath { Rows, Packed, Interleaved };

void prompt_path(benchmark::State& state, TensorType type, PromptPath path, Isa isa) {
  if (isa > tern::cpu::detected_isa() || !tern::cpu::has_packed_gemm(type, isa)) {
    state.SkipWithError("this CPU lacks the level");
    return;
  }
  const int64_t n = state.range(0);
  constexpr int64_t kRowChunk = 8;  // below every threshold: simd_matmul takes the row kernels
  static_assert(kRowChunk < tern::cpu::kMinPackedTokens);
  Product p = make_product(type, n);
  auto& [w, x, y] = p;
  std::vector<uint8_t> interleaved;
  if (path == PromptPath::Interleaved) {
    interleaved.resize(tern::cpu::repacked_bytes(type, kRows, kCols));
    tern::cpu::repack(type, w.data(), kRows, kCols, interleaved.data(), 1);
  }
  for (auto _ : state) {
    if (path != PromptPath::Rows) {
      tern::cpu::MatmulTarget target{type, w.data(), kRows, y.data(),
                                     interleaved.empty() ? nullptr : interleaved.data()};
      tern::cpu::packed_matmuls({&target, 1}, kCols, x.data(), n, 1, isa);
    } else {
      for (int64_t t = 0; t < n; t += kRowChunk) {
        int64_t m = std::min(kRowChunk, n - t);
        tern::cpu::simd_matmul(type, w.data(), kRows, kCols, x.data() + t * kCols, m,
                               y.data() + t * kRows, 1, isa);
      }
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] = benchmark::Counter(
      static_cast<double>(n * kRows * kCols) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void register_prompt_paths() {
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Amx}) {
    for (TensorType type :
         {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
      for (auto [path, label] : {std::pair{PromptPath::Rows, "/rows/"},
                                 {PromptPath::Packed, "/packed/"},
                                 {PromptPath::Interleaved, "/interleaved/"}}) {
        std::string name = std::string("prompt/") + std::string(tern::type_traits(type).name) +
                           label + std::string(tern::cpu::isa_name(isa));
        benchmark::RegisterBenchmark(name.c_str(), prompt_path, type, path, isa)
            ->Arg(16)
            ->Arg(32)
            ->Arg(64)
            ->Arg(128)
            ->Arg(512)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

// Registered before main() runs (the file's other blocks use BENCHMARK macros likewise).
const bool kPromptPathsRegistered = (register_prompt_paths(), true);

}  // namespace
