// tern run -m MODEL -p PROMPT: generate text with llama.cpp's flag names, streaming tokens to
// stdout and timings to stderr (or one JSON object with --json). --chat (-cnv) is an
// interactive conversation that keeps its KV cache across turns.
//
// Prompt format: a model whose file carries a recognised tokenizer.chat_template (an
// instruct model, e.g. SmolLM2-Instruct) gets its prompt in that chat format; a model
// without one (a base model, e.g. gemma3-270m) gets plain completion, which is what such a
// model was trained on. --chat-template NAME forces a format, --no-chat-template forces
// plain completion.
//
// --grammar/--grammar-file (GBNF), --json-schema/--json-schema-file and -j (any JSON value)
// constrain the generated text; see docs/grammars.md.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "input_file.h"
#include "int_range.h"
#include "output.h"
#include "prompt_cache.h"
#include "speculation.h"
#include "tern/error.h"
#include "tern/generate.h"
#include "tern/grammar.h"
#include "tern/model_path.h"

namespace tern::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string file;
  std::string system;
  std::string chat_template;
  bool no_chat_template = false;
  bool chat = false;
  bool escapes = false;
  bool json = false;
  int64_t seed = -1;
  std::string grammar;  // the constraint flags, at most one of them
  std::string grammar_file;
  std::string json_schema;
  std::string json_schema_file;
  bool any_json = false;
  std::string prompt_cache;  // --prompt-cache FILE
  bool prompt_cache_ro = false;
  ModelOptions model_options;  // --backend, -ngl
  SessionOptions session{.n_ctx = 4096};
  SamplingParams sampling;
  GenerateOptions generate;
  SpeculationOptions speculation;
  int64_t keep = 0;  // --keep: prompt tokens a context shift keeps (BOS aside); -1: all
  bool no_context_shift = false;
};

// Set by SIGINT while a chat reply streams; the reply stops, the program does not.
volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

