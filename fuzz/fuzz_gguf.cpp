// libFuzzer target for the GGUF reader: any input must either parse into a File whose every
// value and tensor byte can be touched, or throw tern::Error. A parsed file must also survive
// a write and re-read with the same metadata and tensors. Anything else (a sanitizer report,
// another exception, a trap) is a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "tern/error.h"

namespace {

using tern::gguf::Array;
using tern::gguf::File;
using tern::gguf::Value;
using tern::gguf::ValueType;

// Reads every byte a value refers to, so ASan sees any view outside the input.
uint64_t touch(const Value& value) {
  switch (value.type()) {
    case ValueType::String: {
      uint64_t sum = 0;
      for (char c : value.as_string()) sum += static_cast<uint8_t>(c);
      return sum;
    }
    case ValueType::Array: {
      const Array& array = value.as_array();
      uint64_t sum = array.items.size();
      for (const Value& item : array.items) {
        if (item.type() != array.element_type) __builtin_trap();
        sum += touch(item);
      }
      return sum;
    }
    default:
      return static_cast<uint64_t>(value.as_int()) + (value.as_float() > 0.0 ? 1 : 0);
  }
}

uint64_t touch(const File& file) {
  uint64_t sum = 0;
  for (const auto& kv : file.metadata()) {
    if (file.find(kv.key) != &kv.value) __builtin_trap();
    sum += touch(kv.value);
  }
  for (const auto& t : file.tensors()) {
    if (file.find_tensor(t.name) != &t || t.n_elements() <= 0) __builtin_trap();
    sum += t.data[0] + t.data[t.n_bytes - 1];
  }
  return sum;
}

void check_round_trip(const File& file) {
  std::vector<uint8_t> bytes = tern::gguf::Writer::copy_of(file).to_bytes();
  File copy = File::parse(bytes, "rewritten");
  if (copy.metadata().size() != file.metadata().size()) __builtin_trap();
  if (copy.tensors().size() != file.tensors().size()) __builtin_trap();
  for (size_t i = 0; i < copy.tensors().size(); ++i) {
    const auto& a = file.tensors()[i];
    const auto& b = copy.tensors()[i];
    if (a.name != b.name || a.n_bytes != b.n_bytes || std::memcmp(a.data, b.data, a.n_bytes) != 0) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<File> file;
  try {
    file.emplace(File::parse({data, size}, "fuzz"));
  } catch (const tern::Error&) {
    return 0;  // refusing bad input with tern::Error is the expected outcome
  }
  volatile uint64_t sum = touch(*file);
  (void)sum;
  try {
    check_round_trip(*file);
  } catch (const tern::Error&) {
    __builtin_trap();  // the writer and the re-read must accept whatever the reader accepted
  }
  return 0;
}
