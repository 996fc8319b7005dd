#include "device.h"

#include <fmt/format.h>

#include <string>

#include "tern/error.h"

namespace tern::cuda {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: clear the sticky error, report 0
    return 0;
  }
  return n;
}

int choose_device(int index) {
  int n = device_count();
  if (n == 0)
    throw Error(fmt::format("{}: no {} device on this machine", kRuntimeName, kRuntimeTitle));
  if (index < 0 || index >= n) {
    throw Error(fmt::format("cuda: device {} is not a device index in [0, {})", index, n));
  }
  return index;
}

DeviceProps query_device(int index) {
  cudaDeviceProp prop{};
  TERN_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceProps p;
  p.index = index;
  p.name = prop.name;
  p.total_bytes = prop.totalGlobalMem;
  p.cc_major = prop.major;
  p.cc_minor = prop.minor;
  p.bus_width_bits = prop.memoryBusWidth;
  TERN_CUDA_CHECK(cudaDeviceGetAttribute(&p.memory_clock_khz, cudaDevAttrMemoryClockRate, index));
  TERN_CUDA_CHECK(cudaSetDevice(index));
  size_t total = 0;
  TERN_CUDA_CHECK(cudaMemGetInfo(&p.free_bytes, &total));
  return p;
}

void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();
  throw Error(fmt::format("cuda: {} failed: {} ({})", call, cudaGetErrorString(status),
                          cudaGetErrorName(status)));
}

#ifndef TERN_HIP
void check(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(fmt::format("cuda: {} failed: {} ({})", call, cublasGetStatusString(status),
                          cublasGetStatusName(status)));
}
#endif

void check_alloc(cudaError_t status, size_t bytes, const char* what) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();
  if (status == cudaErrorMemoryAllocation) {
    size_t free_bytes = 0, total = 0;
    if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) (void)cudaGetLastError();
    throw Error(fmt::format("cuda: out of device memory allocating {} ({:.1f} MiB); {:.1f} MiB "
                            "of {:.1f} MiB free",
                            what, static_cast<double>(bytes) / kMiB,
                            static_cast<double>(free_bytes) / kMiB,
                            static_cast<double>(total) / kMiB));
  }
  check(status, what);
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace tern::cuda
