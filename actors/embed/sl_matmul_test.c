/*  sl_matmul self-test: fp32 is sgemm exactly, bf16 agrees with a double
    reference within bf16's rounding on odd shapes and both layouts, and
    the precision option is parsed and refused as the header says.
*/
#include "sl_matmul.h"
#include "sl_check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  y += x * W in double, W in x out (or out x in when transposed)
static void
s_reference (const float *x, int rows, int in, const float *w, int out, bool transposed, double *y)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < out; j++) {
            double sum = 0;
            for (int k = 0; k < in; k++)
                sum += (double) x [r * in + k] * (transposed ? w [j * in + k] : w [k * out + j]);
            y [r * out + j] += sum;
        }
}

static float
s_random (unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float) ((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

//  Worst error of one shape, relative to the largest |y| (bf16 keeps 8
//  mantissa bits: ~0.4% per input, partly cancelling over a sum)
static double
s_shape (int rows, int in, int out, bool transposed, sl_precision_t precision)
{
    unsigned seed = (unsigned) (rows * 31 + in * 7 + out);
    float *x = malloc ((size_t) rows * in * sizeof *x), *w = malloc ((size_t) in * out * sizeof *w);
    float *y = malloc ((size_t) rows * out * sizeof *y);
    double *ref = malloc ((size_t) rows * out * sizeof *ref);
    float *scratch = malloc ((sl_matmul_scratch_floats (precision, rows, in) + 1) * sizeof *scratch);
    CHECK (x && w && y && ref && scratch);
    for (int i = 0; i < rows * in; i++)
        x [i] = s_random (&seed);
    for (int i = 0; i < in * out; i++)
        w [i] = s_random (&seed);
    for (int i = 0; i < rows * out; i++)
        ref [i] = y [i] = (float) i * 0.001f;      //  apply adds to what is there
    sl_matmul_t *m = sl_matmul_new (w, in, out, transposed, precision);
    CHECK (m);
    sl_matmul_apply (m, x, rows, y, scratch);
    s_reference (x, rows, in, w, out, transposed, ref);
    double worst = 0, largest = 0;
    for (int i = 0; i < rows * out; i++) {
        worst = fmax (worst, fabs (y [i] - ref [i]));
        largest = fmax (largest, fabs (ref [i]));
    }
    sl_matmul_destroy (&m);
    CHECK (m == NULL);
    free (x);
    free (w);
    free (y);
    free (ref);
    free (scratch);
    return worst / largest;
}

static char err [256];
static sl_precision_t p;
static bool has;
static bool s_verbose;

static void
s_test_option (void)
{
    CHECK (sl_matmul_precision ("fp32", &p, err, sizeof err) == 0 && p == SL_PRECISION_FP32);
    CHECK (sl_matmul_precision ("auto", &p, err, sizeof err) == 0);
    CHECK (p == (has ? SL_PRECISION_BF16 : SL_PRECISION_FP32));
    CHECK (sl_matmul_precision (NULL, &p, err, sizeof err) == 0);
    CHECK (p == (has ? SL_PRECISION_BF16 : SL_PRECISION_FP32));
    CHECK (sl_matmul_precision ("fp16", &p, err, sizeof err) == -1);
    CHECK (strstr (err, "'fp16' is not one of auto, fp32, bf16"));
    CHECK (strcmp (sl_matmul_precision_name (SL_PRECISION_BF16), "bf16") == 0);
}

static void
s_test_no_bf16_cpu (void)
{
    setenv ("SLUICE_CPU_NO_BF16", "1", 1);
    CHECK (!sl_matmul_cpu_has_bf16 ());
    CHECK (sl_matmul_precision ("bf16", &p, err, sizeof err) == -1);
    CHECK (strstr (err, "needs a CPU with avx512_bf16"));
    CHECK (sl_matmul_precision ("auto", &p, err, sizeof err) == 0 && p == SL_PRECISION_FP32);
    unsetenv ("SLUICE_CPU_NO_BF16");
    CHECK (sl_matmul_cpu_has_bf16 () == has);
}

static void
s_test_fp32 (void)
{
    CHECK (sl_matmul_scratch_floats (SL_PRECISION_FP32, 100, 100) == 0);
    CHECK (s_shape (13, 37, 100, false, SL_PRECISION_FP32) < 1e-6);
    CHECK (s_shape (13, 37, 100, true, SL_PRECISION_FP32) < 1e-6);
}

static void
s_test_bf16 (void)
{
    int shapes [][3] = { { 1, 2, 1 }, { 7, 37, 100 }, { 6, 64, 64 }, { 13, 255, 65 },
                         { 50, 1536, 512 }, { 130, 256, 768 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++)
        for (int t = 0; t < 2; t++) {
            double e = s_shape (shapes [i][0], shapes [i][1], shapes [i][2], t, SL_PRECISION_BF16);
            if (s_verbose)
                printf ("    %dx%dx%d%s: relative error %.5f\n", shapes [i][0], shapes [i][1],
                        shapes [i][2], t ? " transposed" : "", e);
            CHECK (e < 0.01);
            CHECK (e > 1e-6);           //  it did round: not the fp32 path
        }
}

//  bf16 rounding (nearest even) and back, as the kernel rounds its inputs
static float
s_round_bf16 (float f)
{
    uint32_t u;
    memcpy (&u, &f, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy (&f, &u, sizeof f);
    return f;
}

//  Column k of row r of pairs ldp wide
static float
s_unpair (const uint32_t *pairs, int r, int k, size_t ldp)
{
    uint32_t u = (pairs [(size_t) r * ldp + (size_t) k / 2] >> (16 * (k & 1))) << 16;
    float f;
    memcpy (&f, &u, sizeof f);
    return f;
}

//  apply_pairs: input as pairs, bias, accumulation, ReLU, pairs out, on
//  odd shapes; against a double reference over the same rounded inputs
static void
s_test_pairs (void)
{
    int shapes [][3] = { { 1, 2, 1 }, { 7, 37, 100 }, { 13, 64, 65 }, { 50, 512, 1536 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++) {
        int rows = shapes [i][0], in = shapes [i][1], out = shapes [i][2];
        int rows_pad = sl_matmul_rows_pad (rows);
        size_t pin = sl_matmul_pairs (in), pout = sl_matmul_pairs (out);
        CHECK (rows_pad >= rows && rows_pad % 6 == 0 && pin == (size_t) (in + 1) / 2);
        unsigned seed = (unsigned) (rows + in + out);
        float *x = malloc ((size_t) rows * in * sizeof *x), *w = malloc ((size_t) in * out * sizeof *w);
        float *bias = malloc ((size_t) out * sizeof *bias), *y = malloc ((size_t) rows * out * sizeof *y);
        double *ref = malloc ((size_t) rows * out * sizeof *ref);
        uint32_t *a = malloc ((size_t) rows_pad * pin * sizeof *a);
        uint32_t *po = malloc ((size_t) rows_pad * pout * sizeof *po);
        CHECK (x && w && bias && y && ref && a && po);
        for (int k = 0; k < rows * in; k++)
            x [k] = s_random (&seed);
        for (int k = 0; k < in * out; k++)
            w [k] = s_random (&seed);
        for (int k = 0; k < out; k++)
            bias [k] = s_random (&seed);
        memset (a, 0xff, (size_t) rows_pad * pin * sizeof *a);
        sl_matmul_to_pairs (x, rows, in, a);
        for (int r = 0; r < rows_pad; r++)
            for (int k = 0; k < (int) pin * 2; k++)
                CHECK (s_unpair (a, r, k, pin)
                       == (r < rows && k < in ? s_round_bf16 (x [r * in + k]) : 0.0f));
        sl_matmul_t *m = sl_matmul_new (w, in, out, false, SL_PRECISION_BF16);
        CHECK (m);
        //  y = y + bias + x * W
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < out; j++) {
                double sum = (double) ((float) (r - j) * 0.01f) + bias [j];
                y [r * out + j] = (float) (r - j) * 0.01f;
                for (int k = 0; k < in; k++)
                    sum += (double) s_round_bf16 (x [r * in + k]) * s_round_bf16 (w [k * out + j]);
                ref [r * out + j] = sum;
            }
        sl_matmul_apply_pairs (m, a, rows, y, &(sl_matmul_store_t) { .bias = bias, .accumulate = true });
        double worst = 0, largest = 0;
        for (int k = 0; k < rows * out; k++) {
            worst = fmax (worst, fabs (y [k] - ref [k]));
            largest = fmax (largest, fabs (ref [k]));
        }
        CHECK (worst / largest < 1e-5);
        //  relu (bias + x * W) as pairs, pad rows zero
        memset (po, 0xff, (size_t) rows_pad * pout * sizeof *po);
        sl_matmul_apply_pairs (m, a, rows, NULL, &(sl_matmul_store_t) { .bias = bias, .relu = true, .pairs = po });
        for (int r = 0; r < rows_pad; r++)
            for (int j = 0; j < (int) pout * 2; j++) {
                float v = s_unpair (po, r, j, pout);
                if (r >= rows || j >= out)
                    CHECK (v == 0.0f);
                else {
                    double want = fmax (0, ref [r * out + j] - (float) (r - j) * 0.01f);
                    CHECK (fabs (v - want) <= fabs (want) / 128 + largest * 1e-5);
                }
            }
        //  relu (bias + x * W) summed per group of rows (rows 0, 1 in
        //  group 1, the rest in 0), onto what sums holds
        int *groups = malloc ((size_t) rows * sizeof *groups);
        float *sums = malloc ((size_t) 2 * out * sizeof *sums);
        CHECK (groups && sums);
        for (int r = 0; r < rows; r++)
            groups [r] = r < 2 ? 1 : 0;
        for (int k = 0; k < 2 * out; k++)
            sums [k] = 1.0f;
        sl_matmul_apply_pairs (m, a, rows, NULL, &(sl_matmul_store_t) { .bias = bias, .relu = true,
                               .sums = sums, .groups = groups });
        for (int g = 0; g < 2; g++)
            for (int j = 0; j < out; j++) {
                double want = 1;
                for (int r = 0; r < rows; r++)
                    if (groups [r] == g)
                        want += fmax (0, ref [r * out + j] - (float) (r - j) * 0.01f);
                CHECK (fabs (sums [g * out + j] - want) <= largest * rows * 1e-5);
            }
        free (groups);
        free (sums);
        sl_matmul_destroy (&m);
        free (x);
        free (w);
        free (bias);
        free (y);
        free (ref);
        free (a);
        free (po);
    }
}

//  layernorm_pairs against a double LayerNorm, rounded to bf16
static void
s_test_layernorm (void)
{
    int rows = 7, d = 96;
    unsigned seed = 5;
    float x [7 * 96], g [96], b [96];
    for (int k = 0; k < rows * d; k++)
        x [k] = s_random (&seed) * 3 + (float) (k / d);
    for (int k = 0; k < d; k++) {
        g [k] = s_random (&seed);
        b [k] = s_random (&seed);
    }
    size_t ldp = sl_matmul_pairs (d);
    uint32_t pairs [12 * 48];
    CHECK (sl_matmul_rows_pad (rows) * ldp <= sizeof pairs / sizeof pairs [0]);
    memset (pairs, 0xff, sizeof pairs);
    sl_matmul_layernorm_pairs (x, rows, d, g, b, 1e-6f, pairs);
    for (int r = 0; r < sl_matmul_rows_pad (rows); r++) {
        double mean = 0, var = 0;
        for (int k = 0; r < rows && k < d; k++)
            mean += x [r * d + k] / (double) d;
        for (int k = 0; r < rows && k < d; k++)
            var += (x [r * d + k] - mean) * (x [r * d + k] - mean) / d;
        for (int k = 0; k < d; k++) {
            float v = s_unpair (pairs, r, k, ldp);
            double want = r < rows ? (x [r * d + k] - mean) / sqrt (var + 1e-6) * g [k] + b [k] : 0;
            CHECK (fabs (v - want) <= fabs (want) / 128 + 1e-5);
        }
    }
}

//  attention against a double reference over the same rounded k, v (q
//  goes in as hi + lo: nearly unrounded),
//  n odd and even, across a panel boundary, both head widths of use;
//  the output goes into a wider pairs matrix at a column offset
static void
s_test_attention (void)
{
    int cases [][2] = { { 1, 64 }, { 7, 64 }, { 84, 128 }, { 65, 64 }, { 128, 128 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        int n = cases [c][0], dh = cases [c][1], ld = 3 * dh + 5;
        size_t ldp = (size_t) dh + 3;           //  out: 2 dh + 6 columns, ours at dh / 2 pairs in
        unsigned seed = (unsigned) (n * dh);
        float *qkv = malloc ((size_t) n * (size_t) ld * sizeof *qkv);
        uint32_t *out = malloc ((size_t) n * ldp * sizeof *out);
        uint32_t *scratch = malloc (sl_matmul_attention_scratch (n, dh) * sizeof *scratch);
        double *sc = malloc ((size_t) n * sizeof *sc);
        CHECK (qkv && out && scratch && sc);
        for (int k = 0; k < n * ld; k++)
            qkv [k] = s_random (&seed) * 2;
        memset (out, 0xee, (size_t) n * ldp * sizeof *out);
        float scale = 0.125f;
        sl_matmul_attention (qkv, qkv + dh, qkv + 2 * dh, ld, n, dh, scale, out + dh / 2, ldp, scratch);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double max = -1e300, sum = 0;
            for (int j = 0; j < n; j++) {
                double dot = 0;
                for (int k = 0; k < dh; k++)
                    dot += (double) qkv [i * ld + k] * s_round_bf16 (qkv [j * ld + dh + k]);
                sc [j] = dot * scale;
                max = fmax (max, sc [j]);
            }
            for (int j = 0; j < n; j++)
                sum += (sc [j] = exp (sc [j] - max));
            for (int k = 0; k < dh; k++) {
                double want = 0;
                for (int j = 0; j < n; j++)
                    want += sc [j] / sum * s_round_bf16 (qkv [j * ld + 2 * dh + k]);
                //  p is rounded to bf16, and so is the result: 2 roundings
                worst = fmax (worst, fabs (s_unpair (out, i, dh + k, ldp) - want));
            }
            CHECK (out [(size_t) i * ldp] == 0xeeeeeeeeu);      //  the columns beside untouched
            CHECK (out [(size_t) i * ldp + (size_t) dh + 2] == 0xeeeeeeeeu);
        }
        if (s_verbose)
            printf ("    attention n %d dh %d: worst error %.5f\n", n, dh, worst);
        CHECK (worst < 0.02);                   //  |v| < 2
        free (qkv);
        free (out);
        free (scratch);
        free (sc);
    }
}

void
sl_matmul_test (bool verbose)
{
    printf (" * sl_matmul: ");
    if (verbose)
        printf ("\n");
    s_verbose = verbose;
    has = sl_matmul_cpu_has_bf16 ();
    CASE ("precision option: auto follows the CPU, fp32 always, unknown refused", s_test_option ());
    CASE ("bf16 on a CPU without avx512_bf16 is refused; auto falls back to fp32", s_test_no_bf16_cpu ());
    CASE ("fp32 is sgemm: exact to float rounding, both layouts", s_test_fp32 ());
    if (has)
        CASE ("bf16 agrees with a double reference on odd and real shapes, both layouts", s_test_bf16 ());
    if (has)
        CASE ("bf16 pairs in, bias, accumulation, ReLU, pairs out, sums by group, odd shapes", s_test_pairs ());
    if (has)
        CASE ("bf16 LayerNorm to pairs agrees with a double LayerNorm", s_test_layernorm ());
    if (has)
        CASE ("bf16 attention agrees with a double reference, odd n, both head widths", s_test_attention ());
    if (!has)
        printf ("(no avx512_bf16 here: bf16 kernel not run) ");
    printf ("OK\n");
}
