// The RoPE rotation angles, computed once on the host for every backend: in double, so
// that large positions lose nothing to a device's float sin/cos; kernels only rotate.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "graph/graph.h"

namespace tern {

/// cos and sin of the rotation of every (token, pair) at the tokens' positions,
/// [places.size()][n_rot / 2][2]. `factors` (n_rot / 2 values, may be null) divide each
/// pair's frequency (llama3-style scaling); YaRN as p says. Every layer's q and k share
/// one table.
std::vector<float> rope_angles(std::span<const graph::TokenPlace> places,
                               const graph::RopeParams& p, const float* factors);

}  // namespace tern
