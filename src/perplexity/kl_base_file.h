// The file `tern perplexity --kl-base` writes and `--kl-compare` reads: the tokens that
// were scored and the full-precision model's log-probabilities at every scored position.
//
// Layout (little-endian): u32 magic "TKLB", u32 version (1), u32 n_vocab, u32 n_ctx,
// u32 n_chunks, u32 n_scored (positions scored per chunk), i32 tokens[n_chunks * n_ctx],
// then f32 log_probs[n_chunks * n_scored][n_vocab], chunk by chunk.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace tern::ppl {

struct KlBaseHeader {
  uint32_t n_vocab = 0;
  uint32_t n_ctx = 0;
  uint32_t n_chunks = 0;
  uint32_t n_scored = 0;
};

class KlBaseWriter {
 public:
  /// Creates `path` with the header and tokens. Throws tern::Error if it cannot be written.
  KlBaseWriter(const std::string& path, const KlBaseHeader& header,
               std::span<const int32_t> tokens);
  /// Appends one position's log-probabilities (n_vocab values).
  void write_row(std::span<const float> log_probs);
  /// Flushes and checks that every row was written.
  void finish();

 private:
  std::string path_;
  std::ofstream out_;
  uint64_t rows_left_ = 0;
  size_t n_vocab_ = 0;
};

class KlBaseReader {
 public:
  /// Opens and validates `path` (magic, version, size). Throws tern::Error naming the file.
  explicit KlBaseReader(const std::string& path);
  const KlBaseHeader& header() const { return header_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  /// Reads the next position's log-probabilities into `out` (n_vocab values).
  void read_row(std::span<float> out);

 private:
  std::string path_;
  std::ifstream in_;
  KlBaseHeader header_;
  std::vector<int32_t> tokens_;
};

}  // namespace tern::ppl
