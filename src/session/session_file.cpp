#include "session/session_file.h"

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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

struct Header {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint64_t fingerprint = 0;
  uint32_t kv_type = 0;
  uint32_t n_seq = 0;
  uint64_t position_bytes = 0;
  uint64_t checksum = 0;
};
static_assert(sizeof(Header) == 40);

template <typename T, size_t N>
std::span<const uint8_t> bytes_of(std::span<T, N> values) {
  return {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()};
}

// FNV-1a of the header (its checksum zero), the lengths and the tokens.
uint64_t checksum(Header header, std::span<const uint32_t> lengths,
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

// Reads the file's bytes as they are asked for, failing with the file's name.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail(fmt::format("cannot read: {}", std::strerror(errno)));
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail("is a directory, not a session file");
    size_ = std::filesystem::file_size(path, ec);
    if (ec) fail(fmt::format("cannot read: {}", ec.message()));
  }

  uint64_t size() const { return size_; }

  template <typename T>
  void read(std::span<T> out) {
    in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size_bytes()));
    if (!in_) fail("truncated session file");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: {}", path_, what));
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

// The header's checks against this model and cache, before its sizes are trusted.
void check_header(Reader& in, const Header& h, uint64_t fingerprint, const KvCache& cache) {
  if (h.magic != kMagic) in.fail("not a tern session file (wrong magic)");
  if (h.version != kVersion) {
    in.fail(
        fmt::format("session file version {}, this tern reads version {}", h.version, kVersion));
  }
  if (h.fingerprint != fingerprint) {
    in.fail(fmt::format("saved from a different model (fingerprint {:016x}, this model's {:016x})",
                        h.fingerprint, fingerprint));
  }
  const auto kv_type = static_cast<uint32_t>(cache.type());
  if (h.kv_type != kv_type) {
    in.fail(fmt::format("KV cache type {} in the file, this session's is {}", type_name(h.kv_type),
                        type_name(kv_type)));
  }
  if (h.position_bytes != cache.position_bytes()) {
    in.fail(fmt::format("corrupt header: {} bytes per position, the model has {}", h.position_bytes,
                        cache.position_bytes()));
  }
  if (h.n_seq < 1 || h.n_seq > kMaxSequences) {
    in.fail(fmt::format("corrupt header: {} sequences", h.n_seq));
  }
}

// The lengths' checks against the session; returns the positions stored in all.
uint64_t check_lengths(Reader& in, std::span<const uint32_t> lengths, const KvCache& cache) {
  uint64_t total = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    if (lengths[s] == 0) continue;
    if (std::cmp_greater_equal(s, cache.n_seq())) {
      in.fail(fmt::format("holds sequence {}, this session has {} sequences", s, cache.n_seq()));
    }
    if (lengths[s] > cache.n_ctx()) {
      in.fail(fmt::format("sequence {} holds {} positions, more than this context's {}", s,
                          lengths[s], cache.n_ctx()));
    }
    total += lengths[s];
  }
  return total;
}

}  // namespace

void write_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                        std::span<const std::vector<int32_t>> tokens, SharedBackend* gpu) {
  Header header;
  header.fingerprint = fingerprint;
  header.kv_type = static_cast<uint32_t>(cache.type());
  header.n_seq = static_cast<uint32_t>(tokens.size());
  header.position_bytes = cache.position_bytes();
  std::vector<uint32_t> lengths;
  for (const auto& seq : tokens) lengths.push_back(static_cast<uint32_t>(seq.size()));
  header.checksum = checksum(header, lengths, tokens);

  AtomicFile out(path);
  out.write(bytes_of(std::span(&header, 1)));
  out.write(bytes_of(std::span(lengths)));
  for (const auto& seq : tokens) out.write(bytes_of(std::span(seq)));
  std::vector<uint8_t> staging;
  for (size_t s = 0; s < tokens.size(); ++s) {
    cache.visit_positions(static_cast<int>(s), std::ssize(tokens[s]),
                          [&](Buffer& buffer, size_t offset, size_t n) {
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

SavedSession read_session_file(const std::string& path, uint64_t fingerprint, const KvCache& cache,
                               int64_t n_vocab) {
  Reader in(path);
  if (in.size() < sizeof(Header)) {
    in.fail(fmt::format("too short for a session file ({} bytes)", in.size()));
  }
  Header header;
  in.read(std::span(&header, 1));
  check_header(in, header, fingerprint, cache);
  if (in.size() < sizeof(Header) + header.n_seq * sizeof(uint32_t))
    in.fail("truncated session file");
  std::vector<uint32_t> lengths(header.n_seq);
  in.read(std::span(lengths));
  // Bounded by the session's own cache from here on: no product below can overflow.
  const uint64_t total = check_lengths(in, lengths, cache);
  const uint64_t rows_bytes = total * header.position_bytes;
  const uint64_t expected =
      sizeof(Header) + lengths.size() * sizeof(uint32_t) + total * sizeof(int32_t) + rows_bytes;
  if (in.size() != expected) {
    in.fail(fmt::format("truncated or corrupt session file: {} bytes, its header says {}",
                        in.size(), expected));
  }
  SavedSession saved;
  for (uint32_t n : lengths) {
    saved.tokens.emplace_back(n);
    in.read(std::span(saved.tokens.back()));
  }
  if (checksum(header, lengths, saved.tokens) != header.checksum) {
    in.fail("corrupt session file (checksum mismatch)");
  }
  for (size_t s = 0; s < saved.tokens.size(); ++s) {
    for (int32_t t : saved.tokens[s]) {
      if (t < 0 || t >= n_vocab) {
        in.fail(fmt::format("token {} of sequence {} is outside the vocabulary", t, s));
      }
    }
  }
  saved.rows.resize(rows_bytes);
  in.read(std::span(saved.rows));
  return saved;
}

void upload_saved_rows(const SavedSession& saved, const KvCache& cache, SharedBackend* gpu) {
  size_t at = 0;
  for (size_t s = 0; s < saved.tokens.size(); ++s) {
    cache.visit_positions(static_cast<int>(s), std::ssize(saved.tokens[s]),
                          [&](Buffer& buffer, size_t offset, size_t n) {
                            auto held = lock(gpu);
                            buffer.upload(saved.rows.data() + at, offset, n);
                            at += n;
                          });
  }
}

}  // namespace tern
