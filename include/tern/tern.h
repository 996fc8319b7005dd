/* tern's C API: the library through opaque handles and status codes, for C programs and
 * for bindings from other languages (and C++ built with another toolchain). It wraps the
 * C++ headers beside it (model.h, session.h, tokenizer.h, sampler.h, chat.h, generate.h,
 * embeddings.h);
 * their comments say more about what each call does.
 *
 * Errors: every function that can fail returns a tern_status, with its outputs through
 * pointers; TERN_OK is 0. On failure tern_last_error() holds a one-line message (what failed
 * and where) and the outputs are left unchanged unless said otherwise. No C++ exception ever
 * leaves a function of this header, and none aborts the program on bad input.
 *
 * Threads: one model may be shared by any number of sessions and threads (every function
 * taking a `const tern_model*` or `const tern_tokenizer*` may run in many threads at once).
 * A session, and a sampler, is used by one thread at a time; sessions over one model may
 * decode in different threads at once. tern_last_error() is per thread: it is the message of
 * the last call that failed on the calling thread (a successful call leaves it unchanged).
 *
 * Strings are UTF-8 (any bytes for text to tokenize); output buffers are the caller's. A
 * function writing text or tokens into a buffer returns TERN_ERROR_BUFFER_TOO_SMALL with the
 * size it needs in its size output when the buffer is too small (a NULL buffer of capacity 0
 * asks for the size alone); text is NUL-terminated, and the size excludes the NUL.
 *
 * Not yet available: speculative decoding, grammars from JSON Schema, multi-turn
 * Conversation and BatchGenerator. */
#ifndef TERN_TERN_H
#define TERN_TERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status and version ------------------------------------------------------------- */

typedef enum tern_status {
  TERN_OK = 0,
  TERN_ERROR_INVALID_ARGUMENT = 1, /* a NULL handle or pointer, a value out of range, a token
                                      id outside the vocabulary, a sequence out of range */
  TERN_ERROR_IO = 2,               /* a file cannot be opened, read or written */
  TERN_ERROR_BAD_FORMAT = 3,       /* a file is not what it must be: not a model tern can
                                      load, a corrupt session file or one of another model */
  TERN_ERROR_CONTEXT_OVERFLOW = 4, /* tokens do not fit in a sequence's free positions */
  TERN_ERROR_BUFFER_TOO_SMALL = 5, /* the size output holds the size needed */
  TERN_ERROR_OUT_OF_MEMORY = 6,
  TERN_ERROR_CANCELLED = 7, /* the session's abort callback stopped a decode */
  TERN_ERROR_INTERNAL = 8   /* anything else: a bug in tern, please report it */
} tern_status;

/* The version the library was built as, "MAJOR.MINOR.PATCH" (see tern/version.h). */
const char* tern_version(void);
/* The name of a status ("ok", "invalid argument", ...); "unknown status" for other values. */
const char* tern_status_name(tern_status status);
/* The message of the last call that failed on this thread; "" before any. Valid until the
 * next failing call on this thread. */
const char* tern_last_error(void);

/* ---- Model --------------------------------------------------------------------------- */

typedef struct tern_model tern_model;

typedef enum tern_backend {
  TERN_BACKEND_AUTO = 0, /* the best available: a GPU backend, else the CPU */
  TERN_BACKEND_CPU = 1,
  TERN_BACKEND_VULKAN = 2,
  TERN_BACKEND_CUDA = 3,
  TERN_BACKEND_HIP = 4 /* AMD GPUs (a build with -DTERN_HIP=ON); its device is cuda_device */
} tern_backend;

/* The CPU kernels' SIMD level; a level above the CPU's is an error at the first session. */
typedef enum tern_cpu_kernels {
  TERN_CPU_KERNELS_AUTO = 0, /* the best this CPU has */
  TERN_CPU_KERNELS_SCALAR = 1,
  TERN_CPU_KERNELS_AVX2 = 2,
  TERN_CPU_KERNELS_AVX512 = 3,
  TERN_CPU_KERNELS_AMX = 4 /* AVX512 plus AMX-INT8 tiles for prompts */
} tern_cpu_kernels;

