/*  sl_ocr: read the text of one page of a document from its pixels.

    The ocr stage gets the pages parse could not read (no text layer, too
    few real characters, one full-page image, or an image file). For each
    such page sl_ocr renders it with MuPDF at opts.dpi to an 8-bit grayscale
    pixmap and hands the pixels to Tesseract (its C API), which returns
    UTF-8 text and a mean word confidence, 0-100.

    One sl_ocr_t holds one TessBaseAPI, loaded with opts.languages once in
    sl_ocr_new (that load takes a few hundred milliseconds and tens of MiB:
    far too slow per page), and at most one open document. It is not
    thread-safe: the ocr actor keeps one per handler thread.

    Limits, per page (a page fails, never the process):
      - time: opts.page_ms covers rendering and recognition together.
        Rendering runs with MuPDF's cookie and an allocator that refuses
        past the deadline; Tesseract gets what is left through its
        ETEXT_DESC monitor deadline, and the wall time is checked after it
        too (layout analysis does not look at the monitor).
      - memory: MuPDF's allocations are counted and refused past
        opts.max_memory; the pixmap is capped at S_MAX_PIXELS (a page with
        a hostile 200-inch media box is rendered at a lower resolution, not
        at gigapixels), which also bounds what Tesseract allocates.
    A failure comes back as -1 and a sentence ("OCR time limit of 60 s
    exceeded on page 3"); the document stays open for the next page.

    Languages are Tesseract's names joined by '+' ("eng+deu"); the trained
    data comes from opts.tessdata, or Tesseract's default (TESSDATA_PREFIX,
    else Debian's /usr/share/tesseract-ocr/5/tessdata).
*/
#ifndef SL_OCR_H_INCLUDED
#define SL_OCR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sl_ocr_t sl_ocr_t;

typedef struct {
    int dpi;                    //  default 300: render resolution
    const char *languages;      //  default "eng"
    const char *tessdata;       //  NULL: Tesseract's default folder
    int page_ms;                //  default 60000: render + recognise one page
    size_t max_memory;          //  default 1 GiB of MuPDF allocations
} sl_ocr_opts_t;

//  Fill opts with the defaults above.
void sl_ocr_opts_defaults (sl_ocr_opts_t *opts);

//  Load Tesseract with opts->languages. NULL with a reason in err (a
//  language that is not installed: "OCR language 'deu' is not installed
//  (no deu.traineddata in ...): install tesseract-ocr-deu").
sl_ocr_t *sl_ocr_new (const sl_ocr_opts_t *opts, char *err, size_t errlen);

//  Close any document, end Tesseract, free; nulls the pointer. Safe on NULL.
void sl_ocr_destroy (sl_ocr_t **self_p);

//  Open the document at path (closing the one open before). mime is the
//  type fetch sniffed; magic bytes win over it (PDF, PNG, JPEG, TIFF).
//  Returns the page count, or -1 with a reason in err.
int sl_ocr_open (sl_ocr_t *self, const char *path, const char *mime, char *err, size_t errlen);

//  OCR page page_no (1-based) of the open document. On success returns 0
//  with *text_p a malloc'd, NUL-terminated UTF-8 string (caller frees; may
//  be empty: a blank page), *len_p its length and *confidence Tesseract's
//  mean word confidence 0-100. On failure -1 with a reason in err.
int sl_ocr_page (sl_ocr_t *self, int page_no, char **text_p, size_t *len_p, int *confidence,
                 char *err, size_t errlen);

//  Close the open document (if any), keeping Tesseract loaded.
void sl_ocr_close (sl_ocr_t *self);

//  Self-test: renders generated PDFs, reads them back.
void sl_ocr_test (bool verbose);

#endif
