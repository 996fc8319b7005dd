// The CPU backend: host buffers, the scalar reference kernels (reference_kernels.h) and, for
// matrix products, attention and the gated activations, the SIMD kernels of the level
// cpu_features.h selects (matmul.h, attention.h, elementwise.h).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/aligned_vector.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/experts.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/cpu/repack.h"
#include "backends/rope_angles.h"
#include "tern/error.h"

namespace tern {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Storage;
using graph::Tensor;

// Zeroed by calloc: large blocks come straight from the kernel as zero pages, so a KV cache
// costs memory and time only for the positions used (a std::vector's value-initialization
// wrote every byte: 750 MB of cache for `summarize -np 4` at -c 4096, 11% of its run).
// The data start on a cache line (calloc's large blocks start 16 bytes into a page, and then
// every 512-bit load of an activation or cache row straddled two lines).
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes)
      : block_(static_cast<uint8_t*>(std::calloc(bytes + cpu::kCacheLine, 1))), size_(bytes) {
    if (block_ == nullptr) {
      throw Error(fmt::format("cpu: cannot allocate {} bytes", bytes));
    }
    const auto address = reinterpret_cast<uintptr_t>(block_.get());
    bytes_ = block_.get() + (cpu::kCacheLine - address % cpu::kCacheLine) % cpu::kCacheLine;
  }
  size_t size() const override { return size_; }
  void* host_data() override { return bytes_; }
  void upload(const void* src, size_t offset, size_t n) override {
    std::memcpy(bytes_ + offset, src, n);
  }
  void download(void* dst, size_t offset, size_t n) const override {
    std::memcpy(dst, bytes_ + offset, n);
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> block_;
  uint8_t* bytes_;  // the first cache line of block_
  size_t size_;
};

// Resolves a node's operands to host pointers for one run.
class Operands {
 public:
  Operands(const Graph& graph, float* workspace) : graph_(graph), workspace_(workspace) {}

  float* act(graph::TensorId id) const {
    const Tensor& t = graph_.tensor(id);
    if (t.storage != Storage::Activation) throw Error("cpu: operand is not an activation");
    return workspace_ + t.offset;
  }
  // Any float-convertible operand as float rows; F32 ones in place, other weights and
  // caches converted into `scratch` (rows [0, n_rows)).
  const float* floats(graph::TensorId id, int64_t n_rows, std::vector<float>& scratch) const {
    const Tensor& t = graph_.tensor(id);
    if (t.storage == Storage::Activation) return act(id);
    if (t.type == TensorType::F32) return static_cast<const float*>(bytes(t));
    scratch.resize(static_cast<size_t>(n_rows * t.cols));
    dequantize(t.type, bytes(t), scratch.data(), n_rows * t.cols);
    return scratch.data();
  }
  const void* bytes(const Tensor& t) const {
    if (t.storage == Storage::Activation) return workspace_ + t.offset;
    return t.storage == Storage::Cache ? t.cache->host_data() : t.data;
  }

 private:
  const Graph& graph_;
  float* workspace_;
};

// The rope angle tables of one run: every layer's q and k rotate the same tokens, so each
// distinct rotation (gemma3's local and global layers differ in base) is computed once per
// run instead of n_tokens * n_rot / 2 pow, cos and sin per rope node.
class RopeAngleTables {
 public:
  void clear() { tables_.clear(); }

  const float* get(std::span<const graph::TokenPlace> places, const graph::RopeParams& p,
                   const float* factors) {
    size_t n_factors = factors ? static_cast<size_t>(p.n_rot / 2) : 0;
    for (const auto& t : tables_) {
      if (t.n_rot == p.n_rot && t.freq_base == p.freq_base && t.freq_scale == p.freq_scale &&
          t.ext_factor == p.ext_factor && t.corr_low == p.corr_low && t.corr_high == p.corr_high &&
          t.mscale == p.mscale &&
          std::equal(t.factors.begin(), t.factors.end(), factors, factors + n_factors)) {
        return t.angles.data();
      }
    }
    tables_.push_back({p.n_rot, p.freq_base, p.freq_scale, p.ext_factor, p.corr_low, p.corr_high,
                       p.mscale, std::vector<float>(factors, factors + n_factors),
                       rope_angles(places, p, factors)});
    return tables_.back().angles.data();
  }