typedef struct tern_model_options {
  bool strict;          /* refuse files holding tensors the architecture does not use */
  tern_backend backend; /* checked when the first session is created */
  int32_t n_gpu_layers; /* the last n layers on the GPU backend; -1: all */
  int32_t cuda_device;
  int32_t vulkan_device; /* -1: the best */
  tern_cpu_kernels cpu_kernels;
  bool repack; /* interleaved weight copies for the CPU's SIMD kernels */
} tern_model_options;

/* The defaults (tern::ModelOptions'). */
tern_model_options tern_model_options_default(void);
/* Loads the GGUF model at `path` (options NULL: the defaults) into *out, to free with
 * tern_model_free(). TERN_ERROR_IO when the file cannot be opened, TERN_ERROR_BAD_FORMAT when
 * it is not a model tern can run. */
tern_status tern_model_load(const char* path, const tern_model_options* options, tern_model** out);
/* Frees a model (NULL: nothing). Every session over it must be freed first. */
void tern_model_free(tern_model* model);

typedef struct tern_model_info {
  const char* architecture; /* general.architecture; valid as long as the model */
  int64_t n_vocab;
  int64_t n_ctx_train; /* the context length it was trained with */
  int64_t n_embd;
  int64_t n_layer;
  uint64_t weight_bytes; /* bytes of the weights the architecture uses */
  uint64_t file_bytes;
} tern_model_info;

tern_status tern_model_get_info(const tern_model* model, tern_model_info* out);

/* ---- Tokenizer ----------------------------------------------------------------------- */

typedef struct tern_tokenizer tern_tokenizer;

/* The model's tokenizer, built on the first call; it lives as long as the model and must
 * not be freed. TERN_ERROR_BAD_FORMAT when the file's tokenizer keys are unusable. */
tern_status tern_model_tokenizer(const tern_model* model, const tern_tokenizer** out);
/* A tokenizer read from the GGUF file at `path` (a vocab-only file is enough), to free with
 * tern_tokenizer_free(). */
tern_status tern_tokenizer_open(const char* path, tern_tokenizer** out);
/* Frees a tokenizer from tern_tokenizer_open() (NULL: nothing). */
void tern_tokenizer_free(tern_tokenizer* tokenizer);

typedef struct tern_tokenizer_info {
  int32_t n_vocab;
  int32_t bos, eos, eot, unk, pad, sep; /* special token ids; -1 where the file has none */
  bool add_bos, add_eos;                /* what the vocabulary asks tokenize() to add */
} tern_tokenizer_info;

tern_status tern_tokenizer_get_info(const tern_tokenizer* tokenizer, tern_tokenizer_info* out);

/* tern_tokenize() flags. */
enum {
  TERN_TOKENIZE_ADD_BOS = 1,       /* prepend BOS when the vocabulary asks for it */
  TERN_TOKENIZE_ADD_EOS = 2,       /* append EOS when the vocabulary asks for it */
  TERN_TOKENIZE_PARSE_SPECIAL = 4, /* read control-token text ("<|im_start|>") as tokens */
  TERN_TOKENIZE_DEFAULT = TERN_TOKENIZE_ADD_BOS | TERN_TOKENIZE_ADD_EOS
};

/* Token ids of `text_len` bytes of `text` into tokens[0..capacity); *n_tokens: how many
 * (or how many are needed, with TERN_ERROR_BUFFER_TOO_SMALL). */
tern_status tern_tokenize(const tern_tokenizer* tokenizer, const char* text, size_t text_len,
                          uint32_t flags, int32_t* tokens, size_t capacity, size_t* n_tokens);
/* The text of n_tokens tokens (control tokens shown only with render_special) into
 * text[0..capacity), NUL-terminated; *n_bytes: its length. Raw bytes: a sequence cut inside
 * a character ends with a partial one. TERN_ERROR_INVALID_ARGUMENT for an id outside the
 * vocabulary. */
tern_status tern_detokenize(const tern_tokenizer* tokenizer, const int32_t* tokens, size_t n_tokens,
                            bool render_special, char* text, size_t capacity, size_t* n_bytes);
/* The text of one token on its own (a leading space kept), as tern_detokenize(). */
tern_status tern_token_to_piece(const tern_tokenizer* tokenizer, int32_t token, bool render_special,
                                char* text, size_t capacity, size_t* n_bytes);
/* Whether `token` ends generation (EOS, EOT, end-of-turn markers). */
tern_status tern_token_is_end_of_generation(const tern_tokenizer* tokenizer, int32_t token,
                                            bool* out);

