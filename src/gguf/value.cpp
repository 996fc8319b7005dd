#include "gguf/value.h"

#include <fmt/format.h>

#include <array>

namespace tern::gguf {

std::string_view value_type_name(ValueType type) {
  static constexpr std::array<std::string_view, kValueTypeCount> kNames = {
      "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  auto index = static_cast<uint32_t>(type);
  return index < kNames.size() ? kNames[index] : std::string_view("invalid");
}

bool Value::is_integer() const {
  switch (type()) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

int64_t Value::as_int() const {
  return std::visit(
      [](const auto& v) -> int64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<int64_t>(v);
        } else {
          return 0;
        }
      },
      storage);
}

double Value::as_float() const {
  return std::visit(
      [](const auto& v) -> double {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<double>(v);
        } else {
          return 0.0;
        }
      },
      storage);
}

namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string format_value(const Value& value, size_t max_items) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          return quote(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, Array>) {
          std::string out = "[";
          size_t shown = std::min(v.items.size(), max_items);
          for (size_t i = 0; i < shown; ++i) {
            if (i > 0) out += ", ";
            out += format_value(v.items[i], max_items);
          }
          if (shown < v.items.size()) out += fmt::format(", ... ({} items)", v.items.size());
          return out + "]";
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          return fmt::format("{}", static_cast<int>(v));
        } else {
          return fmt::format("{}", v);
        }
      },
      value.storage);
}

}  // namespace tern::gguf
