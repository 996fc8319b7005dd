// AVX2 + FMA + F16C packed GEMM kernels (compiled with the AVX2 flags; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx2
#include "backends/cpu/x86/packed_gemm.h"
