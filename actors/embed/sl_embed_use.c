/*  sl_embed_use: the `use` provider, Universal Sentence Encoder lite in
    plain C over OpenBLAS. See sl_embed_use.h for what it offers; this file
    is the graph, a port of the TensorFlow.js model in model.json, checked
    against the package's own JavaScript runtime (tests/golden/).

    The graph, per text of n <= 128 token ids (E = 256, W = 512, 4 heads):
      x     = 2 * embedding [id] + [sin (p * inv), cos (p * inv)]     (E)
      layer 0 (width E, heads of 64, q scaled by 0.125):
        y   = Attn (LN (x)) * Wo + bo  +  x * Wr + br                 (W)
        y  += relu (LN (y) * W1 + b1) * W2 + b2                       (W)
      layer 1 (width W, heads of 128, q scaled by the stored 0.0884):
        y  += Attn (LN (y)) * Wo + bo
        y  += relu (LN (y) * W1 + b1) * W2 + b2
      v     = l2norm (tanh (mean over the n tokens of y * Wt + bt))
    LN is a pre-LayerNorm (eps from the manifest, 1e-6); Attn is softmax
    attention over the text's own tokens with one fused q|k|v projection.
    The embedding counts twice because the TF graph adds the looked-up
    vectors to the timing signal and then to themselves again.

    How a call runs: every text is tokenized (first 128 ids kept), then the
    texts are packed, back to back, into sub-batches of up to S_BATCH_TOKENS
    tokens. Each projection is one cblas_sgemm over all the tokens of a
    sub-batch; attention is two sgemms per text and head over that text's
    rows only. Packing is padding taken to its limit: a padded batch sorted
    by length still multiplies pad rows, and needs a -1e9 mask so they drop
    out of the softmax (exp underflows to exactly 0); packed rows have no
    pads to mask, so the result is the same and no flop is wasted, whatever
    the mix of lengths (bench/use_numpy.py is the padded, masked, sorted
    version, for comparison); with no pads, order does not matter, so the
    texts stay in call order. Biases are written first and sgemm adds the
    product (beta = 1), residuals likewise, so no pass copies a matrix.
    The last projection of layer 1's feed-forward is linear and only its
    mean over the tokens is used, so it runs on the mean (one row per text,
    not per token): a sixth fewer multiply-adds, exact up to rounding.

    bf16 (precision=bf16) runs the same graph in s_layer_bf16: the inputs
    of the projections are written as bf16 pairs by the step that makes
    them (LayerNorm, the previous projection's store, attention), biases,
    residual sums, ReLU and the last FFN's mean are done in the
    projections' stores, and attention's two products per head run on
    the bf16 kernel (sl_matmul_attention). fp32 is the sgemm path above,
    bit for bit.

    Thread safety: the model (mapped weights, vocabulary trie, timing table)
    is read-only after open; each call allocates its own scratch, about
    11 KB per token of its largest sub-batch plus 512 bytes per text for the
    ids, so concurrent calls share nothing mutable. OpenBLAS may use its own
    threads inside one sgemm.
*/
#include "sl_embed_use_internal.h"
#include "sl_embedder.h"
#include "sl_matmul.h"
#include "sl_tfjs.h"
#include "sl_use_tokenizer.h"
#include "sl_util.h"

#include <assert.h>
#include <cblas.h>
#include <immintrin.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SLUICE_MODEL_DIR
#   define SLUICE_MODEL_DIR "models"
#endif

#define S_MODEL_NAME "use-lite"
#define S_E 256                 //  embedding width, layer 0 width
#define S_W SL_EMBED_USE_DIM      //  layer 1 width, output dimension
#define S_F 1536                //  feed-forward width
#define S_HEADS 4
#define S_BATCH_TOKENS 1024     //  tokens per sub-batch: ~11 MB of scratch
#define S_SETUP_HINT "run `bash scripts/setup-model.sh` to install it"

//  Manifest names
#define S_P SL_EMBED_USE_PREFIX
#define S_TS S_P "TransformerStack/"
#define S_K "module/Encoder_en/KonaTransformer/Encode/"

typedef struct {
    int d;                      //  width of the layer's input and attention
    float scale;                //  applied to q
    const float *ln1_g, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b;
    const float *res_w, *res_b; //  layer 0 only: input E -> W for the residual
    const float *ln2_g, *ln2_b, *ffn1_w, *ffn1_b, *ffn2_w, *ffn2_b;
    sl_matmul_t *qkv, *out, *res, *ffn1, *ffn2;     //  the weights above, prepared
} s_layer_t;

