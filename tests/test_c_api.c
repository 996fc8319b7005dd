/* The C API (tern/tern.h) from C11, compiled by the C compiler: every error path returns
 * its status with a message in tern_last_error(), and the happy paths agree with llama.cpp's
 * reference logits for the llama-f32 golden (../shared/golden/) and with each other: the
 * tokenizer round trip, decode, batched decode, greedy generation with its callback and a
 * session's save/load. A plain program (no GoogleTest): prints each failed check, exits 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

#define GOLDEN TERN_SHARED_DIR "/golden/llama-f32/"
#define N_VOCAB 512
#define N_GOLDEN 32 /* tokens in tokens.txt, rows in logits.f32 */

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* `call` returns `status`, and the thread's last error mentions `needle`. */
#define EXPECT_ERROR(call, status, needle) expect_error((call), (status), (needle), #call, __LINE__)

static void expect_error(tern_status got, tern_status want, const char* needle, const char* call,
                         int line) {
  const char* message = tern_last_error();
  if (got != want || message[0] == '\0' || strstr(message, needle) == NULL) {
    fprintf(stderr, "%s:%d: %s returned \"%s\" (want \"%s\"), last error \"%s\" (want \"%s\")\n",
            __FILE__, line, call, tern_status_name(got), tern_status_name(want), message, needle);
    ++failures;
  }
}

#define EXPECT_OK(call) expect_error_free((call), #call, __LINE__)

static int expect_error_free(tern_status got, const char* call, int line) {
  if (got != TERN_OK) {
    fprintf(stderr, "%s:%d: %s returned \"%s\": %s\n", __FILE__, line, call, tern_status_name(got),
            tern_last_error());
    ++failures;
  }
  return got == TERN_OK;
}

static float max_abs_diff(const float* a, const float* b, size_t n) {
  float worst = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = fabsf(a[i] - b[i]);
    if (d > worst) worst = d;
  }
  return worst;
}

static int32_t argmax(const float* row, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return (int32_t)best;
}

static bool is_utf8(const char* text) {
  for (const unsigned char* p = (const unsigned char*)text; *p != 0;) {
    const int n = *p < 0x80             ? 0
                  : (*p & 0xE0) == 0xC0 ? 1
                  : (*p & 0xF0) == 0xE0 ? 2
                  : (*p & 0xF8) == 0xF0 ? 3
                                        : -1;
    if (n < 0) return false;
    ++p;
    for (int i = 0; i < n; ++i, ++p) {
      if ((*p & 0xC0) != 0x80) return false;
    }
  }
  return true;
}

static int32_t golden_tokens[N_GOLDEN];
static float golden_logits[N_GOLDEN * N_VOCAB];

static int read_golden(void) {
  FILE* f = fopen(GOLDEN "tokens.txt", "r");
  if (f == NULL) return 0;
  int ok = 1;
  for (int i = 0; i < N_GOLDEN && ok; ++i) ok = fscanf(f, "%d", &golden_tokens[i]) == 1;
  fclose(f);
  f = fopen(GOLDEN "logits.f32", "rb");
  if (f == NULL) return 0;
  ok = ok && fread(golden_logits, sizeof(float), N_GOLDEN * N_VOCAB, f) == N_GOLDEN * N_VOCAB;
  fclose(f);
  return ok;
}

static tern_session* new_session(const tern_model* model, int64_t n_ctx, int32_t n_seq) {
  tern_session_options options = tern_session_options_default();
  options.n_ctx = n_ctx;
  options.n_seq = n_seq;
  options.n_threads = 2;
  tern_session* session = NULL;
  EXPECT_OK(tern_session_create(model, &options, &session));
  return session;
}

static tern_sampler* new_greedy_sampler(void) {
  tern_sampling_params params = tern_sampling_params_default();
  params.temp = 0.0f;
  tern_sampler* sampler = NULL;
  EXPECT_OK(tern_sampler_create(&params, NULL, &sampler));
  return sampler;
}

static void test_version_and_statuses(void) {
  CHECK(strcmp(tern_version(), TERN_VERSION_STRING) == 0);
  char expected[32];
  snprintf(expected, sizeof(expected), "%d.%d.%d", TERN_VERSION_MAJOR, TERN_VERSION_MINOR,
           TERN_VERSION_PATCH);
  CHECK(strcmp(tern_version(), expected) == 0);
  CHECK(strcmp(tern_status_name(TERN_OK), "ok") == 0);
  CHECK(strcmp(tern_status_name((tern_status)99), "unknown status") == 0);
}

