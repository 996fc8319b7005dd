// Quantization mixes with llama.cpp's names ("Q4_K_M"): the base type of the weights and
// the tensors that get more bits (output head, attention V, attention output, part of the
// FFN-down layers), a type of their own for stacked experts (MXFP4_MOE), and the fallback
// for rows that do not fit a type's block size.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "types/type_table.h"

namespace tern::quant {

/// When a role's bump applies, given the tensor's layer (llama.cpp's rules).
enum class When {
  Never,
  Always,
  MoreBits,     // first and last eighth of the layers and every third one between
  FirstLayers,  // layer < param
  FirstFrac,    // layer < n_layer / param
  GqaAtLeast4,  // n_head / n_head_kv >= 4
};

/// A role's type: `more` when the condition holds, else `otherwise` (nullopt: the base).
struct Bump {
  When when = When::Never;
  TensorType more = TensorType::F32;
  int param = 0;
  std::optional<TensorType> otherwise;
};

/// The tensor roles a mix treats specially.
enum class Role { Other, Output, AttnV, AttnOutput, FfnDown };

struct QuantMix {
  std::string_view name;  // llama.cpp's name: "Q4_K_M"
  uint32_t file_type;     // general.file_type (llama.cpp's llama_ftype numbering)
  TensorType base;        // type of every quantized weight without a bump
  Bump output, attn_v, attn_output, ffn_down;
  /// Type of the stacked expert matrices ("*_exps.weight"), before any role's bump;
  /// nullopt: they take their role's type like dense weights.
  std::optional<TensorType> experts = std::nullopt;
};

/// Where a tensor sits in the model, for choosing its type.
struct TensorPlace {
  Role role = Role::Other;
  int layer = -1;  // -1 outside the layers
  int n_layer = 0;
  int n_gqa = 1;        // n_head / n_head_kv
  bool expert = false;  // a stack of expert matrices
};

/// The mix with this name (case-insensitive), or nullptr.
const QuantMix* find_mix(std::string_view name);
/// The mix with this name (case-insensitive); throws tern::Error naming every mix if none.
const QuantMix& mix_named(std::string_view name);
/// Every mix, in the order `tern quantize --help` lists them.
const std::vector<QuantMix>& all_mixes();

/// The type `mix` gives a weight at `place`, before the block-size fallback.
TensorType mix_type(const QuantMix& mix, const TensorPlace& place);

/// `type` if rows of `n_cols` values fit its blocks, else the closest type whose blocks
/// fit (llama.cpp's choices: K-quants fall back to 32-value types, then F16).
TensorType fit_rows(TensorType type, int64_t n_cols);

}  // namespace tern::quant
