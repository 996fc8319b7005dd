// The CUDA device's discovery errors; runs with or without a device (CUDA builds only:
// a build without CUDA says so instead). The ops are in test_backend_ops.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backends/backend.h"
#include "backends/registry.h"
#include "tern/error.h"

namespace tern {
namespace {

// Runs with or without a device: asking for CUDA where there is none, or for a device
// index that does not exist, is a tern::Error with a clear message.
TEST(CudaDevice, MissingDeviceIsAClearError) {
  if (!backend_available(kCudaSourcesKind)) {
    try {
      make_gpu_backend(kCudaSourcesKind, {});
      FAIL() << "expected tern::Error";
    } catch (const Error& e) {
      const std::string want =
          kCudaSourcesKind == BackendKind::Hip ? "no HIP device" : "no CUDA device";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
    return;
  }
  try {
    make_gpu_backend(kCudaSourcesKind, {.cuda_device = 999});
    ADD_FAILURE() << "expected tern::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("device 999"), std::string::npos) << e.what();
  }
  auto backend = make_gpu_backend(kCudaSourcesKind, {});
  DeviceInfo info = backend->device();
  EXPECT_EQ(info.name.rfind("cuda:", 0), 0u) << info.name;
  EXPECT_GT(info.memory_bytes, 0u);
  EXPECT_FALSE(info.host_memory);
}

}  // namespace
}  // namespace tern