typedef struct {
    sl_tfjs_t *weights;
    sl_use_tokenizer_t *tokenizer;
    const float *emb;           //  rows x E
    int emb_rows;
    int max_len;                //  tokens read per text (128)
    float *timing;              //  max_len x E
    float ln_eps, l2_eps;
    s_layer_t layer [2];
    const float *tanh_w, *tanh_b;
    sl_matmul_t *tanh;
    sl_precision_t precision;
} s_use_t;

//  --------------------------------------------------------------------------
//  Where the model is

typedef struct {
    char path [PATH_MAX];
    char precision [16];        //  "" (fp32), auto, fp32, bf16
} s_options_t;

static int
s_on_option (void *arg, const char *key, const char *value, char *err, size_t errlen)
{
    s_options_t *o = arg;
    if (strcmp (key, "path") == 0) {
        if (!value [0] || strlen (value) >= PATH_MAX - 32) {
            snprintf (err, errlen, "use provider: option path=%s: expected a folder", value);
            return -1;
        }
        snprintf (o->path, sizeof o->path, "%s", value);
        return 0;
    }
    if (strcmp (key, "precision") == 0) {
        //  checked (and refused with a reason) when the model is opened
        if (strlen (value) >= sizeof o->precision) {
            snprintf (err, errlen, "use provider: option precision=%.40s: expected auto, fp32 or bf16", value);
            return -1;
        }
        snprintf (o->precision, sizeof o->precision, "%s", value);
        return 0;
    }
    snprintf (err, errlen, "use provider: unknown option '%s' (known: path, precision)", key);
    return -1;
}

int
sl_embed_use_model_dir (const char *options, char *buf, size_t buflen, char *err, size_t errlen)
{
    assert (buf && buflen);
    char scratch [256];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    s_options_t o = { "", "" };
    if (sl_embed_options_parse (options, s_on_option, &o, err, errlen))
        return -1;
    const char *path = o.path;
    const char *env = getenv ("SLUICE_MODEL_DIR");
    int n;
    if (path [0])
        n = snprintf (buf, buflen, "%s", path);
    else
    if (env && env [0])
        n = snprintf (buf, buflen, "%s/" S_MODEL_NAME, env);
    else
        n = snprintf (buf, buflen, "%s/" S_MODEL_NAME, SLUICE_MODEL_DIR);
    if (n < 0 || (size_t) n >= buflen) {
        snprintf (err, errlen, "use provider: model folder path is too long");
        return -1;
    }
    return 0;
}

