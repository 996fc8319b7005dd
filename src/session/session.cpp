#include "tern/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "backends/backend.h"
#include "model/model_internals.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "session/session_file.h"
#include "tern/error.h"

namespace tern {

namespace {

int64_t context_size(const SessionOptions& options, const ModelSpec& spec) {
  int64_t n_ctx = options.n_ctx == 0 ? spec.n_ctx_train : options.n_ctx;
  if (n_ctx < 1 || n_ctx > kMaxContextSize) {
    throw Error(fmt::format("context size {} is not in 1..{}", n_ctx, kMaxContextSize));
  }
  if (options.n_seq < 1 || options.n_seq > kMaxSequences) {
    throw Error(fmt::format("sequence count {} is not in 1..{}", options.n_seq, kMaxSequences));
  }
  if (n_ctx * options.n_seq > kMaxCacheRows) {
    throw Error(fmt::format("{} sequences of {} positions exceed the cache's {} rows",
                            options.n_seq, n_ctx, kMaxCacheRows));
  }
  return n_ctx;
}

TensorType kv_tensor_type(KvType type) {
  return type == KvType::F16 ? TensorType::F16 : TensorType::F32;
}

// Checks, before this session allocates anything, that the model's GPU share of the
// weights, with this session's KV cache of the GPU layers and its scratch, fits the device.
void check_gpu_fits(const ArchModel& arch, ModelBackends& backends, int64_t n_batch,
                    int64_t n_ctx, int n_seq, TensorType kv_type) {
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
                      KvCache::layer_bytes(spec, n_ctx * n_seq, kv_type), scratch);
  auto held = lock(gpu);
  DeviceInfo info = gpu->backend->device();
  check_fits(info.name, info.memory_bytes, backends.placement(), need);
}

}  // namespace

