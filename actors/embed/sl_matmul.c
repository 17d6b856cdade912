/*  sl_matmul: a weight matrix prepared for fp32 (OpenBLAS sgemm) or bf16
    (an AVX512-BF16 kernel). See sl_matmul.h.

    bf16 layout: W is packed in panels of S_NB (64) output columns; within a
    panel, for each pair of input rows k, k+1, the 64 columns' two values
    sit side by side (column c: element 2c is row k, 2c+1 row k+1). That is
    the operand order of vdpbf16ps: each 32-bit lane holds a pair, and the
    instruction adds a.lo * b.lo + a.hi * b.hi into an fp32 lane. x is
    converted into the same pairs per row, so one 32-bit broadcast of x
    feeds four instructions (64 columns). A block of S_MR (6) rows x 64
    columns keeps 24 accumulators and 4 panel vectors in the 32 registers.
    Widths are padded (in to even, out to 64, rows to 6) with zeros, which
    add nothing; the stores are masked to the real columns and rows.
*/
#include "sl_matmul.h"

#include <assert.h>
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NB 64                 //  output columns per panel: 4 vectors of 16
#define S_MR 6                  //  rows per register block
#define S_SPLIT_MACS (1 << 24)  //  a product this big is split over threads:
                                //  ~0.1 ms of work, against ~30 us to start one
#define S_MAX_THREADS 8

struct sl_matmul_s {
    sl_precision_t precision;
    int in, out;
    bool transposed;
    const float *w;             //  fp32: the caller's matrix
    uint32_t *packed;           //  bf16: panels of in_pad/2 x 64 pairs
    int in_pad, out_pad;
};

bool
sl_matmul_cpu_has_bf16 (void)
{
    //  A test (and a person comparing) can hide the unit, to see what a
    //  CPU without it gets: the refusal, and auto's fallback
    const char *hide = getenv ("SLUICE_CPU_NO_BF16");
    if (hide && hide [0] && strcmp (hide, "0") != 0)
        return false;
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bf16");
}

int
sl_matmul_precision (const char *value, sl_precision_t *precision, char *err, size_t errlen)
{
    bool has = sl_matmul_cpu_has_bf16 ();
    if (!value || !value [0] || strcmp (value, "auto") == 0)
        *precision = has ? SL_PRECISION_BF16 : SL_PRECISION_FP32;
    else
    if (strcmp (value, "fp32") == 0)
        *precision = SL_PRECISION_FP32;
    else
    if (strcmp (value, "bf16") == 0) {
        if (!has) {
            snprintf (err, errlen, "precision bf16 needs a CPU with avx512_bf16, which this one "
                      "lacks: set embed.precision=fp32 or auto");
            return -1;
        }
        *precision = SL_PRECISION_BF16;
    }
    else {
        snprintf (err, errlen, "precision '%s' is not one of auto, fp32, bf16", value);
        return -1;
    }
    return 0;
}

const char *
sl_matmul_precision_name (sl_precision_t precision)
{
    return precision == SL_PRECISION_BF16 ? "bf16" : "fp32";
}