 private:
  struct Table {  // the run's places are the same for every table
    int n_rot;
    float freq_base, freq_scale;
    float ext_factor, corr_low, corr_high, mscale;
    std::vector<float> factors;  // by value: the operand may live in reused scratch
    std::vector<float> angles;
  };
  std::vector<Table> tables_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options)
      : n_threads_(options.n_threads > 0 ? options.n_threads : cpu::physical_cores()),
        isa_(cpu::isa_of(options.cpu_kernels)),
        repack_(options.repack),
        own_repacked_(options.repacked ? nullptr : std::make_unique<cpu::RepackedWeights>()),
        repacked_(options.repacked ? *options.repacked : *own_repacked_) {}

  DeviceInfo device() const override { return {"cpu", 0, true}; }

  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<HostBuffer>(bytes);
  }

  bool supports(const Graph& graph, const Node& node) const override {
    // Every op; weights in every type the table converts to float; caches in host memory.
    for (graph::TensorId id : {node.in[0], node.in[1], node.in[2], node.in[3], node.out}) {
      if (id == graph::kNone) continue;
      const Tensor& t = graph.tensor(id);
      if (t.storage == Storage::Cache && t.cache->host_data() == nullptr) return false;
      if (t.type != TensorType::I32 && type_traits(t.type).to_float == nullptr) return false;
    }
    return true;
  }

  void run(const Graph& graph, size_t first, size_t last, Buffer& workspace) override {
    if (workspace.size() < graph.workspace_floats() * sizeof(float)) {
      throw Error("cpu: workspace smaller than the graph needs");
    }
    Operands ops(graph, static_cast<float*>(workspace.host_data()));
    rope_angles_.clear();
    for (size_t i = first; i < last;) {
      const Node& node = graph.nodes()[i];
      const auto start = timing_ ? Clock::now() : Clock::time_point{};
      size_t n_matmuls = simd_matmul_run(graph, i, last);
      size_t n_experts = n_matmuls > 0 ? 0 : expert_matmul_run(graph, i, last);
      if (n_matmuls > 0) {
        run_matmuls(graph, graph.nodes().subspan(i, n_matmuls), ops);
        i += n_matmuls;
      } else if (n_experts > 0) {
        run_expert_matmuls(graph, graph.nodes().subspan(i, n_experts), ops);
        i += n_experts;
      } else {
        run_node(graph, node, ops);
        ++i;
      }
      if (timing_) record(graph, node, start);
    }
  }

  void time_ops(bool on) override {
    timing_ = on;
    op_times_.clear();
  }

  std::vector<OpTime> op_times() const override {
    std::vector<OpTime> times;
    for (const auto& [op, t] : op_times_) times.push_back({op, t.seconds, t.calls});
    std::sort(times.begin(), times.end(),
              [](const OpTime& a, const OpTime& b) { return a.seconds > b.seconds; });
    return times;
  }

 private:
  using Clock = std::chrono::steady_clock;
  // Adds the time since `start` to the kind of `node` (the first of a group of products):
  // products by their weights' type, since that decides their kernel.
  void record(const Graph& graph, const Node& node, Clock::time_point start) {
    std::string op(graph::op_name(node.op));
    if (node.op == Op::MatMul || node.op == Op::ExpertMatMul) {
      op += fmt::format(" {}", type_traits(graph.tensor(node.in[0]).type).name);
    }
    OpTime& t = op_times_[op];
    t.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    ++t.calls;
  }

  void run_node(const Graph& graph, const Node& node, const Operands& ops);
  void gated_activation(const Node& node, const float* gate, const float* up, int64_t n,
                        float* out) const;
  size_t simd_matmul_run(const Graph& graph, size_t i, size_t last) const;
  void run_matmuls(const Graph& graph, std::span<const Node> nodes, const Operands& ops);
  size_t expert_matmul_run(const Graph& graph, size_t i, size_t last) const;
  void run_expert_matmuls(const Graph& graph, std::span<const Node> nodes, const Operands& ops);
  void dense_matmuls(std::span<const cpu::ExpertWeight> weights, int64_t cols, const float* x,
                     int64_t n);

  int n_threads_;
  cpu::Isa isa_;
  bool repack_;
  std::vector<float> scratch_a_;
  std::vector<float> scratch_b_;
  std::vector<float> scratch_c_;  // attention sinks
  std::vector<cpu::MatmulTarget> targets_;
  std::unique_ptr<cpu::RepackedWeights> own_repacked_;  // when no shared store was given
  cpu::RepackedWeights& repacked_;                      // interleaved weights, made on first use
  RopeAngleTables rope_angles_;
  bool timing_ = false;                     // time_ops(true)
  std::map<std::string, OpTime> op_times_;  // by kind (record; .op unset: the key)
};

