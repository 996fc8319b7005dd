// Scalar reference kernels of the CPU backend: the truth that SIMD and GPU kernels are
// tested against. Readable first; threads split independent rows, nothing more. The SIMD
// paths (matmul.h, row_kernels.h) sit beside them.
// Activations are row-major float: [rows, cols].
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>

#include "graph/graph.h"
#include "types/type_table.h"

namespace tern::cpu {

/// Calls fn(begin, end) on disjoint chunks covering [0, n), on up to n_threads threads of
/// the shared pool (thread_pool.h).
void parallel_for(int64_t n, int n_threads, const std::function<void(int64_t, int64_t)>& fn);

/// out [ids.size(), cols] = rows `ids` of `table` ([n_rows, cols] of `type`) as float.
void get_rows(TensorType type, const void* table, int64_t cols, int64_t n_rows,
              std::span<const int32_t> ids, float* out);

/// W (rows, cols) @ x (n, cols) -> y (n, rows): y[t][r] = sum_c W[r][c] * x[t][c].
/// W is in any type the table converts; rows are dequantized a block at a time.
void matmul(TensorType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n,
            float* y, int n_threads);

/// For each group of `group` values of x (n_values in all): out = x / sqrt(mean(x^2) + eps)
/// * w, where w (group values) may be null.
void rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps,
              float* out);

/// rms_norm's factor for a group of n values whose squares sum to sum_sq (in double), the
/// one formula its reference and SIMD kernels share.
inline float rms_scale(double sum_sq, int64_t n, float eps) {
  return static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
}

/// For each row of `width` values of x (n_rows rows): out = (x - mean) / sqrt(var + eps)
/// * w + b, with w and b of `width` values.
void layer_norm(const float* x, const float* w, const float* b, int64_t width, int64_t n_rows,
                float eps, float* out);

/// Rotates x [n_tokens, n_head * head_dim] by `angles` (backends/rope_angles.h of these
/// tokens and p).
void rope(const float* x, int64_t n_tokens, const graph::RopeParams& p, const float* angles,
          float* out);

/// Attention of q [n_tokens, n_head * head_dim_k] (positions pos0 + t) over cache rows
/// k [pos0 + n_tokens, n_head_kv * head_dim_k] and v [.., n_head_kv * head_dim_v];
/// out [n_tokens, n_head * head_dim_v]. Causal, with an optional sliding window and soft cap;
/// `sinks` (null: none) holds n_head logits, each in its head's softmax denominator only.
void attention(const float* q, const float* k, const float* v, int64_t n_tokens, int64_t pos0,
               const graph::AttentionParams& p, const float* sinks, float* out, int n_threads);

/// out = silu(gate) * up and out = gelu_tanh(gate) * up, elementwise over n values.
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void geglu(const float* gate, const float* up, int64_t n, float* out);
/// out = x * Phi(x) (the erf GELU), elementwise over n values.
void gelu(const float* x, int64_t n, float* out);
/// gpt-oss's clamped SwiGLU (graph::SwiGluOaiParams), elementwise over n values.
void swiglu_oai(const float* gate, const float* up, int64_t n, const graph::SwiGluOaiParams& p,
                float* out);

/// out [rows, cols] = a + b, where b has `b_rows` rows (rows or 1, broadcast).
void add(const float* a, const float* b, int64_t cols, int64_t rows, int64_t b_rows, float* out);
void scale(const float* x, int64_t n, float factor, float* out);
/// out = cap * tanh(x / cap), elementwise over n values (cap > 0).
void soft_cap(const float* x, int64_t n, float cap, float* out);

/// Converts n float values into `type` (the table's from_float) at dst.
void store(const float* x, int64_t n, TensorType type, void* dst);

}  // namespace tern::cpu
