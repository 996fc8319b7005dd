// A GGUF metadata value: one of the thirteen GGUF value types, arrays included.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::gguf {

/// GGUF value type ids, as stored in the file.
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;

/// Name as GGUF tools print it ("u32", "string", "array"...).
std::string_view value_type_name(ValueType type);

struct Value;

/// An array of values of one element type (which may itself be Array).
struct Array {
  ValueType element_type = ValueType::U8;
  std::vector<Value> items;
};

/// Strings are views into the mapped file (or into memory the owner keeps alive).
/// The variant's alternative index equals the ValueType id.
using ValueStorage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float,
                                  bool, std::string_view, Array, uint64_t, int64_t, double>;

struct Value {
  ValueStorage storage;

  ValueType type() const { return static_cast<ValueType>(storage.index()); }
  bool is_integer() const;
  bool is_float() const { return type() == ValueType::F32 || type() == ValueType::F64; }
  /// Integer value of any integer type; only valid when is_integer().
  int64_t as_int() const;
  /// Float value of F32/F64 (or any integer); only valid when is_float() || is_integer().
  double as_float() const;
  const Array& as_array() const { return std::get<Array>(storage); }
  std::string_view as_string() const { return std::get<std::string_view>(storage); }
  bool as_bool() const { return std::get<bool>(storage); }
};

/// Short human-readable rendering (long arrays abbreviated after `max_items`).
std::string format_value(const Value& value, size_t max_items = 8);

}  // namespace tern::gguf
