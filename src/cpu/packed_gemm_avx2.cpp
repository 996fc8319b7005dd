// AVX2 + FMA + F16C packed GEMM kernels (compiled with the AVX2 flags; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx2
#include "cpu/packed_gemm_x86.h"