struct Session::Impl {
  Impl(const Model& model, const SessionOptions& options)
      : fingerprint(ModelInternals::fingerprint(model)),
        arch(ModelInternals::arch(model)),
        n_batch(options.n_batch),
        hidden_states(options.embeddings),
        row_width(hidden_states ? arch.spec().n_embd : arch.spec().n_vocab) {
    if (n_batch < 1 || n_batch > kMaxBatchSize) {
      throw Error(fmt::format("batch size {} is not in 1..{}", n_batch, kMaxBatchSize));
    }
    if (arch.encoder() && !hidden_states) {
      throw Error(fmt::format(
          "{} is an encoder: it gives embeddings (tern embed, a session with the embeddings "
          "option), not logits",
          arch.spec().arch));
    }
    const int64_t n_ctx = context_size(options, arch.spec());
    const TensorType kv_type = kv_tensor_type(options.kv_type);
    ModelBackends& backends = ModelInternals::backends(model);
    check_gpu_fits(arch, backends, n_batch, n_ctx, options.n_seq, kv_type);
    scheduler = std::make_unique<Scheduler>(backends.make_cpu_backend(options.n_threads),
                                            backends.gpu(), backends.placement());
    auto held = lock(scheduler->gpu());
    cache.emplace([this](int layer) -> Backend& { return scheduler->backend_of_layer(layer); },
                  arch.spec(), n_ctx, options.n_seq, kv_type);
    cached.resize(static_cast<size_t>(options.n_seq));
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

  void check_seq(int seq) const {
    if (seq < 0 || seq >= cache->n_seq()) {
      throw Error(fmt::format("sequence {} is not in [0, {})", seq, cache->n_seq()));
    }
  }

  void check(std::span<const SequenceTokens> batch) const {
    std::vector<bool> named(cached.size());
    for (const SequenceTokens& part : batch) {
      check_seq(part.seq);
      if (named[static_cast<size_t>(part.seq)]) {
        throw Error(fmt::format("sequence {} appears twice in one batch", part.seq));
      }
      named[static_cast<size_t>(part.seq)] = true;
      auto begin = std::ssize(cached[static_cast<size_t>(part.seq)]);
      int64_t end = begin + static_cast<int64_t>(part.tokens.size());
      if (end > cache->n_ctx()) {
        throw ContextOverflow(fmt::format("positions {}..{} exceed the context size {}", begin,
                                          end - 1, cache->n_ctx()));
      }
      for (size_t i = 0; i < part.tokens.size(); ++i) {
        if (part.tokens[i] < 0 || part.tokens[i] >= arch.spec().n_vocab) {
          throw Error(fmt::format("token {} at index {} is outside the vocabulary [0, {})",
                                  part.tokens[i], i, arch.spec().n_vocab));
        }
      }
    }
  }

  // Runs one micro-batch and appends the logits of `rows` (batch rows).
  void run_batch(std::span<const int32_t> tokens, std::vector<graph::TokenPlace> places,
                 std::vector<int32_t> rows, const AbortCheck& abort) {
    graph::Graph g(std::move(places));
    int64_t n_rows = static_cast<int64_t>(rows.size());
    arch.build(g, {tokens, std::move(rows), cache->views(), hidden_states});
    scheduler->run(g, abort);
    size_t at = logits.size();
    logits.resize(at + static_cast<size_t>(n_rows * row_width));
    scheduler->read(g, g.result(), logits.data() + at);
  }

  uint64_t fingerprint;  // the model's, for saved files
  const ArchModel& arch;
  int64_t n_batch;
  bool hidden_states;  // outputs are the final norm's rows, not logits
  int64_t row_width;   // floats per output row: n_vocab, or n_embd for hidden states
  std::unique_ptr<Scheduler> scheduler;
  std::optional<KvCache> cache;
  std::vector<std::vector<int32_t>> cached;  // per sequence: its token at each cached position
  std::vector<float> logits;                 // [n_outputs, row_width]
};

Session::Session(const Model& model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

std::span<const float> Session::decode(std::span<const int32_t> tokens, Outputs outputs,
                                       const AbortCheck& abort) {
  const SequenceTokens part{0, tokens, outputs};
  return decode(std::span(&part, 1), abort);
}

std::span<const float> Session::decode(std::span<const SequenceTokens> batch,
                                       const AbortCheck& abort) {
  Impl& s = *impl_;
  s.check(batch);
  s.logits.clear();
  // The batch as one row per token: its id, its place, whether its logits are wanted.
  std::vector<int32_t> tokens;
  std::vector<graph::TokenPlace> places;
  std::vector<bool> wanted;
  for (const SequenceTokens& part : batch) {
    auto end = std::ssize(s.cached[static_cast<size_t>(part.seq)]);
    for (size_t i = 0; i < part.tokens.size(); ++i) {
      tokens.push_back(part.tokens[i]);
      places.push_back({end++, s.cache->slot_row(part.seq)});
      bool last = i + 1 == part.tokens.size();
      wanted.push_back(part.outputs == Outputs::All || (part.outputs == Outputs::Last && last));
    }
  }
  auto n = static_cast<int64_t>(tokens.size());
  try {
    for (int64_t b = 0; b < n; b += s.n_batch) {
      if (abort && abort()) throw Cancelled();
      int64_t len = std::min(s.n_batch, n - b);
      std::vector<int32_t> rows;
      for (int32_t r = 0; r < len; ++r) {
        if (wanted[static_cast<size_t>(b + r)]) rows.push_back(r);
      }
      auto first = places.begin() + b;
      s.run_batch(std::span(tokens).subspan(static_cast<size_t>(b), static_cast<size_t>(len)),
                  {first, first + len}, std::move(rows), abort);
    }
  } catch (...) {  // positions past each n_past are free to be overwritten
    s.logits.clear();
    throw;
  }
  for (const SequenceTokens& part : batch) {
    auto& seq_tokens = s.cached[static_cast<size_t>(part.seq)];
    seq_tokens.insert(seq_tokens.end(), part.tokens.begin(), part.tokens.end());
  }
  return s.logits;
}

std::span<const float> Session::logits() const { return impl_->logits; }
int64_t Session::n_outputs() const {
  return static_cast<int64_t>(impl_->logits.size()) / impl_->row_width;
}
int64_t Session::row_width() const { return impl_->row_width; }
bool Session::embeddings() const { return impl_->hidden_states; }
int64_t Session::n_past(int seq) const { return std::ssize(tokens(seq)); }
std::span<const int32_t> Session::tokens(int seq) const {
  impl_->check_seq(seq);
  return impl_->cached[static_cast<size_t>(seq)];
}
int64_t Session::n_ctx() const { return impl_->cache->n_ctx(); }
int Session::n_seq() const { return impl_->cache->n_seq(); }
int64_t Session::n_batch() const { return impl_->n_batch; }
int64_t Session::n_vocab() const { return impl_->arch.spec().n_vocab; }
size_t Session::kv_bytes() const { return impl_->cache->bytes(); }

double Session::device_peak_gbps() const {
  SharedBackend* gpu = impl_->scheduler->gpu();
  if (gpu == nullptr || impl_->scheduler->placement().n_gpu_layers() == 0) return 0.0;
  auto held = lock(gpu);
  return gpu->backend->device().peak_gbps;
}

void Session::time_ops(bool on) { impl_->scheduler->time_cpu_ops(on); }

std::vector<OpTime> Session::op_times() const { return impl_->scheduler->cpu_op_times(); }

std::string Session::device() const {
  SharedBackend* gpu = impl_->scheduler->gpu();
  const Placement& p = impl_->scheduler->placement();
  if (gpu == nullptr || p.n_gpu_layers() == 0) return "cpu";
  auto held = lock(gpu);
  return fmt::format("{}, {}/{} layers", gpu->backend->device().name, p.n_gpu_layers(),
                     p.n_layer());
}

void Session::clear() {
  for (auto& seq_tokens : impl_->cached) seq_tokens.clear();
}

void Session::clear_sequence(int seq) { trim(0, seq); }

void Session::trim(int64_t n_keep, int seq) {
  impl_->check_seq(seq);
  auto& seq_tokens = impl_->cached[static_cast<size_t>(seq)];
  if (n_keep < 0 || n_keep > std::ssize(seq_tokens)) {
    throw Error(fmt::format("cannot trim sequence {} to {} positions: it holds {}", seq, n_keep,
                            seq_tokens.size()));
  }
  seq_tokens.resize(static_cast<size_t>(n_keep));
}

void Session::shift(int64_t n_keep, int64_t n_discard, int seq) {
  Impl& s = *impl_;
  s.check_seq(seq);
  auto& seq_tokens = s.cached[static_cast<size_t>(seq)];
  const auto n_past = std::ssize(seq_tokens);
  if (n_keep < 0 || n_discard < 0 || n_keep > n_past || n_discard > n_past - n_keep) {
    throw Error(fmt::format("cannot drop {} positions after {} of sequence {}: it holds {}",
                            n_discard, n_keep, seq, n_past));
  }
  {
    auto locked = lock(s.scheduler->gpu());
    s.cache->shift_positions(seq, n_keep, n_discard, n_past, s.arch.spec(), s.arch.layer_ropes());
  }
  auto first = seq_tokens.begin() + n_keep;
  seq_tokens.erase(first, first + n_discard);
}

void Session::copy_sequence(int src, int dst) {
  Impl& s = *impl_;
  s.check_seq(src);
  s.check_seq(dst);
  const auto& source = s.cached[static_cast<size_t>(src)];
  {
    auto locked = lock(s.scheduler->gpu());
    s.cache->copy_positions(src, dst, std::ssize(source));
  }
  s.cached[static_cast<size_t>(dst)] = source;
}

void Session::save(const std::string& path) const {
  const Impl& s = *impl_;
  write_session_file(path, s.fingerprint, *s.cache, s.cached, s.scheduler->gpu());
}

void Session::load(const std::string& path) {
  Impl& s = *impl_;
  SessionFileReader file(path, s.fingerprint, *s.cache, n_vocab());
  try {
    file.read_rows(*s.cache, s.scheduler->gpu());
  } catch (...) {  // failed midway: the rows no longer match the tokens
    clear();
    throw;
  }
  auto& stored = file.tokens();
  for (size_t seq = 0; seq < s.cached.size(); ++seq) {
    s.cached[seq] = seq < stored.size() ? std::move(stored[seq]) : std::vector<int32_t>{};
  }
  s.logits.clear();
}

}  // namespace tern
