// Scratch: one growing device allocation per stream for the matrix products' temporaries.
#include <algorithm>

#include "device.h"
#include "matmul.h"

namespace tern::cuda {

Scratch::~Scratch() { (void)cudaFree(data_); }

void* Scratch::get(size_t bytes, cudaStream_t stream) {
  if (bytes <= bytes_) return data_;
  // Kernels already enqueued may still read the old block: let them finish first.
  // Grow by half again at least, so a prompt of slowly rising length reallocates rarely.
  const size_t grown = std::max(bytes, bytes_ + bytes_ / 2);
  TERN_CUDA_CHECK(cudaStreamSynchronize(stream));
  TERN_CUDA_CHECK(cudaFree(data_));
  data_ = nullptr;
  bytes_ = 0;
  check_alloc(cudaMalloc(&data_, grown), grown, "matmul scratch");
  bytes_ = grown;
  ++generation_;
  return data_;
}

}  // namespace tern::cuda
