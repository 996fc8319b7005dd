// tern: run large language models from GGUF files.
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "commands.h"
#include "output.h"
#include "tern/error.h"

int main(int argc, char** argv) {
  CLI::App app{"tern: run large language models locally from GGUF files"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tern 0.1.0");
  tern::cli::add_inspect(app);
  tern::cli::add_tokenize(app);
  tern::cli::add_detokenize(app);
  tern::cli::add_logits(app);
  tern::cli::add_bench(app);
  tern::cli::add_run(app);
  tern::cli::add_summarize(app);
  tern::cli::add_quantize(app);
  tern::cli::add_perplexity(app);
  tern::cli::add_synth(app);
  try {
    std::vector<std::string> args = tern::cli::expand_llama_aliases(argc, argv);
    app.parse(args);
    tern::cli::out().close();  // the last buffered bytes can still fail (a full disk)
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors exit with 2
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
