/* A chat answer with libtern's C API (tern/tern.h): load a model, render the question with
 * the model's chat template, tokenize it, and let tern_generate() stream the reply through
 * a per-token callback. Usage: simple_c MODEL.gguf QUESTION [N_TOKENS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tern/tern.h>

/* Prints each piece of text as it becomes complete. */
static bool print_piece(int32_t token, const char* piece, size_t piece_len, float logprob,
                        const tern_token_logprob* top, size_t n_top, void* user_data) {
  (void)token;
  (void)logprob;
  (void)top;
  (void)n_top;
  (void)user_data;
  fwrite(piece, 1, piece_len, stdout);
  fflush(stdout);
  return true; /* false would stop generation */
}

/* Reports a failed call with the library's message. */
static int failed(const char* what) {
  fprintf(stderr, "simple_c: %s: %s\n", what, tern_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf QUESTION [N_TOKENS]\n", argv[0]);
    return 2;
  }
  tern_model* model = NULL;
  tern_session* session = NULL;
  tern_sampler* sampler = NULL;
  const tern_tokenizer* tokenizer = NULL; /* the model's: not freed */
  char prompt[4096];
  int32_t tokens[1024];
  size_t n_prompt = 0, n_tokens = 0;
  int rc = 1;

  tern_session_options session_options = tern_session_options_default();
  session_options.n_ctx = 512;
  tern_sampling_params sampling = tern_sampling_params_default();
  sampling.temp = 0.0f; /* greedy: the same answer every run */
  tern_generate_options generate_options = tern_generate_options_default();
  generate_options.n_predict = argc > 3 ? atoi(argv[3]) : 32;
  const tern_chat_message question = {"user", argv[2]};

  if (tern_model_load(argv[1], NULL, &model) != TERN_OK) return failed("loading the model");
  if (tern_model_tokenizer(model, &tokenizer) != TERN_OK) {
    failed("the tokenizer");
  } else if (tern_chat_apply_template(model, NULL, &question, 1, true, prompt, sizeof(prompt),
                                      &n_prompt) != TERN_OK) {
    failed("the chat template");
  } else if (tern_tokenize(tokenizer, prompt, n_prompt,
                           TERN_TOKENIZE_ADD_BOS | TERN_TOKENIZE_PARSE_SPECIAL, tokens, 1024,
                           &n_tokens) != TERN_OK) {
    failed("tokenizing");
  } else if (tern_session_create(model, &session_options, &session) != TERN_OK) {
    failed("creating the session");
  } else if (tern_sampler_create(&sampling, NULL, &sampler) != TERN_OK) {
    failed("creating the sampler");
  } else if (tern_generate(session, tokenizer, sampler, tokens, n_tokens, &generate_options,
                           print_piece, NULL, NULL) != TERN_OK) {
    failed("generating");
  } else {
    putchar('\n');
    rc = 0;
  }
  tern_sampler_free(sampler);
  tern_session_free(session);
  tern_model_free(model);
  return rc;
}
