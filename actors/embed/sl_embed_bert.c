/*  sl_embed_bert: the "bert" embedding provider: a BERT encoder (MiniLM,
    BGE, E5, sentence-transformers models...) that the user downloaded, run
    on the CPU with OpenBLAS.

    The model is a directory as the Hugging Face Hub ships it:
      config.json             the shape (hidden_size, num_hidden_layers,
                              num_attention_heads, intermediate_size,
                              max_position_embeddings, type_vocab_size,
                              vocab_size, layer_norm_eps, hidden_act)
      model.safetensors       the weights, named as BertModel saves them
                              (an optional "bert." prefix is accepted)
      vocab.txt               the WordPiece vocabulary (sl_wordpiece)
      tokenizer_config.json   optional: do_lower_case, strip_accents,
                              tokenize_chinese_chars, special tokens

    Options: path=/dir (required), max_tokens=N (default min(512,
    max_position_embeddings); longer texts are truncated, as HF's
    truncation=True does). model_id is "bert:<dir name>:<first 16 hex of
    the sha256 of model.safetensors>", plus ":t<N>" when max_tokens is not
    the default (truncation changes long texts' vectors). count_tokens is
    the WordPiece count including [CLS] and [SEP].

    A text's vector is what sentence-transformers computes for these
    models: [CLS] pieces [SEP] -> embeddings (word + position + token type
    0, LayerNorm) -> N encoder layers (multi-head self-attention, residual +
    LayerNorm, GELU feed-forward, residual + LayerNorm) -> the mean of the
    last layer over the text's tokens -> L2 normalisation. A text with no
    word pieces (empty, only spaces or control characters) gets the zero
    vector, per the sl_embedder contract, where HF would embed "[CLS][SEP]".

    Performance: the texts of a call are packed, not padded: the rows of all
    texts in a block (up to 2048 tokens) are stacked, so every projection
    (Q, K, V, attention output, intermediate, output) is one cblas_sgemm
    over all real tokens and no work is spent on padding (so there is no
    need to sort texts by length either: the usual reason, less padding,
    is gone); attention then runs per text and head on that text's own
    rows, which is exactly what masking a padded batch's keys computes.
    Texts are tokenised 256 at a time; scratch is allocated per call (so
    calls run in parallel) and grown only when a block needs more: no
    per-token allocation. Biases and residuals are folded into the pass
    that follows each sgemm (GELU, LayerNorm). The element-wise kernels are
    written to vectorise (see "Kernels"), with erf and exp approximations
    in place of libm's, which don't.

    Weights: F32 tensors are used in place from the read-only mapping; F16
    and BF16 are converted to F32 copies at load (sl_safetensors). Option
    precision=bf16 (sl_matmul.h) converts the six projections of each layer
    to packed bf16 once at open and runs them on the CPU's AVX512-BF16
    units; attention, GELU, LayerNorm and pooling stay fp32; the model id
    gains ":bf16". Thread-safe: after open, state is read-only.
*/
#include "sl_embed_bert_internal.h"
#include "sl_embedder.h"
#include "sl_matmul.h"
#include "sl_safetensors.h"
#include "sl_util.h"
#include "sl_wordpiece.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BLOCK_ROWS 2048       //  tokens per block: bounds scratch (~30 MB for MiniLM)

typedef enum { S_GELU_ERF, S_GELU_TANH, S_RELU } s_act_t;

typedef struct {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;     //  [H, H], [H]
    const float *ao_w, *ao_b, *ln1_g, *ln1_b;           //  attention output dense, LayerNorm
    const float *i_w, *i_b;                             //  intermediate [I, H], [I]
    const float *o_w, *o_b, *ln2_g, *ln2_b;             //  output [H, I], [H], LayerNorm
    sl_matmul_t *q, *k, *v, *ao, *i, *o;                //  the weights, prepared
} s_layer_t;

struct sl_embed_bert_s {
    sl_safetensors_t *st;
    sl_wordpiece_t *wp;
    int hidden, layers, heads, head_dim, inter, max_pos, type_vocab, vocab;
    float eps;
    s_act_t act;
    int max_tokens;
    const float *word, *pos, *type, *emb_g, *emb_b;
    s_layer_t *layer;
    sl_precision_t precision;
};