bool
sl_embed_use_installed (const char *options)
{
    char dir [PATH_MAX], path [PATH_MAX + 16];
    if (sl_embed_use_model_dir (options, dir, sizeof dir, NULL, 0))
        return false;
    snprintf (path, sizeof path, "%s/model.json", dir);
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

//  --------------------------------------------------------------------------
//  Open: map the weights and check every tensor the graph uses

static const float *
s_tensor (s_use_t *self, const char *name, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
          char *err, size_t errlen, int *rc)
{
    if (*rc)
        return NULL;
    int64_t shape [4] = { d0, d1, d2, d3 };
    const float *data = sl_tfjs_floats (self->weights, name, rank, shape, err, errlen);
    if (!data)
        *rc = -1;
    return data;
}

static int
s_scalar (s_use_t *self, const char *name, double lo, double hi, double *value,
          char *err, size_t errlen)
{
    if (sl_tfjs_scalar (self->weights, name, value, err, errlen))
        return -1;
    if (!(*value >= lo && *value <= hi)) {
        snprintf (err, errlen, "model.json: %s = %g is outside [%g, %g]", name, *value, lo, hi);
        return -1;
    }
    return 0;
}

static int
s_bind_layer (s_use_t *self, int i, char *err, size_t errlen)
{
    s_layer_t *L = &self->layer [i];
    int d = i == 0 ? S_E : S_W, rc = 0;
    char L_ [256], K_ [256], F_ [256], name [512];
    snprintf (L_, sizeof L_, S_P "Layer_%d/TransformerLayer/", i);
    snprintf (K_, sizeof K_, S_K "Layer_%d/TransformerLayer/", i);
    snprintf (F_, sizeof F_, S_TS "Layer_%d/TransformerLayer/FFN/", i);
    L->d = d;
#define S_NAME(prefix, rest) (snprintf (name, sizeof name, "%s%s", prefix, rest), name)
    L->ln1_g = s_tensor (self, S_NAME (L_, "layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat"),
                         1, d, 0, 0, 0, err, errlen, &rc);
    L->ln1_b = s_tensor (self, S_NAME (L_, "layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat"),
                         1, d, 0, 0, 0, err, errlen, &rc);
    L->qkv_w = s_tensor (self, S_NAME (K_, "MultiheadAttention/qkv_transform_single/kernel/part_0"),
                         4, 1, 1, d, 3 * d, err, errlen, &rc);
    L->qkv_b = s_tensor (self, S_NAME (L_, "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat"),
                         1, 3 * d, 0, 0, 0, err, errlen, &rc);
    L->out_w = s_tensor (self, S_NAME (K_, "MultiheadAttention/output_transform_single/kernel/part_0"),
                         4, 1, 1, d, S_W, err, errlen, &rc);
    L->out_b = s_tensor (self, S_NAME (L_, "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat"),
                         1, S_W, 0, 0, 0, err, errlen, &rc);
    L->ln2_g = s_tensor (self, S_NAME (L_, "FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat"),
                         1, S_W, 0, 0, 0, err, errlen, &rc);
    L->ln2_b = s_tensor (self, S_NAME (L_, "FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat"),
                         1, S_W, 0, 0, 0, err, errlen, &rc);
    L->ffn1_w = s_tensor (self, S_NAME (F_, "conv1/Tensordot/Reshape_1"), 2, S_W, S_F, 0, 0, err, errlen, &rc);
    L->ffn1_b = s_tensor (self, S_NAME (L_, "FFN/conv1/bias/ConcatPartitions/concat"), 1, S_F, 0, 0, 0,
                          err, errlen, &rc);
    L->ffn2_w = s_tensor (self, S_NAME (F_, "conv2/Tensordot/Reshape_1"), 2, S_F, S_W, 0, 0, err, errlen, &rc);
    L->ffn2_b = s_tensor (self, S_NAME (L_, "FFN/conv2/bias/ConcatPartitions/concat"), 1, S_W, 0, 0, 0,
                          err, errlen, &rc);
    if (i == 0) {
        L->res_w = s_tensor (self, S_NAME (L_, "dense/kernel/ConcatPartitions/concat"), 2, S_E, S_W, 0, 0,
                             err, errlen, &rc);
        L->res_b = s_tensor (self, S_NAME (L_, "dense/bias/ConcatPartitions/concat"), 1, S_W, 0, 0, 0,
                             err, errlen, &rc);
    }
    double scale = 0;
    snprintf (name, sizeof name, S_TS "Layer_%d/TransformerLayer/MultiheadAttention/mul/y", i);
    if (rc == 0 && s_scalar (self, name, 1e-4, 1, &scale, err, errlen))
        rc = -1;
    L->scale = (float) scale;
#undef S_NAME
    return rc;
}

static void
s_use_close (void *state)
{
    s_use_t *self = state;
    if (self) {
        for (int i = 0; i < 2; i++) {
            s_layer_t *L = &self->layer [i];
            sl_matmul_destroy (&L->qkv);
            sl_matmul_destroy (&L->out);
            sl_matmul_destroy (&L->res);
            sl_matmul_destroy (&L->ffn1);
            sl_matmul_destroy (&L->ffn2);
        }
        sl_matmul_destroy (&self->tanh);
        sl_tfjs_destroy (&self->weights);
        sl_use_tokenizer_destroy (&self->tokenizer);
        free (self->timing);
        free (self);
    }
}

//  Each projection's weights in the chosen precision (bf16: converted and
//  packed once, here). Returns -1 if out of memory.
static int
s_prepare (s_use_t *self)
{
    sl_precision_t p = self->precision;
    for (int i = 0; i < 2; i++) {
        s_layer_t *L = &self->layer [i];
        L->qkv = sl_matmul_new (L->qkv_w, L->d, 3 * L->d, false, p);
        L->out = sl_matmul_new (L->out_w, L->d, S_W, false, p);
        L->ffn1 = sl_matmul_new (L->ffn1_w, S_W, S_F, false, p);
        L->ffn2 = sl_matmul_new (L->ffn2_w, S_F, S_W, false, p);
        if (L->res_w)
            L->res = sl_matmul_new (L->res_w, S_E, S_W, false, p);
        if (!L->qkv || !L->out || !L->ffn1 || !L->ffn2 || (L->res_w && !L->res))
            return -1;
    }
    self->tanh = sl_matmul_new (self->tanh_w, S_W, S_W, false, p);
    return self->tanh ? 0 : -1;
}

static void *
s_use_open (const char *options, sl_embed_info_t *info, char *err, size_t errlen)
{
    char dir [PATH_MAX], path [PATH_MAX + 16], why [768];
    if (sl_embed_use_model_dir (options, dir, sizeof dir, err, errlen))
        return NULL;
    s_options_t o = { "", "" };
    sl_precision_t precision;
    sl_embed_options_parse (options, s_on_option, &o, err, errlen);    //  checked just above
    //  Used directly, the provider is the fp32 reference unless asked;
    //  the node passes embed.precision (default auto)
    if (sl_matmul_precision (o.precision [0] ? o.precision : "fp32", &precision, why, sizeof why)) {
        snprintf (err, errlen, "use provider: %s", why);
        return NULL;
    }
    snprintf (path, sizeof path, "%s/model.json", dir);
    struct stat st;
    if (stat (path, &st)) {
        snprintf (err, errlen, "use provider: model files not found: %s is missing (%s, or point "
                  "embed.options path= or SLUICE_MODEL_DIR at a copy)", path, S_SETUP_HINT);
        return NULL;
    }
    s_use_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "use provider: out of memory");
        return NULL;
    }
    int rc = 0;
    self->weights = sl_tfjs_open (dir, why, sizeof why);
    if (!self->weights)
        rc = -1;
    if (rc == 0) {
        snprintf (path, sizeof path, "%s/vocab.json", dir);
        self->tokenizer = sl_use_tokenizer_new (path, why, sizeof why);
        if (!self->tokenizer)
            rc = -1;
    }
    //  Every tensor the graph reads, with the shape it must have
    int64_t rows = 0;
    const sl_tfjs_tensor_t *emb = rc ? NULL : sl_tfjs_find (self->weights, "module/Embeddings_en");
    if (emb && emb->rank == 2)
        rows = emb->shape [0];
    if (rc == 0 && rows < sl_use_tokenizer_size (self->tokenizer)) {
        snprintf (why, sizeof why, "module/Embeddings_en has %lld rows, fewer than the %d pieces of "
                  "vocab.json (or is missing)", (long long) rows, sl_use_tokenizer_size (self->tokenizer));
        rc = -1;
    }
    self->emb = s_tensor (self, "module/Embeddings_en", 2, rows, S_E, 0, 0, why, sizeof why, &rc);
    self->emb_rows = (int) rows;
    const float *inv = s_tensor (self, S_TS "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1",
                                 2, 1, S_E / 2, 0, 0, why, sizeof why, &rc);
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = s_bind_layer (self, i, why, sizeof why);
    self->tanh_w = s_tensor (self, "module/Encoder_en/hidden_layers/tanh_layer_0/weights", 2, S_W, S_W, 0, 0,
                             why, sizeof why, &rc);
    self->tanh_b = s_tensor (self, "module/Encoder_en/hidden_layers/tanh_layer_0/bias", 1, S_W, 0, 0, 0,
                             why, sizeof why, &rc);
    double max_len = 0, ln_eps = 0, l2_eps = 0;
    if (rc == 0
    && (s_scalar (self, "module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y",
                  1, 1024, &max_len, why, sizeof why)
    ||  s_scalar (self, S_TS "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x",
                  0, 1e-2, &ln_eps, why, sizeof why)
    ||  s_scalar (self, "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y",
                  0, 1e-2, &l2_eps, why, sizeof why)))
        rc = -1;
    //  A flipped bit can make a NaN that would poison every vector: refuse
    for (int t = 0; rc == 0 && t < sl_tfjs_count (self->weights); t++) {
        const sl_tfjs_tensor_t *tensor = sl_tfjs_at (self->weights, t);
        const float *v = tensor->data;
        for (size_t i = 0; tensor->dtype == SL_TFJS_FLOAT32 && i < tensor->count && rc == 0; i++)
            if (!isfinite (v [i])) {
                snprintf (why, sizeof why, "tensor %s holds a NaN or infinity at element %zu",
                          tensor->name, i);
                rc = -1;
            }
    }
    if (rc) {
        snprintf (err, errlen, "use provider: cannot load the model in %s: %s (%s again if the files "
                  "are damaged)", dir, why, S_SETUP_HINT);
        s_use_close (self);
        return NULL;
    }
    self->precision = precision;
    if (rc == 0 && s_prepare (self)) {
        snprintf (err, errlen, "use provider: out of memory preparing the %s weights",
                  sl_matmul_precision_name (precision));
        s_use_close (self);
        return NULL;
    }
    self->max_len = (int) max_len;
    self->ln_eps = (float) ln_eps;
    self->l2_eps = (float) l2_eps;
    //  The timing signal, as the graph computes it: float position times
    //  float inverse frequency, then sin and cos
    self->timing = malloc ((size_t) self->max_len * S_E * sizeof (float));
    if (!self->timing) {
        snprintf (err, errlen, "use provider: out of memory");
        s_use_close (self);
        return NULL;
    }
    for (int p = 0; p < self->max_len; p++)
        for (int k = 0; k < S_E / 2; k++) {
            float angle = (float) p * inv [k];
            self->timing [p * S_E + k] = sinf (angle);
            self->timing [p * S_E + S_E / 2 + k] = cosf (angle);
        }
    info->dim = S_W;
    info->max_tokens = self->max_len;
    //  fp32 keeps the id it always had, so existing workspaces stay valid;
    //  bf16 vectors are another model as far as the store is concerned
    snprintf (info->model_id, sizeof info->model_id, "use:" S_MODEL_NAME ":%.16s:%.8s%s",
              sl_tfjs_digest (self->weights), sl_use_tokenizer_digest (self->tokenizer),
              precision == SL_PRECISION_BF16 ? ":bf16" : "");
    return self;
}

