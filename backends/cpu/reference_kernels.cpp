#include "backends/cpu/reference_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "tern/error.h"

namespace tern::cpu {

namespace {

// Eight partial sums: independent chains the compiler can pipeline and vectorize
// without reassociation flags; the sum order is fixed, so results are reproducible.
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

}  // namespace

void parallel_for(int64_t n, int n_threads, const std::function<void(int64_t, int64_t)>& fn) {
  // A few chunks per thread: the pool hands them out one at a time, so a thread slowed by
  // other work on the machine takes fewer.
  constexpr int64_t kChunksPerThread = 4;
  int64_t n_chunks =
      std::clamp<int64_t>(int64_t{n_threads} * kChunksPerThread, 1, std::max<int64_t>(n, 1));
  if (n_threads <= 1) n_chunks = 1;
  ThreadPool::shared().run(n_chunks, n_threads,
                           [&](int64_t c) { fn(n * c / n_chunks, n * (c + 1) / n_chunks); });
}

void get_rows(TensorType type, const void* table, int64_t cols, int64_t n_rows,
              std::span<const int32_t> ids, float* out) {
  size_t stride = checked_row_bytes(type, cols);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= n_rows) {
      throw Error(fmt::format("row id {} out of range [0, {})", ids[i], n_rows));
    }
    const auto* row = static_cast<const uint8_t*>(table) + stride * static_cast<size_t>(ids[i]);
    dequantize(type, row, out + static_cast<int64_t>(i) * cols, cols);
  }
}

void matmul(TensorType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n,
            float* y, int n_threads) {
  constexpr int64_t kRowBlock = 16;  // rows dequantized together into scratch
  size_t stride = checked_row_bytes(type, cols);
  if (type_traits(type).to_float == nullptr) {
    throw Error(fmt::format("tensor type {} has no float conversion", type_traits(type).name));
  }
  int64_t n_blocks = (rows + kRowBlock - 1) / kRowBlock;
  parallel_for(n_blocks, n_threads, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(kRowBlock * cols));  // [kRowBlock, cols]
    for (int64_t b = begin; b < end; ++b) {
      int64_t r0 = b * kRowBlock;
      int64_t nr = std::min(kRowBlock, rows - r0);
      dequantize(type, static_cast<const uint8_t*>(w) + stride * static_cast<size_t>(r0),
                 scratch.data(), nr * cols);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < nr; ++r) {
          y[t * rows + r0 + r] = dot(scratch.data() + r * cols, x + t * cols, cols);
        }
      }
    }
  });
}

void rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps,
              float* out) {
  for (int64_t g = 0; g < n_values; g += group) {
    double sum_sq = 0.0;
    for (int64_t i = 0; i < group; ++i) sum_sq += double{x[g + i]} * x[g + i];
    const float inv = rms_scale(sum_sq, group, eps);
    for (int64_t i = 0; i < group; ++i) out[g + i] = x[g + i] * inv * (w ? w[i] : 1.0f);
  }
}

void layer_norm(const float* x, const float* w, const float* b, int64_t width, int64_t n_rows,
                float eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * width;
    double sum = 0.0;
    for (int64_t i = 0; i < width; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(width);
    double sum_sq = 0.0;  // about the mean: no cancellation of large offsets
    for (int64_t i = 0; i < width; ++i) sum_sq += (xr[i] - mean) * (xr[i] - mean);
    const double inv = 1.0 / std::sqrt(sum_sq / static_cast<double>(width) + eps);
    for (int64_t i = 0; i < width; ++i) {
      out[r * width + i] = static_cast<float>((xr[i] - mean) * inv) * w[i] + b[i];
    }
  }
}

void rope(const float* x, int64_t n_tokens, const graph::RopeParams& p, const float* angles,
          float* out) {
  int64_t width = int64_t{p.n_head} * p.head_dim;
  int half = p.n_rot / 2;
  std::copy(x, x + n_tokens * width, out);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* cos_sin = angles + t * 2 * half;  // the same rotation for every head
    for (int h = 0; h < p.n_head; ++h) {
      float* o = out + t * width + int64_t{h} * p.head_dim;
      for (int i = 0; i < half; ++i) {
        float c = cos_sin[2 * i];
        float s = cos_sin[2 * i + 1];
        int a = p.neox ? i : 2 * i;  // NeoX pairs (i, i + n_rot/2); normal (2i, 2i+1)
        int b = p.neox ? i + half : 2 * i + 1;
        float x0 = o[a];
        float x1 = o[b];
        o[a] = x0 * c - x1 * s;
        o[b] = x0 * s + x1 * c;
      }
    }
  }
}

