// Tokenizer throughput on 1 MiB of English prose, for each vocabulary kind.
// Usage: bench_tokenizer [--text FILE] [Google Benchmark flags]. The default text is the GPL-3
// licence text that every Debian system ships, repeated to 1 MiB.
#include <benchmark/benchmark.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tern/error.h"
#include "tern/model_path.h"
#include "tern/tokenizer.h"

namespace {

constexpr size_t kTextBytes = 1 << 20;

std::string english_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string source{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (source.empty()) throw tern::Error(path + ": cannot read the benchmark text");
  std::string text;
  while (text.size() < kTextBytes) text += source;
  text.resize(kTextBytes);
  // Do not end inside a UTF-8 character.
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();
  return text;
}

void tokenize_text(benchmark::State& state, const tern::Tokenizer* tok, const std::string* text) {
  size_t n_tokens = 0;
  for (auto _ : state) {
    const auto ids = tok->tokenize(*text);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text->size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["MiB_in"] = static_cast<double>(text->size()) / (1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  std::string text_path = "/usr/share/common-licenses/GPL-3";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--text") == 0 && i + 1 < argc) {
      text_path = argv[++i];
    } else {
      args.push_back(argv[i]);
    }
  }
  int n_args = static_cast<int>(args.size());
  benchmark::Initialize(&n_args, args.data());

  static const std::string text = english_text(text_path);
  const std::string vocab_dir = std::string(TERN_SHARED_DIR) + "/testdata/tokenizer/";
  const std::pair<const char*, std::string> sources[] = {
      {"smollm2-135m (gpt2 BPE, smollm)", "smollm2-135m"},
      {"gemma3-270m (SPM, 262k)", "gemma3-270m"},
      {"ggml-vocab-gpt-2 (gpt2 BPE)", vocab_dir + "ggml-vocab-gpt-2.gguf"},
      {"ggml-vocab-llama-spm (SPM, 32k)", vocab_dir + "ggml-vocab-llama-spm.gguf"},
  };
  std::vector<std::unique_ptr<tern::Tokenizer>> tokenizers;
  for (const auto& [label, source] : sources) {
    try {
      tokenizers.push_back(std::make_unique<tern::Tokenizer>(
          tern::Tokenizer::open(tern::resolve_model_path(source))));
    } catch (const tern::Error& e) {
      std::fprintf(stderr, "skipping %s: %s\n", label, e.what());
      continue;
    }
    benchmark::RegisterBenchmark((std::string("tokenize_1MiB/") + label).c_str(), tokenize_text,
                                 tokenizers.back().get(), &text)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
