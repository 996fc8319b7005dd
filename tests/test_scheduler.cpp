// Scheduler and -ngl placement: layer assignment, the fit check, and split execution.
// The split runs use a second CPU backend as the "GPU" (same kernels), so every layer
// split must give bit-identical logits to the CPU-only run; what differs is where nodes
// ran, how many activations crossed, and where each layer's KV cache was allocated.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/registry.h"
#include "model/model_internals.h"
#include "scheduler/placement.h"
#include "scheduler/scheduler.h"
#include "session/kv_cache.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

TEST(Placement, LastLayersOnTheGpuAndTheHeadOnlyWhenAllAre) {
  Placement none(4, 0, true);
  Placement two(4, 2, true);
  Placement all(4, 4, true);
  Placement minus_one(4, -1, true);
  Placement too_many(4, 99, true);
  Placement no_gpu(4, -1, false);
  for (int layer = -1; layer <= 4; ++layer) {
    EXPECT_FALSE(none.on_gpu(layer)) << layer;
    EXPECT_EQ(two.on_gpu(layer), layer == 2 || layer == 3) << layer;
    EXPECT_EQ(all.on_gpu(layer), layer >= 0) << layer;  // embedding stays on the CPU
    EXPECT_EQ(minus_one.on_gpu(layer), layer >= 0) << layer;
    EXPECT_EQ(too_many.on_gpu(layer), layer >= 0) << layer;
    EXPECT_FALSE(no_gpu.on_gpu(layer)) << layer;
  }
  EXPECT_EQ(two.first_gpu_layer(), 2);
  EXPECT_FALSE(two.head_on_gpu());
  EXPECT_TRUE(all.head_on_gpu());
  EXPECT_EQ(too_many.n_gpu_layers(), 4);
}

TEST(Placement, MemoryNeedCountsOnlyGpuLayers) {
  std::vector<size_t> layers = {100, 200, 300, 400};
  GpuMemoryNeed two = gpu_memory_need(Placement(4, 2, true), layers, 1000, 10, 5);
  EXPECT_EQ(two.weights, 700u);
  EXPECT_EQ(two.kv_cache, 20u);
  EXPECT_EQ(two.scratch, 5u);
  GpuMemoryNeed all = gpu_memory_need(Placement(4, -1, true), layers, 1000, 10, 5);
  EXPECT_EQ(all.weights, 2000u);
  EXPECT_EQ(all.kv_cache, 40u);
  GpuMemoryNeed none = gpu_memory_need(Placement(4, 0, true), layers, 1000, 10, 5);
  EXPECT_EQ(none.total(), 0u);
}

