#include "tern/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "backends/backend.h"
#include "model/model_internals.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "tern/error.h"

namespace tern {

namespace {

int64_t context_size(const SessionOptions& options, const ModelSpec& spec) {
  int64_t n_ctx = options.n_ctx == 0 ? spec.n_ctx_train : options.n_ctx;
  if (n_ctx < 1 || n_ctx > kMaxContextSize) {
    throw Error(fmt::format("context size {} is not in 1..{}", n_ctx, kMaxContextSize));
  }
  return n_ctx;
}

TensorType kv_tensor_type(KvType type) {
  return type == KvType::F16 ? TensorType::F16 : TensorType::F32;
}

// Checks, before this session allocates anything, that the model's GPU share of the
// weights, with this session's KV cache of the GPU layers and its scratch, fits the device.
void check_gpu_fits(const ArchModel& arch, ModelBackends& backends, int64_t n_batch,
                    int64_t n_ctx, TensorType kv_type) {
  SharedBackend* gpu = backends.gpu();
  if (gpu == nullptr) return;
  const ModelSpec& spec = arch.spec();
  size_t layers = 0;
  for (size_t b : arch.layer_bytes()) layers += b;
  // Activations of one micro-batch (a few rows of n_embd and n_ff) and its logits.
  size_t scratch = static_cast<size_t>(n_batch) *
                   static_cast<size_t>(6 * spec.n_embd + 3 * spec.n_ff + spec.n_vocab) *
                   sizeof(float);
  GpuMemoryNeed need =
      gpu_memory_need(backends.placement(), arch.layer_bytes(), arch.weight_bytes() - layers,
                      KvCache::layer_bytes(spec, n_ctx, kv_type), scratch);
  auto held = lock(gpu);
  DeviceInfo info = gpu->backend->device();
  check_fits(info.name, info.memory_bytes, backends.placement(), need);
}

}  // namespace

struct Session::Impl {
  Impl(const Model& model, const SessionOptions& options)
      : arch(ModelInternals::arch(model)), n_batch(options.n_batch) {
    if (n_batch < 1 || n_batch > kMaxBatchSize) {
      throw Error(fmt::format("batch size {} is not in 1..{}", n_batch, kMaxBatchSize));
    }
    const int64_t n_ctx = context_size(options, arch.spec());
    const TensorType kv_type = kv_tensor_type(options.kv_type);
    ModelBackends& backends = ModelInternals::backends(model);
    check_gpu_fits(arch, backends, n_batch, n_ctx, kv_type);
    scheduler = std::make_unique<Scheduler>(backends.make_cpu_backend(options.n_threads),
                                            backends.gpu(), backends.placement());
    auto held = lock(scheduler->gpu());
    cache.emplace([this](int layer) -> Backend& { return scheduler->backend_of_layer(layer); },
                  arch.spec(), n_ctx, kv_type);
  }

  // The KV cache's GPU buffers are released under the GPU lock (the scheduler releases its
  // workspace under it itself).
  ~Impl() {
    if (!scheduler) return;
    SharedBackend* gpu = scheduler->gpu();
    scheduler.reset();
    auto held = lock(gpu);
    cache.reset();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void check(std::span<const int32_t> tokens) const {
    int64_t end = n_past + static_cast<int64_t>(tokens.size());
    if (end > cache->n_ctx()) {
      throw ContextOverflow(fmt::format("positions {}..{} exceed the context size {}", n_past,
                                        end - 1, cache->n_ctx()));
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= arch.spec().n_vocab) {
        throw Error(fmt::format("token {} at index {} is outside the vocabulary [0, {})", tokens[i],
                                i, arch.spec().n_vocab));
      }
    }
  }

  // Runs one micro-batch at n_past and appends the logits of `rows` (batch rows).
  void run_batch(std::span<const int32_t> tokens, std::vector<int32_t> rows,
                 const AbortCheck& abort) {
    graph::Graph g(n_past, static_cast<int64_t>(tokens.size()));
    int64_t n_rows = static_cast<int64_t>(rows.size());
    arch.build(g, {tokens, n_past, std::move(rows), cache->views()});
    scheduler->run(g, abort);
    size_t at = logits.size();
    logits.resize(at + static_cast<size_t>(n_rows * arch.spec().n_vocab));
    scheduler->read(g, g.result(), logits.data() + at);
    n_past += static_cast<int64_t>(tokens.size());
  }

  const ArchModel& arch;
  int64_t n_batch;
  std::unique_ptr<Scheduler> scheduler;
  std::optional<KvCache> cache;
  int64_t n_past = 0;
  std::vector<float> logits;  // [n_outputs, n_vocab]
};

Session::Session(const Model& model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

std::span<const float> Session::decode(std::span<const int32_t> tokens, Outputs outputs,
                                       const AbortCheck& abort) {
  Impl& s = *impl_;
  s.check(tokens);
  s.logits.clear();
  const int64_t n_past_before = s.n_past;
  auto n = static_cast<int64_t>(tokens.size());
  try {
    for (int64_t b = 0; b < n; b += s.n_batch) {
      if (abort && abort()) throw Cancelled();
      int64_t len = std::min(s.n_batch, n - b);
      std::vector<int32_t> rows;
      for (int32_t r = 0; r < len; ++r) {
        bool last = b + r == n - 1;
        if (outputs == Outputs::All || (outputs == Outputs::Last && last)) rows.push_back(r);
      }
      s.run_batch(tokens.subspan(static_cast<size_t>(b), static_cast<size_t>(len)), std::move(rows),
                  abort);
    }
  } catch (const Cancelled&) {  // positions past n_past_before are free to be overwritten
    s.n_past = n_past_before;
    s.logits.clear();
    throw;
  }
  return s.logits;
}

std::span<const float> Session::logits() const { return impl_->logits; }
int64_t Session::n_outputs() const {
  return static_cast<int64_t>(impl_->logits.size()) / impl_->arch.spec().n_vocab;
}
int64_t Session::n_past() const { return impl_->n_past; }
int64_t Session::n_ctx() const { return impl_->cache->n_ctx(); }
int64_t Session::n_vocab() const { return impl_->arch.spec().n_vocab; }
size_t Session::kv_bytes() const { return impl_->cache->bytes(); }

double Session::device_peak_gbps() const {
  SharedBackend* gpu = impl_->scheduler->gpu();
  if (gpu == nullptr || impl_->scheduler->placement().n_gpu_layers() == 0) return 0.0;
  auto held = lock(gpu);
  return gpu->backend->device().peak_gbps;
}

std::string Session::device() const {
  SharedBackend* gpu = impl_->scheduler->gpu();
  const Placement& p = impl_->scheduler->placement();
  if (gpu == nullptr || p.n_gpu_layers() == 0) return "cpu";
  auto held = lock(gpu);
  return fmt::format("{}, {}/{} layers", gpu->backend->device().name, p.n_gpu_layers(),
                     p.n_layer());
}

void Session::clear() { impl_->n_past = 0; }

void Session::trim(int64_t n_keep) {
  if (n_keep < 0 || n_keep > impl_->n_past) {
    throw Error(
        fmt::format("cannot trim the cache to {} positions: it holds {}", n_keep, impl_->n_past));
  }
  impl_->n_past = n_keep;
}

}  // namespace tern