// How many nodes from i on are SIMD matrix products of one activation tensor with weights
// of one activation format (q/k/v, gate/up): they run as one pool job. 0 if node i is not one.
size_t CpuBackend::simd_matmul_run(const Graph& graph, size_t i, size_t last) const {
  auto nodes = graph.nodes();
  auto simd = [&](const Node& node) {
    return node.op == Op::MatMul && cpu::has_simd_matmul(graph.tensor(node.in[0]).type, isa_);
  };
  if (!simd(nodes[i])) return 0;
  TensorType act = cpu::type_kernels(graph.tensor(nodes[i].in[0]).type).vec_dot_type;
  size_t end = i + 1;
  while (end < last && simd(nodes[end]) && nodes[end].in[1] == nodes[i].in[1] &&
         cpu::type_kernels(graph.tensor(nodes[end].in[0]).type).vec_dot_type == act) {
    ++end;
  }
  return end - i;
}

void CpuBackend::run_matmuls(const Graph& graph, std::span<const Node> nodes,
                             const Operands& ops) {
  targets_.clear();
  const Tensor& x = graph.tensor(nodes[0].in[1]);
  for (const Node& node : nodes) {
    const Tensor& w = graph.tensor(node.in[0]);
    const void* bytes = ops.bytes(w);
    // Weights are read in their interleaved form where they have one (repack.h).
    const void* packed = repack_ && w.storage == Storage::Weight
                             ? repacked_.get(w.type, bytes, w.rows, w.cols, isa_, n_threads_)
                             : nullptr;
    targets_.push_back({w.type, bytes, w.rows, ops.act(node.out), packed});
  }
  cpu::simd_matmuls(targets_, x.cols, ops.act(nodes[0].in[1]), x.rows, n_threads_, isa_);
}

// How many nodes from i on are expert products of one input and route (a layer's gate and
// up): their tokens are grouped by expert once. 0 if node i is not one.
size_t CpuBackend::expert_matmul_run(const Graph& graph, size_t i, size_t last) const {
  auto nodes = graph.nodes();
  if (nodes[i].op != Op::ExpertMatMul) return 0;
  auto n_expert = [](const Node& node) {
    return std::get<graph::ExpertMatMulParams>(node.params).n_expert;
  };
  size_t end = i + 1;
  while (end < last && nodes[end].op == Op::ExpertMatMul && nodes[end].in[1] == nodes[i].in[1] &&
         nodes[end].in[2] == nodes[i].in[2] && n_expert(nodes[end]) == n_expert(nodes[i])) {
    ++end;
  }
  return end - i;
}

void CpuBackend::run_expert_matmuls(const Graph& graph, std::span<const Node> nodes,
                                    const Operands& ops) {
  const Tensor& x = graph.tensor(nodes[0].in[1]);
  const Tensor& route = graph.tensor(nodes[0].in[2]);
  std::vector<cpu::ExpertProduct> products;
  for (const Node& node : nodes) {
    const Tensor& w = graph.tensor(node.in[0]);
    products.push_back({w.type, ops.bytes(w), w.rows, ops.act(node.out)});
  }
  cpu::expert_matmuls(
      products, std::get<graph::ExpertMatMulParams>(nodes[0].params).n_expert,
      ops.act(nodes[0].in[1]), x.rows, x.cols, ops.act(nodes[0].in[2]), route.rows,
      static_cast<int>(route.cols / 2),
      [&](std::span<const cpu::ExpertWeight> weights, const float* xg, int64_t m) {
        dense_matmuls(weights, x.cols, xg, m);
      });
}