//  fp32 to bf16, round to nearest even (the weights and activations are
//  finite: the encoders refuse NaN weights at open)
static inline uint32_t
s_bf16 (float f)
{
    uint32_t u;
    memcpy (&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

static int
s_round_up (int n, int to)
{
    return (n + to - 1) / to * to;
}

static void
s_pack (sl_matmul_t *self)
{
    int in = self->in, out = self->out, pairs = self->in_pad / 2;
    for (int j = 0; j < out; j++) {
        uint32_t *panel = self->packed + (size_t) (j / S_NB) * (size_t) pairs * S_NB + j % S_NB;
        for (int k = 0; k < in; k++) {
            float v = self->transposed ? self->w [(size_t) j * (size_t) in + (size_t) k]
                                       : self->w [(size_t) k * (size_t) out + (size_t) j];
            panel [(size_t) (k / 2) * S_NB] |= s_bf16 (v) << (16 * (k & 1));
        }
    }
}

sl_matmul_t *
sl_matmul_new (const float *w, int in, int out, bool transposed, sl_precision_t precision)
{
    assert (w && in > 0 && out > 0);
    sl_matmul_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    *self = (sl_matmul_t) { precision, in, out, transposed, w, NULL, s_round_up (in, 2),
                            s_round_up (out, S_NB) };
    if (precision == SL_PRECISION_BF16) {
        //  64-byte aligned: every panel load is one cache line (calloc's
        //  16-byte alignment split each in two: measured 8% slower)
        size_t bytes = (size_t) self->in_pad / 2 * (size_t) self->out_pad * sizeof (uint32_t);
        self->packed = aligned_alloc (64, bytes);
        if (!self->packed) {
            free (self);
            return NULL;
        }
        memset (self->packed, 0, bytes);
        s_pack (self);
        self->w = NULL;         //  bf16 never reads the caller's matrix again
    }
    return self;
}

void
sl_matmul_destroy (sl_matmul_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->packed);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
sl_matmul_scratch_floats (sl_precision_t precision, int rows, int in)
{
    if (precision != SL_PRECISION_BF16)
        return 0;
    return (size_t) s_round_up (rows, S_MR) * (size_t) s_round_up (in, 2) / 2;
}

//  c [mr x valid columns] += a [6 rows of pairs] * one panel. The 24
//  accumulators only stay in registers if the row and vector loops are
//  unrolled, which -O2 does not do by itself (measured: 4x slower, every
//  accumulator spilled): hence O3 and the explicit unrolls, at any build type.
#if defined(__GNUC__) && !defined(__clang__)
#   pragma GCC push_options
#   pragma GCC optimize ("O3")
#endif
//  nv: the vectors of 16 columns that hold valid ones (a panel's last
//  columns past the product's are not multiplied: attention's scores of
//  a 84-token text are 64 + 20 columns, not 128)
__attribute__ ((target ("avx512f,avx512bf16"), always_inline))
static inline void
s_kernel_nv (const uint32_t *a, size_t lda, int pairs, const uint32_t *panel, float *c, int ldc, int mr, int valid,
             const sl_matmul_store_t *store, const float *bias, uint32_t *po, int ldp, const int *groups, const int nv)
{
    __m512 acc [S_MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < S_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc [r][v] = _mm512_setzero_ps ();
    //  the block's output lines, fetched while the products run (a column
    //  panel of y is 6 KB apart per row: they are rarely in cache)
    for (int r = 0; r < mr; r++)
        if (c)
            for (int v = 0; v < 4; v++)
                _mm_prefetch ((const char *) (c + (size_t) (groups ? groups [r] : r) * (size_t) ldc + v * 16),
                              _MM_HINT_T0);
        else
        if (po) {
            _mm_prefetch ((const char *) (po + (size_t) r * (size_t) ldp), _MM_HINT_T0);
            _mm_prefetch ((const char *) (po + (size_t) r * (size_t) ldp + 16), _MM_HINT_T0);
        }
    for (int k = 0; k < pairs; k++) {
        const uint32_t *b = panel + (size_t) k * S_NB;
        __m512bh bv [4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv [v] = (__m512bh) _mm512_load_si512 (b + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < S_MR; r++) {
            __m512bh x = (__m512bh) _mm512_set1_epi32 ((int) a [(size_t) r * lda + (size_t) k]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc [r][v] = _mm512_dpbf16_ps (acc [r][v], x, bv [v]);
        }
    }
    //  The store: (y or 0) + bias + product, ReLU, then fp32 to y or bf16
    //  pairs for the next projection (padded columns hold 0: W's padding
    //  is zero and the bias is read masked)
    __mmask16 m [4];
    __m512 bv [4];
    for (int v = 0; v < 4; v++) {
        int n = valid - v * 16;
        m [v] = n >= 16 ? (__mmask16) 0xffff : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
        bv [v] = bias ? _mm512_maskz_loadu_ps (m [v], bias + v * 16) : _mm512_setzero_ps ();
    }
    __mmask16 pm [2];
    for (int v = 0; v < 4; v += 2) {
        int n = (valid - v * 16 + 1) / 2;
        pm [v / 2] = n >= 16 ? (__mmask16) 0xffff : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
    }
    //  unrolled, so the accumulators stay in registers (a loop over r
    //  indexes them and spills all 24 to the stack)
#pragma GCC unroll 6
    for (int r = 0; r < S_MR; r++) {
        if (r >= mr)
            break;
        float *cp = c ? c + (size_t) (groups ? groups [r] : r) * (size_t) ldc : NULL;
        __m512 t [4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            t [v] = acc [r][v];
            if (store->accumulate)
                t [v] = _mm512_add_ps (bias ? _mm512_add_ps (_mm512_maskz_loadu_ps (m [v], cp + v * 16), bv [v])
                                            : _mm512_maskz_loadu_ps (m [v], cp + v * 16), t [v]);
            else
            if (bias)
                t [v] = _mm512_add_ps (bv [v], t [v]);
            if (store->relu)
                t [v] = _mm512_max_ps (t [v], _mm512_setzero_ps ());
            if (groups)         //  summed into the row's group
                t [v] = _mm512_add_ps (_mm512_maskz_loadu_ps (m [v], cp + v * 16), t [v]);
        }
        if (po) {
            uint32_t *pp = po + (size_t) r * (size_t) ldp;
            _mm512_mask_storeu_epi32 (pp, pm [0], (__m512i) _mm512_cvtne2ps_pbh (t [1], t [0]));
            _mm512_mask_storeu_epi32 (pp + 16, pm [1], (__m512i) _mm512_cvtne2ps_pbh (t [3], t [2]));
        }
        else
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                _mm512_mask_storeu_ps (cp + v * 16, m [v], t [v]);
    }
}

#define S_KERNEL_NV(nv)                                                                                  \
__attribute__ ((target ("avx512f,avx512bf16")))                                                         \
static void                                                                                             \
s_kernel##nv (const uint32_t *a, size_t lda, int pairs, const uint32_t *panel, float *c, int ldc, int mr, \
              int valid, const sl_matmul_store_t *store, const float *bias, uint32_t *po, int ldp,        \
              const int *groups)                                                                        \
{                                                                                                       \
    s_kernel_nv (a, lda, pairs, panel, c, ldc, mr, valid, store, bias, po, ldp, groups, nv);            \
}
S_KERNEL_NV (1)
S_KERNEL_NV (2)
S_KERNEL_NV (3)
S_KERNEL_NV (4)

//  c [mr x valid columns] (or po, or groups of c) = a [6 rows of pairs] *
//  one panel, as store says
static void
s_kernel (const uint32_t *a, size_t lda, int pairs, const uint32_t *panel, float *c, int ldc, int mr, int valid,
          const sl_matmul_store_t *store, const float *bias, uint32_t *po, int ldp, const int *groups)
{
    switch (valid >= 64 ? 4 : (valid + 15) / 16) {
        case 1: s_kernel1 (a, lda, pairs, panel, c, ldc, mr, valid, store, bias, po, ldp, groups); break;
        case 2: s_kernel2 (a, lda, pairs, panel, c, ldc, mr, valid, store, bias, po, ldp, groups); break;
        case 3: s_kernel3 (a, lda, pairs, panel, c, ldc, mr, valid, store, bias, po, ldp, groups); break;
        default: s_kernel4 (a, lda, pairs, panel, c, ldc, mr, valid, store, bias, po, ldp, groups); break;
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#   pragma GCC pop_options
#endif

//  n floats (n even, from a row) to n / 2 bf16 pairs, round to nearest
//  even: the same rounding as s_bf16, 32 at a time
__attribute__ ((target ("avx512f,avx512bf16")))
static void
s_to_pairs (const float *x, int n, uint32_t *pairs)
{
    int k = 0;
    for (; k + 32 <= n; k += 32)
        _mm512_storeu_si512 (pairs + k / 2, (__m512i) _mm512_cvtne2ps_pbh (_mm512_loadu_ps (x + k + 16),
                                                                            _mm512_loadu_ps (x + k)));
    if (k < n) {
        int left = n - k;
        __mmask16 lo = left >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << left) - 1);
        __mmask16 hi = left > 16 ? (__mmask16) ((1u << (left - 16)) - 1) : 0;
        __mmask16 out = (__mmask16) ((1u << (left / 2)) - 1);
        __m512bh v = _mm512_cvtne2ps_pbh (_mm512_maskz_loadu_ps (hi, x + k + 16), _mm512_maskz_loadu_ps (lo, x + k));
        _mm512_mask_storeu_epi32 (pairs + k / 2, out, (__m512i) v);
    }
}

//  x rows to bf16 pairs, padded with zeros to whole pairs and 6-row blocks
static void
s_convert (const float *x, int rows, int in, int in_pad, uint32_t *a)
{
    int pairs = in_pad / 2, rows_pad = s_round_up (rows, S_MR);
    for (int r = 0; r < rows_pad; r++) {
        uint32_t *ar = a + (size_t) r * (size_t) pairs;
        const float *xr = x + (size_t) r * (size_t) in;
        if (r >= rows) {
            memset (ar, 0, (size_t) pairs * sizeof *ar);
            continue;
        }
        s_to_pairs (xr, in & ~1, ar);
        if (in & 1)
            ar [pairs - 1] = s_bf16 (xr [in - 1]);
    }
}

//  One thread's share of a bf16 product: panels [from, to) of W
typedef struct {
    const sl_matmul_t *self;
    const uint32_t *a;
    int rows, from, to;
    float *y;
    const sl_matmul_store_t *store;
} s_part_t;

static void *
s_part_run (void *arg)
{
    s_part_t *p = arg;
    const sl_matmul_t *self = p->self;
    const sl_matmul_store_t *store = p->store;
    int pairs = self->in_pad / 2, ldp = (int) sl_matmul_pairs (self->out);
    for (int panel = p->from; panel < p->to; panel++) {
        int j = panel * S_NB;
        const uint32_t *b = self->packed + (size_t) panel * (size_t) pairs * S_NB;
        for (int r = 0; r < p->rows; r += S_MR)
            s_kernel (p->a + (size_t) r * (size_t) pairs, (size_t) pairs, pairs, b,
                      !p->y ? NULL : p->y + (store->groups ? 0 : (size_t) r * (size_t) self->out) + j, self->out,
                      p->rows - r < S_MR ? p->rows - r : S_MR, self->out - j, store,
                      store->bias ? store->bias + j : NULL,
                      store->pairs ? store->pairs + (size_t) r * (size_t) ldp + j / 2 : NULL, ldp,
                      store->groups ? store->groups + r : NULL);
    }
    return NULL;
}

//  As many threads as OpenBLAS would use for the fp32 product (its
//  OPENBLAS_NUM_THREADS, else the cores), so the precisions compare on
//  the same cores; small products stay on the caller's thread.
static int
s_threads (const sl_matmul_t *self, int rows, int panels)
{
    double macs = (double) rows * self->in * self->out;
    int threads = openblas_get_num_threads ();
    threads = threads < S_MAX_THREADS ? threads : S_MAX_THREADS;
    threads = threads < panels ? threads : panels;
    return macs >= S_SPLIT_MACS && threads > 1 ? threads : 1;
}

//  The bf16 product over pairs a, split over threads as s_threads says
static void
s_run (const sl_matmul_t *self, const uint32_t *a, int rows, float *y, const sl_matmul_store_t *store)
{
    int panels = self->out_pad / S_NB, threads = s_threads (self, rows, panels);
    s_part_t part [S_MAX_THREADS];
    pthread_t tid [S_MAX_THREADS];
    bool started [S_MAX_THREADS] = { false };
    for (int t = 0; t < threads; t++)
        part [t] = (s_part_t) { self, a, rows, panels * t / threads, panels * (t + 1) / threads, y, store };
    //  a thread that cannot start leaves its share to the caller: slower,
    //  never wrong
    for (int t = 1; t < threads; t++)
        started [t] = pthread_create (&tid [t], NULL, s_part_run, &part [t]) == 0;
    s_part_run (&part [0]);
    for (int t = 1; t < threads; t++)
        if (started [t])
            pthread_join (tid [t], NULL);
        else
            s_part_run (&part [t]);
}

void
sl_matmul_apply (const sl_matmul_t *self, const float *x, int rows, float *y, float *scratch)
{
    assert (self);
    if (rows <= 0)
        return;
    if (self->precision == SL_PRECISION_FP32) {
        cblas_sgemm (CblasRowMajor, CblasNoTrans, self->transposed ? CblasTrans : CblasNoTrans,
                     rows, self->out, self->in, 1.0f, x, self->in, self->w,
                     self->transposed ? self->in : self->out, 1.0f, y, self->out);
        return;
    }
    assert (scratch);
    uint32_t *a = (uint32_t *) scratch;
    s_convert (x, rows, self->in, self->in_pad, a);
    sl_matmul_store_t store = { .accumulate = true };
    s_run (self, a, rows, y, &store);
}

int
sl_matmul_rows_pad (int rows)
{
    return s_round_up (rows, S_MR);
}

size_t
sl_matmul_pairs (int width)
{
    return (size_t) (width + 1) / 2;
}

void
sl_matmul_to_pairs (const float *x, int rows, int width, uint32_t *pairs)
{
    assert (sl_matmul_cpu_has_bf16 ());
    s_convert (x, rows, width, s_round_up (width, 2), pairs);
}

void
sl_matmul_apply_pairs (const sl_matmul_t *self, const uint32_t *a, int rows, float *y,
                       const sl_matmul_store_t *store)
{
    assert (self && self->precision == SL_PRECISION_BF16 && store);
    assert (store->pairs || store->sums ? !store->accumulate : y != NULL);
    assert (!store->sums == !store->groups && !(store->sums && store->pairs));
    if (rows <= 0)
        return;
    s_run (self, a, rows, store->pairs ? NULL : store->sums ? store->sums : y, store);
    if (store->pairs) {         //  the pad rows, zero, as sl_matmul_to_pairs leaves them
        size_t ldp = sl_matmul_pairs (self->out);
        memset (store->pairs + (size_t) rows * ldp, 0,
                (size_t) (sl_matmul_rows_pad (rows) - rows) * ldp * sizeof (uint32_t));
    }
}

//  LayerNorm of each row (mean and variance in fp32 over 16 lanes, then
//  summed), scaled by g and shifted by b, written as bf16 pairs
__attribute__ ((target ("avx512f,avx512bf16")))
void
sl_matmul_layernorm_pairs (const float *x, int rows, int d, const float *g, const float *b, float eps,
                           uint32_t *pairs)
{
    assert (d % 32 == 0);
    size_t ldp = (size_t) d / 2;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t) r * (size_t) d;
        uint32_t *pr = pairs + (size_t) r * ldp;
        __m512 sum = _mm512_setzero_ps ();
        for (int k = 0; k < d; k += 16)
            sum = _mm512_add_ps (sum, _mm512_loadu_ps (xr + k));
        __m512 mean = _mm512_set1_ps (_mm512_reduce_add_ps (sum) / (float) d);
        __m512 var = _mm512_setzero_ps ();
        for (int k = 0; k < d; k += 16) {
            __m512 c = _mm512_sub_ps (_mm512_loadu_ps (xr + k), mean);
            var = _mm512_fmadd_ps (c, c, var);
        }
        __m512 inv = _mm512_set1_ps (1.0f / sqrtf (_mm512_reduce_add_ps (var) / (float) d + eps));
        for (int k = 0; k < d; k += 32) {
            __m512 lo = _mm512_fmadd_ps (_mm512_sub_ps (_mm512_loadu_ps (xr + k), mean),
                                         _mm512_mul_ps (_mm512_loadu_ps (g + k), inv), _mm512_loadu_ps (b + k));
            __m512 hi = _mm512_fmadd_ps (_mm512_sub_ps (_mm512_loadu_ps (xr + k + 16), mean),
                                         _mm512_mul_ps (_mm512_loadu_ps (g + k + 16), inv),
                                         _mm512_loadu_ps (b + k + 16));
            _mm512_storeu_si512 (pr + k / 2, (__m512i) _mm512_cvtne2ps_pbh (hi, lo));
        }
    }
    for (int r = rows; r < sl_matmul_rows_pad (rows); r++)
        memset (pairs + (size_t) r * ldp, 0, ldp * sizeof (uint32_t));
}

//  --------------------------------------------------------------------------
//  Attention in bf16: the two products per head on the same kernel

//  fp32 to bf16 bits in 16 lanes, as s_bf16 (nearest even), in the low half
__attribute__ ((target ("avx512f")))
static inline __m512i
s_round16 (__m512 x)
{
    __m512i u = _mm512_castps_si512 (x);
    __m512i odd = _mm512_and_si512 (_mm512_srli_epi32 (u, 16), _mm512_set1_epi32 (1));
    return _mm512_srli_epi32 (_mm512_add_epi32 (u, _mm512_add_epi32 (odd, _mm512_set1_epi32 (0x7fff))), 16);
}

//  What rounding x to bf16 lost, x - bf16 (x), itself as bf16 pairs (n a
//  multiple of 32): hi + lo carries 16 of x's 24 mantissa bits
__attribute__ ((target ("avx512f,avx512bf16")))
static void
s_to_pairs_lo (const float *x, int n, uint32_t *pairs)
{
    for (int k = 0; k < n; k += 32) {
        __m512 a = _mm512_loadu_ps (x + k), b = _mm512_loadu_ps (x + k + 16);
        __m512 ah = _mm512_castsi512_ps (_mm512_slli_epi32 (s_round16 (a), 16));
        __m512 bh = _mm512_castsi512_ps (_mm512_slli_epi32 (s_round16 (b), 16));
        _mm512_storeu_si512 (pairs + k / 2, (__m512i) _mm512_cvtne2ps_pbh (_mm512_sub_ps (b, bh), _mm512_sub_ps (a, ah)));
    }
}

static uint32_t *
s_align64 (uint32_t *p)
{
    return (uint32_t *) (((uintptr_t) p + 63) & ~(uintptr_t) 63);
}

size_t
sl_matmul_attention_scratch (int n, int dh)
{
    size_t rows = (size_t) s_round_up (n, S_MR), np = (size_t) (n + 1) / 2, ld = (size_t) np * 2;
    return rows * (size_t) dh                                   //  q as hi | lo pairs
         + (size_t) s_round_up (n, S_NB) * (size_t) dh          //  k as panels, twice
         + rows * ld                                            //  scores
         + rows * np                                            //  p as pairs
         + (size_t) s_round_up (dh, S_NB) * np                  //  v as panels
         + 5 * 16;                                              //  alignment
}

__attribute__ ((target ("avx512f,avx512bf16")))
void
sl_matmul_attention (const float *q, const float *k, const float *v, int ld, int n, int dh, float scale,
                     uint32_t *out, size_t ldp, uint32_t *scratch)
{
    assert (dh % 32 == 0 && dh <= 128 && n > 0 && scale > 0);
    int rows = s_round_up (n, S_MR), np = (n + 1) / 2, lds = np * 2, dp = dh / 2, kl = 2 * dp;
    int kpanels = s_round_up (n, S_NB) / S_NB, vpanels = s_round_up (dh, S_NB) / S_NB;
    uint32_t *qa = s_align64 (scratch);
    uint32_t *kp = s_align64 (qa + (size_t) rows * (size_t) kl);
    float *scores = (float *) s_align64 (kp + (size_t) kpanels * S_NB * (size_t) kl);
    uint32_t *pa = s_align64 ((uint32_t *) (scores + (size_t) rows * (size_t) lds));
    uint32_t *vp = s_align64 (pa + (size_t) rows * (size_t) np);
    //  q . k with q in two bf16 parts: q_hi . k + q_lo . k, one product
    //  twice as long (k's pairs twice). Rounding q alone cost as much
    //  agreement with fp32 as all the projections (golden texts' lowest
    //  cosine 0.99986 against 0.99991) and flipped a test question's top
    //  hit; this costs about 3% of bf16's time.
    for (int r = 0; r < rows; r++) {
        uint32_t *qr = qa + (size_t) r * (size_t) kl;
        //  q, k, v rows are ld floats apart, rarely in cache (the qkv
        //  projection wrote them for a whole sub-batch): fetch ahead
        if (r + 8 < n)
            for (int c = 0; c < dh; c += 16) {
                const float *ahead = q + (size_t) (r + 8) * (size_t) ld + c;
                _mm_prefetch ((const char *) ahead, _MM_HINT_T0);
                _mm_prefetch ((const char *) (ahead + (k - q)), _MM_HINT_T0);
                _mm_prefetch ((const char *) (ahead + (v - q)), _MM_HINT_T0);
            }
        if (r < n) {
            s_to_pairs (q + (size_t) r * (size_t) ld, dh, qr);
            s_to_pairs_lo (q + (size_t) r * (size_t) ld, dh, qr + dp);
        }
        else
            memset (qr, 0, (size_t) kl * sizeof *qa);
    }
    memset (kp, 0, (size_t) kpanels * S_NB * (size_t) kl * sizeof *kp);
    __m512i step = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32 (S_NB));
    uint32_t tmp [2 * 64];
    for (int j = 0; j < n; j++) {
        const float *kr = k + (size_t) j * (size_t) ld;
        uint32_t *col = kp + (size_t) (j / S_NB) * S_NB * (size_t) kl + j % S_NB;
        s_to_pairs (kr, dh, tmp);
        memcpy (tmp + dp, tmp, (size_t) dp * sizeof *tmp);
        for (int i = 0; i < kl; i += 16)
            _mm512_i32scatter_epi32 (col + (size_t) i * S_NB, step, _mm512_loadu_si512 (tmp + i), 4);
    }
    sl_matmul_store_t plain = { .bias = NULL };
    for (int p = 0; p < kpanels; p++)
        for (int r = 0; r < n; r += S_MR)
            s_kernel (qa + (size_t) r * (size_t) kl, (size_t) kl, kl, kp + (size_t) p * S_NB * (size_t) kl,
                      scores + (size_t) r * (size_t) lds + p * S_NB, lds, n - r < S_MR ? n - r : S_MR,
                      n - p * S_NB, &plain, NULL, NULL, 0, NULL);
    //  softmax (scale * scores) per row, to pairs (an odd n gets a zero
    //  column); exp as 2^i * p (f), x log2 e = i + f, |f| <= 0.5, p of
    //  degree 6 (relative error < 2e-7, about libm's expf)
    const __m512 k2 = _mm512_set1_ps (scale * 1.44269504f), lo = _mm512_set1_ps (-126.0f);
    for (int i = 0; i < n; i++) {
        float *row = scores + (size_t) i * (size_t) lds;
        __m512 vmax = _mm512_set1_ps (-INFINITY), vsum = _mm512_setzero_ps ();
        for (int j = 0; j < n; j += 16) {
            __mmask16 m = n - j >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (n - j)) - 1);
            vmax = _mm512_mask_max_ps (vmax, m, vmax, _mm512_maskz_loadu_ps (m, row + j));
        }
        __m512 max = _mm512_set1_ps (_mm512_reduce_max_ps (vmax));
        for (int j = 0; j < n; j += 16) {
            __mmask16 m = n - j >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (n - j)) - 1);
            __m512 t = _mm512_max_ps (_mm512_mul_ps (_mm512_sub_ps (_mm512_maskz_loadu_ps (m, row + j), max), k2), lo);
            __m512 e = _mm512_roundscale_ps (t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512 f = _mm512_mul_ps (_mm512_sub_ps (t, e), _mm512_set1_ps (0.69314718f));
            __m512 y = _mm512_set1_ps (1.0f / 720);
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (1.0f / 120));
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (1.0f / 24));
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (1.0f / 6));
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (0.5f));
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (1.0f));
            y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (1.0f));
            y = _mm512_maskz_mov_ps (m, _mm512_scalef_ps (y, e));
            __mmask16 ml = lds - j >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (lds - j)) - 1);
            _mm512_mask_storeu_ps (row + j, ml, y);     //  and the odd n's zero column
            vsum = _mm512_add_ps (vsum, y);
        }
        __m512 inv = _mm512_set1_ps (1.0f / _mm512_reduce_add_ps (vsum));
        for (int j = 0; j < lds; j += 16) {
            __mmask16 m = lds - j >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (lds - j)) - 1);
            _mm512_mask_storeu_ps (row + j, m, _mm512_mul_ps (_mm512_maskz_loadu_ps (m, row + j), inv));
        }
        s_to_pairs (row, lds, pa + (size_t) i * (size_t) np);
    }
    memset (pa + (size_t) n * (size_t) np, 0, (size_t) (rows - n) * (size_t) np * sizeof *pa);
    //  v as panels: pair i of column c = rows 2i, 2i + 1 (a zero row past n)
    for (int i = 0; i < np; i++) {
        const float *v0 = v + (size_t) (2 * i) * (size_t) ld;
        for (int c = 0; c < dh; c += 16) {
            __m512i lo16 = s_round16 (_mm512_loadu_ps (v0 + c));
            __m512i hi16 = 2 * i + 1 < n ? _mm512_slli_epi32 (s_round16 (_mm512_loadu_ps (v0 + ld + c)), 16)
                                         : _mm512_setzero_si512 ();
            _mm512_store_si512 (vp + (size_t) (c / S_NB) * S_NB * (size_t) np + (size_t) i * S_NB + c % S_NB,
                                _mm512_or_si512 (lo16, hi16));
        }
    }
    sl_matmul_store_t to_pairs = { .pairs = out };
    for (int p = 0; p < vpanels; p++)
        for (int r = 0; r < n; r += S_MR)
            s_kernel (pa + (size_t) r * (size_t) np, (size_t) np, np, vp + (size_t) p * S_NB * (size_t) np, NULL, 0,
                      n - r < S_MR ? n - r : S_MR, dh - p * S_NB, &to_pairs, NULL,
                      out + (size_t) r * ldp + (size_t) p * S_NB / 2, (int) ldp, NULL);
}
