// AVX512 decode kernels over interleaved weights: the AVX2 body with EVEX encodings.
#define TERN_SIMD_NAMESPACE avx512
#include "backends/cpu/x86/repack.h"