static size_t
s_use_count_tokens (void *state, const char *text, size_t len)
{
    s_use_t *self = state;
    long n = sl_use_tokenizer_encode (self->tokenizer, text, len, NULL, 0);
    return n >= 0 ? (size_t) n : len + 1;      //  out of memory: too many, never too few
}

//  --------------------------------------------------------------------------
//  The forward pass

//  y [rows x out] = (accumulate ? y : 0) + b + x [rows x in] * W [in x out]
static void
s_linear (const sl_matmul_t *w, const float *x, int rows, const float *b, float *y, int out,
          bool accumulate, float *scratch)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t) r * (size_t) out;
        if (accumulate)
            for (int k = 0; k < out; k++)
                yr [k] += b [k];
        else
            memcpy (yr, b, (size_t) out * sizeof (float));
    }
    sl_matmul_apply (w, x, rows, y, scratch);
}

static void
s_layernorm (const float *x, float *y, int rows, int d, const float *g, const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t) r * (size_t) d;
        float *yr = y + (size_t) r * (size_t) d;
        float mean = 0, var = 0;
        for (int k = 0; k < d; k++)
            mean += xr [k];
        mean /= (float) d;
        for (int k = 0; k < d; k++) {
            float c = xr [k] - mean;
            var += c * c;
        }
        var /= (float) d;
        float inv = 1.0f / sqrtf (var + eps);
        for (int k = 0; k < d; k++)
            yr [k] = (xr [k] - mean) * (g [k] * inv) + b [k];
    }
}

