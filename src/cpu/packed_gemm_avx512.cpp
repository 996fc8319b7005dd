// AVX512 packed GEMM kernels: the AVX2 body with EVEX encodings (AVX512 flags).
#define TERN_SIMD_NAMESPACE avx512
#include "cpu/packed_gemm_x86.h"
