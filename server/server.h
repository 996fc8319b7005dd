// tern serve: the OpenAI-compatible HTTP server. cpp-httplib (Debian's libcpp-httplib-dev:
// a small, maintained HTTP/1.1 server with chunked responses for Server-Sent Events) runs the
// routes on its thread pool; one Engine thread generates for all of them.
//   POST /v1/chat/completions, POST /v1/completions   (streamed or not)
//   POST /v1/embeddings   (the pooled final hidden states, tern/embeddings.h)
//   GET /v1/models, GET /health (503 until the model is loaded), GET /metrics (Prometheus)
#pragma once

#include <atomic>
#include <string>

#include "server/engine.h"
#include "tern/embeddings.h"
#include "tern/model.h"

namespace tern::server {

struct ServeOptions {
  std::string model_path;
  std::string model_name;  // what /v1/models and responses call it
  ModelOptions model;
  std::string chat_template;  // a template name; empty: the model's own
  std::string host = "127.0.0.1";
  int port = 8080;
  EngineOptions engine;
  RequestLimits limits;
  std::string api_key;            // non-empty: /v1 routes want "Authorization: Bearer KEY"
  int timeout_s = 600;            // socket read/write timeout
  size_t max_body_bytes = 1 << 20;
  int shutdown_grace_ms = 10000;  // after SIGTERM: running requests may finish this long
  Pooling pooling = Pooling::Mean;  // /v1/embeddings
  /// Access-Control-Allow-Origin of every answer, and answers to browsers' preflight
  /// OPTIONS requests, so that web pages of that origin ("*": any, as llama-server) may call
  /// the API; empty: none.
  std::string cors_origin = "*";
};

/// Listens, loads the model (health turns ready), and serves until `stop` turns true
/// (SIGTERM): then new requests get 503, running ones finish within shutdown_grace_ms or
/// are cancelled, and it returns. `on_listening` is told the bound port (0 in options picks
/// one). Throws tern::Error when the address cannot be bound; a model that fails to load
/// is logged and every /v1 request then answers 503.
void serve(const ServeOptions& options, const std::atomic<bool>& stop,
           const std::function<void(int port)>& on_listening = {});

}  // namespace tern::server
