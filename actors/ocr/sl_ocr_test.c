/*  sl_ocr_test: render generated documents, read them back with Tesseract.

    The test writes its own PDF (large Helvetica lines whose words it
    knows) and a PNG of it (rendered with MuPDF), in a temporary folder.
*/
#include "sl_ocr.h"
#include "sl_check.h"

#include <mupdf/fitz.h>

#include <ctype.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_tmp [256];

static const char *s_lines [] = {
    "Sluice reads scanned pages",
    "The quick brown fox jumps over the lazy dog",
    "Invoice number 48213 is due in March",
};

//  A one-page letter-size PDF showing s_lines in 20 pt Helvetica.
static void
s_write_pdf (const char *path)
{
    char content [1024];
    size_t n = (size_t) snprintf (content, sizeof content, "BT /F1 20 Tf 30 TL 72 700 Td\n");
    for (size_t i = 0; i < sizeof s_lines / sizeof s_lines [0]; i++)
        n += (size_t) snprintf (content + n, sizeof content - n, "(%s) Tj T*\n", s_lines [i]);
    n += (size_t) snprintf (content + n, sizeof content - n, "ET\n");
    FILE *file = fopen (path, "wb");
    CHECK (file);
    long offsets [5];
    fprintf (file, "%%PDF-1.4\n");
    const char *objs [] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        NULL,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    };
    for (int i = 0; i < 5; i++) {
        offsets [i] = ftell (file);
        if (objs [i])
            fprintf (file, "%d 0 obj\n%s\nendobj\n", i + 1, objs [i]);
        else
            fprintf (file, "%d 0 obj\n<< /Length %zu >>\nstream\n%sendstream\nendobj\n", i + 1, n, content);
    }
    long xref = ftell (file);
    fprintf (file, "xref\n0 6\n0000000000 65535 f \n");
    for (int i = 0; i < 5; i++)
        fprintf (file, "%010ld 00000 n \n", offsets [i]);
    fprintf (file, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", xref);
    CHECK (fclose (file) == 0);
}

//  The PDF's page as a 150 dpi grayscale PNG: a "scan".
static void
s_write_png (const char *pdf, const char *png)
{
    fz_context *ctx = fz_new_context (NULL, NULL, FZ_STORE_DEFAULT);
    CHECK (ctx);
    fz_register_document_handlers (ctx);
    fz_document *doc = NULL;
    fz_pixmap *pix = NULL;
    fz_try (ctx) {
        doc = fz_open_document (ctx, pdf);
        pix = fz_new_pixmap_from_page_number (ctx, doc, 0, fz_scale (150 / 72.0f, 150 / 72.0f),
                                              fz_device_gray (ctx), 0);
        fz_set_pixmap_resolution (ctx, pix, 150, 150);
        fz_save_pixmap_as_png (ctx, pix, png);
    }
    fz_always (ctx) {
        fz_drop_pixmap (ctx, pix);
        fz_drop_document (ctx, doc);
    }
    fz_catch (ctx)
        CHECK (!"cannot write the PNG");
    fz_drop_context (ctx);
}

//  Lower-case letters and digits only, single spaces: OCR and the source
//  compared without caring about line breaks or punctuation.
static void
s_normalise (const char *in, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;
    for (; *in && n + 2 < cap; in++) {
        if (isalnum ((unsigned char) *in)) {
            if (space && n > 0)
                out [n++] = ' ';
            out [n++] = (char) tolower ((unsigned char) *in);
            space = false;
        }
        else
            space = true;
    }
    out [n] = 0;
}

static void
s_read_back (const char *path, const char *mime)
{
    sl_ocr_opts_t opts;
    sl_ocr_opts_defaults (&opts);
    opts.dpi = 150;
    char err [512] = "";
    sl_ocr_t *ocr = sl_ocr_new (&opts, err, sizeof err);
    CHECK (ocr);
    CHECK (sl_ocr_open (ocr, path, mime, err, sizeof err) == 1);
    char *text = NULL;
    size_t len = 0;
    int confidence = -1;
    CHECK (sl_ocr_page (ocr, 1, &text, &len, &confidence, err, sizeof err) == 0);
    CHECK (text && strlen (text) == len);
    char got [2048], want [256];
    s_normalise (text, got, sizeof got);
    for (size_t i = 0; i < sizeof s_lines / sizeof s_lines [0]; i++) {
        s_normalise (s_lines [i], want, sizeof want);
        if (!strstr (got, want))
            fprintf (stderr, "OCR read: [%s]\nmissing: [%s]\n", got, want);
        CHECK (strstr (got, want));
    }
    CHECK (confidence >= 80 && confidence <= 100);
    free (text);
    //  A page that is not there fails alone, the document stays open
    CHECK (sl_ocr_page (ocr, 2, &text, &len, &confidence, err, sizeof err) == -1);
    CHECK (strstr (err, "page 2 is not in the document"));
    CHECK (!text);
    sl_ocr_destroy (&ocr);
    CHECK (ocr == NULL);
}

