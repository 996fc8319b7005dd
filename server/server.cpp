#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "server/embeddings_api.h"
#include "tern/embeddings.h"
#include "tern/error.h"
#include "tern/generate.h"

namespace tern::server {

namespace {

using nlohmann::json;

// What the routes share; the model and engine exist once loaded (ready).
struct State {
  explicit State(const ServeOptions& options) : o(options) {}
  const ServeOptions& o;
  Metrics metrics;
  std::atomic<bool> ready{false};
  std::atomic<bool> failed{false};
  std::unique_ptr<Model> model;
  std::unique_ptr<Engine> engine;
  ChatTemplate tmpl;
  std::atomic<int64_t> next_id{1};
  // /v1/embeddings: hidden-state sessions beside the engine's, each made at its first use;
  // one request computes at a time. Inputs of up to n_batch tokens (at most n_ctx) go to
  // `embed_short` several at a time (embed_batch: each a sequence of n_batch positions, as
  // many as fit one micro-batch); longer ones one by one to `embed_long` (n_ctx positions).
  std::mutex embed_mutex;
  std::optional<Session> embed_short, embed_long;
};

void reply_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), "application/json");
}

void check_api_key(const State& s, const httplib::Request& req) {
  if (s.o.api_key.empty()) return;
  if (req.get_header_value("Authorization") != "Bearer " + s.o.api_key) {
    throw ApiError(401, "invalid_request_error", "invalid_api_key",
                   "missing or wrong API key (Authorization: Bearer KEY)");
  }
}

void check_ready(const State& s) {
  if (s.failed) throw ApiError(503, "server_error", "model_not_loaded", "the model failed to load");
  if (!s.ready) throw ApiError(503, "server_error", "loading", "the model is loading");
}

Engine& ready_engine(const State& s) {
  check_ready(s);
  if (!s.engine) {  // an encoder: no generation
    throw ApiError(400, "invalid_request_error", "model_not_supported",
                   fmt::format("{} is an encoder: it serves /v1/embeddings only", s.o.model_name));
  }
  return *s.engine;
}

// Positions an embedding input may take: a slot's context, or an encoder's trained
// positions (its position embeddings end there) where -c asks for more.
int64_t embedding_context(const State& s) {
  return s.engine ? s.engine->n_ctx() : std::min(s.o.engine.n_ctx, s.model->n_ctx_train());
}

// The tokens of `in` (its ids, or its text tokenized with `options`), named `which` in
// errors: some, all in the vocabulary, and at most `max_tokens` of a context of `n_ctx`.
std::vector<TokenId> checked_tokens(const Tokenizer& tokenizer, const TextOrTokens& in,
                                    const TokenizeOptions& options, const std::string& which,
                                    int64_t max_tokens, int64_t n_ctx) {
  std::vector<TokenId> tokens =
      in.tokens.empty() ? tokenizer.tokenize(in.text, options) : in.tokens;
  if (tokens.empty()) throw invalid_request("invalid_value", which + " has no tokens");
  for (TokenId t : tokens) {
    if (t >= tokenizer.n_vocab()) {
      throw invalid_request("invalid_value",
                            fmt::format("{}: token {} is outside the vocabulary", which, t));
    }
  }
  if (std::ssize(tokens) > max_tokens) {
    throw ApiError(
        400, "invalid_request_error", "context_length_exceeded",
        fmt::format("{} has {} tokens; the context holds {}", which, tokens.size(), n_ctx));
  }
  return tokens;
}

// The tokens of prompt `p` (a chat: its messages in the chat format), with a slot's room
// for one generated token.
std::vector<TokenId> prompt_tokens(const State& s, const CompletionRequest& r, size_t p) {
  const std::string which = r.prompts.size() > 1 ? fmt::format("prompt {}", p) : "the prompt";
  const TextOrTokens in =
      r.chat ? TextOrTokens{apply_chat_template(s.tmpl, r.messages, true), {}} : r.prompts[p];
  const int64_t n_ctx = s.engine->n_ctx();
  return checked_tokens(s.model->tokenizer(), in, {.add_eos = false, .parse_special = true}, which,
                        n_ctx - 1, n_ctx);
}

