// AVX2 + FMA elementwise ops (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt).
#define TERN_SIMD_NAMESPACE avx2
#include "backends/cpu/x86/elementwise.h"
