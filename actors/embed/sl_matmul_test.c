/*  sl_matmul self-test: fp32 is sgemm exactly, bf16 agrees with a double
    reference within bf16's rounding on odd shapes and both layouts, and
    the precision option is parsed and refused as the header says.
*/
#include "sl_matmul.h"
#include "sl_check.h"

#include <math.h>
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
    else
        printf ("(no avx512_bf16 here: bf16 kernel not run) ");
    printf ("OK\n");
}