TEST(Placement, RefusesWhatDoesNotFitWithTheNumbers) {
  Placement p(32, 20, true);
  GpuMemoryNeed need{size_t{6} << 30, size_t{1} << 30, size_t{1} << 29};
  EXPECT_NO_THROW(check_fits("gpu", size_t{8} << 30, p, need));
  EXPECT_NO_THROW(check_fits("gpu", 0, p, need));  // unknown size: no refusal
  try {
    check_fits("vulkan:0 (test)", size_t{4} << 30, p, need);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("vulkan:0 (test)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("20 GPU layers"), std::string::npos) << msg;
    EXPECT_NE(msg.find("7.50 GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("weights 6.00 GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("KV cache 1.00 GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("has 4.00 GiB"), std::string::npos) << msg;
  }
}

// A CPU backend posing as a GPU: refuses one op and counts its allocations.
class FakeGpu final : public Backend {
 public:
  explicit FakeGpu(graph::Op refused, size_t* allocations)
      : cpu_(make_cpu_backend({1})), refused_(refused), allocations_(allocations) {}
  DeviceInfo device() const override { return {"fake-gpu", 0, true}; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    ++*allocations_;
    return cpu_->allocate(bytes);
  }
  bool supports(const graph::Graph&, const graph::Node& node) const override {
    return node.op != refused_;
  }
  void run(const graph::Graph& g, size_t first, size_t last, Buffer& workspace) override {
    for (size_t i = first; i < last; ++i) {
      EXPECT_NE(g.nodes()[i].op, refused_);
      EXPECT_GE(g.nodes()[i].layer, 0) << "the embedding ran on the GPU";
    }
    cpu_->run(g, first, last, workspace);
  }

 private:
  std::unique_ptr<Backend> cpu_;
  graph::Op refused_;
  size_t* allocations_;
};

struct SplitRun {
  std::vector<float> logits;  // [n_tokens, n_vocab]: one decode of all tokens
  ScheduleStats stats;
  size_t gpu_allocations = 0;
};

SplitRun run_split(const Model& model, int n_gpu_layers, graph::Op refused) {
  const ArchModel& arch = ModelInternals::arch(model);
  SplitRun out;
  SharedBackend gpu{std::make_unique<FakeGpu>(refused, &out.gpu_allocations)};
  Scheduler scheduler(make_cpu_backend({1}), &gpu,
                      Placement(arch.spec().n_layer, n_gpu_layers, true));
  KvCache cache([&](int layer) -> Backend& { return scheduler.backend_of_layer(layer); },
                arch.spec(), 16, 1, TensorType::F32);
  std::vector<int32_t> tokens = {1, 7, 42, 99, 3, 250};
  std::vector<int32_t> rows = {0, 1, 2, 3, 4, 5};
  graph::Graph g(0, static_cast<int64_t>(tokens.size()));
  arch.build(g, {tokens, rows, cache.views()});
  scheduler.run(g);
  out.logits.resize(tokens.size() * static_cast<size_t>(arch.spec().n_vocab));
  scheduler.read(g, g.result(), out.logits.data());
  out.stats = scheduler.stats();
  return out;
}

const std::string kModel = std::string(TERN_SHARED_DIR) + "/golden/llama-q4_k_m/model.gguf";

TEST(Scheduler, EverySplitGivesTheCpuLogits) {
  Model model = Model::load(kModel);
  int64_t n_layer = model.n_layer();
  ASSERT_GE(n_layer, 2);
  SplitRun cpu = run_split(model, 0, graph::Op::Copy);
  EXPECT_EQ(cpu.stats.gpu_nodes, 0u);
  EXPECT_EQ(cpu.stats.copies, 0u);
  EXPECT_EQ(cpu.stats.spans, 1u);
  EXPECT_EQ(cpu.gpu_allocations, 0u);
  for (int ngl = 1; ngl <= n_layer; ++ngl) {
    SplitRun split = run_split(model, ngl, graph::Op::Scale);  // llama has no Scale
    EXPECT_EQ(split.logits, cpu.logits) << "ngl " << ngl;
    EXPECT_GT(split.stats.gpu_nodes, 0u);
    EXPECT_EQ(split.stats.cpu_fallbacks, 0u);
    // K and V per GPU layer, plus the workspace.
    EXPECT_EQ(split.gpu_allocations, 2u * static_cast<size_t>(ngl) + 1u) << "ngl " << ngl;
    // One hand-over to the GPU; one back when the head stays on the CPU.
    EXPECT_EQ(split.stats.spans, ngl == n_layer ? 2u : 3u) << "ngl " << ngl;
    EXPECT_GE(split.stats.copies, ngl == n_layer ? 1u : 2u) << "ngl " << ngl;
  }
}

TEST(Scheduler, UnsupportedOpsFallBackToTheCpu) {
  Model model = Model::load(kModel);
  SplitRun cpu = run_split(model, 0, graph::Op::Copy);
  SplitRun split = run_split(model, -1, graph::Op::Rope);  // two ropes per layer
  EXPECT_EQ(split.logits, cpu.logits);
  EXPECT_EQ(split.stats.cpu_fallbacks, 2u * static_cast<size_t>(model.n_layer()));
  EXPECT_GT(split.stats.copies, 2u * static_cast<size_t>(model.n_layer()));
}

TEST(Scheduler, CacheOpsDoNotFallBack) {
  Model model = Model::load(kModel);
  try {
    run_split(model, -1, graph::Op::Attention);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fake-gpu: cannot run attention of layer"),
              std::string::npos)
        << e.what();
  }
}

TEST(BackendRegistry, CpuAlwaysAndNamedBackendsExplainTheirAbsence) {
  EXPECT_TRUE(backend_available(BackendKind::Cpu));
  EXPECT_EQ(make_gpu_backend(BackendKind::Cpu, {}), nullptr);
  EXPECT_FALSE(backend_available(BackendKind::Cuda));
  EXPECT_THROW(make_gpu_backend(BackendKind::Cuda, {}), Error);
  if (!backend_available(BackendKind::Vulkan)) {
    EXPECT_THROW(make_gpu_backend(BackendKind::Vulkan, {}), Error);
  }
  EXPECT_EQ(backend_kind_name(BackendKind::Vulkan), "vulkan");
}

// Sessions on the CPU backend ignore -ngl.
TEST(Scheduler, CpuSessionsIgnoreGpuLayers) {
  std::vector<int32_t> tokens = {1, 7, 42, 99};
  auto logits = [&](int n_gpu_layers) {
    Model model = Model::load(kModel, {.backend = BackendKind::Cpu, .n_gpu_layers = n_gpu_layers});
    Session s(model, {.n_ctx = 8, .n_threads = 1});
    std::span<const float> out = s.decode(tokens, Outputs::All);
    return std::vector<float>(out.begin(), out.end());
  };
  EXPECT_EQ(logits(3), logits(0));
}

}  // namespace
}  // namespace tern