using Jobs = std::vector<std::shared_ptr<Job>>;

// One job per choice: each prompt n times (choice p * n + k). With n > 1 and a seed,
// choice k samples with seed + k, so that the choices differ and each is reproducible.
Jobs make_jobs(const State& s, const CompletionRequest& r) {
  Jobs jobs;
  const size_t n_prompts = r.chat ? 1 : r.prompts.size();
  // What a job keeps of the request: its settings; its prompt is its tokens.
  CompletionRequest settings = r;
  settings.prompts.clear();
  settings.messages.clear();
  for (size_t p = 0; p < n_prompts; ++p) {
    const std::vector<TokenId> tokens = prompt_tokens(s, r, p);
    for (int32_t k = 0; k < r.n; ++k) {
      CompletionRequest choice = settings;
      if (r.sampling.seed != kRandomSeed) {
        choice.sampling.seed = r.sampling.seed + static_cast<uint32_t>(k);
        if (choice.sampling.seed == kRandomSeed) choice.sampling.seed = 0;
      }
      try {  // the sampler checks its settings against the vocabulary (logit_bias ids)
        jobs.push_back(std::make_shared<Job>(std::move(choice), tokens, s.model->tokenizer()));
      } catch (const Error& e) {
        throw invalid_request("invalid_value", e.what());
      }
      if (r.echo) {
        const TextOrTokens& prompt = r.prompts[p];
        jobs.back()->echo_prompt(prompt.tokens.empty()
                                     ? prompt.text
                                     : s.model->tokenizer().detokenize(prompt.tokens, true));
      }
    }
  }
  return jobs;
}

void cancel(const Jobs& jobs) {
  for (const auto& job : jobs) job->cancel();
}

// The request's usage: each prompt's tokens once, every choice's generated tokens.
Usage total_usage(const Jobs& jobs, int32_t n) {
  Usage total;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Usage u = jobs[i]->usage();
    if (i % static_cast<size_t>(n) == 0) total.prompt_tokens += u.prompt_tokens;
    total.completion_tokens += u.completion_tokens;
  }
  return total;
}

ResponseHeader make_header(State& s, const CompletionRequest& r) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {
      fmt::format("{}-{:x}{:06x}", r.chat ? "chatcmpl" : "cmpl", s.next_id++,
                  std::chrono::duration_cast<std::chrono::microseconds>(now).count() & 0xffffff),
      std::chrono::duration_cast<std::chrono::seconds>(now).count(),
      r.model.empty() ? s.o.model_name : r.model, r.chat, r.logprobs};
}

// Writes the jobs' output as Server-Sent Events, each choice's chunks as they come, until
// all have ended; false (and the jobs cancelled) when the client is gone.
bool stream_jobs(const Jobs& jobs, const ResponseHeader& h, int32_t n, bool include_usage,
                 httplib::DataSink& sink) {
  auto send = [&](const std::string& event) {
    if (sink.is_writable() && sink.write(event.data(), event.size())) return true;
    cancel(jobs);
    return false;
  };
  auto finish = [&](const std::string& event) {
    if (!send(event) || !send(std::string(kSseDone))) return false;
    sink.done();
    return true;
  };
  std::vector<bool> first(jobs.size(), true), ended(jobs.size(), false);
  // Each waits its turn this long for text: 100 ms a round in all.
  const int wait_ms = std::max(2, 100 / static_cast<int>(jobs.size()));
  for (size_t left = jobs.size(); left > 0;) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (ended[i]) continue;
      Job& job = *jobs[i];
      const int index = static_cast<int>(i);
      std::string piece;
      ended[i] = job.wait_text(piece, wait_ms);
      if (!sink.is_writable()) {
        cancel(jobs);
        return false;
      }
      if (!piece.empty()) {
        if (!send(sse_event(
                stream_chunk(h, index, piece, first[i], std::nullopt, job.take_logprobs())))) {
          return false;
        }
        first[i] = false;
      }
      if (!ended[i]) continue;
      --left;
      if (std::optional<ApiError> e = job.error()) {
        cancel(jobs);
        return finish(sse_event(json::parse(error_body(*e))));
      }
      if (first[i] && h.chat && !send(sse_event(stream_chunk(h, index, "", true, std::nullopt)))) {
        return false;
      }
      // The last tokens' log-probabilities (a token's may come after its text) go here.
      if (!send(sse_event(stream_chunk(h, index, "", false, job.finish(), job.take_logprobs())))) {
        return false;
      }
    }
  }
  if (include_usage && !send(sse_event(usage_chunk(h, total_usage(jobs, n))))) return false;
  if (!send(std::string(kSseDone))) return false;
  sink.done();
  return true;
}

