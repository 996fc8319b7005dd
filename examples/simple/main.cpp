// The whole generation loop with libtern: load a model, tokenize a prompt, decode it,
// then sample, print and decode one token at a time. Usage: simple MODEL.gguf PROMPT [N]
#include <tern/error.h>
#include <tern/model.h>
#include <tern/sampler.h>
#include <tern/session.h>
#include <tern/tokenizer.h>

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
    return 2;
  }
  const int n_predict = argc > 3 ? std::atoi(argv[3]) : 32;
  try {
    const tern::Model model = tern::Model::load(argv[1]);
    const tern::Tokenizer& tokenizer = model.tokenizer();
    // Special tokens in the prompt text (<|im_start|>...) are read as tokens; BOS is added
    // when the vocabulary asks for it.
    std::vector<tern::TokenId> tokens =
        tokenizer.tokenize(argv[2], {.add_eos = false, .parse_special = true});

    tern::Session session(model, {.n_ctx = 512});
    tern::SamplerChain sampler({.temp = 0.0f});  // greedy: the same answer every run
    for (tern::TokenId t : tokens) sampler.accept_prompt(t);
    tern::StreamDecoder text(tokenizer);  // whole UTF-8 characters only

    std::span<const float> logits = session.decode(tokens);  // last position's logits
    for (int i = 0; i < n_predict; ++i) {
      const tern::TokenId next = sampler.sample(logits);
      if (tokenizer.is_end_of_generation(next)) break;
      sampler.accept(next);
      std::fputs(text.push(next).c_str(), stdout);
      std::fflush(stdout);
      logits = session.decode(std::span(&next, 1));
    }
    std::fputs((text.finish() + "\n").c_str(), stdout);
  } catch (const tern::Error& e) {  // bad file, unknown architecture, context full...
    std::fprintf(stderr, "simple: %s\n", e.what());
    return 1;
  }
  return 0;
}
