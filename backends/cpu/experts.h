// Mixture-of-experts ops of the CPU backend (graph ops ExpertRoute, ExpertMatMul,
// ExpertMix). The products group a batch's (token, expert) pairs by expert, so each chosen
// expert's weights are read once per micro-batch however many tokens chose it, and
// decoding reads only the chosen experts' bytes. Each group runs through the backend's own
// matrix product (SIMD with interleaved weights, or the scalar reference), so the experts
// get the same kernels and rounding as a dense layer.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "graph/graph.h"
#include "types/type_table.h"

namespace tern::cpu {

/// Route rows [n, 2 * n_used] from router logits [n, n_expert] (graph.h, ExpertRoute).
void expert_route(const float* logits, int64_t n, int64_t n_expert,
                  const graph::ExpertRouteParams& p, float* route);

/// out = y, plus on row t * n_used + j the bias row of the expert route[t] names there;
/// bias [n_expert, cols]. Throws tern::Error for a route naming no expert of `bias`.
void expert_add(const float* y, const float* bias, int64_t n_expert, const float* route, int64_t n,
                int n_used, int64_t cols, float* out);

/// out[t] = sum_j route[t][j] * y[t * n_used + j] over j in route order; y [n * n_used, cols].
void expert_mix(const float* y, const float* route, int64_t n, int n_used, int64_t cols,
                float* out);

/// One expert's slice of a stacked weight, as a dense product sees it.
struct ExpertWeight {
  TensorType type;
  const void* stack;   // the stacked weight's first row
  int64_t stack_rows;  // rows of all its experts
  int64_t row0;        // the slice's first row in the stack
  int64_t rows;
  float* y;  // [m, rows]: the product's output rows for the group
};

/// Runs dense products of one activation block: x [m, cols] against each target.
using DenseMatmuls = std::function<void(std::span<const ExpertWeight>, const float* x, int64_t m)>;

/// One ExpertMatMul of a group that shares its input and route (gate and up of a layer).
struct ExpertProduct {
  TensorType type;
  const void* w;  // n_expert stacked matrices of w_rows / n_expert rows each
  int64_t w_rows;
  float* out;  // [n * n_used, w_rows / n_expert]
};

/// The products `products` of x ([n, cols] per token, or [n * n_used, cols] per token and
/// expert: x_rows says which) for the experts `route` chose, grouped by expert; each group
/// is one call of `dense`.
void expert_matmuls(std::span<const ExpertProduct> products, int n_expert, const float* x,
                    int64_t x_rows, int64_t cols, const float* route, int64_t n, int n_used,
                    const DenseMatmuls& dense);

}  // namespace tern::cpu
