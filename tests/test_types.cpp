// The type table and the scalar reference conversions, against independent references:
// the gguf Python package's outputs (fixtures written by tests/gen_type_fixtures.py, format
// documented there) and the IEEE half/bfloat16 definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tern/error.h"
#include "types/float_types.h"
#include "types/type_table.h"

namespace tern {
namespace {

const std::string kFixtureDir = std::string(TERN_TEST_DATA_DIR) + "/types/";

// One tests/data/types/NAME.bin file.
struct Fixture {
  uint32_t type_id = 0;
  std::vector<uint8_t> dequant_blocks;  // input blocks
  std::vector<float> dequant_ref;       // gguf's floats for them
  std::vector<float> quant_input;
  std::vector<uint8_t> quant_ref;  // gguf's bytes for quant_input
};

template <typename T>
std::vector<T> take(const std::vector<uint8_t>& bytes, size_t& pos, size_t count) {
  std::vector<T> out(count);
  if (pos + count * sizeof(T) > bytes.size()) throw Error("fixture truncated");
  if (count > 0) std::memcpy(out.data(), bytes.data() + pos, count * sizeof(T));
  pos += count * sizeof(T);
  return out;
}

Fixture load_fixture(const std::string& name) {
  std::ifstream in(kFixtureDir + name + ".bin", std::ios::binary);
  if (!in) throw Error("missing fixture " + name + ".bin (run tests/gen_type_fixtures.py)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  size_t pos = 0;
  const auto magic = take<char>(bytes, pos, 4);
  const auto header = take<uint32_t>(bytes, pos, 4);  // version, type, n_dequant, n_quant
  if (std::string(magic.begin(), magic.end()) != "TTFX" || header[0] != 1) {
    throw Error("bad fixture header in " + name);
  }
  const TypeTraits* traits = find_type(header[1]);
  if (traits == nullptr) throw Error("fixture " + name + " has an unknown type");
  const auto n_blocks = [&](uint32_t n) { return n / traits->block_size * traits->block_bytes; };
  Fixture f;
  f.type_id = header[1];
  f.dequant_blocks = take<uint8_t>(bytes, pos, n_blocks(header[2]));
  f.dequant_ref = take<float>(bytes, pos, header[2]);
  f.quant_input = take<float>(bytes, pos, header[3]);
  f.quant_ref = take<uint8_t>(bytes, pos, n_blocks(header[3]));
  if (pos != bytes.size()) throw Error("trailing bytes in fixture " + name);
  return f;
}

bool same_float(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, 4) == 0;
}

// Index of the first value that differs bitwise (NaN matches any NaN), or -1.
int64_t first_mismatch(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!same_float(got[i], want[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

// Every quantized type has a dequantize fixture.
const char* const kQuantized[] = {"Q4_0",    "Q4_1",   "Q5_0",   "Q5_1",    "Q8_0",  "Q8_1",
                                  "Q2_K",    "Q3_K",   "Q4_K",   "Q5_K",    "Q6_K",  "Q8_K",
                                  "IQ2_XXS", "IQ2_XS", "IQ2_S",  "IQ3_XXS", "IQ3_S", "IQ1_S",
                                  "IQ1_M",   "IQ4_NL", "IQ4_XS", "TQ1_0",   "TQ2_0", "MXFP4"};

class TypeFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(TypeFixture, DequantizeMatchesGgufBitwise) {
  const Fixture f = load_fixture(GetParam());
  const TypeTraits& traits = *find_type(f.type_id);
  ASSERT_FALSE(f.dequant_ref.empty());
  std::vector<float> got(f.dequant_ref.size());
  dequantize(traits.type, f.dequant_blocks.data(), got.data(), static_cast<int64_t>(got.size()));
  const int64_t bad = first_mismatch(got, f.dequant_ref);
  EXPECT_EQ(bad, -1) << traits.name << " value " << bad << " (block " << bad / traits.block_size
                     << "): got " << got[bad] << ", gguf " << f.dequant_ref[bad];
}

INSTANTIATE_TEST_SUITE_P(AllQuantized, TypeFixture, ::testing::ValuesIn(kQuantized),
                         [](const auto& param_info) { return std::string(param_info.param); });

// The types gguf-py can quantize; tern's encoder must give the same bytes.
const char* const kGgufQuantizable[] = {"Q4_0", "Q4_1",  "Q5_0",  "Q5_1",
                                        "Q8_0", "TQ1_0", "TQ2_0", "MXFP4"};

class GgufQuantizer : public ::testing::TestWithParam<const char*> {};

TEST_P(GgufQuantizer, QuantizeMatchesGgufBytes) {
  const Fixture f = load_fixture(GetParam());
  const TypeTraits& traits = *find_type(f.type_id);
  ASSERT_FALSE(f.quant_input.empty());
  ASSERT_NE(traits.from_float, nullptr);
  std::vector<uint8_t> got(f.quant_ref.size());
  traits.from_float(f.quant_input.data(), got.data(), static_cast<int64_t>(f.quant_input.size()));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], f.quant_ref[i])
        << traits.name << " byte " << i << " (block " << i / traits.block_bytes << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Gguf, GgufQuantizer, ::testing::ValuesIn(kGgufQuantizable),
                         [](const auto& param_info) { return std::string(param_info.param); });

// ---- plain float types ----

// The value of half bits h from the IEEE definition: (-1)^s * m * 2^(e - 25) with the
// implicit bit for normals, subnormals at e = 1.
float half_by_definition(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0x1f) {
    v = mant == 0 ? INFINITY : NAN;
  } else {
    const int m = exp == 0 ? mant : (mant | 0x400);
    v = std::ldexp(static_cast<float>(m), (exp == 0 ? 1 : exp) - 25);
  }
  return sign ? -v : v;
}

TEST(FloatTypes, HalfToFloatExactForAll65536) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    ASSERT_TRUE(same_float(got, half_by_definition(static_cast<uint16_t>(h))))
        << "half 0x" << std::hex << h;
  }
}

