#include "perplexity/kl_base_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tern/error.h"

namespace tern::ppl {

namespace {

constexpr uint32_t kMagic = 0x424C4B54;  // "TKLB" read as little-endian u32
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 6 * sizeof(uint32_t);

template <typename T>
void put(std::ofstream& out, std::span<const T> values) {
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size_bytes()));
}

template <typename T>
bool get(std::ifstream& in, std::span<T> values) {
  in.read(reinterpret_cast<char*>(values.data()),
          static_cast<std::streamsize>(values.size_bytes()));
  return static_cast<bool>(in);
}

uint64_t n_rows(const KlBaseHeader& h) { return uint64_t{h.n_chunks} * h.n_scored; }

}  // namespace

KlBaseWriter::KlBaseWriter(const std::string& path, const KlBaseHeader& header,
                           std::span<const int32_t> tokens)
    : path_(path),
      out_(path, std::ios::binary),
      rows_left_(n_rows(header)),
      n_vocab_(header.n_vocab) {
  const uint32_t head[6] = {kMagic,       kVersion,        header.n_vocab,
                            header.n_ctx, header.n_chunks, header.n_scored};
  put<uint32_t>(out_, head);
  put<int32_t>(out_, tokens);
  if (!out_) throw Error(fmt::format("{}: cannot write", path_));
}

void KlBaseWriter::write_row(std::span<const float> log_probs) {
  if (rows_left_ == 0 || log_probs.size() != n_vocab_) {
    throw Error(fmt::format("{}: unexpected log-probability row", path_));
  }
  put<float>(out_, log_probs);
  --rows_left_;
  if (!out_) throw Error(fmt::format("{}: cannot write", path_));
}

void KlBaseWriter::finish() {
  out_.flush();
  if (!out_ || rows_left_ != 0) {
    throw Error(fmt::format("{}: incomplete ({} rows missing)", path_, rows_left_));
  }
}

KlBaseReader::KlBaseReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  uint32_t head[6] = {};
  if (!in_) throw Error(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  if (!get<uint32_t>(in_, head)) {
    std::error_code ec;
    throw Error(fmt::format("{}: {}", path,
                            std::filesystem::is_directory(path, ec)
                                ? "is a directory, not a KL base file"
                                : "too short for a KL base file"));
  }
  if (head[0] != kMagic || head[1] != kVersion) {
    throw Error(fmt::format("{}: not a tern KL base file (version {})", path, kVersion));
  }
  header_ = {head[2], head[3], head[4], head[5]};
  uint64_t n_tokens = uint64_t{header_.n_chunks} * header_.n_ctx;
  uint64_t expected =
      kHeaderBytes + n_tokens * sizeof(int32_t) + n_rows(header_) * header_.n_vocab * sizeof(float);
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec || size != expected || header_.n_vocab == 0 || header_.n_scored >= header_.n_ctx) {
    throw Error(fmt::format("{}: size {} does not match its header ({} bytes expected)", path, size,
                            expected));
  }
  tokens_.resize(n_tokens);
  if (!get<int32_t>(in_, tokens_)) throw Error(fmt::format("{}: cannot read the tokens", path));
}

void KlBaseReader::read_row(std::span<float> out) {
  if (out.size() != header_.n_vocab || !get<float>(in_, out)) {
    throw Error(fmt::format("{}: cannot read a log-probability row", path_));
  }
}

}  // namespace tern::ppl
