#include "memory.h"

#include <fmt/format.h>

#include <cstdint>

#include "device.h"
#include "tern/error.h"

namespace tern::cuda {

DeviceBuffer::DeviceBuffer(size_t bytes, cudaStream_t stream) : bytes_(bytes), stream_(stream) {
  // A zero-byte buffer still gets an address, so that graphs can name it.
  check_alloc(cudaMalloc(&data_, bytes_ > 0 ? bytes_ : 1), bytes_, "a device buffer");
  try {
    TERN_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes_, stream_));
    TERN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  } catch (...) {
    (void)cudaFree(data_);
    throw;
  }
}

DeviceBuffer::~DeviceBuffer() { (void)cudaFree(data_); }

void DeviceBuffer::check_range(size_t offset, size_t n, const char* what) const {
  if (offset > bytes_ || n > bytes_ - offset) {
    throw Error(fmt::format("cuda: {} of {} bytes at {} outside a buffer of {} bytes", what, n,
                            offset, bytes_));
  }
}

void DeviceBuffer::upload(const void* src, size_t offset, size_t n) {
  check_range(offset, n, "upload");
  if (n == 0) return;
  TERN_CUDA_CHECK(cudaMemcpyAsync(static_cast<uint8_t*>(data_) + offset, src, n,
                                  cudaMemcpyHostToDevice, stream_));
  TERN_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `src` may go away after we return
}

void DeviceBuffer::download(void* dst, size_t offset, size_t n) const {
  check_range(offset, n, "download");
  if (n == 0) return;
  TERN_CUDA_CHECK(cudaMemcpyAsync(dst, static_cast<const uint8_t*>(data_) + offset, n,
                                  cudaMemcpyDeviceToHost, stream_));
  TERN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

PinnedBuffer::~PinnedBuffer() { (void)cudaFreeHost(data_); }

void* PinnedBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return data_;
  (void)cudaFreeHost(data_);
  data_ = nullptr;
  bytes_ = 0;
  check_alloc(cudaMallocHost(&data_, bytes), bytes, "pinned host memory");
  bytes_ = bytes;
  return data_;
}

}  // namespace tern::cuda
