/*  bench_ocr: what the ocr stage's library reads from a scan, and how fast.

    Usage:
      bench_ocr ocr DPI SCAN.pdf OUTDIR
          OCR every page of SCAN.pdf with sl_ocr at DPI (one thread, one
          Tesseract: one core), write OUTDIR/page-N.txt, print
          pages=P seconds=S pages_per_sec=R cpu_seconds=C mean_confidence=M
      bench_ocr cer REF.txt HYP.txt
          Character error rate of HYP against REF: Levenshtein distance
          over the length of REF, both normalised (whitespace runs -> one
          space, typographic quotes, dashes and ligatures -> ASCII); print
          ref_chars=N edits=E cer=X
    bench/ocr.sh drives both, beside ocrmypdf.
*/
#include "sl_ocr.h"
#include "sl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static double
s_cpu_seconds (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
s_ocr (int dpi, const char *pdf, const char *outdir)
{
    sl_ocr_opts_t opts;
    sl_ocr_opts_defaults (&opts);
    opts.dpi = dpi;
    char err [512];
    sl_ocr_t *ocr = sl_ocr_new (&opts, err, sizeof err);
    if (!ocr) {
        fprintf (stderr, "bench_ocr: %s\n", err);
        return 1;
    }
    int pages = sl_ocr_open (ocr, pdf, "application/pdf", err, sizeof err);
    if (pages < 0) {
        fprintf (stderr, "bench_ocr: %s\n", err);
        sl_ocr_destroy (&ocr);
        return 1;
    }
    mkdir (outdir, 0755);
    double cpu0 = s_cpu_seconds ();
    int64_t t0 = sl_mono_ms ();
    long confidence = 0;
    for (int p = 1; p <= pages; p++) {
        char *text;
        size_t len;
        int conf;
        if (sl_ocr_page (ocr, p, &text, &len, &conf, err, sizeof err)) {
            fprintf (stderr, "bench_ocr: page %d: %s\n", p, err);
            continue;
        }
        confidence += conf;
        char path [1024];
        snprintf (path, sizeof path, "%s/page-%d.txt", outdir, p);
        FILE *file = fopen (path, "w");
        if (file) {
            fwrite (text, 1, len, file);
            fclose (file);
        }
        free (text);
    }
    double seconds = (sl_mono_ms () - t0) / 1000.0;
    double cpu = s_cpu_seconds () - cpu0;
    printf ("pages=%d seconds=%.2f pages_per_sec=%.3f cpu_seconds=%.2f mean_confidence=%.1f\n",
            pages, seconds, pages / seconds, cpu, (double) confidence / pages);
    sl_ocr_destroy (&ocr);
    return 0;
}

//  Read a file, normalised for comparison (see the header comment).
static char *
s_normalised (const char *path, size_t *len_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *raw = malloc ((size_t) size + 1);
    char *out = malloc ((size_t) size * 2 + 1);
    size_t n = fread (raw, 1, (size_t) size, file);
    fclose (file);
    raw [n] = 0;
    static const struct { const char *from, *to; } map [] = {
        { "\xe2\x80\x98", "'" }, { "\xe2\x80\x99", "'" }, { "\xe2\x80\x9c", "\"" }, { "\xe2\x80\x9d", "\"" },
        { "\xe2\x80\x93", "-" }, { "\xe2\x80\x94", "-" }, { "\xef\xac\x81", "fi" }, { "\xef\xac\x82", "fl" },
        { "\xef\xac\x80", "ff" }, { "\xc2\xa0", " " }, { NULL, NULL }
    };
    size_t len = 0;
    bool space = true;          //  drop leading whitespace
    for (size_t i = 0; i < n; ) {
        int k;
        for (k = 0; map [k].from; k++)
            if (strncmp (raw + i, map [k].from, strlen (map [k].from)) == 0)
                break;
        const char *put = map [k].from ? map [k].to : NULL;
        size_t step = map [k].from ? strlen (map [k].from) : 1;
        char one [2] = { raw [i], 0 };
        if (!put)
            put = one;
        for (const char *c = put; *c; c++) {
            bool ws = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r' || *c == '\f';
            if (ws) {
                if (!space)
                    out [len++] = ' ';
                space = true;
            }
            else {
                out [len++] = *c;
                space = false;
            }
        }
        i += step;
    }
    while (len > 0 && out [len - 1] == ' ')
        len--;
    out [len] = 0;
    free (raw);
    *len_p = len;
    return out;
}

static int
s_cer (const char *ref_path, const char *hyp_path)
{
    size_t n, m;
    char *ref = s_normalised (ref_path, &n);
    char *hyp = s_normalised (hyp_path, &m);
    if (!ref || !hyp) {
        fprintf (stderr, "bench_ocr: cannot read %s or %s\n", ref_path, hyp_path);
        return 1;
    }
    //  Two rows of the edit-distance table
    size_t *prev = malloc ((m + 1) * sizeof *prev), *cur = malloc ((m + 1) * sizeof *cur);
    for (size_t j = 0; j <= m; j++)
        prev [j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur [0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t sub = prev [j - 1] + (ref [i - 1] != hyp [j - 1]);
            size_t del = prev [j] + 1, ins = cur [j - 1] + 1;
            cur [j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        size_t *swap = prev;
        prev = cur;
        cur = swap;
    }
    printf ("ref_chars=%zu edits=%zu cer=%.4f\n", n, prev [m], n ? (double) prev [m] / n : 0.0);
    free (prev);
    free (cur);
    free (ref);
    free (hyp);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc == 5 && strcmp (argv [1], "ocr") == 0)
        return s_ocr (atoi (argv [2]), argv [3], argv [4]);
    if (argc == 4 && strcmp (argv [1], "cer") == 0)
        return s_cer (argv [2], argv [3]);
    fprintf (stderr, "usage: bench_ocr ocr DPI SCAN.pdf OUTDIR | bench_ocr cer REF.txt HYP.txt\n");
    return 2;
}
