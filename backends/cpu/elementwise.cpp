#include "backends/cpu/elementwise.h"

#include <fmt/format.h>

#include "tern/error.h"

namespace tern::cpu {

namespace {

struct ElementwiseKernels {
  void (*swiglu)(const float*, const float*, int64_t, float*);
  void (*geglu)(const float*, const float*, int64_t, float*);
  void (*swiglu_oai)(const float*, const float*, int64_t, float, float, float*);
  void (*gelu)(const float*, int64_t, float*);
  void (*exp_values)(const float*, int64_t, float*);
  void (*rms_norm)(const float*, const float*, int64_t, int64_t, float, float*);
  void (*to_f16)(const float*, int64_t, uint16_t*);
};

const ElementwiseKernels& kernels(Isa isa) {
  static const ElementwiseKernels kAvx2{avx2::swiglu, avx2::geglu,      avx2::swiglu_oai,
                                        avx2::gelu,   avx2::exp_values, avx2::rms_norm,
                                        avx2::to_f16};
  static const ElementwiseKernels kAvx512{avx512::swiglu, avx512::geglu,      avx512::swiglu_oai,
                                          avx512::gelu,   avx512::exp_values, avx512::rms_norm,
                                          avx512::to_f16};
  switch (isa) {
    case Isa::Avx2:
      return kAvx2;
    case Isa::Avx512:
    case Isa::Amx:
      return kAvx512;
    case Isa::Scalar:
      break;
  }
  throw Error(fmt::format("no SIMD elementwise kernels at level {}", isa_name(isa)));
}

}  // namespace

void simd_swiglu(const float* gate, const float* up, int64_t n, float* out, Isa isa) {
  kernels(isa).swiglu(gate, up, n, out);
}

void simd_geglu(const float* gate, const float* up, int64_t n, float* out, Isa isa) {
  kernels(isa).geglu(gate, up, n, out);
}

void simd_swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,
                     float* out, Isa isa) {
  kernels(isa).swiglu_oai(gate, up, n, alpha, limit, out);
}

void simd_gelu(const float* x, int64_t n, float* out, Isa isa) { kernels(isa).gelu(x, n, out); }

void simd_exp(const float* x, int64_t n, float* out, Isa isa) {
  kernels(isa).exp_values(x, n, out);
}

void simd_rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps,
                   float* out, Isa isa) {
  kernels(isa).rms_norm(x, w, group, n_values, eps, out);
}

void simd_to_f16(const float* x, int64_t n, uint16_t* out, Isa isa) {
  kernels(isa).to_f16(x, n, out);
}

}  // namespace tern::cpu
