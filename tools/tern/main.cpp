// tern: run large language models from GGUF files.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "commands.h"
#include "output.h"
#include "tern/error.h"

namespace {

// Models are read through a memory mapping: when the file is truncated or replaced while
// tern runs, touching a lost page raises SIGBUS. Say so in one line instead of dying
// without a word (async-signal-safe calls only).
void on_sigbus(int) {
  constexpr char kMessage[] = "tern: error: model file changed or truncated while in use\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  ::_exit(1);
}

void install_sigbus_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigbus;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
}

// CLI11 answers a misspelt command with "A subcommand is required": name it and list them.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return {};
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (command->get_name() == argv[1]) return {};
    names.push_back(command->get_name());
  }
  return fmt::format("unknown command '{}'; the commands are {}", argv[1], fmt::join(names, ", "));
}

}  // namespace

int main(int argc, char** argv) {
  install_sigbus_handler();
  CLI::App app{"tern: run large language models locally from GGUF files", "tern"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tern 0.1.0");
  tern::cli::add_inspect(app);
  tern::cli::add_tokenize(app);
  tern::cli::add_detokenize(app);
  tern::cli::add_logits(app);
  tern::cli::add_embed(app);
  tern::cli::add_bench(app);
  tern::cli::add_run(app);
  tern::cli::add_summarize(app);
  tern::cli::add_serve(app);
  tern::cli::add_quantize(app);
  tern::cli::add_perplexity(app);
  tern::cli::add_synth(app);
  if (const std::string unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    fmt::print(stderr, "tern: error: {}\n", unknown);
    return 2;
  }
  try {
    std::vector<std::string> args = tern::cli::expand_llama_aliases(argc, argv);
    app.parse(args);
    tern::cli::out().close();  // the last buffered bytes can still fail (a full disk)
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors exit with 2
  } catch (const tern::ContextOverflow& e) {
    fmt::print(stderr, "tern: error: {} (-c/--ctx-size sets the context size)\n", e.what());
    return 1;
  } catch (const tern::Error& e) {
    fmt::print(stderr, "tern: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "tern: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tern: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