//  --------------------------------------------------------------------------
//  Kernels. The element-wise work (GELU, softmax, LayerNorm, bias, pooling)
//  is a third of the time if left scalar, so each loop runs in blocks of
//  S_LANES floats with independent per-lane accumulators, which vectorise
//  without reassociating sums (results don't depend on the vector width).
//  gcc needs two things for that: -O3's loop vectoriser (-O2's cost model
//  refuses loops that need an epilogue) and -fno-trapping-math, without
//  which the clamps in erf and exp count as possibly-trapping compares and
//  are not turned into selects. Nothing here reads FP exception flags. On
//  x86-64 the hot kernels are also built for AVX2+FMA and AVX-512 and the
//  best is picked at load time (target_clones); elsewhere the plain build
//  runs.

#if defined(__GNUC__) && !defined(__clang__)
#   pragma GCC push_options
#   pragma GCC optimize ("O3", "no-trapping-math")
#endif

#define S_LANES 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 \
    && !defined(__SANITIZE_ADDRESS__)
#   define S_HOT __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else                           //  (sanitizer builds run the portable code, so tests cover both)
#   define S_HOT
#endif

//  erf for floats: Eigen's rational approximation, odd polynomial over even,
//  on x clamped to [-4, 4] (erf is +/-1 in float beyond); max error 4e-7.
//  No branches, no libm: vectorises, unlike erff.
static inline float
s_erf (float x)
{
    x = x > 4.f ? 4.f : x;
    x = x < -4.f ? -4.f : x;
    float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return x * p / q;
}

//  e^x for floats, Cephes' expf: x = n ln2 + r, e^r by a degree-6
//  polynomial, 2^n built in the exponent bits; about 1 ulp. Clamped to the
//  float range (softmax feeds it x <= 0; e^-87 is 0 for our purposes).
static inline float
s_exp (float x)
{
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;    //  round to nearest
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    int32_t bits = ((int32_t) n + 127) << 23;
    float scale;
    memcpy (&scale, &bits, sizeof scale);
    return y * scale;
}

static inline float
s_act (s_act_t act, float v)
{
    if (act == S_GELU_ERF)
        return 0.5f * v * (1.0f + s_erf (v * 0.70710678118654752f));
    if (act == S_GELU_TANH) {
        //  tanh (u) = 1 - 2 / (e^2u + 1)
        float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);
        return 0.5f * v * (2.0f - 2.0f / (s_exp (2.0f * u) + 1.0f));
    }
    return v > 0.f ? v : 0.f;
}

//  x [rows, n] = act (x + bias), bias per column.
S_HOT static void
s_bias_act (s_act_t act, float *restrict x, int rows, int n, const float *restrict bias)
{
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t) r * (size_t) n;
        int i = 0;
        if (act == S_GELU_ERF)              //  the common case, spelled out for the vectoriser
            for (; i + S_LANES <= n; i += S_LANES)
                for (int j = 0; j < S_LANES; j++) {
                    float a = v [i + j] + bias [i + j];
                    v [i + j] = 0.5f * a * (1.0f + s_erf (a * 0.70710678118654752f));
                }
        else
            for (; i + S_LANES <= n; i += S_LANES)
                for (int j = 0; j < S_LANES; j++)
                    v [i + j] = s_act (act, v [i + j] + bias [i + j]);
        for (; i < n; i++)
            v [i] = s_act (act, v [i] + bias [i]);
    }
}

//  x = LayerNorm (x + add + bias) per row of h floats (add and bias may be
//  NULL): the residual, the dense layer's bias and the norm in one pass.
S_HOT static void
s_add_layernorm (float *restrict x, const float *restrict add, const float *restrict bias,
                 int rows, int h, const float *restrict g, const float *restrict b, float eps)
{
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t) r * (size_t) h;
        const float *a = add ? add + (size_t) r * (size_t) h : NULL;
        float acc [S_LANES] = { 0 };
        int i = 0;
        for (; i + S_LANES <= h; i += S_LANES)
            for (int j = 0; j < S_LANES; j++) {
                float s = v [i + j] + (a ? a [i + j] : 0.f) + (bias ? bias [i + j] : 0.f);
                v [i + j] = s;
                acc [j] += s;
            }
        float sum = 0.f;
        for (; i < h; i++) {
            v [i] += (a ? a [i] : 0.f) + (bias ? bias [i] : 0.f);
            sum += v [i];
        }
        for (int j = 0; j < S_LANES; j++)
            sum += acc [j];
        float mean = sum / (float) h;
        float sq [S_LANES] = { 0 };
        for (i = 0; i + S_LANES <= h; i += S_LANES)
            for (int j = 0; j < S_LANES; j++)
                sq [j] += (v [i + j] - mean) * (v [i + j] - mean);
        float var = 0.f;
        for (; i < h; i++)
            var += (v [i] - mean) * (v [i] - mean);
        for (int j = 0; j < S_LANES; j++)
            var += sq [j];
        float inv = 1.0f / sqrtf (var / (float) h + eps);
        for (i = 0; i + S_LANES <= h; i += S_LANES)
            for (int j = 0; j < S_LANES; j++)
                v [i + j] = (v [i + j] - mean) * inv * g [i + j] + b [i + j];
        for (; i < h; i++)
            v [i] = (v [i] - mean) * inv * g [i] + b [i];
    }
}

