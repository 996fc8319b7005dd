#include "server/metrics.h"

#include <fmt/format.h>

namespace tern::server {

namespace {

void add(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP tern_{0} {1}\n# TYPE tern_{0} {2}\ntern_{0} {3}\n", name, help, type,
                     value);
}

double rate(int64_t tokens, int64_t us) { return us > 0 ? 1e6 * static_cast<double>(tokens) / us : 0.0; }

}  // namespace

std::string Metrics::render() const {
  std::string out;
  add(out, "requests_total", "counter", "Completion requests accepted.", requests.load());
  add(out, "requests_failed_total", "counter", "Requests answered with an error status.",
      requests_failed.load());
  add(out, "prompt_tokens_total", "counter", "Prompt tokens decoded.", prompt_tokens.load());
  add(out, "completion_tokens_total", "counter", "Tokens generated.", completion_tokens.load());
  add(out, "copied_prefixes_total", "counter",
      "Prompts started from a copy of another slot's cached prefix.", copied_prefixes.load());
  add(out, "prompt_tokens_per_second", "gauge", "Prompt tokens per second of prompt steps.",
      rate(prompt_tokens.load(), prompt_us.load()));
  add(out, "generation_tokens_per_second", "gauge",
      "Generated tokens per second of generation, per request on average.",
      rate(completion_tokens.load(), generate_us.load()));
  add(out, "queue_depth", "gauge", "Choices waiting for a slot.", queued.load());
  add(out, "busy_slots", "gauge", "Slots generating.", busy_slots.load());
  add(out, "slots", "gauge", "Slots in all (-np).", slots.load());
  add(out, "kv_cache_used_positions", "gauge", "KV cache positions holding tokens.", kv_used.load());
  add(out, "kv_cache_positions", "gauge", "KV cache positions in all slots.", kv_size.load());
  return out;
}

}  // namespace tern::server
