// gguf::File against truncated, corrupted and hostile input: every case must throw
// tern::Error whose message names the problem (never crash, hang or allocate by a bad size).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "tern/error.h"

namespace tern::gguf {
namespace {

constexpr uint64_t kHuge = uint64_t{1} << 63;
constexpr uint32_t kF32 = 0;  // tensor type ids
constexpr uint32_t kQ8_0 = 8;

// Little-endian builder for hand-made (mostly invalid) files.
class Bytes {
 public:
  template <typename T>
  Bytes& put(T v) {
    return raw(&v, sizeof(T));
  }
  Bytes& str(std::string_view s) {
    put<uint64_t>(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put(kMagic).put(version).put(n_tensors).put(n_kv);
  }
  // Key and type id; the value follows with put/str.
  Bytes& key(std::string_view k, uint32_t type) { return str(k).put(type); }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) put(n);
    return put(type).put(offset);
  }
  Bytes& pad(size_t alignment = kDefaultAlignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment);
    return *this;
  }
  Bytes& zeros(size_t n) {
    bytes_.resize(bytes_.size() + n);
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  Bytes& raw(const void* data, size_t n) {
    size_t at = bytes_.size();
    bytes_.resize(at + n);
    if (n > 0) std::memcpy(bytes_.data() + at, data, n);
    return *this;
  }

  std::vector<uint8_t> bytes_;
};

// The error message for parsing `bytes`, or "parsed" when they are accepted.
std::string parse_error(std::span<const uint8_t> bytes) {
  try {
    File::parse(bytes, "hostile.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "parsed";
}

#define EXPECT_REFUSED(bytes, needle) \
  EXPECT_NE(parse_error(bytes).find(needle), std::string::npos) << parse_error(bytes)

// A small valid file with every structural element: each value type, nested and string
// arrays, three tensors. The last tensor's size is a multiple of the alignment, so every
// byte of the file is needed.
std::vector<uint8_t> small_file(bool with_tensors) {
  static const std::vector<uint8_t> kData(17 * 2 * 34, 0x5a);  // the largest tensor, b
  Writer w;
  w.add("general.architecture", {std::string_view("llama")});
  w.add("u8", {uint8_t{1}});
  w.add("i16", {int16_t{-2}});
  w.add("f32", {0.5f});
  w.add("bool", {false});
  w.add("u64", {uint64_t{7}});
  w.add("f64", {2.0});
  w.add("tokens", {Array{ValueType::String, {{std::string_view("a")}, {std::string_view("bc")}}}});
  w.add("nested", {Array{ValueType::Array, {{Array{ValueType::I8, {{int8_t{3}}}}}}}});
  if (with_tensors) {
    const int64_t a_shape[] = {3, 2};
    const int64_t b_shape[] = {64, 17};
    const int64_t c_shape[] = {32};
    w.add_tensor("a", TensorType::F32, a_shape, std::span(kData).first(24));
    w.add_tensor("b", TensorType::Q8_0, b_shape, std::span(kData).first(17 * 2 * 34));
    w.add_tensor("c", TensorType::F16, c_shape, std::span(kData).first(64));
  }
  return w.to_bytes();
}

TEST(GgufHostile, SmallFilesAreValid) {
  EXPECT_EQ(parse_error(small_file(true)), "parsed");
  EXPECT_EQ(parse_error(small_file(false)), "parsed");
}

TEST(GgufHostile, EveryTruncationIsRefused) {
  for (bool with_tensors : {true, false}) {
    std::vector<uint8_t> file = small_file(with_tensors);
    for (size_t n = 0; n < file.size(); ++n) {
      // A copy of exactly n bytes, so ASan catches any read past the end.
      std::vector<uint8_t> prefix(file.begin(), file.begin() + static_cast<ptrdiff_t>(n));
      std::string message = parse_error(prefix);
      bool named = message.find("truncated") != std::string::npos ||
                   message.find("exceeds file size") != std::string::npos ||
                   message.find("outside the file") != std::string::npos;
      EXPECT_TRUE(named) << "prefix of " << n << " bytes: " << message;
    }
  }
}

TEST(GgufHostile, ErrorsNameTheFileAndTheByte) {
  Bytes b;
  b.header(0, 1).key("k", 13).put<uint32_t>(0);  // value type 13 does not exist
  EXPECT_REFUSED(b.bytes(),
                 "hostile.gguf: invalid GGUF at byte 37: type of key 'k': unknown value type 13");
}

TEST(GgufHostile, BadMagicVersionsAndByteOrder) {
  std::vector<uint8_t> file = small_file(true);
  auto with_version = [&](uint32_t version) {
    std::vector<uint8_t> copy = file;
    std::memcpy(copy.data() + 4, &version, 4);
    return copy;
  };
  EXPECT_REFUSED(with_version(1), "version 1 is not supported");
  EXPECT_REFUSED(with_version(4), "unsupported GGUF version 4");
  EXPECT_REFUSED(with_version(0x03000000), "big-endian");  // bytes 00 00 00 03
  EXPECT_REFUSED(with_version(0x02000000), "big-endian");
  EXPECT_EQ(parse_error(with_version(2)), "parsed");  // v2 has v3's layout
  std::vector<uint8_t> bad_magic = file;
  bad_magic[0] = 'g';
  EXPECT_REFUSED(bad_magic, "bad magic");
  EXPECT_REFUSED(std::vector<uint8_t>{}, "truncated: magic");
}

TEST(GgufHostile, AbsurdCountsAndLengths) {
  EXPECT_REFUSED(Bytes().header(kHuge, 0).bytes(), "tensor count 9223372036854775808 exceeds");
  EXPECT_REFUSED(Bytes().header(0, kHuge).bytes(), "metadata count 9223372036854775808 exceeds");
  EXPECT_REFUSED(Bytes().header(0, 1).put(kHuge).zeros(64).bytes(),
                 "key length 9223372036854775808 exceeds 65536");
  EXPECT_REFUSED(Bytes().header(0, 1).key("s", 8).put(kHuge).bytes(),
                 "string value needs 9223372036854775808 bytes");
  for (uint32_t element : {0u, 8u, 9u, 12u}) {  // u8, string, array, f64
    Bytes b;
    b.header(0, 1).key("a", 9).put(element).put(kHuge).zeros(64);
    EXPECT_REFUSED(b.bytes(), "array count 9223372036854775808 exceeds file size");
  }
  Bytes b;  // a count that fits the file's length in bytes, not in 8-byte strings
  b.header(0, 1).key("a", 9).put<uint32_t>(8).put<uint64_t>(64).zeros(64);
  EXPECT_REFUSED(b.bytes(), "array count 64 exceeds file size");
  Bytes t;
  t.header(1, 0).str(std::string(70000, 'n'));
  EXPECT_REFUSED(t.bytes(), "tensor name length 70000 exceeds 65536");
}

TEST(GgufHostile, ArrayItemsAreCappedBeforeAllocating) {
  // 2^24 one-byte items fit the file, but would cost ~40 bytes of memory each.
  constexpr uint64_t kItems = uint64_t{1} << 24;
  Bytes b;
  b.header(0, 2).key("a", 9).put<uint32_t>(0).put<uint64_t>(1).put<uint8_t>(0);
  b.key("b", 9).put<uint32_t>(0).put<uint64_t>(kItems).zeros(kItems);
  EXPECT_REFUSED(b.bytes(), "array count 16777216 takes the metadata past 16777216 array items");
}

Bytes nested_arrays(int depth) {
  Bytes b;
  b.header(0, 1).key("deep", 9);
  for (int i = 1; i < depth; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
  return b.put<uint32_t>(0).put<uint64_t>(1).put<uint8_t>(42);
}

TEST(GgufHostile, NestedArraysTooDeep) {
  EXPECT_EQ(parse_error(nested_arrays(8).bytes()), "parsed");
  EXPECT_REFUSED(nested_arrays(9).bytes(), "arrays nested deeper than 8");
  EXPECT_REFUSED(nested_arrays(100000).bytes(), "arrays nested deeper than 8");
}

// One F32 tensor of 8 values at offset 0 after a general.alignment of `value` (u32 unless
// `type` says otherwise).
Bytes with_alignment(uint64_t value, uint32_t type = 4) {
  Bytes b;
  b.header(1, 1).key("general.alignment", type);
  if (type == 4) {
    b.put(static_cast<uint32_t>(value));
  } else {
    b.put(value);
  }
  return b.tensor("t", {8}, kF32, 0).pad(64).zeros(32);
}

TEST(GgufHostile, BadAlignment) {
  EXPECT_EQ(parse_error(with_alignment(64).bytes()), "parsed");
  EXPECT_REFUSED(with_alignment(0).bytes(), "general.alignment 0 is not a power of two");
  EXPECT_REFUSED(with_alignment(3).bytes(), "general.alignment 3 is not a power of two");
  EXPECT_REFUSED(with_alignment(uint64_t{1} << 31).bytes(),
                 "2147483648 is not a power of two up to");
  EXPECT_REFUSED(with_alignment(32, 10).bytes(), "general.alignment must be a u32");
  Bytes b;
  b.header(1, 0).tensor("t", {8}, kF32, 16).pad().zeros(64);
  EXPECT_REFUSED(b.bytes(), "tensor 't' offset 16 is not a multiple of the alignment 32");
}

TEST(GgufHostile, BadTypeIds) {
  EXPECT_REFUSED(Bytes().header(0, 1).key("k", 13).zeros(8).bytes(), "unknown value type 13");
  EXPECT_REFUSED(Bytes().header(0, 1).key("k", 0xffffffff).zeros(8).bytes(),
                 "unknown value type 4294967295");
  EXPECT_REFUSED(Bytes().header(0, 1).key("k", 9).put<uint32_t>(99).put<uint64_t>(0).bytes(),
                 "array element type: unknown value type 99");
  EXPECT_REFUSED(Bytes().header(0, 1).key("k", 7).put<uint8_t>(2).bytes(),
                 "bool value 2 is neither 0 nor 1");
  for (uint32_t id : {4u, 31u, 1000u}) {  // retired, retired, never assigned
    Bytes b;
    b.header(1, 0).tensor("w", {32}, id, 0).pad().zeros(256);
    EXPECT_REFUSED(b.bytes(), fmt::format("tensor 'w' has unknown type id {}", id));
  }
}

TEST(GgufHostile, DuplicateKeysAndTensors) {
  Bytes keys;
  keys.header(0, 2).key("k", 4).put<uint32_t>(1).key("k", 4).put<uint32_t>(2);
  EXPECT_REFUSED(keys.bytes(), "duplicate metadata key 'k'");
  Bytes tensors;
  tensors.header(2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32).pad().zeros(64);
  EXPECT_REFUSED(tensors.bytes(), "duplicate tensor 'w'");
  EXPECT_REFUSED(Bytes().header(0, 1).key("", 4).put<uint32_t>(1).bytes(), "empty metadata key");
  Bytes unnamed;
  unnamed.header(1, 0).tensor("", {8}, kF32, 0).pad().zeros(32);
  EXPECT_REFUSED(unnamed.bytes(), "empty tensor name");
}

// Two F32 tensors of 8 values (32 bytes each) at the given offsets, then `data` bytes.
Bytes two_tensors(uint64_t offset_a, uint64_t offset_b, size_t data) {
  Bytes b;
  b.header(2, 0).tensor("a", {8}, kF32, offset_a).tensor("b", {8}, kF32, offset_b).pad();
  return b.zeros(data);
}

TEST(GgufHostile, OverlappingAndOutOfFileTensorData) {
  EXPECT_EQ(parse_error(two_tensors(32, 0, 64).bytes()), "parsed");  // any order is fine
  EXPECT_REFUSED(two_tensors(0, 0, 64).bytes(), "' overlap");
  Bytes three;  // overlap hidden behind a tensor placed between them in file order
  three.header(3, 0)
      .tensor("x", {16}, kF32, 0)
      .tensor("y", {8}, kF32, 64)
      .tensor("z", {8}, kF32, 32)
      .pad()
      .zeros(96);
  EXPECT_REFUSED(three.bytes(), "tensors 'x' and 'z' overlap");
  EXPECT_REFUSED(two_tensors(0, 32, 63).bytes(),
                 "tensor 'b' data [32, +32) lies outside the file's 63 data bytes");
  EXPECT_REFUSED(two_tensors(0, 4096, 64).bytes(), "tensor 'b' data [4096, +32) lies outside");
  EXPECT_REFUSED(two_tensors(0, uint64_t{0} - 32, 64).bytes(), "lies outside the file");
  Bytes no_data;
  no_data.header(1, 0).tensor("w", {8}, kF32, 0);
  EXPECT_REFUSED(no_data.bytes(), "truncated before the tensor data section");
}

TEST(GgufHostile, BadShapes) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type = kF32) {
    Bytes b;
    return b.header(1, 0).tensor("w", std::move(ne), type, 0).pad().zeros(64).bytes();
  };
  EXPECT_REFUSED(one({}), "tensor 'w' has 0 dimensions (1 to 4 allowed)");
  EXPECT_REFUSED(one({1, 1, 1, 1, 1}), "tensor 'w' has 5 dimensions");
  EXPECT_REFUSED(one({8, 0}), "tensor 'w' has an invalid shape (dimension 1 is 0)");
  EXPECT_REFUSED(one({kHuge}), "dimension 0 is 9223372036854775808");
  EXPECT_REFUSED(one({uint64_t{1} << 32, uint64_t{1} << 32}), "(dimension 1 is 4294967296)");
  EXPECT_REFUSED(one({uint64_t{1} << 31, uint64_t{1} << 30}, 28),
                 "tensor 'w' is too large");  // F64
  EXPECT_REFUSED(one({uint64_t{1} << 40}), "data [0, +4398046511104) lies outside");
  EXPECT_REFUSED(one({16}, kQ8_0), "row length 16 is not a multiple of the Q8_0 block size 32");
  Bytes b;
  b.header(1, 0).str("w").put<uint32_t>(0xffffffff).zeros(64);
  EXPECT_REFUSED(b.bytes(), "has 4294967295 dimensions");
}

}  // namespace
}  // namespace tern::gguf
