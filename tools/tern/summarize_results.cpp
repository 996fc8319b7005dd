#include "summarize_results.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

namespace tern::cli {

namespace {

struct Record {
  uint64_t index = 0;
  std::string path;
  bool summary = false;   // false: an error record
  std::string_view line;  // with its newline
};

std::optional<Record> parse_record(std::string_view line) {
  if (!line.starts_with(kRecordStart)) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto index = j.find("index");
  const auto path = j.find("path");
  if (index == j.end() || !index->is_number_unsigned() || path == j.end() || !path->is_string()) {
    return std::nullopt;
  }
  // A string, or with --json-schema the structured value.
  const bool summary = j.contains("summary") && !j["summary"].is_null();
  const bool error = j.contains("error") && j["error"].is_string();
  if (summary == error) return std::nullopt;
  return Record{index->get<uint64_t>(), path->get<std::string>(), summary, {}};
}

// The records of `content`'s complete lines; throws for a line that is not one, or for an
// unterminated last line that does not start like one.
std::vector<Record> parse_records(std::string_view content, std::string_view name) {
  auto refuse = [name](size_t line_no) { return not_results_error(name, line_no); };
  std::vector<Record> records;
  size_t start = 0;
  for (size_t end; (end = content.find('\n', start)) != std::string_view::npos; start = end + 1) {
    std::optional<Record> r = parse_record(content.substr(start, end - start));
    if (!r) throw refuse(records.size() + 1);
    r->line = content.substr(start, end + 1 - start);
    records.push_back(std::move(*r));
  }
  const std::string_view cut = content.substr(start);  // cut short by a kill or a full disk
  if (!cut.empty() && !cut.starts_with(kRecordStart) && !kRecordStart.starts_with(cut)) {
    throw refuse(records.size() + 1);
  }
  return records;
}

}  // namespace

Error not_results_error(std::string_view name, size_t line_no) {
  return Error(fmt::format(
      "{}:{}: not a line of tern summarize results; refusing to append to a file tern did not "
      "write",
      name, line_no));
}

ResumePlan plan_resume(std::string_view content, std::string_view name,
                       const std::vector<std::string>& paths) {
  const std::vector<Record> records = parse_records(content, name);
  std::vector<int64_t> document(records.size(), -1);  // the document each record counts for
  std::vector<bool> claimed(paths.size(), false);
  // Exact identities first, then by path alone; summaries before errors in each.
  auto claim = [&](bool exact, bool summaries) {
    for (size_t r = 0; r < records.size(); ++r) {
      const Record& rec = records[r];
      if (document[r] >= 0 || rec.summary != summaries) continue;
      for (size_t d = exact ? rec.index : 0; d < paths.size(); ++d) {
        if (!claimed[d] && paths[d] == rec.path) {
          claimed[d] = true;
          document[r] = static_cast<int64_t>(d);
          break;
        }
        if (exact) break;
      }
    }
  };
  for (bool exact : {true, false}) {
    for (bool summaries : {true, false}) claim(exact, summaries);
  }
  ResumePlan plan;
  plan.done.assign(paths.size(), false);
  for (size_t r = 0; r < records.size(); ++r) {
    if (document[r] >= 0 && !records[r].summary) continue;  // retried by this run
    if (document[r] >= 0) {
      plan.done[static_cast<size_t>(document[r])] = true;
      ++plan.n_done;
    }
    plan.kept += records[r].line;
  }
  plan.rewrite = plan.kept.size() != content.size();
  return plan;
}

}  // namespace tern::cli
