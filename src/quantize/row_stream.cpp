#include "quantize/row_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

#include "tern/error.h"

namespace tern::quant {

namespace {

// Converts rows [first, last) of the chunk starting at `chunk_row` into `out` (row-major,
// `bytes_per_row` each), one float row of scratch per call.
void convert_slice(const TypeTraits& t, int64_t n_cols, size_t bytes_per_row, const RowFill& fill,
                   int64_t first, int64_t last, int64_t chunk_row, uint8_t* out) {
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t r = first; r < last; ++r) {
    fill(r, row);
    t.from_float(row.data(), out + static_cast<size_t>(r - chunk_row) * bytes_per_row, n_cols);
  }
}

// Runs convert_slice for rows [chunk_row, chunk_row + n) on up to n_threads threads; the
// first exception of any thread is rethrown here.
void convert_chunk(const TypeTraits& t, int64_t n_cols, size_t bytes_per_row, const RowFill& fill,
                   int64_t chunk_row, int64_t n, int n_threads, uint8_t* out) {
  int64_t n_workers = std::clamp<int64_t>(n_threads, 1, n);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n_workers));
  std::vector<std::thread> threads;
  auto work = [&](int64_t w) {
    try {
      int64_t first = chunk_row + n * w / n_workers;
      int64_t last = chunk_row + n * (w + 1) / n_workers;
      convert_slice(t, n_cols, bytes_per_row, fill, first, last, chunk_row, out);
    } catch (...) {
      errors[static_cast<size_t>(w)] = std::current_exception();
    }
  };
  for (int64_t w = 1; w < n_workers; ++w) threads.emplace_back(work, w);
  work(0);
  for (auto& th : threads) th.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace

void stream_rows(TensorType type, int64_t n_cols, int64_t n_rows, const RowFill& fill,
                 const gguf::ByteSink& sink, const RowStreamOptions& options) {
  const TypeTraits& t = type_traits(type);
  std::optional<size_t> bytes_per_row = row_bytes(type, n_cols);
  if (t.from_float == nullptr || !bytes_per_row) {
    throw Error(fmt::format("cannot convert rows of {} values to {}", n_cols, t.name));
  }
  int64_t chunk_rows = std::max<int64_t>(1, options.chunk_values / std::max<int64_t>(n_cols, 1));
  std::vector<uint8_t> out(static_cast<size_t>(std::min(chunk_rows, n_rows)) * *bytes_per_row);
  for (int64_t row = 0; row < n_rows; row += chunk_rows) {
    int64_t n = std::min(chunk_rows, n_rows - row);
    convert_chunk(t, n_cols, *bytes_per_row, fill, row, n, options.n_threads, out.data());
    sink({out.data(), static_cast<size_t>(n) * *bytes_per_row});
    if (options.progress) options.progress((row + n) * n_cols);
  }
}

}  // namespace tern::quant