// Waits for every choice, then writes the whole answer as one JSON body; false (and the
// jobs cancelled) when the client is gone first.
bool answer_jobs(const Jobs& jobs, const ResponseHeader& h, int32_t n, State& s,
                 httplib::DataSink& sink) {
  std::vector<Choice> choices(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    for (bool ended = false; !ended;) {
      std::string piece;
      ended = jobs[i]->wait_text(piece, 100);
      choices[i].text += piece;
      if (!sink.is_writable()) {
        cancel(jobs);
        return false;
      }
    }
  }
  std::string body;
  for (size_t i = 0; i < jobs.size() && body.empty(); ++i) {
    if (std::optional<ApiError> e = jobs[i]->error()) {
      ++s.metrics.requests_failed;  // the status is sent already: the body says what failed
      body = error_body(*e);
    }
    choices[i].finish = jobs[i]->finish();
    choices[i].logprobs = jobs[i]->take_logprobs();
  }
  if (body.empty()) body = dump_json(completion_response(h, choices, total_usage(jobs, n)));
  if (!sink.write(body.data(), body.size())) return false;
  sink.done();
  return true;
}

void handle_completion(State& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  try {
    check_api_key(s, req);
    Engine& engine = ready_engine(s);
    CompletionRequest r = parse_completion_request(req.body, chat, s.o.limits);
    const Jobs jobs = make_jobs(s, r);
    engine.submit(jobs);
    ++s.metrics.requests;
    const ResponseHeader h = make_header(s, r);
    const auto cancel_unless = [jobs](bool success) {
      if (!success) cancel(jobs);
    };
    if (r.stream) {
      res.set_chunked_content_provider(
          "text/event-stream",
          [jobs, h, n = r.n, usage = r.include_usage](size_t, httplib::DataSink& sink) {
            return stream_jobs(jobs, h, n, usage, sink);
          },
          cancel_unless);
      return;
    }
    // Sent when the jobs end; written through a provider, so that a client that leaves
    // while it waits is noticed (the socket stops being writable) and cancels the jobs.
    res.set_chunked_content_provider(
        "application/json",
        [jobs, h, n = r.n, &s](size_t, httplib::DataSink& sink) {
          return answer_jobs(jobs, h, n, s, sink);
        },
        cancel_unless);
  } catch (const ApiError& e) {
    ++s.metrics.requests_failed;
    reply_error(res, e);
  }
}

// The tokens of each input, checked against the vocabulary and a slot's context.
std::vector<std::vector<TokenId>> embedding_tokens(const State& s, const EmbeddingRequest& r) {
  std::vector<std::vector<TokenId>> all;
  const Tokenizer& tokenizer = s.model->tokenizer();
  const int64_t n_ctx = embedding_context(s);
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    all.push_back(
        checked_tokens(tokenizer, r.inputs[i], {}, fmt::format("input {}", i), n_ctx, n_ctx));
  }
  return all;
}

