// tern serve -m MODEL [--host 127.0.0.1] [--port 8080] [-np N] [-c CTX] [-t THREADS]
// [--api-key KEY] [--timeout S]: the OpenAI-compatible HTTP server (server/server.h).
// SIGTERM and SIGINT stop it gracefully: running requests finish (or are cancelled after
// the grace period) and it exits 0.
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>

#include "commands.h"
#include "int_range.h"
#include "server/server.h"
#include "tern/error.h"
#include "tern/model_path.h"
#include "tern/session.h"

namespace tern::cli {

namespace {

std::atomic<bool> g_stop{false};

void on_stop(int) { g_stop = true; }

void catch_stop_signals() {
  for (int signal : {SIGINT, SIGTERM}) {
    struct sigaction action {};
    action.sa_handler = on_stop;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, nullptr);
  }
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not death
}

struct ServeCliOptions {
  std::string model;
  std::string pooling = "mean";
  server::ServeOptions serve;
};

void run(ServeCliOptions& o) {
  o.serve.model_path = resolve_model_path(o.model);
  o.serve.model_name = std::filesystem::path(o.serve.model_path).stem().string();
  o.serve.model = with_environment(o.serve.model);
  o.serve.pooling = parse_pooling(o.pooling);
  if (o.serve.engine.n_ctx == 0) throw Error("serve: give the context per slot with -c");
  catch_stop_signals();
  server::serve(o.serve, g_stop);
}

}  // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeCliOptions>();
  server::ServeOptions& s = o->serve;
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a model name in $TERN_MODELS")->required();
  cmd->add_option("--host", s.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", s.port, "Port (0: any free one)")
      ->check(in_range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--parallel", s.engine.n_slots,
                  "Slots: requests decoded together in one batch; also -np")
      ->check(in_range(1, kMaxSequences))
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", s.engine.n_ctx, "Context positions of each slot")
      ->check(in_range(1, kMaxContextSize))
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", s.engine.n_batch, "Tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  cmd->add_option("-t,--threads", s.engine.n_threads, "Threads; 0: one per physical core")
      ->check(in_range(0, kMaxThreads));
  cmd->add_option("--api-key", s.api_key, "Require \"Authorization: Bearer KEY\" on /v1 routes");
  cmd->add_option("--timeout", s.timeout_s, "Seconds a client may take to send or receive")
      ->check(in_range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--max-queue", s.engine.max_queue, "Requests waiting for a slot before 503")
      ->check(in_range(0, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--max-tokens", s.limits.max_tokens, "Most tokens a request may generate")
      ->check(in_range(1, kMaxContextSize))
      ->capture_default_str();
  cmd->add_option("--chat-template", s.chat_template, "Chat format (default: the model's)");
  cmd->add_option("--cors-origin", s.cors_origin,
                  "Web pages of this origin may call the API (\"*\": any; \"\": none)")
      ->capture_default_str();
  cmd->add_option("--pooling", o->pooling, "/v1/embeddings: mean, last or cls")
      ->check(CLI::IsMember({"mean", "last", "cls"}))
      ->capture_default_str();
  add_backend_options(cmd, s.model);
  cmd->callback([o] { run(*o); });
}

}  // namespace tern::cli