/* ---- Session: the KV cache of one or more sequences ---------------------------------- */

typedef struct tern_session tern_session;

typedef enum tern_kv_type { TERN_KV_F32 = 0, TERN_KV_F16 = 1 } tern_kv_type;

typedef struct tern_session_options {
  int64_t n_ctx;     /* positions per sequence; 0: the model's n_ctx_train */
  int64_t n_batch;   /* tokens per micro-batch, all sequences together */
  int32_t n_threads; /* 0: one per physical core */
  tern_kv_type kv_type; /* default TERN_KV_F16 (half the memory); TERN_KV_F32: every bit */
  int32_t n_seq; /* sequences, each with its own n_ctx positions */
  bool embeddings; /* decodes return final hidden states (rows of n_embd), not logits */
} tern_session_options;

/* The defaults (tern::SessionOptions'). */
tern_session_options tern_session_options_default(void);
/* A session over `model` (options NULL: the defaults), to free with tern_session_free(); the
 * model must outlive it. */
tern_status tern_session_create(const tern_model* model, const tern_session_options* options,
                                tern_session** out);
/* Frees a session (NULL: nothing). */
void tern_session_free(tern_session* session);

typedef struct tern_session_info {
  int64_t n_ctx;
  int32_t n_seq;
  int64_t n_vocab;
  uint64_t kv_bytes;
  int64_t row_width; /* floats per decoded row: n_vocab, or n_embd with embeddings */
} tern_session_info;

tern_status tern_session_get_info(const tern_session* session, tern_session_info* out);
/* Positions of sequence `seq` filled in the cache. */
tern_status tern_session_n_past(const tern_session* session, int32_t seq, int64_t* out);

/* Which positions of a decode get logits. */
typedef enum tern_outputs {
  TERN_OUTPUTS_LAST = 0,
  TERN_OUTPUTS_ALL = 1,
  TERN_OUTPUTS_NONE = 2
} tern_outputs;

/* Asked during decodes (before each micro-batch and between layers); true abandons the
 * decode, which then returns TERN_ERROR_CANCELLED keeping none of its positions. Runs on the
 * decoding thread: it must be cheap and must not call into the session. */
typedef bool (*tern_abort_callback)(void* user_data);
/* The abort callback of this session's decodes and generations (NULL: none). */
tern_status tern_session_set_abort(tern_session* session, tern_abort_callback callback,
                                   void* user_data);

/* Appends n_tokens tokens to sequence 0 and sets *logits to the rows `outputs` asks for,
 * *n_rows of them, row_width floats each (tern_session_info), in position order; both outputs may
 * be NULL. The rows stay valid until the session's next decode, clear, load or free. Fails before
 * decoding anything (the session unchanged) with TERN_ERROR_CONTEXT_OVERFLOW when the tokens do not
 * fit, TERN_ERROR_INVALID_ARGUMENT for a token outside the vocabulary. */
tern_status tern_session_decode(tern_session* session, const int32_t* tokens, size_t n_tokens,
                                tern_outputs outputs, const float** logits, size_t* n_rows);

/* One sequence's part of a batched decode: tokens go to sequence `seq` at its next
 * positions. */
typedef struct tern_sequence_tokens {
  int32_t seq;
  const int32_t* tokens;
  size_t n_tokens;
  tern_outputs outputs;
} tern_sequence_tokens;

/* Appends each part's tokens to its sequence, reading the weights once for all of them;
 * the rows come part by part in `parts` order. A sequence may appear in one part only. Fails
 * as tern_session_decode(), before decoding anything. */
tern_status tern_session_decode_batch(tern_session* session, const tern_sequence_tokens* parts,
                                      size_t n_parts, const float** logits, size_t* n_rows);
/* The logits the last decode returned (*n_rows 0 after a clear or load). */
tern_status tern_session_logits(const tern_session* session, const float** logits, size_t* n_rows);

/* How a text's hidden-state rows become its embedding (tern/embeddings.h). */
typedef enum tern_pooling {
  TERN_POOLING_NONE = 0, /* every token's row */
  TERN_POOLING_MEAN = 1,
  TERN_POOLING_LAST = 2,
  TERN_POOLING_CLS = 3 /* the first token's row */
} tern_pooling;

