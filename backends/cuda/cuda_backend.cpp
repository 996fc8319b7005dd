// CudaBackend: one device, one stream, one cuBLAS handle, one matmul Scratch. run()
// gathers the span's per-run data (backends/run_data.h: row ids, rope tables, the
// tokens' positions and cache rows) into pinned memory and sends it in one
// copy, enqueues one kernel (or matmul) per node and synchronizes once at the end.
// Nothing in between waits for the host except the first use of a weight (its upload)
// and Scratch growth, and no launch argument depends on the position, so a decode step's
// launches are the same at every position: LaunchGraphs captures them once and replays
// them.
#include "cuda_backend.h"

#include <fmt/format.h>

#include <cstring>
#include <span>
#include <vector>

#include "backends/buffer_registry.h"
#include "backends/run_data.h"
#include "device.h"
#include "graph/launch_key.h"
#include "launch_graphs.h"
#include "matmul.h"
#include "memory.h"
#include "ops.h"
#include "tern/error.h"
#include "weights.h"

namespace tern {

namespace cuda {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Storage;
using graph::Tensor;
using graph::TensorId;

bool cache_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16; }

// A weight read as F32 (norm weights, biases), or an activation.
bool f32_operand(const Tensor& t) {
  return t.storage == Storage::Activation ||
         (t.storage == Storage::Weight && WeightStore::device_bytes(t, WeightUse::F32) > 0);
}

uint64_t address_word(const void* p) { return reinterpret_cast<uintptr_t>(p); }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  DeviceInfo device() const override {
    return {fmt::format("{}:{} ({})", kRuntimeName, props_.index, props_.name), props_.free_bytes,
            false, props_.peak_bytes_per_s() / 1e9};
  }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    TERN_CUDA_CHECK(cudaSetDevice(props_.index));
    return buffers_.adopt(std::make_unique<DeviceBuffer>(bytes, stream_));
  }
  bool supports(const Graph& g, const Node& node) const override;
  void run(const Graph& g, size_t first, size_t last, Buffer& workspace) override;

 private:
  // Device address of a cache tensor's rows.
  void* cache_data(const Tensor& t) const;
  bool supports_op(const Graph& g, const Node& node) const;

  void send_aux();
  // LaunchGraphs' key for nodes [first, last): their words and the device memory their
  // launches point at (workspace, per-run data, scratch).
  std::vector<uint64_t> span_key(const Graph& g, size_t first, size_t last) const;
  void enqueue_span(const Graph& g, size_t first, size_t last);
  void enqueue(const Graph& g, const Node& node, size_t aux_at);

  float* act(const Graph& g, TensorId id) const { return workspace_ + g.tensor(id).offset; }
  const float* f32_operand_data(const Graph& g, TensorId id);
  void enqueue_get_rows(const Graph& g, const Node& node, const int32_t* ids);
  void enqueue_attention(const Graph& g, const Node& node, const int32_t* places);
  void enqueue_copy(const Graph& g, const Node& node, const int32_t* rows);

  DeviceProps props_;
  cudaStream_t stream_ = nullptr;
  BlasHandle cublas_ = nullptr;
  Scratch scratch_;
  WeightStore weights_;
  LaunchGraphs graphs_;
  BufferRegistry<DeviceBuffer> buffers_;  // workspaces and KV caches handed out
  RunData run_data_;  // of the span run() is running
  PinnedBuffer aux_host_;
  std::unique_ptr<DeviceBuffer> aux_device_;
  float* workspace_ = nullptr;  // during run()
};

// query_device() has made the device current: the stream belongs to it.
cudaStream_t make_stream() {
  cudaStream_t stream = nullptr;
  TERN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return stream;
}

CudaBackend::CudaBackend(int index)
    : props_(query_device(index)), stream_(make_stream()), weights_(stream_) {
#ifndef TERN_HIP  // HIP builds have no BLAS (gpu_runtime.h)
  try {
    TERN_CUDA_CHECK(cublasCreate(&cublas_));
    TERN_CUDA_CHECK(cublasSetStream(cublas_, stream_));
  } catch (...) {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    (void)cudaStreamDestroy(stream_);
    throw;
  }
#endif
}

CudaBackend::~CudaBackend() {
  (void)cudaStreamSynchronize(stream_);
#ifndef TERN_HIP
  cublasDestroy(cublas_);
#endif
  (void)cudaStreamDestroy(stream_);
}

