/*  sl_matmul: one weight matrix of an encoder, prepared for the precision
    the CPU is best at, and the projection y += x * W over it. The encoders
    (sl_embed_use.c, and any that does dense projections) hold one per
    weight and call sl_matmul_apply where they called cblas_sgemm.

    Precisions:
      fp32  the reference: W is the caller's float matrix, used in place
            (nothing copied), and apply is exactly the cblas_sgemm the
            encoders called before, so the vectors are bit for bit today's.
      bf16  W is converted once, at open, to bfloat16 (round to nearest
            even) and packed in the order the CPU's AVX512-BF16 dot-product
            instruction (vdpbf16ps) reads it; x is converted per call into
            scratch the caller gives. Products are summed in fp32 and y
            stays fp32, so only the inputs of each projection lose bits
            (8 of 24 mantissa bits kept). Everything outside the
            projections (layer norm, softmax, pooling, normalisation)
            stays fp32 in the caller.
      bf16, chained (use): an encoder can keep a projection's input in
            bf16 pairs from the step that makes it: layernorm_pairs,
            apply_pairs (whose store also adds the bias, accumulates,
            applies ReLU, writes pairs for the next projection or sums
            rows per group) and attention (both products of a head on
            the same kernel, softmax in fp32, output as pairs). No pass
            of its own converts, fills or clips a matrix (those passes
            were 18% of use's bf16 time, one thread).
    Debian's OpenBLAS 0.3.21 declares cblas_sbgemm in cblas.h but is built
    without it (the symbol is absent from libopenblas), so the bf16 kernel
    is here: a 6 x 64 register block of vdpbf16ps (on use's shapes 200-224
    GFLOPS on one core of this EPYC, whose vdpbf16ps alone peaks at
    226-231: 90-97%), compiled for that
    instruction set only (target attribute) and called only when the CPU
    reports it, so the binary still runs on any x86-64.

    Choosing: sl_matmul_precision parses "auto" | "fp32" | "bf16". auto is
    bf16 where the CPU has avx512_bf16, fp32 elsewhere; bf16 on a CPU
    without it is refused with a sentence saying so (never a silent
    fallback: the model identity records the precision, see sl_embed_use.h).

    Threads: a bf16 product of 16M multiply-adds or more is split by output
    panels over as many threads as OpenBLAS would use for it
    (openblas_get_num_threads: OPENBLAS_NUM_THREADS, else the cores), so
    both precisions use the same cores; smaller ones run on the caller's.

    Failure model: new returns NULL only when out of memory. apply cannot
    fail: the scratch is the caller's, sized by sl_matmul_scratch_floats;
    a thread that cannot be started leaves its share to the caller.
    Thread safety: read-only after new; concurrent applies need their own
    scratch.
*/
#ifndef SL_MATMUL_H_INCLUDED
#define SL_MATMUL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SL_PRECISION_FP32, SL_PRECISION_BF16 } sl_precision_t;

typedef struct sl_matmul_s sl_matmul_t;

//  True if this CPU (and OS) can run the bf16 kernel. The environment
//  variable SLUICE_CPU_NO_BF16=1 makes it false (tests, comparisons).
bool sl_matmul_cpu_has_bf16 (void);

//  Parse a precision option ("auto", "fp32", "bf16"; NULL or "" = auto)
//  into *precision. Returns 0, or -1 with a sentence in err (unknown value,
//  or bf16 asked for on a CPU without avx512_bf16).
int sl_matmul_precision (const char *value, sl_precision_t *precision, char *err, size_t errlen);

//  "fp32" or "bf16".
const char *sl_matmul_precision_name (sl_precision_t precision);

//  Prepare W, in x out floats, row-major (transposed: out x in, row-major,
//  as BERT checkpoints store it). fp32 keeps the pointer, which must
//  outlive the matmul; bf16 copies. NULL if out of memory.
sl_matmul_t *sl_matmul_new (const float *w, int in, int out, bool transposed, sl_precision_t precision);

//  Destroy; nulls *self_p, safe on NULL.
void sl_matmul_destroy (sl_matmul_t **self_p);

//  Floats of scratch that apply needs for up to rows rows of input in
//  width in (0 for fp32).
size_t sl_matmul_scratch_floats (sl_precision_t precision, int rows, int in);

//  y [rows x out] += x [rows x in] * W, row-major, leading dimensions the
//  widths. scratch as sized above (may be NULL for fp32).
void sl_matmul_apply (const sl_matmul_t *self, const float *x, int rows, float *y, float *scratch);

//  bf16 only, for an encoder that keeps its activations in bf16 between
//  projections (the conversion, bias, accumulation and ReLU done where the
//  values are written anyway, instead of passes of their own):
//
//  A projection's input as bf16 pairs: sl_matmul_rows_pad (rows) rows of
//  sl_matmul_pairs (width) uint32 each, two columns per uint32 (low half
//  the even column), rows past `rows` zero.
int sl_matmul_rows_pad (int rows);
size_t sl_matmul_pairs (int width);

//  x [rows x width] to pairs as above (round to nearest even).
void sl_matmul_to_pairs (const float *x, int rows, int width, uint32_t *pairs);

//  LayerNorm of each row of x [rows x d] (d a multiple of 32), times g plus
//  b, written as pairs as above.
void sl_matmul_layernorm_pairs (const float *x, int rows, int d, const float *g, const float *b, float eps,
                                uint32_t *pairs);

//  How apply_pairs writes its result.
typedef struct {
    const float *bias;          //  out floats added to every row, or NULL
    bool accumulate;            //  y = y + bias + product (else bias + product)
    bool relu;                  //  then max (0, .)
    uint32_t *pairs;            //  not NULL: the result as pairs (for a next
                                //  projection) here, not in y; no accumulate
    float *sums;                //  not NULL: row r of the result is added to
    const int *groups;          //  row groups [r] of sums (out wide), not
                                //  written to y (a pooling); no accumulate
} sl_matmul_store_t;

//  y [rows x out] (or store->pairs, store->sums) = x * W as store says, x given as pairs
//  (sl_matmul_rows_pad (rows) x sl_matmul_pairs (in)). bf16 matmuls only.
void sl_matmul_apply_pairs (const sl_matmul_t *self, const uint32_t *a, int rows, float *y,
                            const sl_matmul_store_t *store);

//  Softmax attention of one head over n tokens, both products on the bf16
//  kernel (q as two bf16 parts, so 16 of its bits count; k, p, v rounded
//  to bf16; softmax in fp32): q, k, v rows of dh floats (dh 32, 64, 96 or
//  128), ld floats apart; out row i = softmax over j of scale * q_i . k_j
//  (scale > 0), times v, written as pairs (dh / 2 per row, rows ldp
//  apart) for the projection that follows. scratch:
//  sl_matmul_attention_scratch (n, dh) uint32.
size_t sl_matmul_attention_scratch (int n, int dh);
void sl_matmul_attention (const float *q, const float *k, const float *v, int ld, int n, int dh, float scale,
                          uint32_t *out, size_t ldp, uint32_t *scratch);

void sl_matmul_test (bool verbose);

#endif
