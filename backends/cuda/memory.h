// Device memory: DeviceBuffer (a tern::Buffer in device memory, zero-filled, moved to and
// from the host on the backend's stream) and PinnedBuffer (page-locked host memory for
// the per-run data: ids and rope tables, copied to the device in one transfer per run).
#pragma once

#include <cstddef>

#include "backends/backend.h"
#include "gpu_runtime.h"

namespace tern::cuda {

class DeviceBuffer final : public Buffer {
 public:
  /// `bytes` of zeroed device memory; transfers go through `stream` and wait for it.
  DeviceBuffer(size_t bytes, cudaStream_t stream);
  ~DeviceBuffer() override;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  size_t size() const override { return bytes_; }
  /// Device memory: never a host address (a KV cache is named by its Buffer object).
  void* host_data() override { return nullptr; }
  void upload(const void* src, size_t offset, size_t n) override;
  void download(void* dst, size_t offset, size_t n) const override;

  void* data() const { return data_; }

 private:
  void check_range(size_t offset, size_t n, const char* what) const;

  size_t bytes_;
  cudaStream_t stream_;
  void* data_ = nullptr;
};

/// Page-locked host memory that grows on demand (contents are not kept when it grows).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  /// At least `bytes`; call only while no transfer from it is in flight.
  void* reserve(size_t bytes);

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tern::cuda
