#include "backends/cpu/matmul.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/packed_gemm.h"
#include "backends/cpu/repack.h"
#include "backends/cpu/thread_pool.h"
#include "tern/error.h"

namespace tern::cpu {

namespace {

// Weight rows per task: 16 rows of a 2048-wide Q4_K matrix are 18 KiB, so a task's rows
// stay in L1/L2 while every activation row streams past them.
constexpr int64_t kRowsPerTask = 16;
// One token reads each weight row once, so nothing is reused within a task; long tasks
// keep the kernels' streams of rows running (a task's first rows start cold), short ones
// keep the threads even at the end of a job. Decode tasks therefore shrink as the job
// goes (guided scheduling): each takes 1 / (2 * threads) of the rows still to hand out,
// never fewer than 64 rows nor than 128 KiB of them (in whole 64 rows). In bytes, because
// a task's cold start costs about the same whatever its rows' width: 64 rows of SmolLM2's
// 576-wide Q4_1 matrices were 23 KiB, and their tasks are 320 rows now (bench_kernels
// decode_jobs, Zen 4, in turn with 64-row tasks, three runs: SmolLM2's products 9-19%
// faster at one row and 3-14% at four, at the AVX512 and AVX2 levels; the 1B shape's
// tasks stay 64 rows).
constexpr int64_t kMinDecodeRowsPerTask = 64;
constexpr int64_t kMinDecodeTaskBytes = int64_t{128} << 10;
static_assert(kMinDecodeRowsPerTask % kGroupRows == 0, "decode tasks start at whole groups");

// A decode task's fewest rows of a `type` matrix with `cols` columns.
int64_t min_decode_rows(TensorType type, int64_t cols) {
  const auto row_bytes = static_cast<int64_t>(checked_row_bytes(type, cols));
  return std::max(kMinDecodeRowsPerTask,
                  kMinDecodeTaskBytes / row_bytes / kMinDecodeRowsPerTask * kMinDecodeRowsPerTask);
}

// Rows [r0, r1) of target `target`.
struct RowTask {
  size_t target;
  int64_t r0, r1;
};

// The job's tasks, target after target: kRowsPerTask rows each for several tokens, the
// shrinking decode sizes above for the decode kernels (`decode`).
void plan_tasks(std::span<const MatmulTarget> targets, int64_t cols, bool decode, int n_threads,
                std::vector<RowTask>& tasks) {
  tasks.clear();
  int64_t left = 0;
  for (const auto& t : targets) left += t.rows;
  for (size_t i = 0; i < targets.size(); ++i) {
    for (int64_t r0 = 0; r0 < targets[i].rows;) {
      int64_t size = kRowsPerTask;
      if (decode) {
        const int64_t min_rows = min_decode_rows(targets[i].type, cols);
        size = left / (2 * int64_t{std::max(n_threads, 1)});
        size = std::max(min_rows, size / min_rows * min_rows);
      }
      int64_t r1 = std::min(targets[i].rows, r0 + size);
      tasks.push_back({i, r0, r1});
      left -= r1 - r0;
      r0 = r1;
    }
  }
}

// Activation rows quantized per task.
constexpr int64_t kQuantizeRowsPerTask = 16;

}  // namespace

bool has_simd_matmul(TensorType type, Isa isa) {
  TensorType act = type_kernels(type).vec_dot_type;
  const SimdKernels& kernels = simd_kernels(type, isa);
  return kernels.dot != nullptr && kernels.dot_rows != nullptr &&
         (act == TensorType::F32 || simd_kernels(act, isa).quantize != nullptr);
}

void quantize_rows(TensorType type, const float* x, int64_t n, int64_t cols, void* out,
                   int n_threads, Isa isa) {
  size_t stride = checked_row_bytes(type, cols);
  auto* bytes = static_cast<uint8_t*>(out);
  if (type == TensorType::F32) {
    std::memcpy(bytes, x, stride * static_cast<size_t>(n));
    return;
  }
  FromFloatFn quantize = simd_kernels(type, isa).quantize;
  if (quantize == nullptr) quantize = type_traits(type).from_float;
  int64_t n_tasks = (n + kQuantizeRowsPerTask - 1) / kQuantizeRowsPerTask;
  ThreadPool::shared().run(n_tasks, n_threads, [&](int64_t task) {
    int64_t end = std::min(n, (task + 1) * kQuantizeRowsPerTask);
    for (int64_t r = task * kQuantizeRowsPerTask; r < end; ++r) {
      quantize(x + r * cols, bytes + stride * static_cast<size_t>(r), cols);
    }
  });
}

void simd_matmul(TensorType type, const void* w, int64_t rows, int64_t cols, const float* x,
                 int64_t n, float* y, int n_threads, Isa isa) {
  MatmulTarget target{type, w, rows, y};
  simd_matmuls({&target, 1}, cols, x, n, n_threads, isa);
}

void simd_matmuls(std::span<const MatmulTarget> targets, int64_t cols, const float* x, int64_t n,
                  int n_threads, Isa isa) {
  if (targets.empty()) return;
  if (prefer_packed_gemm(targets, n, isa))
    return packed_matmuls(targets, cols, x, n, n_threads, isa);
  TensorType act_type = type_kernels(targets[0].type).vec_dot_type;
  size_t x_stride = checked_row_bytes(act_type, cols);
  // Quantized activations: [n, cols] of act_type. F32 activations are used in place.
  thread_local std::vector<uint8_t> quantized;
  const void* xq = x;
  if (act_type != TensorType::F32) {
    quantized.resize(x_stride * static_cast<size_t>(n));
    quantize_rows(act_type, x, n, cols, quantized.data(), n_threads, isa);
    xq = quantized.data();
  }
  const auto* x_bytes = static_cast<const uint8_t*>(xq);
  // A few tokens against interleaved weights (decoding one or several sequences): each
  // activation row with its per-block sums.
  const bool decode = n <= kMaxDecodeRows;
  thread_local std::vector<GroupActBuffer> group_act_storage;
  thread_local std::vector<GroupActs> group_acts;
  group_acts.clear();
  if (decode && std::any_of(targets.begin(), targets.end(),
                            [](const MatmulTarget& t) { return t.packed != nullptr; })) {
    group_act_storage.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      group_acts.push_back(group_act_storage[static_cast<size_t>(j)].prepare(
          targets[0].type, static_cast<const uint8_t*>(xq) + x_stride * static_cast<size_t>(j),
          cols));
    }
  }
  std::span<const GroupActs> acts = group_acts;  // the pool's threads read the caller's
  for (const auto& t : targets) {
    if (type_kernels(t.type).vec_dot_type != act_type) {
      throw Error("simd_matmuls: targets with different activation formats");
    }
  }
  // Reused (decode calls this ~100 times a token); the tasks on other threads see it through
  // this reference, not through their own thread_local instance.
  thread_local std::vector<RowTask> task_storage;
  std::vector<RowTask>& tasks = task_storage;
  plan_tasks(targets, cols, n == 1 || !acts.empty(), n_threads, tasks);
  ThreadPool::shared().run(static_cast<int64_t>(tasks.size()), n_threads, [&](int64_t task) {
    const auto [i, r0, r1] = tasks[static_cast<size_t>(task)];
    const MatmulTarget& target = targets[i];
    const SimdKernels& kernels = simd_kernels(target.type, isa);
    DotFn dot = kernels.dot;
    // The tile pays off with several tokens; one token streams rows singly.
    DotTileFn dot_tile = n > 1 ? kernels.dot_tile : nullptr;
    const int tile_rows = kernels.tile_rows;
    size_t w_stride = checked_row_bytes(target.type, cols);
    const auto* w_bytes = static_cast<const uint8_t*>(target.w);
    int64_t rows = target.rows;
    float* y = target.y;
    if (!acts.empty() && target.packed != nullptr) {
      repacked_gemv(target.type, target.packed, cols, r0, r1, acts, y + r0, rows, isa);
      return;
    }
    if (n == 1) {  // one token: the decode kernel runs several weight rows per pass over x
      kernels.dot_rows(cols, w_bytes + w_stride * static_cast<size_t>(r0), w_stride, r1 - r0,
                       x_bytes, y + r0);
      return;
    }
    float out[kMaxDotRows];
    // Up to kMaxDotRows tokens (in L1) against the task's rows (in L1), a tile of rows at a
    // time where the type has one.
    for (int64_t t = 0; t < n; t += kMaxDotRows) {
      int n_x = static_cast<int>(std::min<int64_t>(kMaxDotRows, n - t));
      const uint8_t* xt = x_bytes + x_stride * static_cast<size_t>(t);
      int64_t r = r0;
      for (; dot_tile != nullptr && r + tile_rows <= r1; r += tile_rows) {
        dot_tile(cols, w_bytes + w_stride * static_cast<size_t>(r), w_stride, xt, x_stride, n_x,
                 y + t * rows + r, rows);
      }
      for (; r < r1; ++r) {
        dot(cols, w_bytes + w_stride * static_cast<size_t>(r), xt, x_stride, n_x, out);
        for (int j = 0; j < n_x; ++j) y[(t + j) * rows + r] = out[j];
      }
    }
  });
}

}  // namespace tern::cpu