static void
s_relu (float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x [i] = x [i] > 0 ? x [i] : 0;
}

//  Attention of every text of the sub-batch over its own rows: qkv holds
//  rows x 3d (q | k | v, each split into 4 heads), a gets rows x d.
static void
s_attention (const s_layer_t *L, const float *qkv, float *a, int texts, const int *first,
             const int *lens, float *scores)
{
    int d = L->d, dh = d / S_HEADS, ld = 3 * d;
    for (int t = 0; t < texts; t++) {
        int n = lens [t];
        const float *base = qkv + (size_t) first [t] * (size_t) ld;
        for (int h = 0; h < S_HEADS; h++) {
            const float *q = base + h * dh, *k = q + d, *v = q + 2 * d;
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, L->scale, q, ld, k, ld, 0.0f,
                         scores, n);
            for (int i = 0; i < n; i++) {
                float *row = scores + (size_t) i * (size_t) n;
                float max = row [0], sum = 0;
                for (int j = 1; j < n; j++)
                    max = row [j] > max ? row [j] : max;
                for (int j = 0; j < n; j++) {
                    row [j] = expf (row [j] - max);
                    sum += row [j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < n; j++)
                    row [j] *= inv;
            }
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f, scores, n, v, ld, 0.0f,
                         a + (size_t) first [t] * (size_t) d + h * dh, d);
        }
    }
}

typedef struct {
    float *x0;                  //  tokens x E: layer 0 input
    float *y;                   //  tokens x W: the residual stream
    float *h;                   //  tokens x W: LayerNorm out, then attention out
    float *big;                 //  tokens x 3W: q|k|v, then the FFN's hidden layer
    float *scores;              //  max_len x max_len
    float *pooled_f;            //  texts x F: mean of the last FFN's hidden layer
    float *pooled;              //  texts x W: mean of the output tokens
    float *z;                   //  texts x W
    float *act;                 //  bf16 only: a projection's input, converted
    uint32_t *hid;              //  bf16 only: layer 0's FFN hidden layer, as pairs
    uint32_t *att;              //  bf16 only: sl_matmul_attention's scratch
    int *group;                 //  bf16 only: tokens: the text of each
} s_scratch_t;

