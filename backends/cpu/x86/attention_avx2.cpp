// AVX2 + FMA attention (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx2
#include "backends/cpu/x86/attention.h"