// Products of x [n, cols] with each weight, as a MatMul node would run them: SIMD (with the
// interleaved copies, in runs of one activation format) or the scalar reference.
void CpuBackend::dense_matmuls(std::span<const cpu::ExpertWeight> weights, int64_t cols,
                               const float* x, int64_t n) {
  for (size_t i = 0; i < weights.size();) {
    const cpu::ExpertWeight& w = weights[i];
    const void* slice = static_cast<const uint8_t*>(w.stack) +
                        checked_row_bytes(w.type, cols) * static_cast<size_t>(w.row0);
    if (!cpu::has_simd_matmul(w.type, isa_)) {
      cpu::matmul(w.type, slice, w.rows, cols, x, n, w.y, n_threads_);
      ++i;
      continue;
    }
    TensorType act = cpu::type_kernels(w.type).vec_dot_type;
    targets_.clear();
    for (; i < weights.size() && cpu::has_simd_matmul(weights[i].type, isa_) &&
           cpu::type_kernels(weights[i].type).vec_dot_type == act;
         ++i) {
      const cpu::ExpertWeight& t = weights[i];
      // The whole stack is interleaved at its first use (a bench's warm-up, not its timing).
      const void* packed = repack_ ? repacked_.get_rows(t.type, t.stack, t.stack_rows, cols,
                                                        t.row0, isa_, n_threads_)
                                   : nullptr;
      targets_.push_back({t.type,
                          static_cast<const uint8_t*>(t.stack) +
                              checked_row_bytes(t.type, cols) * static_cast<size_t>(t.row0),
                          t.rows, t.y, packed});
    }
    cpu::simd_matmuls(targets_, cols, x, n, n_threads_, isa_);
  }
}

// For non-causal attention on the scalar reference, the runs of query rows it takes (each
// over the cache rows slot_row + [0, pos0 + n_rows)): each row alone at its segment's last
// position, so that it sees every key of its segment. The SIMD kernels and causal attention
// take the graph's segments.
std::vector<graph::Segment> row_segments(const Graph& graph) {
  std::vector<graph::Segment> rows;
  for (const graph::Segment& s : graph.segments()) {
    for (int64_t r = 0; r < s.n_rows; ++r) {
      rows.push_back({s.row0 + r, 1, s.pos0 + s.n_rows - 1, s.slot_row});
    }
  }
  return rows;
}

// Row-wise ops over a prompt's rows are split across the threads (run on the caller alone,
// the other threads would idle through them); one token's rows stay on the caller, where a
// pool job would cost more than the op.
// The gated activations (an exponential and a division per value) split from a few rows of
// kParallelGatedValues values on: four sequences of SmolLM2's 1536 took 2.4 us on one thread.
constexpr int64_t kParallelRows = 16;
constexpr int64_t kParallelGatedValues = 4096;
void for_row_ranges(int64_t rows, int n_threads, const std::function<void(int64_t, int64_t)>& fn,
                    int64_t min_rows = kParallelRows) {
  if (rows < min_rows) return fn(0, rows);
  cpu::parallel_for(rows, n_threads, fn);
}

// out = act(gate) * up over n values for a SwiGlu, GeGlu or SwiGluOai node: the scalar
// reference, or the level's SIMD kernel.
void CpuBackend::gated_activation(const Node& node, const float* gate, const float* up, int64_t n,
                                  float* out) const {
  const bool scalar = isa_ == cpu::Isa::Scalar;
  switch (node.op) {
    case Op::SwiGlu:
      return scalar ? cpu::swiglu(gate, up, n, out) : cpu::simd_swiglu(gate, up, n, out, isa_);
    case Op::GeGlu:
      return scalar ? cpu::geglu(gate, up, n, out) : cpu::simd_geglu(gate, up, n, out, isa_);
    case Op::SwiGluOai: {
      const auto& p = std::get<graph::SwiGluOaiParams>(node.params);
      return scalar ? cpu::swiglu_oai(gate, up, n, p, out)
                    : cpu::simd_swiglu_oai(gate, up, n, p.alpha, p.limit, out, isa_);
    }
    default:
      throw Error(fmt::format("cpu: {} is not a gated activation", graph::op_name(node.op)));
  }
}

