// AVX512 decode kernels over interleaved weights: the AVX2 body with EVEX encodings.
#define TERN_SIMD_NAMESPACE avx512
#include "cpu/repack_x86.h"
