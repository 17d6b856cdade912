/*  sl_chunk_pages: reads one pages.mp record (what parse, and the ocr stage,
    write) into the page the chunker takes (sl_chunk_page_t).

    Record fields (actors/parse/sl_parse_actor.c is the writer):
        p   int     page number, 1-based                        required
        t   str     the page's text                             required
        m   true    the text is marked (engine/sl_markup.h)
        h   array   [[level, "title"], ...] outline entries starting on
                    the page (PDF): headings at the top of the page
        c   int     OCR mean confidence 0-100 (pages the ocr stage read)
        o   true    not OCR'd yet: ignored here
    Failure model: a record without p or t fails with a sentence; anything
    else that is malformed is ignored (a bad outline entry is no heading, a
    confidence outside 0-100 is none), since pages.mp is our own artifact
    but a hostile PDF chose the outline. Bounded: at most
    SL_CHUNK_PAGE_HEADINGS outline entries per page are kept, titles cut to
    SL_CHUNK_TITLE_BYTES - 1 bytes (the chunker repairs a cut character).

    The page points into the record (text) and into the caller's buffer
    (headings): valid while both are. No state, thread-safe.
*/
#ifndef SL_CHUNK_PAGES_H_INCLUDED
#define SL_CHUNK_PAGES_H_INCLUDED

#include "sl_chunk.h"

#include <msgpack.h>

#define SL_CHUNK_PAGE_HEADINGS 64
#define SL_CHUNK_TITLE_BYTES 256

//  Where a page's outline headings are copied
typedef struct {
    sl_chunk_heading_t headings [SL_CHUNK_PAGE_HEADINGS];
    char titles [SL_CHUNK_PAGE_HEADINGS][SL_CHUNK_TITLE_BYTES];
} sl_chunk_headings_t;

//  Read record rec into page, headings into buf. Returns 0, or -1 with a
//  reason in err (NUL-terminated when errlen > 0).
int sl_chunk_page_read (const msgpack_object *rec, sl_chunk_page_t *page, sl_chunk_headings_t *buf,
                        char *err, size_t errlen);

void sl_chunk_pages_test (bool verbose);

#endif
