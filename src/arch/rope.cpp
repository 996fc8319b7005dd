// LayerRope::params: a layer's rotation as the graph's rope op takes it, YaRN included.
// YaRN's constants and formulas are llama.cpp's (ggml's rope_yarn and the context's
// attention factor), so files scaled with it give the same angles.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "arch/architecture.h"

namespace tern {

namespace {

constexpr float kBetaFast = 32.0f;  // rotations per original context where the ramp starts
constexpr float kBetaSlow = 1.0f;   // ... and where it ends

// The pair index whose wavelength makes `n_rotations` turns over the original context.
float correction_dim(int n_rot, int64_t n_ctx_orig, float n_rotations, float base) {
  return static_cast<float>(n_rot) *
         std::log(static_cast<float>(n_ctx_orig) /
                  (n_rotations * 2.0f * std::numbers::pi_v<float>)) /
         (2.0f * std::log(base));
}

// YaRN's magnitude correction for a scaling factor.
float yarn_mscale(float factor) { return factor <= 1.0f ? 1.0f : 0.1f * std::log(factor) + 1.0f; }

}  // namespace

graph::RopeParams LayerRope::params(const ModelSpec& spec, int n_head) const {
  graph::RopeParams p{n_head, spec.head_dim_k, spec.n_rot, base, scale, neox};
  if (!spec.rope_yarn) return p;
  p.ext_factor = 1.0f;
  p.corr_low = std::max(
      0.0f, std::floor(correction_dim(spec.n_rot, spec.rope_yarn_ctx_orig, kBetaFast, base)));
  p.corr_high =
      std::min(static_cast<float>(spec.n_rot - 1),
               std::ceil(correction_dim(spec.n_rot, spec.rope_yarn_ctx_orig, kBetaSlow, base)));
  // llama.cpp's factor for the model's scaling, cancelled by the kernel's own for the
  // layer's (equal unless a layer rotates unscaled, as gemma3's local layers).
  float factor = 1.0f / spec.rope_freq_scale;
  float attn = yarn_mscale(factor) / (1.0f + 0.1f * std::log(factor)) * spec.rope_attn_factor;
  p.mscale = attn * (1.0f + 0.1f * std::log(1.0f / scale));
  return p;
}

}  // namespace tern