void handle_embeddings(State& s, const httplib::Request& req, httplib::Response& res) {
  try {
    check_api_key(s, req);
    check_ready(s);
    EmbeddingRequest r = parse_embedding_request(req.body, s.model->n_embd());
    if (r.model.empty()) r.model = s.o.model_name;
    const std::vector<std::vector<TokenId>> tokens = embedding_tokens(s, r);
    ++s.metrics.requests;
    std::vector<std::vector<float>> vectors(tokens.size());
    int64_t n_tokens = 0;
    {
      std::lock_guard<std::mutex> one_at_a_time(s.embed_mutex);
      const EngineOptions& e = s.o.engine;
      const int64_t n_ctx = embedding_context(s);
      const int64_t short_limit = std::min(e.n_batch, n_ctx);
      std::vector<size_t> short_inputs;
      std::vector<std::vector<TokenId>> short_tokens;
      for (size_t i = 0; i < tokens.size(); ++i) {
        n_tokens += std::ssize(tokens[i]);
        if (std::ssize(tokens[i]) > short_limit) {
          if (!s.embed_long) {
            s.embed_long.emplace(*s.model, SessionOptions{.n_ctx = n_ctx,
                                                          .n_batch = e.n_batch,
                                                          .n_threads = e.n_threads,
                                                          .embeddings = true});
          }
          vectors[i] = embed_tokens(*s.embed_long, tokens[i], {.pooling = s.o.pooling});
        } else {
          short_inputs.push_back(i);
          short_tokens.push_back(tokens[i]);
        }
      }
      if (!short_inputs.empty()) {
        if (!s.embed_short) {
          // No more cache than one slot's: n_ctx / n_batch sequences, at most 8.
          const auto n_seq = static_cast<int>(std::clamp<int64_t>(n_ctx / short_limit, 1, 8));
          s.embed_short.emplace(*s.model, SessionOptions{.n_ctx = short_limit,
                                                         .n_batch = e.n_batch,
                                                         .n_threads = e.n_threads,
                                                         .n_seq = n_seq,
                                                         .embeddings = true});
        }
        std::vector<std::vector<float>> got =
            embed_batch(*s.embed_short, short_tokens, {.pooling = s.o.pooling});
        for (size_t k = 0; k < short_inputs.size(); ++k)
          vectors[short_inputs[k]] = std::move(got[k]);
      }
    }
    s.metrics.prompt_tokens += n_tokens;
    res.set_content(embedding_response(r, vectors, n_tokens).dump(), "application/json");
  } catch (const ApiError& e) {
    ++s.metrics.requests_failed;
    reply_error(res, e);
  }
}

// The method a route takes; httplib answers 404 for a known route under another method.
std::optional<std::string_view> route_method(const std::string& path) {
  if (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings") {
    return "POST";
  }
  if (path == "/v1/models" || path == "/health" || path == "/metrics") return "GET";
  return std::nullopt;
}

// JSON bodies for what httplib answers itself (unknown route, body too large, ...).
void fill_error(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return;
  if (res.status == 404) {
    if (std::optional<std::string_view> method = route_method(req.path)) {
      res.status = 405;
      res.set_header("Allow", std::string(*method));
    }
  }
  switch (res.status) {
    case 404:
      res.set_content(error_body(ApiError(404, "invalid_request_error", "not_found", "unknown route")),
                      "application/json");
      break;
    case 405:
      res.set_content(error_body(ApiError(405, "invalid_request_error", "method_not_allowed",
                                          "method not allowed on this route")),
                      "application/json");
      break;
    case 413:
      res.set_content(error_body(ApiError(413, "invalid_request_error", "payload_too_large",
                                          "the request body is too large")),
                      "application/json");
      break;
    default:
      res.set_content(error_body(ApiError(res.status, "invalid_request_error", "bad_request",
                                          fmt::format("HTTP {}", res.status))),
                      "application/json");
  }
}

// Cross-origin calls from web pages: every answer names the allowed origin, and a
// browser's preflight OPTIONS (before a POST with JSON or an Authorization header) gets 204
// with the methods and headers the API takes; it carries no API key, so it needs none.
void allow_cross_origin(httplib::Server& svr, const std::string& origin) {
  if (origin.empty()) return;
  svr.set_default_headers({{"Access-Control-Allow-Origin", origin}});
  svr.Options(R"(/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.set_header("Access-Control-Max-Age", "86400");
  });
}