static void test_model_errors(void) {
  tern_model* model = NULL;
  tern_model_info info;
  EXPECT_ERROR(tern_model_load(NULL, NULL, &model), TERN_ERROR_INVALID_ARGUMENT, "path is NULL");
  EXPECT_ERROR(tern_model_load(GOLDEN "model.gguf", NULL, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "model output is NULL");
  EXPECT_ERROR(tern_model_load(GOLDEN "missing.gguf", NULL, &model), TERN_ERROR_IO, "cannot open");
  EXPECT_ERROR(tern_model_load(GOLDEN "tokens.txt", NULL, &model), TERN_ERROR_BAD_FORMAT,
               "tokens.txt");
  tern_model_options options = tern_model_options_default();
  options.backend = (tern_backend)42;
  EXPECT_ERROR(tern_model_load(GOLDEN "model.gguf", &options, &model), TERN_ERROR_INVALID_ARGUMENT,
               "backend");
  options = tern_model_options_default();
  options.cpu_kernels = (tern_cpu_kernels)-1;
  EXPECT_ERROR(tern_model_load(GOLDEN "model.gguf", &options, &model), TERN_ERROR_INVALID_ARGUMENT,
               "cpu_kernels");
  CHECK(model == NULL);
  EXPECT_ERROR(tern_model_get_info(NULL, &info), TERN_ERROR_INVALID_ARGUMENT, "model is NULL");
  const tern_tokenizer* borrowed = NULL;
  EXPECT_ERROR(tern_model_tokenizer(NULL, &borrowed), TERN_ERROR_INVALID_ARGUMENT, "model is NULL");
  tern_tokenizer* tokenizer = NULL;
  EXPECT_ERROR(tern_tokenizer_open(GOLDEN "missing.gguf", &tokenizer), TERN_ERROR_IO,
               "cannot open");
  EXPECT_ERROR(tern_tokenizer_open(GOLDEN "tokens.txt", &tokenizer), TERN_ERROR_BAD_FORMAT,
               "tokens.txt");
  tern_model_free(NULL); /* allowed */
  tern_tokenizer_free(NULL);
}

static void test_tokenizer(const tern_model* model) {
  const tern_tokenizer* tok = NULL;
  EXPECT_ERROR(tern_model_tokenizer(model, NULL), TERN_ERROR_INVALID_ARGUMENT, "output is NULL");
  if (!EXPECT_OK(tern_model_tokenizer(model, &tok))) return;
  tern_tokenizer_info info;
  EXPECT_OK(tern_tokenizer_get_info(tok, &info));
  CHECK(info.n_vocab == N_VOCAB);
  CHECK(info.bos == golden_tokens[0]);
  EXPECT_ERROR(tern_tokenizer_get_info(NULL, &info), TERN_ERROR_INVALID_ARGUMENT,
               "tokenizer is NULL");
  EXPECT_ERROR(tern_tokenizer_get_info(tok, NULL), TERN_ERROR_INVALID_ARGUMENT, "is NULL");

  /* Round trip: text -> tokens -> the same text. */
  const char* text = "Hello world, hello!";
  size_t n = 0;
  EXPECT_ERROR(tern_tokenize(tok, text, strlen(text), TERN_TOKENIZE_DEFAULT, NULL, 0, &n),
               TERN_ERROR_BUFFER_TOO_SMALL, "buffer holds 0");
  CHECK(n > 1);
  int32_t ids[64];
  size_t n_ids = 0;
  EXPECT_OK(tern_tokenize(tok, text, strlen(text), TERN_TOKENIZE_DEFAULT, ids, 64, &n_ids));
  CHECK(n_ids == n && ids[0] == info.bos);
  char back[128];
  size_t n_back = 0;
  EXPECT_OK(tern_detokenize(tok, ids, n_ids, false, back, sizeof(back), &n_back));
  CHECK(n_back == strlen(text) && strcmp(back, text) == 0);
  EXPECT_ERROR(tern_detokenize(tok, ids, n_ids, false, back, n_back, &n),
               TERN_ERROR_BUFFER_TOO_SMALL, "and a NUL");
  CHECK(n == n_back);
  EXPECT_ERROR(tern_tokenize(NULL, text, 1, 0, ids, 64, &n), TERN_ERROR_INVALID_ARGUMENT,
               "tokenizer is NULL");
  EXPECT_ERROR(tern_tokenize(tok, NULL, 3, 0, ids, 64, &n), TERN_ERROR_INVALID_ARGUMENT,
               "text is NULL");
  EXPECT_ERROR(tern_tokenize(tok, text, 3, 0, ids, 64, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "count output is NULL");
  EXPECT_OK(tern_tokenize(tok, NULL, 0, 0, NULL, 0, &n)); /* empty text, no tokens */
  CHECK(n == 0);

  const int32_t bad[2] = {ids[1], N_VOCAB};
  EXPECT_ERROR(tern_detokenize(tok, bad, 2, false, back, sizeof(back), &n),
               TERN_ERROR_INVALID_ARGUMENT, "outside the vocabulary");
  EXPECT_ERROR(tern_detokenize(tok, NULL, 2, false, back, sizeof(back), &n),
               TERN_ERROR_INVALID_ARGUMENT, "tokens is NULL");
  EXPECT_ERROR(tern_detokenize(tok, ids, n_ids, false, NULL, sizeof(back), &n),
               TERN_ERROR_INVALID_ARGUMENT, "text buffer is NULL");
  EXPECT_OK(tern_token_to_piece(tok, ids[1], false, back, sizeof(back), &n));
  CHECK(n > 0);
  EXPECT_ERROR(tern_token_to_piece(tok, -1, false, back, sizeof(back), &n),
               TERN_ERROR_INVALID_ARGUMENT, "token -1 is outside");
  bool end = true;
  EXPECT_OK(tern_token_is_end_of_generation(tok, ids[1], &end));
  CHECK(!end);
  EXPECT_OK(tern_token_is_end_of_generation(tok, info.eos, &end));
  CHECK(end);
  EXPECT_ERROR(tern_token_is_end_of_generation(tok, N_VOCAB, &end), TERN_ERROR_INVALID_ARGUMENT,
               "outside the vocabulary");

  /* A tokenizer of its own from the same file gives the same tokens. */
  tern_tokenizer* own = NULL;
  if (EXPECT_OK(tern_tokenizer_open(GOLDEN "model.gguf", &own))) {
    int32_t ids2[64];
    size_t n_ids2 = 0;
    EXPECT_OK(tern_tokenize(own, text, strlen(text), TERN_TOKENIZE_DEFAULT, ids2, 64, &n_ids2));
    CHECK(n_ids2 == n_ids && memcmp(ids, ids2, n_ids * sizeof(int32_t)) == 0);
    tern_tokenizer_free(own);
  }
  tern_tokenizer_free((tern_tokenizer*)tok); /* the model's: ignored, as documented */
}

/* Decoding the golden tokens gives llama.cpp's logits; the errors leave the session as it
 * was. */
static void test_decode(const tern_model* model) {
  tern_session* session = new_session(model, 48, 1);
  if (session == NULL) return;
  const float* logits = NULL;
  size_t n_rows = 0;
  EXPECT_OK(
      tern_session_decode(session, golden_tokens, N_GOLDEN, TERN_OUTPUTS_ALL, &logits, &n_rows));
  CHECK(n_rows == N_GOLDEN);
  if (n_rows == N_GOLDEN) {
    const float worst = max_abs_diff(logits, golden_logits, (size_t)N_GOLDEN * N_VOCAB);
    if (worst > 0.02f) fprintf(stderr, "logits differ from llama.cpp's by %g\n", worst);
    CHECK(worst <= 0.02f);
  }
  const float* again = NULL;
  EXPECT_OK(tern_session_logits(session, &again, &n_rows));
  CHECK(again == logits && n_rows == N_GOLDEN);

  int64_t n_past = 0;
  const int32_t bad_token = N_VOCAB;
  EXPECT_ERROR(tern_session_decode(session, &bad_token, 1, TERN_OUTPUTS_LAST, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "outside the vocabulary");
  EXPECT_ERROR(tern_session_decode(session, golden_tokens, N_GOLDEN, TERN_OUTPUTS_LAST, NULL, NULL),
               TERN_ERROR_CONTEXT_OVERFLOW, "exceed the context size");
  EXPECT_ERROR(tern_session_decode(session, NULL, 3, TERN_OUTPUTS_LAST, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "tokens is NULL");
  EXPECT_ERROR(tern_session_decode(session, golden_tokens, 1, (tern_outputs)7, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "tern_outputs");
  EXPECT_ERROR(tern_session_decode(NULL, golden_tokens, 1, TERN_OUTPUTS_LAST, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  EXPECT_OK(tern_session_n_past(session, 0, &n_past));
  CHECK(n_past == N_GOLDEN);
  EXPECT_ERROR(tern_session_n_past(session, 1, &n_past), TERN_ERROR_INVALID_ARGUMENT,
               "sequence 1 is not in");
  EXPECT_ERROR(tern_session_logits(NULL, &again, &n_rows), TERN_ERROR_INVALID_ARGUMENT,
               "session is NULL");

  tern_session_info info;
  EXPECT_OK(tern_session_get_info(session, &info));
  CHECK(info.n_ctx == 48 && info.n_seq == 1 && info.n_vocab == N_VOCAB && info.kv_bytes > 0);
  EXPECT_ERROR(tern_session_get_info(NULL, &info), TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  EXPECT_ERROR(tern_session_trim(session, 0, N_GOLDEN + 1), TERN_ERROR_INVALID_ARGUMENT,
               "cannot trim");
  EXPECT_OK(tern_session_trim(session, 0, 4));
  EXPECT_OK(tern_session_n_past(session, 0, &n_past));
  CHECK(n_past == 4);
  EXPECT_ERROR(tern_session_clear_sequence(session, 3), TERN_ERROR_INVALID_ARGUMENT, "sequence 3");
  EXPECT_ERROR(tern_session_copy_sequence(session, 0, 2), TERN_ERROR_INVALID_ARGUMENT,
               "sequence 2");
  EXPECT_OK(tern_session_clear(session));
  EXPECT_ERROR(tern_session_clear(NULL), TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  tern_session_free(session);

  tern_session* out = NULL;
  tern_session_options options = tern_session_options_default();
  options.n_seq = 0;
  EXPECT_ERROR(tern_session_create(model, &options, &out), TERN_ERROR_INVALID_ARGUMENT,
               "sequence count 0");
  EXPECT_ERROR(tern_session_create(NULL, NULL, &out), TERN_ERROR_INVALID_ARGUMENT, "model is NULL");
  EXPECT_ERROR(tern_session_create(model, NULL, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "session output is NULL");
  tern_session_free(NULL);
}

/* Hidden-state sessions: tern_session_embed's rows are a decode's, pooled; every misuse is
 * a status. */
static void test_embed(const tern_model* model, int64_t n_embd) {
  tern_session_options options = tern_session_options_default();
  options.n_ctx = 8;
  options.embeddings = true;
  tern_session* session = NULL;
  if (!EXPECT_OK(tern_session_create(model, &options, &session))) return;
  tern_session_info info;
  EXPECT_OK(tern_session_get_info(session, &info));
  CHECK(info.row_width == n_embd);
  const float* rows = NULL;
  size_t n_rows = 0;
  EXPECT_OK(tern_session_decode(session, golden_tokens, 4, TERN_OUTPUTS_ALL, &rows, &n_rows));
  CHECK(n_rows == 4);
  float decoded[4 * 1024];
  CHECK(n_embd <= 1024);
  memcpy(decoded, rows, sizeof(float) * 4 * (size_t)n_embd);

  float v[4 * 1024];
  size_t n_values = 0;
  EXPECT_OK(tern_session_embed(session, golden_tokens, 4, TERN_POOLING_NONE, false, v, 4 * 1024,
                               &n_values));
  CHECK(n_values == 4 * (size_t)n_embd && max_abs_diff(v, decoded, n_values) == 0.0f);
  EXPECT_OK(
      tern_session_embed(session, golden_tokens, 4, TERN_POOLING_LAST, true, v, 1024, &n_values));
  double sum_sq = 0.0;
  for (size_t i = 0; i < n_values; ++i) sum_sq += (double)v[i] * v[i];
  CHECK(n_values == (size_t)n_embd && fabs(sum_sq - 1.0) < 1e-5);
  EXPECT_ERROR(
      tern_session_embed(session, golden_tokens, 4, TERN_POOLING_MEAN, true, v, 3, &n_values),
      TERN_ERROR_BUFFER_TOO_SMALL, "the buffer holds 3");
  CHECK(n_values == (size_t)n_embd);
  EXPECT_ERROR(
      tern_session_embed(session, golden_tokens, 4, (tern_pooling)7, true, v, 1024, &n_values),
      TERN_ERROR_INVALID_ARGUMENT, "tern_pooling");
  EXPECT_ERROR(
      tern_session_embed(session, golden_tokens, 0, TERN_POOLING_MEAN, true, v, 1024, &n_values),
      TERN_ERROR_INVALID_ARGUMENT, "empty text");
  EXPECT_ERROR(
      tern_session_embed(session, golden_tokens, 9, TERN_POOLING_MEAN, true, v, 1024, &n_values),
      TERN_ERROR_CONTEXT_OVERFLOW, "context size 8");
  EXPECT_ERROR(
      tern_session_embed(NULL, golden_tokens, 4, TERN_POOLING_MEAN, true, v, 1024, &n_values),
      TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  tern_session_free(session);

  tern_session* logits_session = new_session(model, 8, 1);
  if (logits_session == NULL) return;
  EXPECT_ERROR(tern_session_embed(logits_session, golden_tokens, 4, TERN_POOLING_MEAN, true, v,
                                  1024, &n_values),
               TERN_ERROR_INVALID_ARGUMENT, "embeddings option");
  const int32_t* one[] = {golden_tokens};
  const size_t one_count[] = {4};
  EXPECT_ERROR(tern_session_embed_batch(logits_session, one, one_count, 1, TERN_POOLING_MEAN, true,
                                        v, 1024, &n_values),
               TERN_ERROR_INVALID_ARGUMENT, "embeddings option");
  tern_session_free(logits_session);
}

/* tern_session_embed_batch: texts read together (two sequences) give each text's
 * tern_session_embed, text after text in the buffer; a short buffer is a status before any
 * decode. */
static void test_embed_batch(const tern_model* model, int64_t n_embd) {
  tern_session_options options = tern_session_options_default();
  options.n_ctx = 8;
  options.n_seq = 2;
  options.embeddings = true;
  tern_session* session = NULL;
  if (!EXPECT_OK(tern_session_create(model, &options, &session))) return;
  const int32_t* texts[] = {golden_tokens, golden_tokens + 4, golden_tokens + 1};
  const size_t counts[] = {4, 2, 5};
  static float together[11 * 1024], alone[5 * 1024];
  CHECK(n_embd <= 1024);
  size_t n_values = 0;
  for (int pooling = TERN_POOLING_NONE; pooling <= TERN_POOLING_CLS; ++pooling) {
    if (!EXPECT_OK(tern_session_embed_batch(session, texts, counts, 3, (tern_pooling)pooling, true,
                                            together, 11 * 1024, &n_values))) {
      continue;
    }
    size_t at = 0;
    for (int i = 0; i < 3; ++i) {
      size_t n = 0;
      EXPECT_OK(tern_session_embed(session, texts[i], counts[i], (tern_pooling)pooling, true, alone,
                                   5 * 1024, &n));
      CHECK(at + n <= n_values && max_abs_diff(together + at, alone, n) < 1e-5f);
      at += n;
    }
    CHECK(at == n_values);
  }
  EXPECT_ERROR(tern_session_embed_batch(session, texts, counts, 3, TERN_POOLING_MEAN, true,
                                        together, 3 * (size_t)n_embd - 1, &n_values),
               TERN_ERROR_BUFFER_TOO_SMALL, "the buffer holds");
  CHECK(n_values == 3 * (size_t)n_embd);
  EXPECT_OK(tern_session_embed_batch(session, NULL, NULL, 0, TERN_POOLING_MEAN, true, NULL, 0,
                                     &n_values));
  CHECK(n_values == 0);
  EXPECT_ERROR(tern_session_embed_batch(session, NULL, counts, 1, TERN_POOLING_MEAN, true, together,
                                        1024, &n_values),
               TERN_ERROR_INVALID_ARGUMENT, "texts");
  tern_session_free(session);
}

static bool always_abort(void* user_data) {
  ++*(int*)user_data;
  return true;
}

static void test_abort(const tern_model* model) {
  tern_session* session = new_session(model, 64, 1);
  if (session == NULL) return;
  int asked = 0;
  EXPECT_OK(tern_session_set_abort(session, always_abort, &asked));
  EXPECT_ERROR(tern_session_decode(session, golden_tokens, 8, TERN_OUTPUTS_LAST, NULL, NULL),
               TERN_ERROR_CANCELLED, "cancelled");
  CHECK(asked > 0);
  int64_t n_past = -1;
  EXPECT_OK(tern_session_n_past(session, 0, &n_past));
  CHECK(n_past == 0);
  EXPECT_OK(tern_session_set_abort(session, NULL, NULL));
  EXPECT_OK(tern_session_decode(session, golden_tokens, 8, TERN_OUTPUTS_LAST, NULL, NULL));
  EXPECT_ERROR(tern_session_set_abort(NULL, NULL, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "session is NULL");
  tern_session_free(session);
}

/* Two sequences in one decode give what each gives alone. */
static void test_batched_decode(const tern_model* model) {
  tern_session* batched = new_session(model, 64, 2);
  tern_session* alone = new_session(model, 64, 1);
  if (batched == NULL || alone == NULL) goto done;
  const tern_sequence_tokens parts[2] = {
      {.seq = 1, .tokens = golden_tokens, .n_tokens = 10, .outputs = TERN_OUTPUTS_LAST},
      {.seq = 0, .tokens = golden_tokens, .n_tokens = N_GOLDEN, .outputs = TERN_OUTPUTS_LAST}};
  const float* logits = NULL;
  size_t n_rows = 0;
  if (!EXPECT_OK(tern_session_decode_batch(batched, parts, 2, &logits, &n_rows))) goto done;
  CHECK(n_rows == 2);
  const float* single = NULL;
  EXPECT_OK(tern_session_decode(alone, golden_tokens, 10, TERN_OUTPUTS_LAST, &single, NULL));
  CHECK(max_abs_diff(logits, single, N_VOCAB) <= 1e-4f);
  EXPECT_OK(tern_session_clear(alone));
  EXPECT_OK(tern_session_decode(alone, golden_tokens, N_GOLDEN, TERN_OUTPUTS_LAST, &single, NULL));
  CHECK(max_abs_diff(logits + N_VOCAB, single, N_VOCAB) <= 1e-4f);
  CHECK(max_abs_diff(logits + N_VOCAB, golden_logits + (N_GOLDEN - 1) * N_VOCAB, N_VOCAB) <= 0.02f);

  const tern_sequence_tokens twice[2] = {parts[0], parts[0]};
  EXPECT_ERROR(tern_session_decode_batch(batched, twice, 2, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "appears twice");
  tern_sequence_tokens beyond = parts[0];
  beyond.seq = 2;
  EXPECT_ERROR(tern_session_decode_batch(batched, &beyond, 1, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "sequence 2 is not in");
  beyond.seq = 0; /* 32 + 32 positions of 64: fits; 32 + 33 would not */
  beyond.n_tokens = N_GOLDEN + 1;
  EXPECT_ERROR(tern_session_decode_batch(batched, &beyond, 1, NULL, NULL),
               TERN_ERROR_CONTEXT_OVERFLOW, "exceed the context size");
  EXPECT_ERROR(tern_session_decode_batch(batched, NULL, 1, NULL, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "parts is NULL");
  EXPECT_OK(tern_session_copy_sequence(batched, 0, 1));
  int64_t n_past = 0;
  EXPECT_OK(tern_session_n_past(batched, 1, &n_past));
  CHECK(n_past == N_GOLDEN);
done:
  tern_session_free(batched);
  tern_session_free(alone);
}

/* A saved session, loaded into another, gives the same next logits. */
static void test_save_load(const tern_model* model) {
  const char* path = TERN_TEST_OUTPUT_DIR "/test_c_api.session";
  tern_session* first = new_session(model, 64, 1);
  tern_session* second = new_session(model, 64, 1);
  if (first == NULL || second == NULL) goto done;
  EXPECT_OK(tern_session_decode(first, golden_tokens, 16, TERN_OUTPUTS_LAST, NULL, NULL));
  if (!EXPECT_OK(tern_session_save(first, path))) goto done;
  const float* expected = NULL;
  EXPECT_OK(tern_session_decode(first, golden_tokens + 16, 1, TERN_OUTPUTS_LAST, &expected, NULL));
  if (!EXPECT_OK(tern_session_load(second, path))) goto done;
  int64_t n_past = 0;
  EXPECT_OK(tern_session_n_past(second, 0, &n_past));
  CHECK(n_past == 16);
  const float* got = NULL;
  EXPECT_OK(tern_session_decode(second, golden_tokens + 16, 1, TERN_OUTPUTS_LAST, &got, NULL));
  CHECK(expected != NULL && got != NULL && max_abs_diff(expected, got, N_VOCAB) == 0.0f);

  EXPECT_ERROR(tern_session_load(second, GOLDEN "missing.session"), TERN_ERROR_IO, "cannot open");
  EXPECT_ERROR(tern_session_load(second, GOLDEN "tokens.txt"), TERN_ERROR_BAD_FORMAT, "tokens.txt");
  EXPECT_ERROR(tern_session_save(first, "/nonexistent-dir/x.session"), TERN_ERROR_IO,
               "nonexistent-dir");
  EXPECT_ERROR(tern_session_save(first, NULL), TERN_ERROR_INVALID_ARGUMENT, "path is NULL");
  EXPECT_ERROR(tern_session_load(NULL, path), TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  remove(path);
done:
  tern_session_free(first);
  tern_session_free(second);
}

static void test_sampler(const tern_model* model) {
  const tern_tokenizer* tok = NULL;
  EXPECT_OK(tern_model_tokenizer(model, &tok));
  tern_sampler* sampler = new_greedy_sampler();
  if (sampler == NULL) return;
  const float* last = golden_logits + (N_GOLDEN - 1) * N_VOCAB;
  int32_t token = -1;
  EXPECT_OK(tern_sampler_sample(sampler, last, N_VOCAB, &token));
  CHECK(token == argmax(last, N_VOCAB));
  EXPECT_OK(tern_sampler_accept_prompt(sampler, token));
  EXPECT_OK(tern_sampler_accept(sampler, token));
  EXPECT_OK(tern_sampler_reset(sampler));
  EXPECT_ERROR(tern_sampler_sample(sampler, NULL, 0, &token), TERN_ERROR_INVALID_ARGUMENT,
               "empty logits");
  EXPECT_ERROR(tern_sampler_sample(sampler, NULL, 4, &token), TERN_ERROR_INVALID_ARGUMENT,
               "logits is NULL");
  EXPECT_ERROR(tern_sampler_sample(sampler, last, N_VOCAB, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "token output is NULL");
  EXPECT_ERROR(tern_sampler_sample(NULL, last, N_VOCAB, &token), TERN_ERROR_INVALID_ARGUMENT,
               "sampler is NULL");
  EXPECT_ERROR(tern_sampler_accept(NULL, 1), TERN_ERROR_INVALID_ARGUMENT, "sampler is NULL");
  EXPECT_ERROR(tern_sampler_accept_prompt(NULL, 1), TERN_ERROR_INVALID_ARGUMENT, "sampler is NULL");
  EXPECT_ERROR(tern_sampler_reset(NULL), TERN_ERROR_INVALID_ARGUMENT, "sampler is NULL");
  tern_sampler_free(sampler);

  tern_sampler* bad = NULL;
  tern_sampling_params params = tern_sampling_params_default();
  params.top_p = 2.0f;
  EXPECT_ERROR(tern_sampler_create(&params, NULL, &bad), TERN_ERROR_INVALID_ARGUMENT, "top_p");
  params = tern_sampling_params_default();
  params.grammar = "root ::= \"yes\" | \"no\"";
  EXPECT_ERROR(tern_sampler_create(&params, NULL, &bad), TERN_ERROR_INVALID_ARGUMENT, "grammar");
  if (EXPECT_OK(tern_sampler_create(&params, tok, &bad))) tern_sampler_free(bad);
  params.grammar = "root ::= (";
  EXPECT_ERROR(tern_sampler_create(&params, tok, &bad), TERN_ERROR_INVALID_ARGUMENT, "grammar");

  /* A logit bias: banning the greedy token leaves the runner-up. */
  params = tern_sampling_params_default();
  params.temp = 0.0f;
  const float* logits = golden_logits + (N_GOLDEN - 1) * N_VOCAB;
  const int32_t best = argmax(logits, N_VOCAB);
  tern_logit_bias ban = {best, -INFINITY};
  params.logit_bias = &ban;
  params.n_logit_bias = 1;
  if (EXPECT_OK(tern_sampler_create(&params, tok, &bad))) {
    int32_t second = -1;
    EXPECT_OK(tern_sampler_sample(bad, logits, N_VOCAB, &second));
    CHECK(second >= 0 && second != best);
    for (int32_t i = 0; i < N_VOCAB; ++i) CHECK(i == best || logits[i] <= logits[second]);
    tern_sampler_free(bad);
  }
  ban.token = N_VOCAB;
  EXPECT_ERROR(tern_sampler_create(&params, tok, &bad), TERN_ERROR_INVALID_ARGUMENT,
               "outside the vocabulary");
  params.logit_bias = NULL;
  EXPECT_ERROR(tern_sampler_create(&params, tok, &bad), TERN_ERROR_INVALID_ARGUMENT,
               "logit biases is NULL");
  EXPECT_ERROR(tern_sampler_create(NULL, NULL, NULL), TERN_ERROR_INVALID_ARGUMENT,
               "sampler output is NULL");
  tern_sampler_free(NULL);
}

static void test_chat_template(const tern_model* model) {
  const tern_chat_message messages[2] = {{"system", "Be brief."}, {"user", "Hi"}};
  char text[256];
  size_t n = 0;
  EXPECT_OK(tern_chat_apply_template(NULL, "chatml", messages, 2, true, text, sizeof(text), &n));
  CHECK(strcmp(text,
               "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
               "<|im_start|>assistant\n") == 0);
  CHECK(n == strlen(text));
  /* The golden model's file names no template: ChatML, its fallback. */
  char from_model[256];
  EXPECT_OK(
      tern_chat_apply_template(model, NULL, messages, 2, true, from_model, sizeof(from_model), &n));
  CHECK(strcmp(text, from_model) == 0);
  EXPECT_ERROR(tern_chat_apply_template(NULL, "chatml", messages, 2, true, text, 10, &n),
               TERN_ERROR_BUFFER_TOO_SMALL, "buffer holds 10");
  CHECK(n == strlen(from_model));
  EXPECT_ERROR(
      tern_chat_apply_template(NULL, "no-such-format", messages, 2, true, text, sizeof(text), &n),
      TERN_ERROR_INVALID_ARGUMENT, "chatml");
  EXPECT_ERROR(tern_chat_apply_template(NULL, NULL, messages, 2, true, text, sizeof(text), &n),
               TERN_ERROR_INVALID_ARGUMENT, "both missing");
  const tern_chat_message no_content = {"user", NULL};
  EXPECT_ERROR(
      tern_chat_apply_template(NULL, "chatml", &no_content, 1, true, text, sizeof(text), &n),
      TERN_ERROR_INVALID_ARGUMENT, "content is NULL");
  EXPECT_ERROR(tern_chat_apply_template(NULL, "chatml", NULL, 1, true, text, sizeof(text), &n),
               TERN_ERROR_INVALID_ARGUMENT, "messages is NULL");
}

struct Collected {
  int32_t tokens[64];
  float logprobs[64];
  size_t n_tokens;
  char text[1024];
  size_t n_text;
  size_t stop_after; /* return false once this many tokens came; 0: never */
  size_t n_top;      /* alternatives the last token came with */
  int top_mismatches;
};

static bool collect(int32_t token, const char* piece, size_t piece_len, float logprob,
                    const tern_token_logprob* top, size_t n_top, void* user_data) {
  struct Collected* c = user_data;
  /* Greedy: the token is the most likely; the alternatives come most likely first. */
  if (token >= 0 && n_top > 0 && (top[0].token != token || top[0].logprob != logprob)) {
    ++c->top_mismatches;
  }
  for (size_t i = 1; i < n_top; ++i) c->top_mismatches += top[i].logprob > top[i - 1].logprob;
  if (token >= 0) c->n_top = n_top;
  if (token >= 0 && c->n_tokens < 64) {
    c->tokens[c->n_tokens] = token;
    c->logprobs[c->n_tokens++] = logprob;
  }
  if (c->n_text + piece_len < sizeof(c->text)) {
    memcpy(c->text + c->n_text, piece, piece_len);
    c->n_text += piece_len;
    c->text[c->n_text] = '\0';
  }
  return c->stop_after == 0 || c->n_tokens < c->stop_after;
}

/* Greedy generation streams what a hand-written greedy loop produces. */
static void test_generate(const tern_model* model) {
  const tern_tokenizer* tok = NULL;
  EXPECT_OK(tern_model_tokenizer(model, &tok));
  tern_sampler* sampler = new_greedy_sampler();
  tern_session* session = new_session(model, 64, 1);
  tern_session* manual = new_session(model, 64, 1);
  if (sampler == NULL || session == NULL || manual == NULL) goto done;

  tern_generate_options options = tern_generate_options_default();
  options.n_predict = 8;
  options.ignore_eos = true;
  options.n_top_logprobs = 3;
  struct Collected got = {.n_tokens = 0};
  tern_generate_result result;
  if (!EXPECT_OK(tern_generate(session, tok, sampler, golden_tokens, N_GOLDEN, &options, collect,
                               &got, &result))) {
    goto done;
  }
  CHECK(result.n_prompt == N_GOLDEN);
  CHECK(result.stop == TERN_STOP_MAX_TOKENS);
  CHECK(result.n_generated == 8 && got.n_tokens == 8);
  CHECK(got.n_top == 3 && got.top_mismatches == 0);
  CHECK(result.pending == got.tokens[7]);
  CHECK(got.tokens[0] == argmax(golden_logits + (N_GOLDEN - 1) * N_VOCAB, N_VOCAB));
  for (size_t i = 0; i < got.n_tokens; ++i) CHECK(got.logprobs[i] <= 0.0f);
  /* The pieces are whole characters: the random model's byte tokens that form none come
   * out as U+FFFD, so the text is valid UTF-8 (not always the raw detokenized bytes). */
  CHECK(got.n_text > 0 && is_utf8(got.text));

  /* The same by hand: decode, argmax, decode. */
  const float* logits = NULL;
  EXPECT_OK(tern_session_decode(manual, golden_tokens, N_GOLDEN, TERN_OUTPUTS_LAST, &logits, NULL));
  for (size_t i = 0; i < got.n_tokens && logits != NULL; ++i) {
    const int32_t next = argmax(logits, N_VOCAB);
    CHECK(next == got.tokens[i]);
    if (i + 1 < got.n_tokens) {
      EXPECT_OK(tern_session_decode(manual, &next, 1, TERN_OUTPUTS_LAST, &logits, NULL));
    }
  }

  /* The callback's false stops generation. */
  struct Collected first = {.stop_after = 1};
  EXPECT_OK(tern_session_clear(session));
  EXPECT_OK(tern_sampler_reset(sampler));
  EXPECT_OK(tern_generate(session, tok, sampler, golden_tokens, N_GOLDEN, &options, collect, &first,
                          &result));
  CHECK(result.stop == TERN_STOP_INTERRUPTED && first.n_tokens == 1);

  /* Errors: a prompt past the context, missing arguments. */
  EXPECT_OK(tern_session_clear(session));
  EXPECT_OK(tern_session_decode(session, golden_tokens, N_GOLDEN, TERN_OUTPUTS_NONE, NULL, NULL));
  int32_t long_prompt[N_GOLDEN + 1];
  memcpy(long_prompt, golden_tokens, sizeof(golden_tokens));
  long_prompt[N_GOLDEN] = golden_tokens[1];
  EXPECT_ERROR(
      tern_generate(session, tok, sampler, long_prompt, N_GOLDEN + 1, &options, NULL, NULL, NULL),
      TERN_ERROR_CONTEXT_OVERFLOW, "free positions");
  EXPECT_ERROR(tern_generate(NULL, tok, sampler, golden_tokens, 1, NULL, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "session is NULL");
  EXPECT_ERROR(tern_generate(session, NULL, sampler, golden_tokens, 1, NULL, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "tokenizer is NULL");
  EXPECT_ERROR(tern_generate(session, tok, NULL, golden_tokens, 1, NULL, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "sampler is NULL");
  EXPECT_ERROR(tern_generate(session, tok, sampler, NULL, 1, NULL, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "prompt is NULL");
  options.n_stop = 1;
  options.stop = NULL;
  EXPECT_ERROR(tern_generate(session, tok, sampler, golden_tokens, 1, &options, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "stop strings is NULL");
  options.n_stop = 0;
  options.n_top_logprobs = 21;
  EXPECT_ERROR(tern_generate(session, tok, sampler, golden_tokens, 1, &options, NULL, NULL, NULL),
               TERN_ERROR_INVALID_ARGUMENT, "top log-probabilities 21");
done:
  tern_sampler_free(sampler);
  tern_session_free(session);
  tern_session_free(manual);
}

int main(void) {
  if (!read_golden()) {
    fprintf(stderr, "cannot read %stokens.txt and logits.f32\n", GOLDEN);
    return 1;
  }
  test_version_and_statuses();
  test_model_errors();
  tern_model* model = NULL;
  if (EXPECT_OK(tern_model_load(GOLDEN "model.gguf", NULL, &model))) {
    tern_model_info info;
    EXPECT_OK(tern_model_get_info(model, &info));
    CHECK(strcmp(info.architecture, "llama") == 0 && info.n_vocab == N_VOCAB);
    CHECK(info.n_layer > 0 && info.weight_bytes > 0 && info.file_bytes >= info.weight_bytes);
    test_tokenizer(model);
    test_decode(model);
    test_abort(model);
    test_batched_decode(model);
    test_save_load(model);
    test_sampler(model);
    test_chat_template(model);
    test_generate(model);
    test_embed(model, info.n_embd);
    test_embed_batch(model, info.n_embd);
    tern_model_free(model);
  }
  if (failures > 0) {
    fprintf(stderr, "test_c_api: %d checks failed\n", failures);
    return 1;
  }
  printf("test_c_api: all checks passed\n");
  return 0;
}
