// Streams a 2-D tensor into any type row by row: a caller-supplied filler produces each row
// as floats, the type table's reference quantizer converts it, and the bytes go to a sink
// in row order. Work is split over threads in chunks, so memory stays at a few chunks
// whatever the tensor's size. Shared by `tern quantize` and `tern synth`.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "gguf/writer.h"
#include "types/type_table.h"

namespace tern::quant {

/// Writes row `row` (n_cols floats) into `out`. Called concurrently from several threads
/// for different rows, so it must not share mutable state between rows.
using RowFill = std::function<void(int64_t row, std::span<float> out)>;
/// Told the number of values converted so far in this tensor (called from one thread).
using ProgressFn = std::function<void(int64_t values_done)>;

struct RowStreamOptions {
  int n_threads = 1;
  int64_t chunk_values = int64_t{1} << 22;  // values converted per chunk (all threads)
  ProgressFn progress;                      // optional
};

/// Converts `n_rows` rows of `n_cols` values to `type` and sends their bytes to `sink`
/// (exactly n_rows * row_bytes(type, n_cols) bytes). `n_cols` must be a multiple of the
/// type's block size and the type must have a quantizer (from_float).
void stream_rows(TensorType type, int64_t n_cols, int64_t n_rows, const RowFill& fill,
                 const gguf::ByteSink& sink, const RowStreamOptions& options);

}  // namespace tern::quant
