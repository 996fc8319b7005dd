// Which x86 SIMD level the CPU kernels use: detected once from CPUID, or forced with
// ModelOptions::cpu_kernels (the CLI maps TERN_CPU=scalar|avx2|avx512|amx onto it; tests use it
// to cover every path on one machine).
#pragma once

#include <string_view>

#include "tern/model.h"

namespace tern::cpu {

enum class Isa {
  Scalar,  // the reference kernels (float math over dequantized rows)
  Avx2,    // AVX2 + FMA + F16C
  Avx512,  // AVX512 F/BW/VL/VNNI (+ BF16 where present), 256-bit VNNI dot products
  Amx,     // AVX512 plus AMX-INT8 tiles for prompt-sized products (the packed GEMM)
};

std::string_view isa_name(Isa isa);

/// The best level this CPU and OS support.
Isa detected_isa();

/// The level CpuKernels::Auto means: detected_isa(), unless set_isa() overrides it (tests).
Isa active_isa();
void set_isa(Isa isa);

/// The level `kernels` asks for (Auto: active_isa()); throws tern::Error for one above
/// detected_isa().
Isa isa_of(CpuKernels kernels);

/// Uses `isa` for its lifetime, then the previous level (tests that measure the scalar
/// path's float-activation accuracy pin it with this).
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : previous_(active_isa()) { set_isa(isa); }
  ~ScopedIsa() { set_isa(previous_); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  Isa previous_;
};

/// Whether the CPU has AVX512_BF16 (vdpbf16ps) besides the AVX512 level: there, BF16 weights
/// take their products with the activations rounded to BF16 (x86/row_kernels.h).
bool has_avx512_bf16();

/// Parses "scalar", "avx2", "avx512" or "amx"; throws tern::Error for another name or a level
/// above detected_isa().
Isa parse_isa(std::string_view name);

/// Physical cores (distinct core ids over packages), at least 1.
int physical_cores();

/// The CPU's feature flags relevant to tern, space-separated ("avx2 fma f16c ...").
std::string_view cpu_flags();

/// The CPU's model name, as /proc/cpuinfo or CPUID states it.
std::string_view cpu_model();

}  // namespace tern::cpu
