#include "quantize/quant_mix.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "tern/error.h"
#include "tern/quantize.h"

namespace tern::quant {

namespace {

using T = TensorType;

constexpr Bump kNone{};
constexpr Bump kOutputQ6{When::Always, T::Q6_K, 0, std::nullopt};
constexpr Bump kMoreBitsQ6{When::MoreBits, T::Q6_K, 0, std::nullopt};

QuantMix plain(std::string_view name, uint32_t file_type, TensorType base, Bump output) {
  return QuantMix{name, file_type, base, output, kNone, kNone, kNone, std::nullopt};
}

// The mixes as llama.cpp's llama-quantize builds them (no importance matrix, dense
// models): the file_type numbers and the per-role bumps follow its tensor-type rules.
std::vector<QuantMix> build_mixes() {
  return {
      plain("F32", 0, T::F32, kNone),
      plain("F16", 1, T::F16, kNone),
      plain("BF16", 32, T::BF16, kNone),
      plain("Q8_0", 7, T::Q8_0, kNone),
      plain("Q4_0", 2, T::Q4_0, kOutputQ6),
      plain("Q4_1", 3, T::Q4_1, kOutputQ6),
      plain("Q5_0", 8, T::Q5_0, kOutputQ6),
      plain("Q5_1", 9, T::Q5_1, kOutputQ6),
      {"Q2_K",
       10,
       T::Q2_K,
       kOutputQ6,
       {When::GqaAtLeast4, T::Q4_K, 0, T::Q3_K},
       {When::Always, T::Q3_K, 0, std::nullopt},
       {When::Always, T::Q3_K, 0, std::nullopt}},
      plain("Q3_K_S", 11, T::Q3_K, kOutputQ6),
      {"Q3_K_M",
       12,
       T::Q3_K,
       kOutputQ6,
       {When::FirstLayers, T::Q5_K, 2, T::Q4_K},
       {When::Always, T::Q4_K, 0, std::nullopt},
       {When::FirstFrac, T::Q5_K, 16, T::Q4_K}},
      {"Q3_K_L",
       13,
       T::Q3_K,
       kOutputQ6,
       {When::Always, T::Q5_K, 0, std::nullopt},
       {When::Always, T::Q5_K, 0, std::nullopt},
       {When::Always, T::Q5_K, 0, std::nullopt}},
      {"Q4_K_S",
       14,
       T::Q4_K,
       kOutputQ6,
       {When::FirstLayers, T::Q5_K, 4, std::nullopt},
       kNone,
       {When::FirstFrac, T::Q5_K, 8, std::nullopt}},
      {"Q4_K_M", 15, T::Q4_K, kOutputQ6, kMoreBitsQ6, kNone, kMoreBitsQ6},
      plain("Q5_K_S", 16, T::Q5_K, kOutputQ6),
      {"Q5_K_M", 17, T::Q5_K, kOutputQ6, kMoreBitsQ6, kNone, kMoreBitsQ6},
      plain("Q6_K", 18, T::Q6_K, kOutputQ6),
      {"IQ4_NL",
       25,
       T::IQ4_NL,
       kOutputQ6,
       {When::GqaAtLeast4, T::Q5_K, 0, std::nullopt},
       kNone,
       kNone},
      {"IQ4_XS",
       30,
       T::IQ4_XS,
       kOutputQ6,
       {When::GqaAtLeast4, T::Q5_K, 0, std::nullopt},
       kNone,
       kNone},
      // gpt-oss's release mix: experts MXFP4, every other quantized weight (output
      // included) Q8_0.
      {"MXFP4_MOE", 38, T::Q8_0, kNone, kNone, kNone, kNone, T::MXFP4},
  };
}

bool more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

bool applies(const Bump& b, const TensorPlace& p) {
  switch (b.when) {
    case When::Never:
      return false;
    case When::Always:
      return true;
    case When::MoreBits:
      return more_bits(p.layer, p.n_layer);
    case When::FirstLayers:
      return p.layer < b.param;
    case When::FirstFrac:
      return p.layer < p.n_layer / b.param;
    case When::GqaAtLeast4:
      return p.n_gqa >= 4;
  }
  return false;
}

const Bump& bump_for(const QuantMix& mix, Role role) {
  switch (role) {
    case Role::Output:
      return mix.output;
    case Role::AttnV:
      return mix.attn_v;
    case Role::AttnOutput:
      return mix.attn_output;
    case Role::FfnDown:
      return mix.ffn_down;
    case Role::Other:
      break;
  }
  return kNone;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

const std::vector<QuantMix>& all_mixes() {
  static const std::vector<QuantMix> mixes = build_mixes();
  return mixes;
}

const QuantMix* find_mix(std::string_view name) {
  for (const QuantMix& m : all_mixes()) {
    if (iequals(m.name, name)) return &m;
  }
  return nullptr;
}

const QuantMix& mix_named(std::string_view name) {
  if (const QuantMix* mix = find_mix(name)) return *mix;
  throw Error(fmt::format("unknown quantization type '{}' (one of: {})", name,
                          fmt::join(mix_names(), ", ")));
}

std::vector<std::string_view> mix_names() {
  std::vector<std::string_view> names;
  for (const QuantMix& m : all_mixes()) names.push_back(m.name);
  return names;
}

TensorType mix_type(const QuantMix& mix, const TensorPlace& place) {
  if (place.expert && mix.experts) return *mix.experts;
  const Bump& b = bump_for(mix, place.role);
  if (b.when == When::Never) return mix.base;
  if (applies(b, place)) return b.more;
  return b.otherwise.value_or(mix.base);
}

TensorType fit_rows(TensorType type, int64_t n_cols) {
  // llama.cpp's substitutes for 256-value blocks; anything else that does not fit is F16.
  constexpr std::pair<T, T> kFallback[] = {
      {T::Q2_K, T::IQ4_NL}, {T::Q3_K, T::IQ4_NL}, {T::IQ4_XS, T::IQ4_NL},
      {T::Q4_K, T::Q5_0},   {T::Q5_K, T::Q5_1},   {T::Q6_K, T::Q8_0},
  };
  if (row_bytes(type, n_cols)) return type;
  for (const auto& [from, to] : kFallback) {
    if (from == type && row_bytes(to, n_cols)) return to;
  }
  return T::F16;
}

}  // namespace tern::quant