//  Mean of each text's rows of m (rows x width) into pooled (texts x width)
static void
s_mean_rows (const float *m, int width, int texts, const int *first, const int *lens, float *pooled)
{
    for (int t = 0; t < texts; t++) {
        float *p = pooled + (size_t) t * (size_t) width;
        memset (p, 0, (size_t) width * sizeof (float));
        for (int r = first [t]; r < first [t] + lens [t]; r++) {
            const float *row = m + (size_t) r * (size_t) width;
            for (int c = 0; c < width; c++)
                p [c] += row [c];
        }
        float inv = 1.0f / (float) lens [t];
        for (int c = 0; c < width; c++)
            p [c] *= inv;
    }
}

//  s_mean_rows in 16 lanes (bf16 only; width a multiple of 64)
__attribute__ ((target ("avx512f")))
static void
s_mean_rows_avx512 (const float *m, int width, int texts, const int *first, const int *lens, float *pooled)
{
    for (int t = 0; t < texts; t++) {
        __m512 inv = _mm512_set1_ps (1.0f / (float) lens [t]);
        for (int c = 0; c < width; c += 64) {
            __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
            for (int r = first [t]; r < first [t] + lens [t]; r++) {
                const float *row = m + (size_t) r * (size_t) width + c;
                s0 = _mm512_add_ps (s0, _mm512_loadu_ps (row));
                s1 = _mm512_add_ps (s1, _mm512_loadu_ps (row + 16));
                s2 = _mm512_add_ps (s2, _mm512_loadu_ps (row + 32));
                s3 = _mm512_add_ps (s3, _mm512_loadu_ps (row + 48));
            }
            float *p = pooled + (size_t) t * (size_t) width + c;
            _mm512_storeu_ps (p, _mm512_mul_ps (s0, inv));
            _mm512_storeu_ps (p + 16, _mm512_mul_ps (s1, inv));
            _mm512_storeu_ps (p + 32, _mm512_mul_ps (s2, inv));
            _mm512_storeu_ps (p + 48, _mm512_mul_ps (s3, inv));
        }
    }
}

//  One transformer layer over rows tokens. Layer 0 reads x0 and writes y;
//  layer 1 updates y, and, being the last, leaves the mean of its output
//  tokens per text in pooled instead of the tokens themselves: the FFN's
//  second projection is linear, so the mean of relu (...) * W2 equals
//  mean (relu (...)) * W2, one row per text instead of one per token (a
//  sixth of the model's multiply-adds).
static void
s_layer (const s_use_t *self, const s_layer_t *L, s_scratch_t *s, int rows, int texts,
         const int *first, const int *lens, bool last)
{
    int d = L->d;
    const float *in = L->res_w ? s->x0 : s->y;
    s_layernorm (in, s->h, rows, d, L->ln1_g, L->ln1_b, self->ln_eps);
    s_linear (L->qkv, s->h, rows, L->qkv_b, s->big, 3 * d, false, s->act);
    s_attention (L, s->big, s->h, texts, first, lens, s->scores);
    if (L->res)                 //  layer 0: the residual is projected E -> W
        s_linear (L->res, s->x0, rows, L->res_b, s->y, S_W, false, s->act);
    s_linear (L->out, s->h, rows, L->out_b, s->y, S_W, true, s->act);
    s_layernorm (s->y, s->h, rows, S_W, L->ln2_g, L->ln2_b, self->ln_eps);
    s_linear (L->ffn1, s->h, rows, L->ffn1_b, s->big, S_F, false, s->act);
    s_relu (s->big, (size_t) rows * S_F);
    if (last) {
        s_mean_rows (s->big, S_F, texts, first, lens, s->pooled_f);
        s_mean_rows (s->y, S_W, texts, first, lens, s->pooled);
        s_linear (L->ffn2, s->pooled_f, texts, L->ffn2_b, s->pooled, S_W, true, s->act);
    }
    else
        s_linear (L->ffn2, s->big, rows, L->ffn2_b, s->y, S_W, true, s->act);
}