// No SA_RESTART: Ctrl-C at the input prompt interrupts the read, which ends the chat.
void install_sigint_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// -e: \n \r \t \\ \' \" \xHH in the prompt, as llama.cpp's --escape.
std::string process_escapes(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case '\\':
      case '\'':
      case '"':
        out += c;
        break;
      default:
        if (c == 'x' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
            hex_digit(text[i + 2]) >= 0) {
          out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
          i += 2;
        } else {  // not an escape: kept as written
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

std::optional<std::string> read_prompt(const RunOptions& o, const CLI::App* cmd) {
  std::optional<std::string> prompt;
  if (cmd->count("--prompt") > 0) prompt = o.prompt;
  if (!o.file.empty()) {
    prompt = read_input_file(o.file);
  }
  if (prompt && o.escapes) prompt = process_escapes(*prompt);
  return prompt;
}

// A failed write stops generating; the error is raised by the next flush or close.
bool stream_to_stdout(std::string_view text) { return out().stream(text) && g_interrupted == 0; }

// Everything a run needs, loaded once.
struct Loaded {
  Model model;
  Session session;
  SamplerChain sampler;
  double load_seconds;
};

Loaded load(const RunOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Model model = Model::load(resolve_model_path(o.model), with_environment(o.model_options));
  model.tokenizer();  // built now, so that the load time counts it
  Session session(model, o.session);
  SamplerChain sampler(o.sampling, model.tokenizer());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {std::move(model), std::move(session), std::move(sampler), seconds};
}

// `cached`: the prompt tokens --prompt-cache gave (not decoded, not in r.n_prompt).
nlohmann::json timings_json(const GenerateResult& r, const CachedPrompt& cached,
                            double load_seconds) {
  return {{"load_s", load_seconds},
          {"prompt_tokens", r.n_prompt},
          {"n_prompt_cached", cached.n_tokens},
          {"prompt_cache_load_s", cached.seconds},
          {"prompt_cache_save_s", cached.save_seconds},
          {"prompt_s", r.prompt_seconds},
          {"prompt_tokens_per_s", r.prompt_tokens_per_second()},
          {"generated_tokens", r.tokens.size()},
          {"generate_s", r.generate_seconds},
          {"generated_tokens_per_s", r.generated_tokens_per_second()},
          {"drafted_tokens", r.n_drafted},
          {"accepted_tokens", r.n_accepted},
          {"decodes", r.n_steps},
          {"context_shifts", r.n_context_shifts}};
}

void print_timings(const GenerateResult& r, const CachedPrompt& cached, double load_seconds) {
  const std::string from_cache =
      cached.n_tokens > 0
          ? fmt::format(" (+{} from the prompt cache in {:.2f} s)", cached.n_tokens, cached.seconds)
          : "";
  const std::string saved =
      cached.save_seconds > 0
          ? fmt::format(" | prompt cache saved in {:.2f} s", cached.save_seconds)
          : "";
  const std::string shifts =
      r.n_context_shifts > 0 ? fmt::format(" | context shifts: {}", r.n_context_shifts) : "";
  fmt::print(stderr,
             "tern: load {:.2f} s | prompt {} tokens{}, {:.2f} s ({:.1f} tokens/s){} | generated "
             "{} tokens, {:.2f} s ({:.1f} tokens/s){}{} | stop: {}\n",
             load_seconds, r.n_prompt, from_cache, r.prompt_seconds, r.prompt_tokens_per_second(),
             saved, r.tokens.size(), r.generate_seconds, r.generated_tokens_per_second(),
             speculation_summary(r), shifts, stop_reason_name(r.stop));
}

// --keep as positions of the session, as llama.cpp counts it: N prompt tokens after BOS,
// -1 (or more than the prompt) the whole prompt.
int64_t positions_to_keep(int64_t keep, std::span<const TokenId> prompt, const Tokenizer& tok) {
  const auto n = std::ssize(prompt);
  const bool bos = n > 0 && prompt.front() == tok.special().bos;
  return keep < 0 ? n : std::min(n, keep + (bos ? 1 : 0));
}

void report(const RunOptions& o, const GenerateResult& r, const CachedPrompt& cached,
            double load_seconds, std::optional<ChatFormat> format) {
  if (o.json) {
    nlohmann::json out = {{"text", r.text},
                          {"stop", stop_reason_name(r.stop)},
                          {"chat_template", nullptr},
                          {"timings", timings_json(r, cached, load_seconds)}};
    if (format) out["chat_template"] = chat_format_name(*format);
    cli::out().print("{}\n", out.dump());
    return;
  }
  cli::out().write("\n");
  cli::out().flush();  // the text ends before the timings even when both go to one pipe
  print_timings(r, cached, load_seconds);
}

// One completion of `prompt` (a plain text's tokens, or a chat's first turn), starting from
// what --prompt-cache holds of it and saving the prompt's state there before generating
// (unless the file holds the whole prompt already).
void complete(const RunOptions& o, Loaded& l, std::span<const TokenId> prompt,
              const TextCallback& sink, std::optional<ChatFormat> format) {
  const bool cache = !o.prompt_cache.empty();
  CachedPrompt cached =
      cache ? reuse_prompt_cache(o.prompt_cache, l.session, prompt) : CachedPrompt{};
  const auto n_cached = static_cast<size_t>(cached.n_tokens);
  for (TokenId token : prompt.first(n_cached)) l.sampler.accept_prompt(token);
  GenerateOptions options = o.generate;
  if (cache && !o.prompt_cache_ro && !cached.holds_prompt) {
    options.after_prompt = [&] {
      const auto start = std::chrono::steady_clock::now();
      l.session.save(o.prompt_cache);
      cached.save_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
  }
  const GenerateResult r =
      generate(l.session, l.model.tokenizer(), l.sampler, prompt.subspan(n_cached), options, sink);
  report(o, r, cached, l.load_seconds, format);
}

// The interactive loop: one line per user turn; EOF (or Ctrl-C at the prompt) ends it.
// Ctrl-C during a turn stops it, in the middle of its prompt too (that turn is forgotten).
void chat_loop(Conversation& conversation, GenerateOptions options) {
  install_sigint_handler();
  options.abort = [] { return g_interrupted != 0; };
  const bool terminal = ::isatty(STDIN_FILENO) != 0;
  for (std::string line;;) {
    if (terminal) {
      out().write("> ");
      out().flush();
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    g_interrupted = 0;
    int64_t shifts = 0;
    try {
      shifts = conversation.reply(line, options, stream_to_stdout).n_context_shifts;
    } catch (const ContextOverflow& e) {  // forget the earlier turns and ask again, if that helps
      if (!conversation.fits_alone(line)) {
        fmt::print(stderr,
                   "tern: {}; the message is too long even for a new conversation and was "
                   "not sent\n",
                   e.what());
        continue;
      }
      fmt::print(stderr, "tern: {}; starting a new conversation\n", e.what());
      conversation.reset();
      conversation.reply(line, options, stream_to_stdout);
    }
    out().write("\n");
    out().flush();  // a reply that could not be written ends the chat with its error
    if (shifts > 0) {
      fmt::print(stderr,
                 "tern: the context was full: the oldest turns after the system turn "
                 "were dropped\n");
    }
  }
  if (terminal) out().write("\n");
}

// The GBNF the output must match ("" for none), checked before the model loads.
std::string output_grammar(const RunOptions& o) {
  std::string gbnf = o.grammar;
  if (!o.grammar_file.empty()) gbnf = read_input_file(o.grammar_file);
  if (!o.json_schema.empty()) gbnf = json_schema_to_grammar(o.json_schema);
  if (!o.json_schema_file.empty()) {
    gbnf = json_schema_to_grammar(read_input_file(o.json_schema_file));
  }
  if (o.any_json) gbnf = json_schema_to_grammar("{}");
  if (!gbnf.empty()) check_grammar(gbnf);
  return gbnf;
}

void run(RunOptions o, const CLI::App* cmd) {
  o.sampling.seed = o.seed < 0 ? kRandomSeed : static_cast<uint32_t>(o.seed);
  const std::optional<std::string> prompt = read_prompt(o, cmd);
  if (!prompt && !o.chat) throw CLI::ValidationError("run", "needs -p/--prompt or -f/--file");
  if (!prompt && o.json) throw CLI::ValidationError("--json", "needs -p or -f (not interactive)");
  o.sampling.grammar = output_grammar(o);
  if (!prompt && !o.sampling.grammar.empty()) {  // one grammar for one reply, not a chat
    throw CLI::ValidationError("--grammar", "a grammar or schema needs -p or -f (not interactive)");
  }
  if (!prompt && !o.prompt_cache.empty()) {
    throw CLI::ValidationError("--prompt-cache", "needs -p or -f (not an interactive chat)");
  }
  Loaded l = load(o);
  const Speculation speculation(o.speculation, l.model, o.model_options, o.session);
  o.generate.drafter = speculation.drafter();
  o.generate.n_draft = o.speculation.n_draft;
  const ChatTemplateChoice choice = choose_chat_template(l.model, o.chat_template);
  // A template named on the command line or shipped in the file: the model is a chat model.
  const bool use_chat =
      o.chat || (!o.no_chat_template && (choice.source == ChatTemplateSource::Named ||
                                         choice.source == ChatTemplateSource::Metadata));
  if (use_chat && !choice.warning.empty())
    fmt::print(stderr, "tern: warning: {}\n", choice.warning);
  const TextCallback sink = o.json ? TextCallback{} : TextCallback(stream_to_stdout);
  o.generate.context_shift = !o.no_context_shift;
  if (!use_chat) {
    const std::vector<TokenId> tokens =
        l.model.tokenizer().tokenize(*prompt, {.add_eos = false, .parse_special = true});
    o.generate.n_keep = positions_to_keep(o.keep, tokens, l.model.tokenizer());
    complete(o, l, tokens, sink, std::nullopt);
    return;
  }
  Conversation conversation(l.session, l.model.tokenizer(), l.sampler, choice.tmpl, o.system);
  if (prompt) {  // one reply: what conversation.reply() would decode and generate
    const std::vector<TokenId> tokens = conversation.prompt_tokens(*prompt);
    o.generate.n_keep = conversation.system_turn_length(tokens);  // as reply() keeps
    complete(o, l, tokens, sink, choice.tmpl.format);
    return;
  }
  chat_loop(conversation, o.generate);
}

// llama.cpp's --logit-bias form: a token id, then +BIAS or -BIAS (-inf bans the token).
std::pair<int32_t, float> parse_logit_bias(const std::string& text) {
  const auto invalid = [&] {
    return CLI::ValidationError(
        "--logit-bias",
        fmt::format("'{}' is not TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043-inf)", text));
  };
  const size_t sign = text.find_first_of("+-");
  if (sign == 0 || sign == std::string::npos) throw invalid();
  int32_t token = 0;
  const char* end = text.data() + sign;
  if (std::from_chars(text.data(), end, token).ptr != end) throw invalid();
  const std::string value = text.substr(sign + 1);
  float bias = 0;
  if (value == "inf") {
    bias = INFINITY;
  } else {
    const char* last = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), last, bias);
    if (value.empty() || ptr != last || ec != std::errc() || !std::isfinite(bias)) throw invalid();
  }
  return {token, text[sign] == '-' ? -bias : bias};
}

void add_sampling_options(CLI::App* cmd, SamplingParams& s) {
  cmd->add_option("--temp", s.temp, "Temperature; <= 0: greedy")->capture_default_str();
  cmd->add_option("--top-k", s.top_k, "Top-k; <= 0: off")->capture_default_str();
  cmd->add_option("--top-p", s.top_p, "Top-p; 1: off")->capture_default_str();
  cmd->add_option("--min-p", s.min_p, "Min-p; 0: off")->capture_default_str();
  cmd->add_option("--typical", s.typical_p, "Locally typical p; 1: off")->capture_default_str();
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty; 1: off")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "Tokens the penalties see; -1: all")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", s.presence_penalty, "Presence penalty")
      ->capture_default_str();
  cmd->add_option("--frequency-penalty", s.frequency_penalty, "Frequency penalty")
      ->capture_default_str();
  cmd->add_option("--mirostat", s.mirostat, "Mirostat: 0 off, 1 v1, 2 v2")
      ->check(in_range(0, 2))
      ->capture_default_str();
  cmd->add_option("--mirostat-lr", s.mirostat_eta, "Mirostat learning rate (eta)")
      ->capture_default_str();
  cmd->add_option("--mirostat-ent", s.mirostat_tau, "Mirostat target entropy (tau)")
      ->capture_default_str();
  cmd->add_option_function<std::vector<std::string>>(
      "-l,--logit-bias",
      [&s](const std::vector<std::string>& biases) {
        for (const std::string& b : biases) s.logit_bias.push_back(parse_logit_bias(b));
      },
      "TOKEN_ID+BIAS or TOKEN_ID-BIAS added to the token's logit before sampling; "
      "TOKEN_ID-inf bans it (repeatable)");
}

}  // namespace

