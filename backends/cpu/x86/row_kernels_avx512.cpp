// AVX512 F/BW/VL + VNNI kernels (compiled with the AVX512 flags; see CMakeLists.txt):
// the AVX2 bodies with VNNI dot products (vpdpbusd) and EVEX encodings.
#define TERN_SIMD_NAMESPACE avx512
#include "backends/cpu/x86/row_kernels.h"