// Round trip of every non-NaN half, and the midpoint to the next half rounding to the even
// neighbour (ties to even, as numpy's cast does).
TEST(FloatTypes, FloatToHalfRoundsToNearestEvenForAll65536) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float v = f16_to_f32(bits);
    if (std::isnan(v)) {
      ASSERT_TRUE(std::isnan(f16_to_f32(f32_to_f16(v))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(v), bits) << std::hex << h;
    if ((h & 0x7fff) >= 0x7bff) continue;                                  // no finite successor
    const float mid = (v + f16_to_f32(static_cast<uint16_t>(h + 1))) / 2;  // exact
    const uint16_t even = (h & 1) == 0 ? bits : static_cast<uint16_t>(h + 1);
    ASSERT_EQ(f32_to_f16(mid), even) << "midpoint above half 0x" << std::hex << h;
  }
}

TEST(FloatTypes, BfloatToFloatIsTheHighHalfForAll65536) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float got = bf16_to_f32(static_cast<uint16_t>(b));
    uint32_t bits;
    std::memcpy(&bits, &got, 4);
    ASSERT_EQ(bits, b << 16);
    if (!std::isnan(got)) {
      ASSERT_EQ(f32_to_bf16(got), b);
    }
  }
}

TEST(FloatTypes, F16AndBf16MatchNumpyAndGguf) {
  for (const char* name : {"F16", "BF16"}) {
    const Fixture f = load_fixture(name);
    const TypeTraits& traits = *find_type(f.type_id);
    ASSERT_GT(f.quant_input.size(), 1000u);
    std::vector<uint8_t> got(f.quant_ref.size());
    traits.from_float(f.quant_input.data(), got.data(), static_cast<int64_t>(f.quant_input.size()));
    // Exact bits, NaNs included (the fixture's NaNs are quiet ones both sides keep).
    for (size_t i = 0; i < f.quant_input.size(); ++i) {
      ASSERT_EQ(std::memcmp(&got[2 * i], &f.quant_ref[2 * i], 2), 0)
          << name << " input " << f.quant_input[i];
    }
  }
}

