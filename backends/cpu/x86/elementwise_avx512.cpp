// AVX512 elementwise ops: the AVX2 bodies with EVEX encodings (compiled with the AVX512
// flags; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx512
#include "backends/cpu/x86/elementwise.h"
