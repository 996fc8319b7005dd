// The results file of a summarize batch, read back to resume it: one JSON line (a record) per
// document, {"index": I, "path": P, ...} with either "summary" or "error". A document's
// identity is its index in the batch's input together with its path, so two inputs with the
// same path are two documents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tern/error.h"

namespace tern::cli {

/// Every record starts with these bytes (its index comes first).
inline constexpr std::string_view kRecordStart = "{\"index\":";

/// The error for a file that is not tern's results (`line_no`: the first line that is not a
/// record): tern refuses to append to it.
Error not_results_error(std::string_view name, size_t line_no);

/// What to do with an existing results file before appending to it.
struct ResumePlan {
  std::vector<bool> done;  // per document of this batch: a summary is already in the file
  size_t n_done = 0;
  std::string kept;      // the file's content to keep: whole records, each ending in '\n'
  bool rewrite = false;  // `kept` differs from the file (it must be replaced first)
};

/// Plans resuming the batch whose documents have the record paths `paths` (in input order)
/// against the results file `content` (`name` in messages). A record counts for the document
/// with its index and path, else (the input changed) for the first unclaimed document with
/// its path; a summary wins over an error for the same document. Kept: every summary, and
/// records of documents outside this batch. Dropped: error records of this batch's documents
/// (they are retried, so each document ends with one line) and a last line without its
/// newline that starts like a record (cut by a kill or a full disk). Throws tern::Error for
/// any other line: the file is not a results file tern wrote, and must not be appended to.
ResumePlan plan_resume(std::string_view content, std::string_view name,
                       const std::vector<std::string>& paths);

}  // namespace tern::cli