/* The embedding of n_tokens tokens, decoded from an empty sequence 0 of a session created
 * with `embeddings` (cleared again after): n_embd floats (TERN_POOLING_NONE: n_tokens rows
 * of them), scaled to length 1 when `normalize`, copied to out[0..capacity). *n_values gets
 * the count even when it does not fit (then TERN_ERROR_BUFFER_TOO_SMALL). A session without
 * `embeddings`, or no tokens: TERN_ERROR_INVALID_ARGUMENT. */
tern_status tern_session_embed(tern_session* session, const int32_t* tokens, size_t n_tokens,
                               tern_pooling pooling, bool normalize, float* out, size_t capacity,
                               size_t* n_values);
/* The embeddings of n_texts texts (texts[i]: n_tokens[i] tokens), each as tern_session_embed
 * gives it alone, read several at a time: up to the session's n_seq texts whose tokens fit
 * one micro-batch together, each a sequence of its own (all cleared again after); short
 * texts then share each pass over the weights. out holds them text after text: n_embd floats
 * each (TERN_POOLING_NONE: n_tokens[i] rows of them). *n_values gets the total even when it
 * does not fit, and then TERN_ERROR_BUFFER_TOO_SMALL before anything is decoded. */
tern_status tern_session_embed_batch(tern_session* session, const int32_t* const* texts,
                                     const size_t* n_tokens, size_t n_texts, tern_pooling pooling,
                                     bool normalize, float* out, size_t capacity, size_t* n_values);

/* Empties every sequence. */
tern_status tern_session_clear(tern_session* session);
/* Empties sequence `seq`. */
tern_status tern_session_clear_sequence(tern_session* session, int32_t seq);
/* Keeps the first n_keep positions of sequence `seq` (n_keep <= its n_past). */
tern_status tern_session_trim(tern_session* session, int32_t seq, int64_t n_keep);
/* Makes sequence `dst` a copy of sequence `src`. */
tern_status tern_session_copy_sequence(tern_session* session, int32_t src, int32_t dst);

/* Writes every sequence's tokens and KV cache to `path` (whole or not at all). */
tern_status tern_session_save(const tern_session* session, const char* path);
/* Replaces every sequence with what `path` holds (a file saved from this model with this KV
 * type, fitting this session); on failure the session is unchanged (see Session::load). */
tern_status tern_session_load(tern_session* session, const char* path);

/* ---- Sampling ------------------------------------------------------------------------ */

typedef struct tern_sampler tern_sampler;

/* A bias added to one token's logit before sampling; -INFINITY bans the token. */
typedef struct tern_logit_bias {
  int32_t token;
  float bias;
} tern_logit_bias;

/* tern::SamplingParams; the chain is [logit bias] -> penalties -> [grammar] -> top-k ->
 * typical -> top-p -> min-p -> temperature -> draw (see sampler.h). */
typedef struct tern_sampling_params {
  float temp; /* <= 0: greedy */
  int32_t top_k;
  float top_p;
  float min_p;
  float typical_p;
  float repeat_penalty;
  int32_t repeat_last_n;
  float presence_penalty;
  float frequency_penalty;
  int32_t mirostat; /* 0: off, 1 or 2 */
  float mirostat_tau;
  float mirostat_eta;
  uint32_t seed;       /* TERN_RANDOM_SEED: a random one */
  const char* grammar; /* GBNF the generated text must match; NULL or "": none */
  const tern_logit_bias* logit_bias; /* n_logit_bias biases (copied by tern_sampler_create) */
  size_t n_logit_bias;
} tern_sampling_params;

#define TERN_RANDOM_SEED 0xFFFFFFFFu

/* The defaults (llama.cpp's, as tern::SamplingParams). */
tern_sampling_params tern_sampling_params_default(void);
/* A sampler chain (params NULL: the defaults), to free with tern_sampler_free().
 * `tokenizer` (which must outlive the sampler) is needed for a grammar and may be NULL
 * otherwise. TERN_ERROR_INVALID_ARGUMENT names a setting out of range or a grammar error. */
tern_status tern_sampler_create(const tern_sampling_params* params, const tern_tokenizer* tokenizer,
                                tern_sampler** out);