//  Rows of s (cols wide, row stride ld) become their softmax.
S_HOT static void
s_softmax_rows (float *restrict s, int rows, int cols, int ld)
{
    for (int r = 0; r < rows; r++) {
        float *v = s + (size_t) r * (size_t) ld;
        float mx [S_LANES];
        for (int j = 0; j < S_LANES; j++)
            mx [j] = v [0];
        int i = 0;
        for (; i + S_LANES <= cols; i += S_LANES)
            for (int j = 0; j < S_LANES; j++)
                mx [j] = v [i + j] > mx [j] ? v [i + j] : mx [j];
        float max = v [0];
        for (; i < cols; i++)
            max = v [i] > max ? v [i] : max;
        for (int j = 0; j < S_LANES; j++)
            max = mx [j] > max ? mx [j] : max;
        float acc [S_LANES] = { 0 };
        for (i = 0; i + S_LANES <= cols; i += S_LANES)
            for (int j = 0; j < S_LANES; j++) {
                v [i + j] = s_exp (v [i + j] - max);
                acc [j] += v [i + j];
            }
        float sum = 0.f;
        for (; i < cols; i++) {
            v [i] = s_exp (v [i] - max);
            sum += v [i];
        }
        for (int j = 0; j < S_LANES; j++)
            sum += acc [j];
        float inv = 1.0f / sum;
        for (i = 0; i + S_LANES <= cols; i += S_LANES)
            for (int j = 0; j < S_LANES; j++)
                v [i + j] *= inv;
        for (; i < cols; i++)
            v [i] *= inv;
    }
}

//  y [rows, out] = x [rows, in] . w^T, w as nn.Linear stores it ([out, in],
//  row-major): one sgemm (or bf16 kernel, sl_matmul) for all rows. The bias
//  is left to the next pass (bias_act, add_layernorm) when bias is NULL, or
//  copied in first.
static void
s_linear (const float *x, int rows, const sl_matmul_t *w, const float *bias, int out, float *y,
          float *scratch)
{
    for (int r = 0; r < rows; r++)
        if (bias)
            memcpy (y + (size_t) r * (size_t) out, bias, (size_t) out * sizeof *y);
        else
            memset (y + (size_t) r * (size_t) out, 0, (size_t) out * sizeof *y);
    sl_matmul_apply (w, x, rows, y, scratch);
}

//  Scratch for one block; allocated once per embed call.
typedef struct {
    float *x, *q, *k, *v, *ctx, *mid, *scores;
    float *act;                 //  bf16 only: a projection's input, converted
} s_scratch_t;