void attention(const float* q, const float* k, const float* v, int64_t n_tokens, int64_t pos0,
               const graph::AttentionParams& p, const float* sinks, float* out, int n_threads) {
  int64_t q_cols = int64_t{p.n_head} * p.head_dim_k;
  int64_t k_cols = int64_t{p.n_head_kv} * p.head_dim_k;
  int64_t v_cols = int64_t{p.n_head_kv} * p.head_dim_v;
  int64_t o_cols = int64_t{p.n_head} * p.head_dim_v;
  int group = p.n_head / p.n_head_kv;  // query heads per kv head
  // One work item per (token, head).
  parallel_for(n_tokens * p.n_head, n_threads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(pos0 + n_tokens));
    for (int64_t item = begin; item < end; ++item) {
      int64_t t = item / p.n_head;
      int h = static_cast<int>(item % p.n_head);
      int64_t kv = h / group;
      int64_t pos = pos0 + t;
      int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
      const float* qh = q + t * q_cols + int64_t{h} * p.head_dim_k;
      float max_score = -INFINITY;
      for (int64_t j = first; j <= pos; ++j) {
        // q_h (head_dim_k,) . k_j (head_dim_k,) -> score
        float s = dot(qh, k + j * k_cols + kv * p.head_dim_k, p.head_dim_k) * p.scale;
        if (p.softcap > 0.0f) s = p.softcap * std::tanh(s / p.softcap);
        scores[static_cast<size_t>(j)] = s;
        max_score = std::max(max_score, s);
      }
      double sum = 0.0;
      for (int64_t j = first; j <= pos; ++j) {
        float e = std::exp(scores[static_cast<size_t>(j)] - max_score);
        scores[static_cast<size_t>(j)] = e;
        sum += e;
      }
      // A sink is a key of score sinks[h] whose value is zero: it only adds to the sum.
      if (sinks != nullptr) sum += std::exp(static_cast<double>(sinks[h]) - max_score);
      float* oh = out + t * o_cols + int64_t{h} * p.head_dim_v;
      std::fill(oh, oh + p.head_dim_v, 0.0f);
      auto inv_sum = static_cast<float>(1.0 / sum);
      for (int64_t j = first; j <= pos; ++j) {
        // out_h (head_dim_v,) += softmax_j * v_j (head_dim_v,)
        float weight = scores[static_cast<size_t>(j)] * inv_sum;
        const float* vj = v + j * v_cols + kv * p.head_dim_v;
        for (int d = 0; d < p.head_dim_v; ++d) oh[d] += weight * vj[d];
      }
    }
  });
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

void geglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(gate[i]) * up[i];
}

void gelu(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678f));
}

void swiglu_oai(const float* gate, const float* up, int64_t n, const graph::SwiGluOaiParams& p,
                float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float g = std::min(gate[i], p.limit);
    float u = std::clamp(up[i], -p.limit, p.limit);
    out[i] = g / (1.0f + std::exp(-p.alpha * g)) * (u + 1.0f);
  }
}

void add(const float* a, const float* b, int64_t cols, int64_t rows, int64_t b_rows, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* br = b + (b_rows == 1 ? 0 : r * cols);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = a[r * cols + c] + br[c];
  }
}

void scale(const float* x, int64_t n, float factor, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * factor;
}

void soft_cap(const float* x, int64_t n, float cap, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = cap * std::tanh(x[i] / cap);
}

void store(const float* x, int64_t n, TensorType type, void* dst) {
  const TypeTraits& traits = type_traits(type);
  if (traits.from_float == nullptr) {
    throw Error(fmt::format("cannot store values as {}", traits.name));
  }
  traits.from_float(x, dst, n);
}

}  // namespace tern::cpu