void add_routes(httplib::Server& svr, State& s) {
  allow_cross_origin(svr, s.o.cors_origin);
  svr.Post("/v1/chat/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_completion(s, req, res, true);
  });
  svr.Post("/v1/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_completion(s, req, res, false);
  });
  svr.Post("/v1/embeddings", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_embeddings(s, req, res);
  });
  const json model = {
      {"id", s.o.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "tern"}};
  svr.Get("/v1/models", [&s, model](const httplib::Request& req, httplib::Response& res) {
    try {
      check_api_key(s, req);
      res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(),
                      "application/json");
    } catch (const ApiError& e) {
      reply_error(res, e);
    }
  });
  // One model by id (the openai client's models.retrieve): the one served, or 404.
  svr.Get(R"(/v1/models/(.+))", [&s, model](const httplib::Request& req, httplib::Response& res) {
    try {
      check_api_key(s, req);
      if (req.matches[1] != s.o.model_name) {
        throw ApiError(404, "invalid_request_error", "model_not_found",
                       fmt::format("no model '{}' here; this server has '{}'",
                                   std::string(req.matches[1]), s.o.model_name));
      }
      res.set_content(model.dump(), "application/json");
    } catch (const ApiError& e) {
      reply_error(res, e);
    }
  });
  svr.Get("/health", [&s](const httplib::Request&, httplib::Response& res) {
    const char* status = s.failed ? "error" : s.ready ? "ok" : "loading";
    res.status = s.ready ? 200 : 503;
    res.set_content(json{{"status", status}}.dump(), "application/json");
  });
  svr.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.metrics.render(), "text/plain; version=0.0.4");
  });
  svr.set_error_handler(
      [](const httplib::Request& req, httplib::Response& res) { fill_error(req, res); });
  svr.set_exception_handler(
      [&s](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        ++s.metrics.requests_failed;
        reply_error(res, ApiError(500, "server_error", "internal_error", what));
      });
}

void load(State& s) {
  try {
    s.model = std::make_unique<Model>(Model::load(s.o.model_path, s.o.model));
    if (s.model->encoder()) {  // embeddings only: no generation engine, no slots
      s.ready = true;
      fmt::print(stderr, "tern serve: {} loaded: an encoder, /v1/embeddings only\n",
                 s.o.model_name);
      return;
    }
    s.tmpl = choose_chat_template(*s.model, s.o.chat_template).tmpl;
    s.engine = std::make_unique<Engine>(*s.model, s.o.engine, s.metrics);
    s.ready = true;
    fmt::print(stderr, "tern serve: {} loaded: {} slots of {} positions\n", s.o.model_name,
               s.o.engine.n_slots, s.o.engine.n_ctx);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tern serve: cannot load the model: {}\n", e.what());
    s.failed = true;
  }
}

}  // namespace

void serve(const ServeOptions& options, const std::atomic<bool>& stop,
           const std::function<void(int port)>& on_listening) {
  State s(options);
  httplib::Server svr;
  // A thread per open request (streams hold theirs): every slot and queued job, and more.
  const size_t threads = static_cast<size_t>(options.engine.n_slots) + options.engine.max_queue + 8;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(options.max_body_bytes);
  svr.set_read_timeout(options.timeout_s, 0);
  svr.set_write_timeout(options.timeout_s, 0);
  // An idle kept-alive connection holds its thread until this passes, and shutdown waits
  // for it: 2 s instead of httplib's 5 bounds SIGTERM's exit.
  svr.set_keep_alive_timeout(2);
  add_routes(svr, s);
  int port = options.port;
  if (port == 0) {
    port = svr.bind_to_any_port(options.host);
  } else if (!svr.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw Error(fmt::format("serve: cannot listen on {}:{}", options.host, options.port));
  }
  fmt::print(stderr, "tern serve: listening on http://{}:{}\n", options.host, port);
  if (on_listening) on_listening(port);
  std::thread loader([&s] { load(s); });
  std::thread watcher([&] {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loader.join();  // the engine exists (or never will) from here on
    if (s.engine) s.engine->drain(options.shutdown_grace_ms);
    svr.stop();
  });
  svr.listen_after_bind();
  watcher.join();
  fmt::print(stderr, "tern serve: stopped\n");
}

}  // namespace tern::server