void tern_sampler_free(tern_sampler* sampler);
/* Picks the next token from n_logits logits (one per token id); does not record it. */
tern_status tern_sampler_sample(tern_sampler* sampler, const float* logits, size_t n_logits,
                                int32_t* token);
/* Records a generated token (penalty history, grammar). */
tern_status tern_sampler_accept(tern_sampler* sampler, int32_t token);
/* Records a prompt token (penalty history only). */
tern_status tern_sampler_accept_prompt(tern_sampler* sampler, int32_t token);
/* Forgets the history and reseeds. */
tern_status tern_sampler_reset(tern_sampler* sampler);

/* ---- Chat templates ------------------------------------------------------------------ */

typedef struct tern_chat_message {
  const char* role; /* "system", "user", "assistant" */
  const char* content;
} tern_chat_message;

/* Renders a conversation as the prompt text of a chat model, ending with the opening of an
 * assistant turn when add_generation_prompt. The format: `template_name` when not NULL or ""
 * ("chatml", "llama3", "gemma"...; `model` may be NULL then), else the one `model`'s file
 * names (tokenizer.chat_template), else its architecture's, else ChatML. The text never
 * starts with BOS: tokenize it with TERN_TOKENIZE_PARSE_SPECIAL and ADD_BOS. */
tern_status tern_chat_apply_template(const tern_model* model, const char* template_name,
                                     const tern_chat_message* messages, size_t n_messages,
                                     bool add_generation_prompt, char* text, size_t capacity,
                                     size_t* n_bytes);

/* ---- Generation ---------------------------------------------------------------------- */

/* Called with each generated token (end-of-generation tokens excluded), the text that became
 * complete with it (piece_len bytes, whole UTF-8 characters, not NUL-terminated, possibly
 * none) and its log-probability under the model (log-softmax of the logits it was sampled
 * from, before the sampler's penalties and temperature), and the options' n_top_logprobs
 * most likely tokens of that distribution, most likely first (`top`, valid during the call);
 * once more at the end with token -1, log-probability 0 and no `top` when held-back text is
 * released. Return false to stop. */
typedef struct tern_token_logprob {
  int32_t token;
  float logprob;
} tern_token_logprob;
typedef bool (*tern_token_callback)(int32_t token, const char* piece, size_t piece_len,
                                    float logprob, const tern_token_logprob* top, size_t n_top,
                                    void* user_data);

typedef struct tern_generate_options {
  int32_t n_predict; /* most tokens to generate; < 0: until end of generation or full */
  bool ignore_eos;
  const char* const* stop; /* n_stop stop strings: generation ends at the first one */
  size_t n_stop;
  bool context_shift; /* slide a full context instead of stopping (keeping n_keep) */
  int64_t n_keep;
  int32_t n_top_logprobs; /* alternatives the callback gets per token, 0..20 */
} tern_generate_options;

typedef enum tern_stop_reason {
  TERN_STOP_END_OF_GENERATION = 0,
  TERN_STOP_MAX_TOKENS = 1,
  TERN_STOP_CONTEXT_FULL = 2,
  TERN_STOP_INTERRUPTED = 3, /* the callback returned false, or the session's abort */
  TERN_STOP_STOP_STRING = 4
} tern_stop_reason;

typedef struct tern_generate_result {
  tern_stop_reason stop;
  int64_t n_prompt;    /* prompt tokens decoded */
  int64_t n_generated; /* tokens given to the callback (end of generation excluded) */
  int32_t pending;     /* the sampled token not yet in the session (-1: none) */
  double prompt_seconds;
  double generate_seconds;
} tern_generate_result;

tern_generate_options tern_generate_options_default(void);
/* Appends `prompt` to sequence 0 of `session`, records it in `sampler`, then samples,
 * streams (to `callback`, which may be NULL) and decodes tokens until a stop condition; the
 * session's abort callback is asked too. An empty prompt continues from the session's last
 * logits. `result` may be NULL. TERN_ERROR_CONTEXT_OVERFLOW, before decoding anything, when
 * the prompt does not fit. */
tern_status tern_generate(tern_session* session, const tern_tokenizer* tokenizer,
                          tern_sampler* sampler, const int32_t* prompt, size_t n_prompt,
                          const tern_generate_options* options, tern_token_callback callback,
                          void* user_data, tern_generate_result* result);

#ifdef __cplusplus
}
#endif

#endif /* TERN_TERN_H */
