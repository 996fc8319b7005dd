// AVX512 attention: the AVX2 body with EVEX encodings (compiled with the AVX512 flags;
// see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx512
#include "backends/cpu/x86/attention.h"
