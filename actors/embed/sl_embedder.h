/*  sl_embedder: turns texts into dense float vectors, behind one interface
    whatever model does the work.

    The embed actor owns one embedder for its life and calls it from several
    handler threads (usually through sl_batcher, which groups their texts).
    A provider is a named implementation; sl_embedder.c holds the registry
    table, so adding a model means writing one sl_embed_<name>.c that fills
    an sl_embed_provider_t and adding it to the table. Providers today:

      use     Universal Sentence Encoder lite (sl_embed_use.c): the default,
              a pretrained 512-d sentence encoder run on OpenBLAS from the
              weights scripts/setup-model.sh installs. Options: path=DIR,
              precision=auto|fp32|bf16 (sl_matmul.h; unset: fp32).
      hash    feature hashing of words and word pairs, projected to dim by a
              fixed seeded random matrix (sl_embed_hash.c). No model files,
              deterministic, fast; lexical similarity, and the fallback when
              the use model is missing. Options: dim=384, buckets=4096, seed=42.
      bert    BERT-family models from a folder with config.json,
              model.safetensors, vocab.txt (sl_embed_bert.c). Options: path=DIR,
              max_tokens=N, precision=auto|fp32|bf16 (as use).
      openai  any OpenAI-compatible POST /v1/embeddings server
              (sl_embed_openai.c). Options: url=, model=, dim=, batch=,
              retries=, timeout_ms=, key_env=.

    model_id names everything that decides the vectors (provider, version,
    options), so a vector cache or index keyed by it never mixes vectors from
    two different models.

    Ownership: the embedder owns its provider state. Thread-safe after
    sl_embedder_new: every function but destroy may be called concurrently.
*/
#ifndef SL_EMBEDDER_H_INCLUDED
#define SL_EMBEDDER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_embedder_s sl_embedder_t;

//  Create an embedder from a provider name ("hash") and provider options
//  ("k=v,k=v", may be NULL or ""). Returns NULL and writes a message a person
//  can act on into err (errlen bytes) if the provider is unknown or the
//  options are bad. Caller owns the embedder and must destroy it.
sl_embedder_t *sl_embedder_new (const char *provider, const char *options, char *err, size_t errlen);

//  Destroy the embedder; nulls *self_p, safe on NULL. No call may be running.
void sl_embedder_destroy (sl_embedder_t **self_p);

//  Provider name, e.g. "hash". Owned by the embedder.
const char *sl_embedder_provider (sl_embedder_t *self);

//  Stable identity of the vectors, e.g. "hash-v1:b4096:d384:s42". Changes
//  whenever the same text would get a different vector. Owned by the embedder.
const char *sl_embedder_model_id (sl_embedder_t *self);

//  Length of each vector.
int sl_embedder_dim (sl_embedder_t *self);

//  Most tokens the model reads from one text (more are ignored), 0 if
//  unlimited. The chunk target must not exceed it.
int sl_embedder_max_tokens (sl_embedder_t *self);

//  False when computing a vector costs less than the embedding cache's
//  store lookup and write would (the hash provider: microseconds per
//  text): the embed stage then neither reads nor fills the cache.
bool sl_embedder_cacheable (sl_embedder_t *self);

//  Tokens of text as this model counts them.
size_t sl_embedder_count_tokens (sl_embedder_t *self, const char *text, size_t len);

//  The same as an sl_token_count_fn (sl_chunk.h): pass the embedder as arg.
size_t sl_embedder_token_counter (void *embedder, const char *text, size_t len);

//  Longest text sl_embedder_embed accepts, in bytes. Chunks are a few KB;
//  anything near this is a bug upstream or hostile input.
#define SL_EMBED_MAX_TEXT (1 << 20)

//  Embed n texts (texts [i] of lens [i] bytes, any bytes) into out, n x dim
//  floats row-major, each row L2-normalised; a text with nothing to embed
//  (empty, only spaces or punctuation) gets the zero vector. Returns 0, or -1
//  with a message in err (e.g. a text over SL_EMBED_MAX_TEXT). Thread-safe.
int sl_embedder_embed (sl_embedder_t *self, const char **texts, const size_t *lens, int n,
                       float *out, char *err, size_t errlen);

//  Comma-separated names of the known providers, for messages and --help.
const char *sl_embedder_providers (void);

//  --------------------------------------------------------------------------
//  For provider implementations (sl_embed_<name>.c) only.

//  What a provider reports about the model it opened.
typedef struct {
    int dim;
    int max_tokens;
    char model_id [128];
    bool uncached;              //  cheaper to compute than to cache (sl_embedder_cacheable)
} sl_embed_info_t;

//  A provider: a name and four functions over its own state. open parses
//  options, builds the state and fills info, or returns NULL with err set.
//  count_tokens and embed must be thread-safe; embed gets n >= 1 and a
//  zeroed out, and must honour the contract of sl_embedder_embed.
typedef struct {
    const char *name;
    void *(*open) (const char *options, sl_embed_info_t *info, char *err, size_t errlen);
    void (*close) (void *state);
    size_t (*count_tokens) (void *state, const char *text, size_t len);
    int (*embed) (void *state, const char **texts, const size_t *lens, int n, float *out,
                  char *err, size_t errlen);
} sl_embed_provider_t;

extern const sl_embed_provider_t sl_embed_hash_provider;
extern const sl_embed_provider_t sl_embed_use_provider;       //  sl_embed_use.c
extern const sl_embed_provider_t sl_embed_bert_provider;      //  sl_embed_bert.c
extern const sl_embed_provider_t sl_embed_openai_provider;    //  sl_embed_openai.c

//  Copy text with every invalid UTF-8 sequence replaced by U+FFFD (utf8proc
//  and jansson refuse invalid input; providers must not fail on it). Always
//  returns a new buffer (caller frees), NULL only when out of memory.
char *sl_embed_utf8_repair (const char *text, size_t len, size_t *len_p);

//  Split options "k=v,k=v" and call fn for each pair (spaces around keys and
//  values trimmed). Stops at the first fn returning -1, or at a malformed
//  pair (err says which). Returns 0 or -1.
typedef int (sl_embed_option_fn) (void *arg, const char *key, const char *value,
                                  char *err, size_t errlen);
int sl_embed_options_parse (const char *options, sl_embed_option_fn *fn, void *arg,
                            char *err, size_t errlen);

//  Parse a whole decimal integer in [min, max] for option key; on failure
//  writes "option key=value: ..." into err and returns -1.
int sl_embed_option_int (const char *key, const char *value, long long min, long long max,
                         long long *result, char *err, size_t errlen);

void sl_embedder_test (bool verbose);

#endif
