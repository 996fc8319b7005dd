#include "session/session_file.h"

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "model/fingerprint.h"
#include "tern/atomic_file.h"
#include "tern/error.h"
#include "tern/session.h"

namespace tern {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the file is written as the host holds it");

constexpr uint32_t kMagic = 0x53564B54;  // "TKVS" read as little-endian u32
constexpr uint32_t kVersion = 1;

template <typename T, size_t N>
std::span<const uint8_t> bytes_of(std::span<T, N> values) {
  return {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()};
}

// FNV-1a of the header (its checksum zero), the lengths and the tokens.
uint64_t checksum(SessionFileHeader header, std::span<const uint32_t> lengths,
                  std::span<const std::vector<int32_t>> tokens) {
  header.checksum = 0;
  Fnv1a h;
  h.add_value(header);
  h.add(bytes_of(lengths));
  for (const auto& seq : tokens) h.add(bytes_of(std::span(seq)));
  return h.value();
}

std::string_view type_name(uint32_t id) {
  const TypeTraits* traits = find_type(id);
  return traits != nullptr ? traits->name : "unknown";
}

}  // namespace

void write_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                        std::span<const std::vector<int32_t>> tokens, SharedBackend* gpu) {
  SessionFileHeader header{.magic = kMagic,
                           .version = kVersion,
                           .fingerprint = fingerprint,
                           .kv_type = static_cast<uint32_t>(cache.type()),
                           .n_seq = static_cast<uint32_t>(tokens.size()),
                           .position_bytes = cache.position_bytes()};
  std::vector<uint32_t> lengths;
  for (const auto& seq : tokens) lengths.push_back(static_cast<uint32_t>(seq.size()));
  header.checksum = checksum(header, lengths, tokens);

  AtomicFile out(path);
  out.write(bytes_of(std::span(&header, 1)));
  out.write(bytes_of(std::span(lengths)));
  for (const auto& seq : tokens) out.write(bytes_of(std::span(seq)));
  std::vector<uint8_t> staging;
  for (size_t s = 0; s < tokens.size(); ++s) {
    cache.visit_positions(
        static_cast<int>(s), std::ssize(tokens[s]), [&](Buffer& buffer, size_t offset, size_t n) {
          if (const auto* host = static_cast<const uint8_t*>(buffer.host_data())) {
            out.write({host + offset, n});
            return;
          }
          staging.resize(n);
          {
            auto held = lock(gpu);
            buffer.download(staging.data(), offset, n);
          }
          out.write(staging);
        });
  }
  out.commit();
}

SessionFileReader::SessionFileReader(const std::string& path, uint64_t fingerprint,
                                     const KvCache& cache, int64_t n_vocab)
    : path_(path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) fail("is a directory, not a session file");
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    fail("is not a regular file");  // a FIFO or a device: never opened, never read
  }
  in_.open(path, std::ios::binary);
  if (!in_) fail(fmt::format("cannot read: {}", std::strerror(errno)));
  size_ = std::filesystem::file_size(path, ec);
  if (ec) fail(fmt::format("cannot read: {}", ec.message()));
  if (size_ < sizeof(header_)) fail(fmt::format("too short for a session file ({} bytes)", size_));
  read(&header_, sizeof(header_));
  check_header(fingerprint, cache);
  if (size_ < sizeof(header_) + header_.n_seq * sizeof(uint32_t)) fail("truncated session file");
  lengths_.resize(header_.n_seq);
  read(lengths_.data(), lengths_.size() * sizeof(uint32_t));
  // Bounded by the session's own cache from here on: no product below can overflow.
  const uint64_t total = check_lengths(cache);
  const uint64_t expected = sizeof(header_) + lengths_.size() * sizeof(uint32_t) +
                            total * sizeof(int32_t) + total * header_.position_bytes;
  if (size_ != expected) {
    fail(fmt::format("truncated or corrupt session file: {} bytes, its header says {}", size_,
                     expected));
  }
  for (uint32_t n : lengths_) {
    tokens_.emplace_back(n);
    read(tokens_.back().data(), n * sizeof(int32_t));
  }
  if (checksum(header_, lengths_, tokens_) != header_.checksum) {
    fail("corrupt session file (checksum mismatch)");
  }
  for (size_t s = 0; s < tokens_.size(); ++s) {
    for (int32_t t : tokens_[s]) {
      if (t < 0 || t >= n_vocab) {
        fail(fmt::format("token {} of sequence {} is outside the vocabulary", t, s));
      }
    }
  }
}

void SessionFileReader::read_rows(const KvCache& cache, SharedBackend* gpu) {
  std::vector<uint8_t> staging;
  for (size_t s = 0; s < tokens_.size(); ++s) {
    cache.visit_positions(static_cast<int>(s), std::ssize(tokens_[s]),
                          [&](Buffer& buffer, size_t offset, size_t n) {
                            if (auto* host = static_cast<uint8_t*>(buffer.host_data())) {
                              read(host + offset, n);
                              return;
                            }
                            staging.resize(n);
                            read(staging.data(), n);
                            auto held = lock(gpu);
                            buffer.upload(staging.data(), offset, n);
                          });
  }
}

void SessionFileReader::read(void* out, size_t n) {
  in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
  if (!in_) fail("truncated session file");
}

void SessionFileReader::fail(const std::string& what) const {
  throw Error(fmt::format("{}: {}", path_, what));
}

// The header's checks against this model and cache, before its sizes are trusted.
void SessionFileReader::check_header(uint64_t fingerprint, const KvCache& cache) const {
  const SessionFileHeader& h = header_;
  if (h.magic != kMagic) fail("not a tern session file (wrong magic)");
  if (h.version != kVersion) {
    fail(fmt::format("session file version {}, this tern reads version {}", h.version, kVersion));
  }
  if (h.fingerprint != fingerprint) {
    fail(fmt::format("saved from a different model (fingerprint {:016x}, this model's {:016x})",
                     h.fingerprint, fingerprint));
  }
  const auto kv_type = static_cast<uint32_t>(cache.type());
  if (h.kv_type != kv_type) {
    fail(fmt::format("KV cache type {} in the file, this session's is {}", type_name(h.kv_type),
                     type_name(kv_type)));
  }
  if (h.position_bytes != cache.position_bytes()) {
    fail(fmt::format("corrupt header: {} bytes per position, the model has {}", h.position_bytes,
                     cache.position_bytes()));
  }
  if (h.n_seq < 1 || h.n_seq > kMaxSequences) {
    fail(fmt::format("corrupt header: {} sequences", h.n_seq));
  }
}

// The lengths' checks against the session; returns the positions stored in all.
uint64_t SessionFileReader::check_lengths(const KvCache& cache) const {
  uint64_t total = 0;
  for (size_t s = 0; s < lengths_.size(); ++s) {
    if (lengths_[s] == 0) continue;
    if (std::cmp_greater_equal(s, cache.n_seq())) {
      fail(fmt::format("holds sequence {}, this session has {} sequences", s, cache.n_seq()));
    }
    if (lengths_[s] > cache.n_ctx()) {
      fail(fmt::format("sequence {} holds {} positions, more than this context's {}", s,
                       lengths_[s], cache.n_ctx()));
    }
    total += lengths_[s];
  }
  return total;
}

}  // namespace tern