void CpuBackend::run_node(const Graph& graph, const Node& node, const Operands& ops) {
  const Tensor& out = graph.tensor(node.out);
  auto in = [&](int i) -> const Tensor& { return graph.tensor(node.in[static_cast<size_t>(i)]); };
  int64_t n = out.rows * out.cols;
  switch (node.op) {
    case Op::GetRows:
      cpu::get_rows(in(0).type, ops.bytes(in(0)), in(0).cols, in(0).rows, graph.ids(in(1)),
                    ops.act(node.out));
      break;
    case Op::MatMul:  // SIMD products run in groups (run_matmuls); this is the scalar path
      cpu::matmul(in(0).type, ops.bytes(in(0)), in(0).rows, in(0).cols, ops.act(node.in[1]),
                  in(1).rows, ops.act(node.out), n_threads_);
      break;
    case Op::RmsNorm: {
      bool has_w = node.in[1] != graph::kNone;
      const float* w = has_w ? ops.floats(node.in[1], 1, scratch_a_) : nullptr;
      int64_t group = has_w ? in(1).cols : out.cols;  // divides out.cols
      float eps = std::get<graph::RmsNormParams>(node.params).eps;
      for_row_ranges(out.rows, n_threads_, [&](int64_t r0, int64_t r1) {
        const float* x = ops.act(node.in[0]) + r0 * out.cols;
        float* y = ops.act(node.out) + r0 * out.cols;
        const int64_t n_values = (r1 - r0) * out.cols;
        if (isa_ == cpu::Isa::Scalar) {
          cpu::rms_norm(x, w, group, n_values, eps, y);
        } else {
          cpu::simd_rms_norm(x, w, group, n_values, eps, y, isa_);
        }
      });
      break;
    }
    case Op::Rope: {
      bool has_f = node.in[1] != graph::kNone;
      const float* f = has_f ? ops.floats(node.in[1], in(1).rows, scratch_a_) : nullptr;
      const auto& p = std::get<graph::RopeParams>(node.params);
      cpu::rope(ops.act(node.in[0]), out.rows, p, rope_angles_.get(graph.places(), p, f),
                ops.act(node.out));
      break;
    }
    case Op::Attention: {
      int64_t n_kv = graph.cache_rows_used();  // this batch's rows included
      const float* q = ops.act(node.in[0]);
      const auto& p = std::get<graph::AttentionParams>(node.params);
      const Tensor& k_cache = graph.tensor(node.in[1]);
      const float* sinks =
          node.in[3] != graph::kNone ? ops.floats(node.in[3], 1, scratch_c_) : nullptr;
      const bool per_row = !p.causal && isa_ == cpu::Isa::Scalar;
      const std::vector<graph::Segment> rows =
          per_row ? row_segments(graph) : std::vector<graph::Segment>{};
      const std::span<const graph::Segment> segments = per_row ? rows : graph.segments();
      if (isa_ == cpu::Isa::Scalar) {
        const float* k = ops.floats(node.in[1], n_kv, scratch_a_);
        const float* v = ops.floats(node.in[2], n_kv, scratch_b_);
        for (const graph::Segment& s : segments) {
          cpu::attention(q + s.row0 * in(0).cols, k + s.slot_row * in(1).cols,
                         v + s.slot_row * in(2).cols, s.n_rows, s.pos0, p, sinks,
                         ops.act(node.out) + s.row0 * out.cols, n_threads_);
        }
      } else {
        // F32 and F16 caches are read in place; any other type is converted first.
        const Tensor& v_cache = graph.tensor(node.in[2]);
        bool in_place = k_cache.type == v_cache.type &&
                        (k_cache.type == TensorType::F32 || k_cache.type == TensorType::F16);
        const void* k = in_place ? ops.bytes(k_cache) : ops.floats(node.in[1], n_kv, scratch_a_);
        const void* v = in_place ? ops.bytes(v_cache) : ops.floats(node.in[2], n_kv, scratch_b_);
        cpu::simd_attention(q, k, v, in_place ? k_cache.type : TensorType::F32, segments, p, sinks,
                            ops.act(node.out), n_threads_, isa_);
      }
      break;
    }
    case Op::SwiGlu:
    case Op::GeGlu:
    case Op::SwiGluOai:
      for_row_ranges(
          out.rows, n_threads_,
          [&](int64_t r0, int64_t r1) {
            gated_activation(node, ops.act(node.in[0]) + r0 * out.cols,
                             ops.act(node.in[1]) + r0 * out.cols, (r1 - r0) * out.cols,
                             ops.act(node.out) + r0 * out.cols);
          },
          std::clamp<int64_t>((kParallelGatedValues + out.cols - 1) / out.cols, 2, kParallelRows));
      break;
    case Op::LayerNorm: {
      const float* w = ops.floats(node.in[1], in(1).rows, scratch_a_);
      const float* b = ops.floats(node.in[2], in(2).rows, scratch_b_);
      float eps = std::get<graph::LayerNormParams>(node.params).eps;
      for_row_ranges(out.rows, n_threads_, [&](int64_t r0, int64_t r1) {
        cpu::layer_norm(ops.act(node.in[0]) + r0 * out.cols, w, b, out.cols, r1 - r0, eps,
                        ops.act(node.out) + r0 * out.cols);
      });
      break;
    }
    case Op::Gelu:  // encoders' feed-forward
      for_row_ranges(out.rows, n_threads_, [&](int64_t r0, int64_t r1) {
        const float* x = ops.act(node.in[0]) + r0 * out.cols;
        float* y = ops.act(node.out) + r0 * out.cols;
        if (isa_ == cpu::Isa::Scalar) {
          cpu::gelu(x, (r1 - r0) * out.cols, y);
        } else {
          cpu::simd_gelu(x, (r1 - r0) * out.cols, y, isa_);
        }
      });
      break;
    case Op::Add: {
      const float* b = ops.floats(node.in[1], in(1).rows, scratch_a_);
      int64_t b_rows = in(1).rows;  // out.rows, or 1 (broadcast)
      for_row_ranges(out.rows, n_threads_, [&](int64_t r0, int64_t r1) {
        cpu::add(ops.act(node.in[0]) + r0 * out.cols, b_rows == 1 ? b : b + r0 * out.cols,
                 out.cols, r1 - r0, b_rows, ops.act(node.out) + r0 * out.cols);
      });
      break;
    }
    case Op::Scale:
      cpu::scale(ops.act(node.in[0]), n, std::get<graph::ScaleParams>(node.params).factor,
                 ops.act(node.out));
      break;
    case Op::ExpertRoute:
      cpu::expert_route(ops.act(node.in[0]), in(0).rows, in(0).cols,
                        std::get<graph::ExpertRouteParams>(node.params), ops.act(node.out));
      break;
    case Op::ExpertMatMul:  // run in groups by run_expert_matmuls
      throw Error("cpu: expert_matmul outside its group");
    case Op::ExpertMix:
      cpu::expert_mix(ops.act(node.in[0]), ops.act(node.in[1]), out.rows,
                      static_cast<int>(in(1).cols / 2), out.cols, ops.act(node.out));
      break;
    case Op::ExpertAdd:  // a bias per chosen expert: rows of n_used x the width, no SIMD needed
      cpu::expert_add(ops.act(node.in[0]), ops.floats(node.in[1], in(1).rows, scratch_a_),
                      in(1).rows, ops.act(node.in[2]), in(2).rows, static_cast<int>(in(2).cols / 2),
                      out.cols, ops.act(node.out));
      break;
    case Op::SoftCap:  // the logits of a few rows: not worth a SIMD kernel
      cpu::soft_cap(ops.act(node.in[0]), n, std::get<graph::SoftCapParams>(node.params).cap,
                    ops.act(node.out));
      break;
    case Op::Copy: {  // each segment's rows are consecutive cache rows
      size_t stride = *row_bytes(out.type, out.cols);
      auto* cache = static_cast<uint8_t*>(out.cache->host_data());
      for (const graph::Segment& s : graph.segments()) {
        const float* rows = ops.act(node.in[0]) + s.row0 * in(0).cols;
        uint8_t* dst = cache + stride * static_cast<size_t>(s.slot_row + s.pos0);
        if (out.type == TensorType::F16 && isa_ != cpu::Isa::Scalar) {  // the default cache
          cpu::simd_to_f16(rows, s.n_rows * in(0).cols, reinterpret_cast<uint16_t*>(dst), isa_);
        } else {
          cpu::store(rows, s.n_rows * in(0).cols, out.type, dst);
        }
      }
      break;
    }
  }
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace tern