TEST(FloatTypes, F64ConvertsWithRounding) {
  const double in[4] = {1.0 / 3.0, -2.5, 1e300, 0.0};
  float out[4];
  dequantize(TensorType::F64, in, out, 4);
  EXPECT_EQ(out[0], static_cast<float>(1.0 / 3.0));
  EXPECT_EQ(out[1], -2.5f);
  EXPECT_TRUE(std::isinf(out[2]));
  EXPECT_EQ(out[3], 0.0f);
}

// ---- the table ----

struct Geometry {
  const char* name;
  uint32_t id;
  int64_t block_size;
  size_t block_bytes;
};

// From the GGUF specification (ggml's type traits); Q8_1 is 36 (see blocks.h).
const Geometry kSpec[] = {
    {"F32", 0, 1, 4},         {"F16", 1, 1, 2},         {"Q4_0", 2, 32, 18},
    {"Q4_1", 3, 32, 20},      {"Q5_0", 6, 32, 22},      {"Q5_1", 7, 32, 24},
    {"Q8_0", 8, 32, 34},      {"Q8_1", 9, 32, 36},      {"Q2_K", 10, 256, 84},
    {"Q3_K", 11, 256, 110},   {"Q4_K", 12, 256, 144},   {"Q5_K", 13, 256, 176},
    {"Q6_K", 14, 256, 210},   {"Q8_K", 15, 256, 292},   {"IQ2_XXS", 16, 256, 66},
    {"IQ2_XS", 17, 256, 74},  {"IQ3_XXS", 18, 256, 98}, {"IQ1_S", 19, 256, 50},
    {"IQ4_NL", 20, 32, 18},   {"IQ3_S", 21, 256, 110},  {"IQ2_S", 22, 256, 82},
    {"IQ4_XS", 23, 256, 136}, {"I8", 24, 1, 1},         {"I16", 25, 1, 2},
    {"I32", 26, 1, 4},        {"I64", 27, 1, 8},        {"F64", 28, 1, 8},
    {"IQ1_M", 29, 256, 56},   {"BF16", 30, 1, 2},       {"TQ1_0", 34, 256, 54},
    {"TQ2_0", 35, 256, 66},   {"MXFP4", 39, 32, 17},
};

TEST(TypeTable, MatchesTheSpecAndHasUniqueIdsAndNames) {
  std::set<uint32_t> ids;
  std::set<std::string_view> names;
  for (const TypeTraits& t : all_types()) {
    EXPECT_TRUE(ids.insert(static_cast<uint32_t>(t.type)).second) << t.name;
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
  }
  EXPECT_EQ(all_types().size(), std::size(kSpec));
  for (const Geometry& g : kSpec) {
    const TypeTraits* t = find_type(g.id);
    ASSERT_NE(t, nullptr) << g.name;
    EXPECT_EQ(t->name, g.name);
    EXPECT_EQ(t->block_size, g.block_size) << g.name;
    EXPECT_EQ(t->block_bytes, g.block_bytes) << g.name;
    EXPECT_EQ(find_type(std::string(g.name)), t);
    const bool is_int = g.name[0] == 'I' && g.block_size == 1;
    EXPECT_EQ(t->to_float == nullptr, is_int) << g.name;
  }
  EXPECT_EQ(find_type("q4_k"), find_type(12u));
  EXPECT_EQ(find_type(4u), nullptr);  // retired Q4_2
  EXPECT_EQ(find_type("Q4_2"), nullptr);
}

TEST(TypeTable, RowBytes) {
  EXPECT_EQ(row_bytes(TensorType::Q4_K, 4096), 16u * 144u);
  EXPECT_EQ(row_bytes(TensorType::Q8_0, 64), 68u);
  EXPECT_EQ(row_bytes(TensorType::MXFP4, 32), 17u);
  EXPECT_EQ(row_bytes(TensorType::F32, 3), 12u);
  EXPECT_EQ(row_bytes(TensorType::Q4_K, 100), std::nullopt);
  EXPECT_EQ(row_bytes(TensorType::Q8_0, -32), std::nullopt);
}

TEST(TypeTable, IntegerTypesHaveNoFloatConversion) {
  int32_t in[2] = {1, 2};
  float out[2];
  EXPECT_THROW(dequantize(TensorType::I32, in, out, 2), Error);
}

}  // namespace
}  // namespace tern
