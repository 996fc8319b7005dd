// CUDA devices: discovery (name, memory, compute capability, peak bandwidth), the choice
// of one (ModelOptions::cuda_device, default 0), and the one way CUDA and cuBLAS failures
// become tern::Error (the call that failed and CUDA's own message).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gpu_runtime.h"

namespace tern::cuda {

struct DeviceProps {
  int index = 0;
  std::string name;
  size_t total_bytes = 0;
  size_t free_bytes = 0;  // when queried
  int cc_major = 0, cc_minor = 0;
  int bus_width_bits = 0;
  int memory_clock_khz = 0;
  /// Peak memory bandwidth estimate: 2 transfers per clock x bus width (bytes/s).
  double peak_bytes_per_s() const {
    return 2.0 * memory_clock_khz * 1e3 * (bus_width_bits / 8.0);
  }
};

/// CUDA devices on this machine; 0 without a driver or a device (never throws).
int device_count();
/// `index`, checked against the count. Throws tern::Error when it is not a device.
int choose_device(int index);
/// What device `index` is (makes it current on this thread to read free memory).
DeviceProps query_device(int index);

/// Throws tern::Error naming `call` and CUDA's message unless `status` is success.
void check(cudaError_t status, const char* call);
#ifndef TERN_HIP
void check(cublasStatus_t status, const char* call);
#endif
/// Like check() for an allocation of `bytes`; out-of-memory says how much is free.
void check_alloc(cudaError_t status, size_t bytes, const char* what);
/// Errors of the kernel launches just enqueued (bad configuration, no kernel image).
void check_launch(const char* kernel);

}  // namespace tern::cuda

/// Checks a CUDA runtime or cuBLAS call: TERN_CUDA_CHECK(cudaMemcpyAsync(...)).
#define TERN_CUDA_CHECK(call) ::tern::cuda::check((call), #call)
