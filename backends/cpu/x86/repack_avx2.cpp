// AVX2 + FMA + F16C decode kernels over interleaved weights (compiled with the AVX2 flags).
#define TERN_SIMD_NAMESPACE avx2
#include "backends/cpu/x86/repack.h"
