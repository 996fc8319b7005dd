// BufferRegistry: the buffers a GPU backend handed out, findable while they live. A KV
// cache is named in the graph by its Buffer (graph::Tensor::cache); only the backend that
// made it can turn it into device memory, so a backend asks its registry, and refuses
// (supports() false) a cache its registry does not know.
#pragma once

#include <memory>
#include <unordered_map>
#include <utility>

#include "backends/backend.h"

namespace tern {

/// `Memory` is the backend's device memory type, itself a tern::Buffer.
template <class Memory>
class BufferRegistry {
 public:
  BufferRegistry() = default;
  BufferRegistry(const BufferRegistry&) = delete;
  BufferRegistry& operator=(const BufferRegistry&) = delete;

  /// `memory` as a Buffer for callers, known to this registry until it is destroyed.
  /// The registry must outlive the buffers it hands out.
  std::unique_ptr<Buffer> adopt(std::unique_ptr<Memory> memory) {
    return std::make_unique<Registered>(*this, std::move(memory));
  }

  /// The device memory behind `buffer` when this registry handed it out, else nullptr.
  Memory* find(const Buffer* buffer) const {
    auto it = live_.find(buffer);
    return it != live_.end() ? it->second : nullptr;
  }

 private:
  class Registered final : public Buffer {
   public:
    Registered(BufferRegistry& registry, std::unique_ptr<Memory> memory)
        : registry_(registry), memory_(std::move(memory)) {
      registry_.live_.emplace(this, memory_.get());
    }
    ~Registered() override { registry_.live_.erase(this); }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;

    size_t size() const override { return memory_->size(); }
    void* host_data() override { return nullptr; }
    void upload(const void* src, size_t offset, size_t n) override {
      memory_->upload(src, offset, n);
    }
    void download(void* dst, size_t offset, size_t n) const override {
      memory_->download(dst, offset, n);
    }

   private:
    BufferRegistry& registry_;
    std::unique_ptr<Memory> memory_;
  };

  std::unordered_map<const Buffer*, Memory*> live_;
};

}  // namespace tern