void* CudaBackend::cache_data(const Tensor& t) const {
  DeviceBuffer* r = buffers_.find(t.cache);
  if (r == nullptr) throw Error("cuda: KV cache of another backend");
  return r->data();
}

bool CudaBackend::supports(const Graph& g, const Node& node) const {
  for (TensorId id : {node.in[0], node.in[1], node.in[2], node.in[3], node.out}) {
    if (id == graph::kNone) continue;
    const Tensor& t = g.tensor(id);
    if (t.storage == Storage::Cache && (buffers_.find(t.cache) == nullptr || !cache_type(t.type))) {
      return false;
    }
  }
  return supports_op(g, node);
}

bool CudaBackend::supports_op(const Graph& g, const Node& node) const {
  auto in = [&](int i) -> const Tensor& { return g.tensor(node.in[static_cast<size_t>(i)]); };
  auto activation = [&](int i) { return in(i).storage == Storage::Activation; };
  // The operand every op but the row lookup reads as activation rows (products: x).
  const bool product = node.op == Op::MatMul || node.op == Op::ExpertMatMul;
  if (node.op != Op::GetRows && !activation(product ? 1 : 0)) return false;
  switch (node.op) {
    case Op::MatMul:
      return in(0).storage == Storage::Weight &&
             WeightStore::device_bytes(in(0), WeightUse::Matrix) > 0;
    case Op::GetRows:
      if (in(1).storage != Storage::Input) return false;
      if (in(0).storage == Storage::Activation) return has_native_kernel(TensorType::F32);
      return in(0).storage == Storage::Weight &&
             WeightStore::device_bytes(in(0), WeightUse::Matrix) > 0;
    case Op::Rope: {
      const auto& p = std::get<graph::RopeParams>(node.params);
      if (p.head_dim % 2 != 0 || p.n_rot % 2 != 0 || p.n_rot > p.head_dim) return false;
      return node.in[1] == graph::kNone || (in(1).storage == Storage::Weight &&
                                            type_traits(in(1).type).to_float != nullptr);
    }
    case Op::Attention: {
      const auto& p = std::get<graph::AttentionParams>(node.params);
      return p.causal && in(1).storage == Storage::Cache && in(2).storage == Storage::Cache &&
             in(1).type == in(2).type && p.head_dim_k <= kMaxAttentionHeadDim &&
             p.head_dim_v <= kMaxAttentionHeadDim;
    }
    case Op::Copy: return g.tensor(node.out).storage == Storage::Cache;
    case Op::RmsNorm:
    case Op::Add: return node.in[1] == graph::kNone || f32_operand(in(1));
    case Op::SwiGlu:
    case Op::GeGlu: return activation(1);
    case Op::Scale: return true;
    case Op::ExpertRoute:
      return std::get<graph::ExpertRouteParams>(node.params).n_used <= kMaxExpertsUsed;
    case Op::ExpertMatMul:  // one grid row per token-expert pair
      return in(0).storage == Storage::Weight && activation(2) &&
             WeightStore::device_bytes(in(0), WeightUse::Matrix) > 0 &&
             g.tensor(node.out).rows <= 65535;
    case Op::ExpertMix:
      return activation(1);
    case Op::SoftCap: return true;
    case Op::SwiGluOai: return activation(1);
    case Op::ExpertAdd:  // the stacked biases as F32
      return in(1).storage == Storage::Weight && f32_operand(in(1)) && activation(2);
    case Op::LayerNorm:  // encoders' ops run on the CPU
    case Op::Gelu:
      return false;
  }
  return false;
}