//  s_layer in bf16: the activations that feed a projection are written as
//  bf16 pairs by the step that makes them (LayerNorm, the FFN's ReLU), and
//  the biases, residual sums and ReLU are done in the projection's store,
//  so no pass converts, fills or clips a matrix of its own. Same graph,
//  same rounding points as converting each projection's input.
static void
s_layer_bf16 (const s_use_t *self, const s_layer_t *L, s_scratch_t *s, int rows, int texts,
              const int *first, const int *lens, bool last)
{
    int d = L->d;
    uint32_t *act = (uint32_t *) s->act;
    if (L->res) {               //  layer 0: y = x0 * Wr + br
        sl_matmul_to_pairs (s->x0, rows, S_E, act);
        sl_matmul_apply_pairs (L->res, act, rows, s->y, &(sl_matmul_store_t) { .bias = L->res_b });
    }
    sl_matmul_layernorm_pairs (L->res_w ? s->x0 : s->y, rows, d, L->ln1_g, L->ln1_b, self->ln_eps, act);
    sl_matmul_apply_pairs (L->qkv, act, rows, s->big, &(sl_matmul_store_t) { .bias = L->qkv_b });
    int dh = d / S_HEADS;
    for (int t = 0; t < texts; t++)
        for (int h = 0; h < S_HEADS; h++) {
            const float *q = s->big + (size_t) first [t] * (size_t) (3 * d) + h * dh;
            sl_matmul_attention (q, q + d, q + 2 * d, 3 * d, lens [t], dh, L->scale,
                                 act + (size_t) first [t] * (size_t) (d / 2) + h * dh / 2, (size_t) d / 2, s->att);
        }
    memset (act + (size_t) rows * (size_t) (d / 2), 0,
            (size_t) (sl_matmul_rows_pad (rows) - rows) * (size_t) (d / 2) * sizeof *act);
    sl_matmul_apply_pairs (L->out, act, rows, s->y,
                           &(sl_matmul_store_t) { .bias = L->out_b, .accumulate = true });
    sl_matmul_layernorm_pairs (s->y, rows, S_W, L->ln2_g, L->ln2_b, self->ln_eps, act);
    if (last) {
        //  the FFN's hidden rows are only summed per text (the mean)
        for (int t = 0; t < texts; t++)
            for (int r = first [t]; r < first [t] + lens [t]; r++)
                s->group [r] = t;
        memset (s->pooled_f, 0, (size_t) texts * S_F * sizeof (float));
        sl_matmul_apply_pairs (L->ffn1, act, rows, NULL, &(sl_matmul_store_t) { .bias = L->ffn1_b, .relu = true,
                               .sums = s->pooled_f, .groups = s->group });
        for (int t = 0; t < texts; t++) {
            float inv = 1.0f / (float) lens [t], *p = s->pooled_f + (size_t) t * S_F;
            for (int c = 0; c < S_F; c++)
                p [c] *= inv;
        }
        s_mean_rows_avx512 (s->y, S_W, texts, first, lens, s->pooled);
        sl_matmul_to_pairs (s->pooled_f, texts, S_F, act);
        sl_matmul_apply_pairs (L->ffn2, act, texts, s->pooled,
                               &(sl_matmul_store_t) { .bias = L->ffn2_b, .accumulate = true });
    }
    else {
        sl_matmul_apply_pairs (L->ffn1, act, rows, NULL,
                               &(sl_matmul_store_t) { .bias = L->ffn1_b, .relu = true, .pairs = s->hid });
        sl_matmul_apply_pairs (L->ffn2, s->hid, rows, s->y,
                               &(sl_matmul_store_t) { .bias = L->ffn2_b, .accumulate = true });
    }
}

//  Sub-batches: consecutive texts while their tokens fit S_BATCH_TOKENS
//  (a text alone always fits: max_len <= S_BATCH_TOKENS). Texts with no
//  tokens (only the empty text) are left out: they keep the zero vector.
//  Returns the index after the last text taken; fills order, first, lens.
static int
s_next_batch (const int *count, int n, int from, int *order, int *first, int *lens, int *k_p,
              int *rows_p)
{
    int k = 0, rows = 0;
    while (from < n && (k == 0 || rows + count [from] <= S_BATCH_TOKENS)) {
        if (count [from] > 0) {
            order [k] = from;
            first [k] = rows;
            lens [k] = count [from];
            rows += count [from];
            k++;
        }
        from++;
    }
    *k_p = k;
    *rows_p = rows;
    return from;
}