void add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, or chat (--chat)");
  cmd->add_option("-m,--model", o->model, "GGUF file, or a model name in $TERN_MODELS")->required();
  auto* prompt = cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  cmd->add_option("-f,--file", o->file, "Read the prompt from this file")->excludes(prompt);
  cmd->add_option("-n,--n-predict", o->generate.n_predict, "Tokens to generate; -1: until EOS")
      ->check(in_range(-1, 1 << 30))
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->session.n_threads, "Threads; 0: one per physical core")
      ->check(in_range(0, kMaxThreads));
  cmd->add_option("-c,--ctx-size", o->session.n_ctx, "Context size; 0: the model's")
      ->check(in_range(0, kMaxContextSize))
      ->capture_default_str();
  cmd->add_option("--keep", o->keep,
                  "Prompt tokens a context shift keeps (BOS aside); -1: all; chat: the system "
                  "turn")
      ->check(in_range(-1, kMaxContextSize))
      ->capture_default_str();
  cmd->add_flag("--no-context-shift", o->no_context_shift,
                "Stop when the context is full (chat: start over) instead of sliding it");
  cmd->add_option("-b,--batch-size", o->session.n_batch, "Prompt tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  add_backend_options(cmd, o->model_options);
  add_kv_type_option(cmd, o->session.kv_type);
  cmd->add_option("-s,--seed", o->seed, "Sampling seed; -1: random")
      ->check(in_range(-1, 0xFFFFFFFE));
  add_sampling_options(cmd, o->sampling);
  auto* grammar = cmd->add_option("--grammar", o->grammar, "GBNF grammar the output must match");
  auto* grammar_file =
      cmd->add_option("--grammar-file", o->grammar_file, "Read the GBNF grammar from this file");
  auto* schema = cmd->add_option("--json-schema", o->json_schema,
                                 "JSON Schema the output must satisfy (as JSON text)");
  auto* schema_file = cmd->add_option("--json-schema-file", o->json_schema_file,
                                      "Read the JSON Schema from this file");
  auto* any_json = cmd->add_flag("-j,--json-value", o->any_json, "The output is any JSON value");
  const std::vector<CLI::Option*> constraints = {grammar, grammar_file, schema, schema_file,
                                                 any_json};
  for (CLI::Option* a : constraints) {
    for (CLI::Option* b : constraints) {
      if (a != b) a->excludes(b);
    }
  }
  cmd->add_flag("--ignore-eos", o->generate.ignore_eos, "Never stop at end-of-generation tokens");
  cmd->add_option("-r,--stop,--reverse-prompt", o->generate.stop,
                  "Stop at this text, which is not printed (repeatable)");
  add_speculation_options(cmd, o->speculation);
  cmd->add_flag("-e,--escape", o->escapes, "Process escapes (\\n, \\t, \\xHH...) in the prompt");
  auto* prompt_cache = cmd->add_option(
      "--prompt-cache", o->prompt_cache,
      "KV cache file: the start this prompt shares with it is loaded, not decoded; then this "
      "prompt's state is saved there");
  cmd->add_flag("--prompt-cache-ro", o->prompt_cache_ro,
                "With --prompt-cache: read the file, never write it")
      ->needs(prompt_cache);
  cmd->add_flag("--json", o->json, "Print one JSON object (text, timings) instead of streaming");
  auto* chat =
      cmd->add_flag("--chat,--conversation", o->chat,
                    "Chat in the model's format (-cnv); interactive unless -p/-f is given");
  cmd->add_option("--system", o->system, "System message for the chat (-sys)");
  const std::vector<std::string_view> names = chat_format_names();
  const std::vector<std::string> formats(names.begin(), names.end());
  auto* tmpl = cmd->add_option("--chat-template", o->chat_template, "Chat format by name")
                   ->check(CLI::IsMember(formats));
  cmd->add_flag("--no-chat-template", o->no_chat_template,
                "Plain completion even for a model with a chat template")
      ->excludes(tmpl)
      ->excludes(chat);
  cmd->callback([o, cmd] { run(*o, cmd); });
}

std::vector<std::string> expand_llama_aliases(int argc, char** argv) {
  // CLI11 takes one-letter short options only; these llama.cpp names map to long ones.
  constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"-ngl", "--n-gpu-layers"}, {"-cnv", "--conversation"}, {"-sys", "--system"},
      {"-np", "--parallel"},      {"-md", "--model-draft"}};
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {  // reversed: the order CLI11's parse(vector) takes
    std::string arg = argv[i];
    for (auto [alias, name] : kAliases) {
      if (arg == alias) arg = name;
    }
    args.push_back(std::move(arg));
  }
  return args;
}

}  // namespace tern::cli