// One host-to-device copy of the span's per-run data. Growing the buffers happens here,
// before any kernel of the span is enqueued (the previous run has finished: run() ends
// with a synchronize).
void CudaBackend::send_aux() {
  std::span<const uint32_t> words = run_data_.words();
  if (words.empty()) return;
  size_t bytes = words.size() * 4;
  void* host = aux_host_.reserve(bytes);
  std::memcpy(host, words.data(), bytes);
  if (!aux_device_ || aux_device_->size() < bytes) {
    aux_device_ = std::make_unique<DeviceBuffer>(bytes, stream_);
  }
  TERN_CUDA_CHECK(
      cudaMemcpyAsync(aux_device_->data(), host, bytes, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::run(const Graph& g, size_t first, size_t last, Buffer& workspace) {
  DeviceBuffer* ws = buffers_.find(&workspace);
  if (ws == nullptr) throw Error("cuda: the workspace is not a buffer of this backend");
  if (workspace.size() < g.workspace_floats() * sizeof(float)) {
    throw Error("cuda: workspace smaller than the graph needs");
  }
  TERN_CUDA_CHECK(cudaSetDevice(props_.index));
  run_data_.gather(g, first, last);
  send_aux();
  workspace_ = static_cast<float*>(ws->data());
  try {
    // Decode steps repeat; prompts (cuBLAS, large scratch) run once each.
    if (g.n_tokens() == 1 && graphs_.enabled()) {
      graphs_.run(span_key(g, first, last), stream_, [&] { enqueue_span(g, first, last); });
    } else {
      enqueue_span(g, first, last);
    }
  } catch (...) {
    (void)cudaStreamSynchronize(stream_);  // what was enqueued finishes before anything is freed
    throw;
  }
  TERN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

std::vector<uint64_t> CudaBackend::span_key(const Graph& g, size_t first, size_t last) const {
  std::vector<uint64_t> key = {address_word(workspace_),
                               address_word(aux_device_ ? aux_device_->data() : nullptr),
                               aux_device_ ? aux_device_->size() : 0, scratch_.generation()};
  // Caches by device address: a new cache at a freed one's Buffer address is new memory.
  auto cache_id = [this](const Buffer* cache) {
    DeviceBuffer* r = buffers_.find(cache);
    return address_word(r != nullptr ? r->data() : nullptr);
  };
  for (size_t i = first; i < last; ++i) graph::append_launch_key(g, g.nodes()[i], cache_id, key);
  return key;
}

void CudaBackend::enqueue_span(const Graph& g, size_t first, size_t last) {
  for (size_t i = first; i < last; ++i) enqueue(g, g.nodes()[i], run_data_.at(i));
}

const float* CudaBackend::f32_operand_data(const Graph& g, TensorId id) {
  const Tensor& t = g.tensor(id);
  if (t.storage == Storage::Activation) return act(g, id);
  return static_cast<const float*>(weights_.get(t, WeightUse::F32).data);
}

void CudaBackend::enqueue(const Graph& g, const Node& node, size_t aux_at) {
  const Tensor& out = g.tensor(node.out);
  auto in = [&](int i) -> const Tensor& { return g.tensor(node.in[static_cast<size_t>(i)]); };
  int64_t n = out.rows * out.cols;
  const auto* aux = aux_device_ ? static_cast<const uint32_t*>(aux_device_->data()) + aux_at
                                : nullptr;
  switch (node.op) {
    case Op::MatMul:
      matmul(weights_.get(in(0), WeightUse::Matrix), act(g, node.in[1]), act(g, node.out),
             in(1).rows, scratch_, cublas_, stream_);
      return;
    case Op::GetRows: enqueue_get_rows(g, node, reinterpret_cast<const int32_t*>(aux)); return;
    case Op::RmsNorm: {
      bool has_w = node.in[1] != graph::kNone;
      int64_t group = has_w ? in(1).cols : out.cols;
      rms_norm(act(g, node.in[0]), has_w ? f32_operand_data(g, node.in[1]) : nullptr, group,
               n / group, std::get<graph::RmsNormParams>(node.params).eps, act(g, node.out),
               stream_);
      return;
    }
    case Op::Rope: {
      const auto& p = std::get<graph::RopeParams>(node.params);
      rope(act(g, node.in[0]), reinterpret_cast<const float*>(aux), out.rows, p.n_head,
           p.head_dim, p.n_rot, p.neox, act(g, node.out), stream_);
      return;
    }
    case Op::Attention:
      enqueue_attention(g, node, reinterpret_cast<const int32_t*>(aux));
      return;
    case Op::Copy:
      enqueue_copy(g, node, reinterpret_cast<const int32_t*>(aux));
      return;
    case Op::SwiGlu:
    case Op::GeGlu:
      glu(node.op == Op::SwiGlu ? Glu::Silu : Glu::GeluTanh, act(g, node.in[0]),
          act(g, node.in[1]), n, act(g, node.out), stream_);
      return;
    case Op::Add:
      add(act(g, node.in[0]), f32_operand_data(g, node.in[1]), out.cols, out.rows, in(1).rows,
          act(g, node.out), stream_);
      return;
    case Op::Scale:
      scale(act(g, node.in[0]), n, std::get<graph::ScaleParams>(node.params).factor,
            act(g, node.out), stream_);
      return;
    case Op::ExpertRoute: {
      const auto& p = std::get<graph::ExpertRouteParams>(node.params);
      expert_route(act(g, node.in[0]), in(0).rows, static_cast<int>(in(0).cols), p.n_used,
                   p.normalize, p.gating == graph::ExpertGating::SoftmaxChosen, act(g, node.out),
                   stream_);
      return;
    }
    case Op::ExpertMatMul:
      expert_matmul(weights_.get(in(0), WeightUse::Matrix),
                    std::get<graph::ExpertMatMulParams>(node.params).n_expert, act(g, node.in[1]),
                    in(1).rows, act(g, node.in[2]), in(2).rows, static_cast<int>(in(2).cols / 2),
                    act(g, node.out), scratch_, stream_);
      return;
    case Op::ExpertMix:
      expert_mix(act(g, node.in[0]), act(g, node.in[1]), out.rows, static_cast<int>(in(1).cols / 2),
                 out.cols, act(g, node.out), stream_);
      return;
    case Op::SoftCap:
      soft_cap(act(g, node.in[0]), n, std::get<graph::SoftCapParams>(node.params).cap,
               act(g, node.out), stream_);
      return;
    case Op::SwiGluOai: {
      const auto& p = std::get<graph::SwiGluOaiParams>(node.params);
      swiglu_oai(act(g, node.in[0]), act(g, node.in[1]), n, p.alpha, p.limit, act(g, node.out),
                 stream_);
      return;
    }
    case Op::ExpertAdd:
      expert_add(act(g, node.in[0]), f32_operand_data(g, node.in[1]), static_cast<int>(in(1).rows),
                 act(g, node.in[2]), out.rows, static_cast<int>(in(2).cols / 2), out.cols,
                 act(g, node.out), stream_);
      return;
    case Op::LayerNorm:
    case Op::Gelu:
      throw Error(fmt::format("cuda: no {} kernel", graph::op_name(node.op)));
  }
}

void CudaBackend::enqueue_get_rows(const Graph& g, const Node& node, const int32_t* ids) {
  const Tensor& table = g.tensor(node.in[0]);
  const Tensor& out = g.tensor(node.out);
  if (table.storage == Storage::Activation) {
    // Rows of an activation (the output head keeps the positions that want logits).
    DeviceMatrix rows{TensorType::F32, act(g, node.in[0]), table.rows, table.cols,
                      static_cast<size_t>(table.cols) * sizeof(float)};
    get_rows(rows, ids, act(g, node.out), out.rows, stream_);
    return;
  }
  get_rows(weights_.get(table, WeightUse::Matrix), ids, act(g, node.out), out.rows, stream_);
}

void CudaBackend::enqueue_attention(const Graph& g, const Node& node, const int32_t* places) {
  const auto& p = std::get<graph::AttentionParams>(node.params);
  const Tensor& q = g.tensor(node.in[0]);
  const Tensor& k = g.tensor(node.in[1]);
  const Tensor& v = g.tensor(node.in[2]);
  AttentionShape s{q.rows, p.n_head, p.n_head_kv, p.head_dim_k, p.head_dim_v,
                   k.cols, v.cols,   p.window,    p.scale, p.softcap, node.in[3] != graph::kNone};
  size_t partial_floats = attention_scratch_floats(s);
  auto* partials = partial_floats == 0
                       ? nullptr
                       : static_cast<float*>(scratch_.get(partial_floats * sizeof(float), stream_));
  attention(act(g, node.in[0]), cache_data(k), cache_data(v), k.type == TensorType::F16, s, places,
            partials, act(g, node.out), stream_);
}

void CudaBackend::enqueue_copy(const Graph& g, const Node& node, const int32_t* rows) {
  const Tensor& x = g.tensor(node.in[0]);
  const Tensor& dst = g.tensor(node.out);
  copy_to_cache(act(g, node.in[0]), x.rows * x.cols, cache_data(dst), dst.cols, rows,
                dst.type == TensorType::F16, stream_);
}

}  // namespace
}  // namespace cuda

size_t cuda_device_count() { return static_cast<size_t>(cuda::device_count()); }

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  return std::make_unique<cuda::CudaBackend>(cuda::choose_device(options.cuda_device));
}

}  // namespace tern