static int
s_use_embed (void *state, const char **texts, const size_t *lens, int n, float *out,
             char *err, size_t errlen)
{
    s_use_t *self = state;
    int max_len = self->max_len;
    int32_t *ids = malloc ((size_t) n * (size_t) max_len * sizeof *ids);
    int *count = malloc ((size_t) n * 4 * sizeof *count);
    if (!ids || !count) {
        free (ids);
        free (count);
        snprintf (err, errlen, "use provider: out of memory for %d texts", n);
        return -1;
    }
    //  per text: tokens kept; per packed text: text index, first row, tokens
    int *order = count + n, *first = count + 2 * n, *packed = count + 3 * n;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        long total = sl_use_tokenizer_encode (self->tokenizer, texts [i] ? texts [i] : "",
                                              texts [i] ? lens [i] : 0,
                                              ids + (size_t) i * (size_t) max_len, (size_t) max_len);
        if (total < 0) {
            snprintf (err, errlen, "use provider: out of memory tokenizing text %d", i);
            rc = -1;
        }
        count [i] = total > max_len ? max_len : (int) total;
    }
    //  Scratch for the largest sub-batch
    int largest = 0, texts_max = 0;
    for (int at = 0, k = 0, rows = 0; at < n; ) {
        at = s_next_batch (count, n, at, order, first, packed, &k, &rows);
        largest = rows > largest ? rows : largest;
        texts_max = k > texts_max ? k : texts_max;
    }
    s_scratch_t s = { 0 };
    size_t act = sl_matmul_scratch_floats (self->precision, largest, S_F);
    size_t att = act ? sl_matmul_attention_scratch (max_len, S_W / S_HEADS) : 0;
    size_t floats = (size_t) largest * (S_E + S_W + S_W + 3 * S_W)
                  + (size_t) max_len * (size_t) max_len + (size_t) texts_max * (S_F + 2 * S_W) + 2 * act + att
                  + (act ? (size_t) largest : 0);    //  group (an int per token)
    float *mem = rc == 0 && largest ? malloc (floats * sizeof (float)) : NULL;
    if (rc == 0 && largest && !mem) {
        snprintf (err, errlen, "use provider: out of memory for a batch of %d tokens", largest);
        rc = -1;
    }
    if (mem) {
        s.x0 = mem;
        s.y = s.x0 + (size_t) largest * S_E;
        s.h = s.y + (size_t) largest * S_W;
        s.big = s.h + (size_t) largest * S_W;
        s.scores = s.big + (size_t) largest * 3 * S_W;
        s.pooled_f = s.scores + (size_t) max_len * (size_t) max_len;
        s.pooled = s.pooled_f + (size_t) texts_max * S_F;
        s.z = s.pooled + (size_t) texts_max * S_W;
        s.act = act ? s.z + (size_t) texts_max * S_W : NULL;
        s.hid = act ? (uint32_t *) (s.act + act) : NULL;
        s.att = act ? s.hid + act : NULL;
        s.group = act ? (int *) (s.att + att) : NULL;
    }
    int at = 0;
    while (rc == 0 && at < n) {
        int k = 0, rows = 0;
        at = s_next_batch (count, n, at, order, first, packed, &k, &rows);
        if (k == 0)
            continue;
        //  Input: 2 x embedding + timing signal
        for (int t = 0; t < k; t++) {
            const int32_t *tid = ids + (size_t) order [t] * (size_t) max_len;
            for (int p = 0; p < packed [t]; p++) {
                assert (tid [p] >= 0 && tid [p] < self->emb_rows);    //  open checked vocab <= rows
                const float *e = self->emb + (size_t) tid [p] * S_E;
                const float *tm = self->timing + (size_t) p * S_E;
                float *x = s.x0 + (size_t) (first [t] + p) * S_E;
                for (int c = 0; c < S_E; c++)
                    x [c] = 2.0f * e [c] + tm [c];
            }
        }
        void (*layer) (const s_use_t *, const s_layer_t *, s_scratch_t *, int, int, const int *, const int *,
                       bool) = self->precision == SL_PRECISION_BF16 ? s_layer_bf16 : s_layer;
        layer (self, &self->layer [0], &s, rows, k, first, packed, false);
        layer (self, &self->layer [1], &s, rows, k, first, packed, true);
        //  tanh layer on the pooled tokens, then L2 normalisation
        s_linear (self->tanh, s.pooled, k, self->tanh_b, s.z, S_W, false, s.act);
        for (int t = 0; t < k; t++) {
            float *z = s.z + (size_t) t * S_W;
            float sum = 0;
            for (int c = 0; c < S_W; c++) {
                z [c] = tanhf (z [c]);
                sum += z [c] * z [c];
            }
            float scale = 1.0f / sqrtf (sum > self->l2_eps ? sum : self->l2_eps);
            float *o = out + (size_t) order [t] * S_W;
            for (int c = 0; c < S_W; c++)
                o [c] = z [c] * scale;
        }
    }
    free (mem);
    free (ids);
    free (count);
    return rc;
}

const sl_embed_provider_t sl_embed_use_provider = {
    .name = "use",
    .open = s_use_open,
    .close = s_use_close,
    .count_tokens = s_use_count_tokens,
    .embed = s_use_embed,
};
