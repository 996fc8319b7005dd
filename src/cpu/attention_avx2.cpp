// AVX2 + FMA attention (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx2
#include "cpu/attention_x86.h"
