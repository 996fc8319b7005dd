// tern tokenize / tern detokenize: text <-> token ids with a model's (or vocab file's) tokenizer.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "input_file.h"
#include "output.h"
#include "tern/error.h"
#include "tern/model_path.h"
#include "tern/tokenizer.h"

namespace tern::cli {

namespace {

struct TextSource {
  std::string model;
  std::string prompt;
  std::string file;
};

// `what` names the input ("text", "token ids separated by spaces").
void add_source_options(CLI::App* cmd, TextSource& source, std::string_view what) {
  cmd->add_option("-m,--model", source.model, "GGUF file, or a model name in $TERN_MODELS")
      ->required();
  auto* prompt =
      cmd->add_option("-p,--prompt", source.prompt, fmt::format("The {} (default: stdin)", what));
  cmd->add_option("-f,--file", source.file, fmt::format("Read the {} from this file", what))
      ->excludes(prompt);
}

std::string read_source(const TextSource& source, const CLI::App* cmd) {
  if (cmd->count("--prompt") > 0) return source.prompt;
  if (!source.file.empty()) return read_input_file(source.file);
  return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

std::vector<TokenId> parse_ids(const std::string& text) {
  std::vector<TokenId> ids;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    TokenId id = 0;
    auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    if (ec != std::errc() || ptr != word.data() + word.size()) {
      throw Error(fmt::format("'{}' is not a token id", word));
    }
    ids.push_back(id);
  }
  return ids;
}

// A piece shown on one line: control characters escaped so the output stays one token a line.
std::string printable(const std::string& piece) {
  std::string out;
  for (char c : piece) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u == 0x7F) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void add_tokenize(CLI::App& app) {
  struct Options {
    TextSource source;
    bool pieces = false;
    bool no_bos = false;
    bool parse_special = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  add_source_options(cmd, options->source, "text");
  cmd->add_flag("--pieces", options->pieces, "Print one 'id<TAB>piece' line per token instead");
  cmd->add_flag("--no-bos", options->no_bos, "Do not add BOS even if the model asks for it");
  cmd->add_flag("--parse-special", options->parse_special,
                "Read special-token text such as <|im_start|> as those tokens");
  cmd->callback([options, cmd] {
    const Tokenizer tok = Tokenizer::open(resolve_model_path(options->source.model));
    const std::string text = read_source(options->source, cmd);
    const TokenizeOptions to{.add_bos = !options->no_bos, .parse_special = options->parse_special};
    const std::vector<TokenId> ids = tok.tokenize(text, to);
    if (options->pieces) {
      for (TokenId id : ids) out().print("{}\t{}\n", id, printable(tok.token_to_piece(id, true)));
      return;
    }
    out().print("{}\n", fmt::join(ids, " "));
  });
}

void add_detokenize(CLI::App& app) {
  struct Options {
    TextSource source;
    bool special = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("detokenize", "Print the text of token ids");
  add_source_options(cmd, options->source, "token ids separated by spaces");
  cmd->add_flag("--special", options->special, "Show the text of control tokens such as BOS");
  cmd->callback([options, cmd] {
    const Tokenizer tok = Tokenizer::open(resolve_model_path(options->source.model));
    const std::vector<TokenId> ids = parse_ids(read_source(options->source, cmd));
    const std::string text = tok.detokenize(ids, options->special);
    out().write(text);
  });
}

}  // namespace tern::cli
