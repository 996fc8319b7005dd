// AVX512 attention: the AVX2 body with EVEX encodings (compiled with the AVX512 flags;
// see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx512
#include "cpu/attention_x86.h"
