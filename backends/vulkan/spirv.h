// The SPIR-V modules glslc built from shaders/ (embedded by embed_spirv.cmake).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace tern::vulkan {

struct SpirvModule {
  std::string_view name;  // "<shader>_<variant>", e.g. "matmul_vec_q4_k_fast"
  const unsigned char* code;
  size_t bytes;
};

std::span<const SpirvModule> spirv_modules();

}  // namespace tern::vulkan