static void
s_deadline_fails_page (const char *path)
{
    sl_ocr_opts_t opts;
    sl_ocr_opts_defaults (&opts);
    opts.page_ms = 1;
    char err [512] = "";
    sl_ocr_t *ocr = sl_ocr_new (&opts, err, sizeof err);
    CHECK (ocr);
    CHECK (sl_ocr_open (ocr, path, "application/pdf", err, sizeof err) == 1);
    char *text = NULL;
    size_t len = 0;
    int confidence = 0;
    CHECK (sl_ocr_page (ocr, 1, &text, &len, &confidence, err, sizeof err) == -1);
    CHECK (strstr (err, "OCR time limit of 1 s exceeded"));
    CHECK (strstr (err, "page 1"));
    CHECK (!text && len == 0);
    sl_ocr_destroy (&ocr);
}

static void
s_memory_fails_page (const char *path)
{
    sl_ocr_opts_t opts;
    sl_ocr_opts_defaults (&opts);
    opts.dpi = 1200;                //  36 million pixels after the cap
    opts.max_memory = 16 << 20;     //  the smallest ceiling taken
    char err [512] = "";
    sl_ocr_t *ocr = sl_ocr_new (&opts, err, sizeof err);
    CHECK (ocr);
    CHECK (sl_ocr_open (ocr, path, "application/pdf", err, sizeof err) == 1);
    char *text = NULL;
    size_t len = 0;
    int confidence = 0;
    CHECK (sl_ocr_page (ocr, 1, &text, &len, &confidence, err, sizeof err) == -1);
    CHECK (strstr (err, "OCR memory limit of 16 MiB exceeded rendering page 1"));
    CHECK (!text);
    sl_ocr_destroy (&ocr);
}

static void
s_languages_checked (void)
{
    sl_ocr_opts_t opts;
    sl_ocr_opts_defaults (&opts);
    char err [512] = "";
    opts.languages = "eng+../../etc/passwd";
    CHECK (sl_ocr_new (&opts, err, sizeof err) == NULL);
    CHECK (strstr (err, "not a list of Tesseract languages"));
    opts.languages = "eng+zzq";
    CHECK (sl_ocr_new (&opts, err, sizeof err) == NULL);
    CHECK (strstr (err, "OCR language 'zzq' is not installed"));
    CHECK (strstr (err, "install tesseract-ocr-zzq"));
}

static void
s_not_a_document (const char *path)
{
    FILE *file = fopen (path, "wb");
    CHECK (file);
    fputs ("%PDF-1.4\nthis is not really a PDF at all\n", file);
    fclose (file);
    char err [512] = "";
    sl_ocr_t *ocr = sl_ocr_new (NULL, err, sizeof err);
    CHECK (ocr);
    CHECK (sl_ocr_open (ocr, path, "application/pdf", err, sizeof err) == -1);
    CHECK (strncmp (err, "cannot open the document for OCR", 32) == 0);
    char *text = NULL;
    size_t len = 0;
    int confidence = 0;
    CHECK (sl_ocr_page (ocr, 1, &text, &len, &confidence, err, sizeof err) == -1);
    CHECK (strstr (err, "no document open"));
    sl_ocr_destroy (&ocr);
}

static int
s_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

void
sl_ocr_test (bool verbose)
{
    printf (" * sl_ocr: ");
    if (verbose)
        printf ("\n");
    snprintf (s_tmp, sizeof s_tmp, "/tmp/sl_ocr_test.XXXXXX");
    CHECK (mkdtemp (s_tmp));
    char pdf [300], png [300], bad [300];
    snprintf (pdf, sizeof pdf, "%s/page.pdf", s_tmp);
    snprintf (png, sizeof png, "%s/scan.png", s_tmp);
    snprintf (bad, sizeof bad, "%s/bad.pdf", s_tmp);
    s_write_pdf (pdf);
    s_write_png (pdf, png);

    CASE ("a rendered PDF page reads back as its text", s_read_back (pdf, "application/pdf"));
    CASE ("a PNG scan is a document of one page and reads back", s_read_back (png, "application/octet-stream"));
    CASE ("a deadline of 1 ms fails the page with a reason", s_deadline_fails_page (pdf));
    CASE ("a page over the memory limit fails with a reason", s_memory_fails_page (pdf));
    CASE ("languages: malformed refused, missing named", s_languages_checked ());
    CASE ("a broken document fails to open with a reason", s_not_a_document (bad));

    nftw (s_tmp, s_rm, 8, FTW_DEPTH | FTW_PHYS);
    printf ("OK\n");
}