//  Run the encoder over one block of packed texts: len [t] rows each
//  (0 = skip), starting with ids at ids + t * max_tokens, and write each
//  text's pooled, normalised vector to out + t * hidden.
static void
s_forward (sl_embed_bert_t *self, const int32_t *ids, const int *len, int first, int last, int rows,
           s_scratch_t *s, float *out)
{
    int H = self->hidden, Isz = self->inter, d = self->head_dim;
    size_t h = (size_t) H;
    //  embeddings: word + position + token type 0, then LayerNorm
    int r = 0;
    for (int t = first; t < last; t++)
        for (int p = 0; p < len [t]; p++, r++) {
            float *v = s->x + (size_t) r * h;
            const float *we = self->word + (size_t) ids [(size_t) t * (size_t) self->max_tokens + (size_t) p] * h;
            const float *pe = self->pos + (size_t) p * h;
            for (int i = 0; i < H; i++)
                v [i] = we [i] + pe [i];
        }
    assert (r == rows);
    s_add_layernorm (s->x, NULL, self->type, rows, H, self->emb_g, self->emb_b, self->eps);

    float scale = 1.0f / sqrtf ((float) d);
    for (int l = 0; l < self->layers; l++) {
        const s_layer_t *L = &self->layer [l];
        s_linear (s->x, rows, L->q, L->q_b, H, s->q, s->act);
        s_linear (s->x, rows, L->k, L->k_b, H, s->k, s->act);
        s_linear (s->x, rows, L->v, L->v_b, H, s->v, s->act);
        //  attention: each text's rows attend to that text's rows only,
        //  which is what masking a padded batch's keys computes
        int r0 = 0;
        for (int t = first; t < last; t++) {
            int n = len [t];
            if (n == 0)
                continue;
            for (int head = 0; head < self->heads; head++) {
                size_t off = (size_t) r0 * h + (size_t) head * (size_t) d;
                cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, scale,
                             s->q + off, H, s->k + off, H, 0.0f, s->scores, n);
                s_softmax_rows (s->scores, n, n, n);
                cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0f,
                             s->scores, n, s->v + off, H, 0.0f, s->ctx + off, H);
            }
            r0 += n;
        }
        s_linear (s->ctx, rows, L->ao, NULL, H, s->q, s->act);
        s_add_layernorm (s->x, s->q, L->ao_b, rows, H, L->ln1_g, L->ln1_b, self->eps);
        s_linear (s->x, rows, L->i, NULL, Isz, s->mid, s->act);
        s_bias_act (self->act, s->mid, rows, Isz, L->i_b);
        s_linear (s->mid, rows, L->o, NULL, H, s->q, s->act);
        s_add_layernorm (s->x, s->q, L->o_b, rows, H, L->ln2_g, L->ln2_b, self->eps);
    }
    //  mean pooling over each text's tokens, then L2 normalisation
    r = 0;
    for (int t = first; t < last; t++) {
        int n = len [t];
        if (n == 0)
            continue;
        float *o = out + (size_t) t * h;
        for (int p = 0; p < n; p++, r++) {
            const float *v = s->x + (size_t) r * h;
            for (int i = 0; i < H; i++)
                o [i] += v [i];
        }
        double norm = 0;
        for (int i = 0; i < H; i++) {
            o [i] /= (float) n;
            norm += (double) o [i] * o [i];
        }
        if (norm > 0) {
            float inv = (float) (1.0 / sqrt (norm));
            for (int i = 0; i < H; i++)
                o [i] *= inv;
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#   pragma GCC pop_options
#endif

//  Token ids of one text: [CLS] pieces [SEP], at most max_tokens; 0 if the
//  text has no pieces.
int
sl_embed_bert_tokenize (sl_embed_bert_t *self, const char *text, size_t len, int32_t *ids)
{
    size_t n = sl_wordpiece_encode (self->wp, text, len, ids + 1, (size_t) self->max_tokens - 2, false);
    if (n == 0)
        return 0;
    ids [0] = sl_wordpiece_cls (self->wp);
    ids [n + 1] = sl_wordpiece_sep (self->wp);
    return (int) n + 2;
}

//  Scratch big enough for blocks of cap rows and texts of longest tokens;
//  grown (never shrunk) as a call needs. Returns 0 or -1.
typedef struct {
    float *mem;
    size_t cap, longest;
    s_scratch_t s;
} s_arena_t;

static int
s_arena_fit (sl_embed_bert_t *self, s_arena_t *a, size_t cap, size_t longest)
{
    if (a->mem && cap <= a->cap && longest <= a->longest)
        return 0;
    cap = cap > a->cap ? cap : a->cap;
    longest = longest > a->longest ? longest : a->longest;
    size_t h = (size_t) self->hidden;
    free (a->mem);
    size_t act = sl_matmul_scratch_floats (self->precision, (int) cap,
                                           self->inter > self->hidden ? self->inter : self->hidden);
    a->mem = malloc ((cap * (5 * h + (size_t) self->inter) + longest * longest + act) * sizeof (float));
    if (!a->mem)
        return -1;
    a->cap = cap;
    a->longest = longest;
    a->s.x = a->mem;
    a->s.q = a->s.x + cap * h;
    a->s.k = a->s.q + cap * h;
    a->s.v = a->s.k + cap * h;
    a->s.ctx = a->s.v + cap * h;
    a->s.mid = a->s.ctx + cap * h;
    a->s.scores = a->s.mid + cap * (size_t) self->inter;
    a->s.act = act ? a->s.scores + longest * longest : NULL;
    return 0;
}

#define S_GROUP_TEXTS 256       //  texts tokenised at a time: bounds the id buffer

static int
s_bert_embed (void *state, const char **texts, const size_t *lens, int n, float *out,
              char *err, size_t errlen)
{
    sl_embed_bert_t *self = state;
    size_t T = (size_t) self->max_tokens;
    int group = n < S_GROUP_TEXTS ? n : S_GROUP_TEXTS;
    int32_t *ids = malloc ((size_t) group * T * sizeof *ids);
    int *len = malloc ((size_t) group * sizeof *len);
    s_arena_t arena = { 0 };
    int rc = 0;
    if (!ids || !len) {
        snprintf (err, errlen, "bert provider: out of memory tokenising %d texts", group);
        rc = -1;
    }
    for (int g = 0; g < n && rc == 0; g += group) {
        int count = n - g < group ? n - g : group;
        size_t total = 0, longest = 0;
        for (int t = 0; t < count; t++) {
            const char *text = texts [g + t];
            len [t] = sl_embed_bert_tokenize (self, text ? text : "", text ? lens [g + t] : 0, ids + (size_t) t * T);
            total += (size_t) len [t];
            longest = (size_t) len [t] > longest ? (size_t) len [t] : longest;
        }
        if (total == 0)
            continue;                   //  nothing but empty texts: zero vectors
        size_t cap = total < S_BLOCK_ROWS ? total : S_BLOCK_ROWS;
        if (s_arena_fit (self, &arena, cap > longest ? cap : longest, longest)) {
            snprintf (err, errlen, "bert provider: out of memory for %zu tokens of scratch", cap);
            rc = -1;
            break;
        }
        //  blocks of consecutive texts, up to arena.cap rows each
        int first = 0;
        while (first < count) {
            int last = first;
            size_t rows = 0;
            while (last < count && rows + (size_t) len [last] <= arena.cap)
                rows += (size_t) len [last++];
            if (rows > 0)
                s_forward (self, ids, len, first, last, (int) rows, &arena.s,
                           out + (size_t) g * (size_t) self->hidden);
            first = last;
        }
    }
    free (arena.mem);
    free (ids);
    free (len);
    return rc;
}

static size_t
s_bert_count_tokens (void *state, const char *text, size_t len)
{
    sl_embed_bert_t *self = state;
    return sl_wordpiece_encode (self->wp, text, len, NULL, 0, true) + 2;
}

//  --------------------------------------------------------------------------
//  Loading

typedef struct {
    char path [1024];
    long long max_tokens;       //  0: default
    char precision [16];        //  "" (fp32), auto, fp32, bf16
} s_bert_opts_t;

static int
s_on_option (void *arg, const char *key, const char *value, char *err, size_t errlen)
{
    s_bert_opts_t *o = arg;
    if (strcmp (key, "path") == 0) {
        snprintf (o->path, sizeof o->path, "%s", value);
        return 0;
    }
    if (strcmp (key, "max_tokens") == 0)
        return sl_embed_option_int (key, value, 2, 1 << 20, &o->max_tokens, err, errlen);
    if (strcmp (key, "precision") == 0) {
        char why [256];
        sl_precision_t p;
        if (sl_matmul_precision (value, &p, why, sizeof why)) {
            snprintf (err, errlen, "bert provider: %s", why);
            return -1;
        }
        snprintf (o->precision, sizeof o->precision, "%s", value);
        return 0;
    }
    snprintf (err, errlen, "bert provider: unknown option '%s' (known: path, max_tokens, precision)", key);
    return -1;
}

//  A whole number from config.json in [min, max], or dflt if absent and
//  dflt >= 0.
static int
s_config_int (json_t *root, const char *file, const char *key, long long min, long long max,
              long long dflt, int *result, char *err, size_t errlen)
{
    json_t *v = json_object_get (root, key);
    if (!v && dflt >= 0) {
        *result = (int) dflt;
        return 0;
    }
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max) {
        snprintf (err, errlen, "bert provider: %s: \"%s\" must be a whole number from %lld to %lld",
                  file, key, min, max);
        return -1;
    }
    *result = (int) json_integer_value (v);
    return 0;
}

//  A special token in tokenizer_config.json: "[UNK]" or {"content": "[UNK]", ...}
static void
s_special_token (json_t *root, const char *key, char *dest, size_t size)
{
    json_t *v = json_object_get (root, key);
    if (json_is_object (v))
        v = json_object_get (v, "content");
    if (json_is_string (v) && json_string_length (v) > 0 && json_string_length (v) < size)
        snprintf (dest, size, "%s", json_string_value (v));
}

static int
s_read_config (sl_embed_bert_t *self, const char *dir, char *err, size_t errlen)
{
    char file [1100];
    snprintf (file, sizeof file, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file (file, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "bert provider: %s: %s (line %d)", file, jerr.text, jerr.line);
        return -1;
    }
    int rc = -1;
    if (!json_is_object (root)) {
        snprintf (err, errlen, "bert provider: %s is not a JSON object", file);
        goto done;
    }
    json_t *type = json_object_get (root, "model_type");
    if (type && !(json_is_string (type) && strcmp (json_string_value (type), "bert") == 0)) {
        snprintf (err, errlen, "bert provider: %s: model_type is '%s', only 'bert' is supported",
                  file, json_is_string (type) ? json_string_value (type) : "(not a string)");
        goto done;
    }
    json_t *pos_type = json_object_get (root, "position_embedding_type");
    if (pos_type && !(json_is_string (pos_type)
                      && strcmp (json_string_value (pos_type), "absolute") == 0)) {
        snprintf (err, errlen, "bert provider: %s: only absolute position embeddings are supported",
                  file);
        goto done;
    }
    if (s_config_int (root, file, "hidden_size", 1, 16384, -1, &self->hidden, err, errlen)
    ||  s_config_int (root, file, "num_hidden_layers", 1, 256, -1, &self->layers, err, errlen)
    ||  s_config_int (root, file, "num_attention_heads", 1, 1024, -1, &self->heads, err, errlen)
    ||  s_config_int (root, file, "intermediate_size", 1, 65536, -1, &self->inter, err, errlen)
    ||  s_config_int (root, file, "max_position_embeddings", 2, 65536, -1, &self->max_pos, err, errlen)
    ||  s_config_int (root, file, "vocab_size", 1, 4 << 20, -1, &self->vocab, err, errlen)
    ||  s_config_int (root, file, "type_vocab_size", 1, 1024, 2, &self->type_vocab, err, errlen))
        goto done;
    if (self->hidden % self->heads) {
        snprintf (err, errlen, "bert provider: %s: hidden_size %d is not a multiple of "
                  "num_attention_heads %d", file, self->hidden, self->heads);
        goto done;
    }
    self->head_dim = self->hidden / self->heads;
    self->eps = 1e-12f;
    json_t *eps = json_object_get (root, "layer_norm_eps");
    if (eps) {
        if (!json_is_number (eps) || json_number_value (eps) <= 0 || json_number_value (eps) > 1) {
            snprintf (err, errlen, "bert provider: %s: layer_norm_eps must be a number in (0, 1]", file);
            goto done;
        }
        self->eps = (float) json_number_value (eps);
    }
    self->act = S_GELU_ERF;
    json_t *act = json_object_get (root, "hidden_act");
    if (act) {
        const char *name = json_is_string (act) ? json_string_value (act) : "";
        if (strcmp (name, "gelu") == 0)
            self->act = S_GELU_ERF;
        else
        if (strcmp (name, "gelu_new") == 0 || strcmp (name, "gelu_pytorch_tanh") == 0
        ||  strcmp (name, "gelu_fast") == 0)
            self->act = S_GELU_TANH;
        else
        if (strcmp (name, "relu") == 0)
            self->act = S_RELU;
        else {
            snprintf (err, errlen, "bert provider: %s: hidden_act '%.32s' is not supported "
                      "(gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)", file, name);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref (root);
    return rc;
}

static int
s_read_tokenizer (sl_embed_bert_t *self, const char *dir, char *err, size_t errlen)
{
    sl_wordpiece_config_t config;
    sl_wordpiece_config_default (&config);
    char file [1100];
    snprintf (file, sizeof file, "%s/tokenizer_config.json", dir);
    if (access (file, F_OK) == 0) {
        json_error_t jerr;
        json_t *root = json_load_file (file, 0, &jerr);
        if (!json_is_object (root)) {
            snprintf (err, errlen, "bert provider: %s: %s", file, root ? "not a JSON object" : jerr.text);
            json_decref (root);
            return -1;
        }
        json_t *v = json_object_get (root, "do_lower_case");
        if (json_is_boolean (v))
            config.lower_case = json_is_true (v);
        v = json_object_get (root, "strip_accents");
        if (json_is_boolean (v))
            config.strip_accents = json_is_true (v) ? 1 : 0;
        v = json_object_get (root, "tokenize_chinese_chars");
        if (json_is_boolean (v))
            config.chinese_chars = json_is_true (v);
        s_special_token (root, "unk_token", config.unk, sizeof config.unk);
        s_special_token (root, "cls_token", config.cls, sizeof config.cls);
        s_special_token (root, "sep_token", config.sep, sizeof config.sep);
        s_special_token (root, "pad_token", config.pad, sizeof config.pad);
        json_decref (root);
    }
    snprintf (file, sizeof file, "%s/vocab.txt", dir);
    char why [512];
    self->wp = sl_wordpiece_new (file, &config, why, sizeof why);
    if (!self->wp) {
        snprintf (err, errlen, "bert provider: %s", why);
        return -1;
    }
    if (sl_wordpiece_vocab_size (self->wp) > self->vocab) {
        snprintf (err, errlen, "bert provider: %s has %d tokens but the model's vocab_size is %d "
                  "(vocab.txt from another model?)", file, sl_wordpiece_vocab_size (self->wp),
                  self->vocab);
        return -1;
    }
    return 0;
}

//  Load one tensor by its BertModel name, with the checkpoint's prefix.
static const float *
s_tensor (sl_embed_bert_t *self, const char *prefix, const char *name, int rows, int cols,
          char *err, size_t errlen)
{
    char full [256];
    snprintf (full, sizeof full, "%s%s", prefix, name);
    int64_t shape [2] = { rows, cols };
    char why [512];
    const float *t = sl_safetensors_f32 (self->st, full, cols ? 2 : 1, shape, why, sizeof why);
    if (!t)
        snprintf (err, errlen, "bert provider: model.safetensors: %s", why);
    return t;
}

static int
s_load_weights (sl_embed_bert_t *self, const char *dir, char *err, size_t errlen)
{
    char file [1100];
    snprintf (file, sizeof file, "%s/model.safetensors", dir);
    char why [512];
    self->st = sl_safetensors_open (file, why, sizeof why);
    if (!self->st) {
        snprintf (err, errlen, "bert provider: %s", why);
        return -1;
    }
    //  BertModel saves "embeddings...", BertFor* models "bert.embeddings..."
    const char *prefix = "";
    if (sl_safetensors_find (self->st, "embeddings.word_embeddings.weight") < 0
    &&  sl_safetensors_find (self->st, "bert.embeddings.word_embeddings.weight") >= 0)
        prefix = "bert.";
    int H = self->hidden, Isz = self->inter;
    if (!(self->word = s_tensor (self, prefix, "embeddings.word_embeddings.weight", self->vocab, H, err, errlen))
    ||  !(self->pos = s_tensor (self, prefix, "embeddings.position_embeddings.weight", self->max_pos, H, err, errlen))
    ||  !(self->type = s_tensor (self, prefix, "embeddings.token_type_embeddings.weight", self->type_vocab, H, err, errlen))
    ||  !(self->emb_g = s_tensor (self, prefix, "embeddings.LayerNorm.weight", H, 0, err, errlen))
    ||  !(self->emb_b = s_tensor (self, prefix, "embeddings.LayerNorm.bias", H, 0, err, errlen)))
        return -1;
    self->layer = calloc ((size_t) self->layers, sizeof *self->layer);
    if (!self->layer) {
        snprintf (err, errlen, "bert provider: out of memory");
        return -1;
    }
    for (int l = 0; l < self->layers; l++) {
        s_layer_t *L = &self->layer [l];
        char p [64];
        snprintf (p, sizeof p, "%sencoder.layer.%d.", prefix, l);
        struct {
            const float **dest;
            const char *name;
            int rows, cols;
        } want [] = {
            { &L->q_w, "attention.self.query.weight", H, H }, { &L->q_b, "attention.self.query.bias", H, 0 },
            { &L->k_w, "attention.self.key.weight", H, H }, { &L->k_b, "attention.self.key.bias", H, 0 },
            { &L->v_w, "attention.self.value.weight", H, H }, { &L->v_b, "attention.self.value.bias", H, 0 },
            { &L->ao_w, "attention.output.dense.weight", H, H }, { &L->ao_b, "attention.output.dense.bias", H, 0 },
            { &L->ln1_g, "attention.output.LayerNorm.weight", H, 0 },
            { &L->ln1_b, "attention.output.LayerNorm.bias", H, 0 },
            { &L->i_w, "intermediate.dense.weight", Isz, H }, { &L->i_b, "intermediate.dense.bias", Isz, 0 },
            { &L->o_w, "output.dense.weight", H, Isz }, { &L->o_b, "output.dense.bias", H, 0 },
            { &L->ln2_g, "output.LayerNorm.weight", H, 0 }, { &L->ln2_b, "output.LayerNorm.bias", H, 0 },
        };
        for (size_t i = 0; i < sizeof want / sizeof want [0]; i++)
            if (!(*want [i].dest = s_tensor (self, p, want [i].name, want [i].rows, want [i].cols,
                                             err, errlen)))
                return -1;
    }
    return 0;
}

static void
s_bert_close (void *state)
{
    sl_embed_bert_t *self = state;
    if (self) {
        sl_safetensors_destroy (&self->st);
        sl_wordpiece_destroy (&self->wp);
        for (int l = 0; self->layer && l < self->layers; l++) {
            s_layer_t *L = &self->layer [l];
            sl_matmul_destroy (&L->q);
            sl_matmul_destroy (&L->k);
            sl_matmul_destroy (&L->v);
            sl_matmul_destroy (&L->ao);
            sl_matmul_destroy (&L->i);
            sl_matmul_destroy (&L->o);
        }
        free (self->layer);
        free (self);
    }
}

//  Each projection's weights ([out, in] as nn.Linear stores them) in the
//  chosen precision. Returns -1 if out of memory.
static int
s_prepare (sl_embed_bert_t *self)
{
    int H = self->hidden, Isz = self->inter;
    sl_precision_t p = self->precision;
    for (int l = 0; l < self->layers; l++) {
        s_layer_t *L = &self->layer [l];
        L->q = sl_matmul_new (L->q_w, H, H, true, p);
        L->k = sl_matmul_new (L->k_w, H, H, true, p);
        L->v = sl_matmul_new (L->v_w, H, H, true, p);
        L->ao = sl_matmul_new (L->ao_w, H, H, true, p);
        L->i = sl_matmul_new (L->i_w, H, Isz, true, p);
        L->o = sl_matmul_new (L->o_w, Isz, H, true, p);
        if (!L->q || !L->k || !L->v || !L->ao || !L->i || !L->o)
            return -1;
    }
    return 0;
}

static void *
s_bert_open (const char *options, sl_embed_info_t *info, char *err, size_t errlen)
{
    s_bert_opts_t o = { "", 0, "" };
    if (sl_embed_options_parse (options, s_on_option, &o, err, errlen))
        return NULL;
    if (!o.path [0]) {
        snprintf (err, errlen, "bert provider: option path=/model/dir is required (a directory "
                  "with config.json, model.safetensors and vocab.txt)");
        return NULL;
    }
    //  the directory, without trailing slashes (its name goes in model_id)
    char dir [1024];
    snprintf (dir, sizeof dir, "%s", o.path);
    size_t dl = strlen (dir);
    while (dl > 1 && dir [dl - 1] == '/')
        dir [--dl] = 0;
    struct stat st;
    if (stat (dir, &st) != 0) {
        snprintf (err, errlen, "bert provider: path=%s: %s", dir,
                  errno == ENOENT ? "no such directory" : strerror (errno));
        return NULL;
    }
    if (!S_ISDIR (st.st_mode)) {
        snprintf (err, errlen, "bert provider: path=%s: not a directory (give the model's "
                  "directory, not a file in it)", dir);
        return NULL;
    }
    sl_embed_bert_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "bert provider: out of memory");
        return NULL;
    }
    if (s_read_config (self, dir, err, errlen)
    ||  s_read_tokenizer (self, dir, err, errlen)
    ||  s_load_weights (self, dir, err, errlen)) {
        s_bert_close (self);
        return NULL;
    }
    //  Used directly, the provider is the fp32 reference unless asked; the
    //  node passes embed.precision (default auto). Checked when parsed.
    sl_matmul_precision (o.precision [0] ? o.precision : "fp32", &self->precision, err, errlen);
    if (s_prepare (self)) {
        snprintf (err, errlen, "bert provider: out of memory preparing the %s weights",
                  sl_matmul_precision_name (self->precision));
        s_bert_close (self);
        return NULL;
    }
    int dflt = self->max_pos < 512 ? self->max_pos : 512;
    if (o.max_tokens > self->max_pos) {
        snprintf (err, errlen, "bert provider: max_tokens=%lld is more than the model's "
                  "max_position_embeddings (%d)", o.max_tokens, self->max_pos);
        s_bert_close (self);
        return NULL;
    }
    self->max_tokens = o.max_tokens ? (int) o.max_tokens : dflt;

    size_t size = 0;
    const void *bytes = sl_safetensors_file (self->st, &size);
    char sha [SL_SHA256_HEX];
    sl_sha256_hex (bytes, size, sha);
    const char *base = strrchr (dir, '/');
    base = base ? base + 1 : dir;
    char suffix [24] = "";
    if (self->max_tokens != dflt)
        snprintf (suffix, sizeof suffix, ":t%d", self->max_tokens);
    //  fp32 keeps the id it always had; bf16 vectors are another model
    snprintf (info->model_id, sizeof info->model_id, "bert:%.64s:%.16s%s%s", base, sha, suffix,
              self->precision == SL_PRECISION_BF16 ? ":bf16" : "");
    info->dim = self->hidden;
    info->max_tokens = self->max_tokens;
    return self;
}

const sl_embed_provider_t sl_embed_bert_provider = {
    .name = "bert",
    .open = s_bert_open,
    .close = s_bert_close,
    .count_tokens = s_bert_count_tokens,
    .embed = s_bert_embed,
};
