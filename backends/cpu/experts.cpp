#include "backends/cpu/experts.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backends/cpu/aligned_vector.h"
#include "tern/error.h"

namespace tern::cpu {

namespace {

// The n_used experts of highest logit, descending; ties go to the lower index, so the
// choice does not depend on the sort. (Softmax is monotonic: the most probable experts.)
void top_experts(const float* logits, int64_t n_expert, int n_used, std::vector<int>& order) {
  order.resize(static_cast<size_t>(n_expert));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + n_used, order.end(), [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
}

}  // namespace

void expert_route(const float* logits, int64_t n, int64_t n_expert,
                  const graph::ExpertRouteParams& p, float* route) {
  std::vector<int> order;
  const bool over_all = p.gating == graph::ExpertGating::Softmax;
  for (int64_t t = 0; t < n; ++t) {
    const float* x = logits + t * n_expert;
    top_experts(x, n_expert, p.n_used, order);
    // Softmax over all experts, or over the chosen ones (both shifted by the top logit).
    const float max = x[order[0]];
    const int64_t n_terms = over_all ? n_expert : p.n_used;
    float sum = 0.0f;
    for (int64_t e = 0; e < n_terms; ++e) {
      sum += std::exp(x[over_all ? e : order[static_cast<size_t>(e)]] - max);
    }
    float* r = route + t * 2 * p.n_used;
    float chosen = 0.0f;
    for (int j = 0; j < p.n_used; ++j) {
      int e = order[static_cast<size_t>(j)];
      chosen += r[j] = std::exp(x[e] - max) / sum;
      r[p.n_used + j] = static_cast<float>(e);
    }
    if (!p.normalize) continue;
    // As llama.cpp: the sum is kept from zero at the smallest normal float16.
    float denominator = std::max(chosen, 6.103515625e-5f);
    for (int j = 0; j < p.n_used; ++j) r[j] /= denominator;
  }
}

void expert_add(const float* y, const float* bias, int64_t n_expert, const float* route, int64_t n,
                int n_used, int64_t cols, float* out) {
  for (int64_t pair = 0; pair < n * n_used; ++pair) {
    float id = route[(pair / n_used) * 2 * n_used + n_used + pair % n_used];
    if (!(id >= 0.0f) || static_cast<int64_t>(id) >= n_expert) {
      throw Error("expert_add: route names no expert of the bias");
    }
    const float* b = bias + static_cast<int64_t>(id) * cols;
    for (int64_t c = 0; c < cols; ++c) out[pair * cols + c] = y[pair * cols + c] + b[c];
  }
}

void expert_mix(const float* y, const float* route, int64_t n, int n_used, int64_t cols,
                float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* r = route + t * 2 * n_used;
    float* o = out + t * cols;
    const float* yt = y + t * n_used * cols;
    for (int64_t c = 0; c < cols; ++c) o[c] = r[0] * yt[c];
    for (int j = 1; j < n_used; ++j) {
      for (int64_t c = 0; c < cols; ++c) o[c] += r[j] * yt[j * cols + c];
    }
  }
}

namespace {

// The (token, expert slot) pairs of a batch grouped by expert: rows[first[e], first[e+1])
// are the pair indices t * n_used + j that chose expert e.
struct ExpertGroups {
  std::vector<int64_t> first;
  std::vector<int64_t> rows;
};

void group_by_expert(const float* route, int64_t n, int n_used, int n_expert, ExpertGroups& g) {
  g.first.assign(static_cast<size_t>(n_expert) + 1, 0);
  g.rows.resize(static_cast<size_t>(n * n_used));
  auto expert_of = [&](int64_t pair) {
    float id = route[(pair / n_used) * 2 * n_used + n_used + pair % n_used];
    auto e = static_cast<int64_t>(id);
    if (!(id >= 0.0f) || e >= n_expert) throw Error("expert_matmul: route names no expert");
    return static_cast<size_t>(e);
  };
  for (int64_t pair = 0; pair < n * n_used; ++pair) ++g.first[expert_of(pair) + 1];
  std::partial_sum(g.first.begin(), g.first.end(), g.first.begin());
  std::vector<int64_t> next(g.first.begin(), g.first.end() - 1);
  for (int64_t pair = 0; pair < n * n_used; ++pair) {
    g.rows[static_cast<size_t>(next[expert_of(pair)]++)] = pair;
  }
}

}  // namespace

void expert_matmuls(std::span<const ExpertProduct> products, int n_expert, const float* x,
                    int64_t x_rows, int64_t cols, const float* route, int64_t n, int n_used,
                    const DenseMatmuls& dense) {
  const bool per_pair = x_rows != n;  // x holds a row per (token, expert) pair
  std::vector<ExpertWeight> targets;
  // One token whose experts share its row (decoding): every expert's products in one call,
  // written in place.
  if (!per_pair && n == 1) {
    for (int j = 0; j < n_used; ++j) {
      auto e = static_cast<int64_t>(route[n_used + j]);
      for (const ExpertProduct& p : products) {
        int64_t rows = p.w_rows / n_expert;
        targets.push_back({p.type, p.w, p.w_rows, e * rows, rows, p.out + j * rows});
      }
    }
    return dense(targets, x, 1);
  }
  thread_local ExpertGroups groups;
  thread_local AlignedVector<float> xg, yg;
  group_by_expert(route, n, n_used, n_expert, groups);
  for (int e = 0; e < n_expert; ++e) {
    int64_t begin = groups.first[static_cast<size_t>(e)];
    int64_t m = groups.first[static_cast<size_t>(e) + 1] - begin;
    if (m == 0) continue;
    const int64_t* pairs = groups.rows.data() + begin;
    xg.resize(static_cast<size_t>(m * cols));
    for (int64_t i = 0; i < m; ++i) {
      int64_t src = per_pair ? pairs[i] : pairs[i] / n_used;
      std::memcpy(xg.data() + i * cols, x + src * cols, static_cast<size_t>(cols) * sizeof(float));
    }
    targets.clear();
    size_t y_floats = 0;
    for (const ExpertProduct& p : products) y_floats += static_cast<size_t>(m * (p.w_rows / n_expert));
    yg.resize(y_floats);
    float* y = yg.data();
    for (const ExpertProduct& p : products) {
      int64_t rows = p.w_rows / n_expert;
      targets.push_back({p.type, p.w, p.w_rows, e * rows, rows, y});
      y += m * rows;
    }
    dense(targets, xg.data(), m);
    for (const ExpertWeight& t : targets) {
      const ExpertProduct& p = products[static_cast<size_t>(&t - targets.data())];
      for (int64_t i = 0; i < m; ++i) {
        std::memcpy(p.out + pairs[i] * t.rows, t.y + i * t.rows,
                    static_cast<size_t>(t.rows) * sizeof(float));
      }
    }
  }
}

}  // namespace tern::cpu
