/*  sl_chunk_pages_test: pages.mp records as parse and ocr write them, and
    malformed ones, read into chunker pages; then a PDF-like document whose
    outline comes only through "h" gets its section paths.
*/
#include "sl_chunk_pages.h"
#include "sl_check.h"
#include "sl_mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Decode what w packed (copied into copy, which must outlive the result)
static sl_mp_t *
s_decode (sl_mpw_t *w, char *copy, size_t cap)
{
    CHECK (w->buf.size <= cap);
    memcpy (copy, w->buf.data, w->buf.size);
    char err [128];
    sl_mp_t *mp = sl_mp_decode (copy, w->buf.size, err, sizeof err);
    CHECK (mp);
    sl_mpw_reset (w);
    return mp;
}

static void
s_test_full_record (void)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_kv_int (&w, "p", 3);
    sl_mpw_kv_str (&w, "t", "# Intro\nText.");
    sl_mpw_kv_bool (&w, "m", true);
    sl_mpw_kv_int (&w, "c", 87);
    sl_mpw_key (&w, "h");
    msgpack_pack_array (&w.pk, 2);
    msgpack_pack_array (&w.pk, 2);
    msgpack_pack_int (&w.pk, 1);
    sl_mpw_str (&w, "Chapter One");
    msgpack_pack_array (&w.pk, 2);
    msgpack_pack_int (&w.pk, 9);                    //  clamped to 6
    sl_mpw_str (&w, "Deep");
    char copy [512];
    sl_mp_t *mp = s_decode (&w, copy, sizeof copy);
    sl_chunk_page_t page;
    sl_chunk_headings_t buf;
    char err [128] = "";
    CHECK (sl_chunk_page_read (sl_mp_root (mp), &page, &buf, err, sizeof err) == 0);
    CHECK (page.page_no == 3 && page.len == 13 && memcmp (page.text, "# Intro\nText.", 13) == 0);
    CHECK (page.marked && page.ocr_confidence == 87 && page.heading_count == 2);
    CHECK (page.headings [0].level == 1 && strcmp (page.headings [0].title, "Chapter One") == 0);
    CHECK (page.headings [1].level == 6 && strcmp (page.headings [1].title, "Deep") == 0);
    sl_mp_destroy (&mp);
}

//  Only p and t are required; bad optional fields are ignored; a missing
//  p or t fails with a sentence
static void
s_test_malformed (void)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_kv_int (&w, "p", 1);
    sl_mpw_kv_str (&w, "t", "plain");
    sl_mpw_kv_int (&w, "c", 250);                   //  not a confidence
    sl_mpw_kv_str (&w, "m", "yes");                 //  not true
    sl_mpw_key (&w, "h");
    msgpack_pack_array (&w.pk, 3 + SL_CHUNK_PAGE_HEADINGS);
    msgpack_pack_int (&w.pk, 1);                    //  not an entry
    msgpack_pack_array (&w.pk, 1);                  //  too short
    msgpack_pack_int (&w.pk, 1);
    msgpack_pack_array (&w.pk, 2);                  //  a title 1,000 bytes long
    msgpack_pack_int (&w.pk, 2);
    char long_title [1000];
    memset (long_title, 'x', sizeof long_title);
    msgpack_pack_str (&w.pk, sizeof long_title);
    msgpack_pack_str_body (&w.pk, long_title, sizeof long_title);
    for (int i = 0; i < SL_CHUNK_PAGE_HEADINGS; i++) {
        msgpack_pack_array (&w.pk, 2);
        msgpack_pack_int (&w.pk, 1);
        sl_mpw_str (&w, "many");
    }
    static char copy [16384];
    sl_mp_t *mp = s_decode (&w, copy, sizeof copy);
    sl_chunk_page_t page;
    sl_chunk_headings_t buf;
    char err [128] = "";
    CHECK (sl_chunk_page_read (sl_mp_root (mp), &page, &buf, err, sizeof err) == 0);
    CHECK (!page.marked && page.ocr_confidence == -1);
    CHECK (page.heading_count == SL_CHUNK_PAGE_HEADINGS);
    CHECK (strlen (page.headings [0].title) == SL_CHUNK_TITLE_BYTES - 1 && page.headings [0].level == 2);
    sl_mp_destroy (&mp);

    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_kv_str (&w, "t", "no page number");
    mp = s_decode (&w, copy, sizeof copy);
    CHECK (sl_chunk_page_read (sl_mp_root (mp), &page, &buf, err, sizeof err) == -1);
    CHECK (strstr (err, "malformed page record"));
    sl_mp_destroy (&mp);
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_kv_int (&w, "p", 0);
    mp = s_decode (&w, copy, sizeof copy);
    CHECK (sl_chunk_page_read (sl_mp_root (mp), &page, &buf, err, sizeof err) == -1);
    sl_mp_destroy (&mp);
}

typedef struct {
    int n;
    char sections [8][128];
} s_sections_t;

static int
s_keep_section (void *arg, const sl_chunk_t *chunk)
{
    s_sections_t *s = arg;
    if (s->n < 8)
        snprintf (s->sections [s->n++], sizeof s->sections [0], "%s", chunk->section);
    return 0;
}

//  An unmarked PDF whose outline arrives only as "h": section paths
static void
s_test_pdf_outline_sections (void)
{
    s_sections_t got = { 0 };
    sl_chunker_t *chunker = sl_chunker_new (NULL, NULL, NULL, s_keep_section, &got);
    CHECK (chunker);
    const char *titles [3][2] = { { "Installation", NULL }, { NULL, NULL }, { "Usage", NULL } };
    char text [2048];
    for (int p = 1; p <= 3; p++) {
        size_t len = 0;
        for (int i = 0; i < 60; i++)
            len += (size_t) snprintf (text + len, sizeof text - len, "page%d word%d%s", p, i, i % 8 == 7 ? ". " : " ");
        sl_mpw_t w;
        sl_mpw_init (&w);
        msgpack_pack_map (&w.pk, titles [p - 1][0] ? 3 : 2);
        sl_mpw_kv_int (&w, "p", p);
        sl_mpw_kv_str (&w, "t", text);
        if (titles [p - 1][0]) {
            sl_mpw_key (&w, "h");
            msgpack_pack_array (&w.pk, p == 1 ? 2 : 1);
            msgpack_pack_array (&w.pk, 2);
            msgpack_pack_int (&w.pk, 1);
            sl_mpw_str (&w, titles [p - 1][0]);
            if (p == 1) {
                msgpack_pack_array (&w.pk, 2);
                msgpack_pack_int (&w.pk, 2);
                sl_mpw_str (&w, "Requirements");
            }
        }
        static char copy [4096];
        sl_mp_t *mp = s_decode (&w, copy, sizeof copy);
        sl_chunk_page_t page;
        sl_chunk_headings_t buf;
        char err [128];
        CHECK (sl_chunk_page_read (sl_mp_root (mp), &page, &buf, err, sizeof err) == 0);
        CHECK (sl_chunker_add (chunker, &page) == 0);
        sl_mp_destroy (&mp);
    }
    CHECK (sl_chunker_finish (chunker) == 0);
    sl_chunker_destroy (&chunker);
    CHECK (got.n >= 3);
    CHECK (strcmp (got.sections [0], "Installation \xE2\x80\xBA Requirements") == 0);
    CHECK (strcmp (got.sections [got.n - 1], "Usage") == 0);
}

void
sl_chunk_pages_test (bool verbose)
{
    printf (" * sl_chunk_pages: ");
    if (verbose)
        printf ("\n");
    CASE ("a full record: text, marked, OCR confidence, outline", s_test_full_record ());
    CASE ("malformed fields ignored, missing p or t refused", s_test_malformed ());
    CASE ("a PDF outline through pages.mp gives section paths", s_test_pdf_outline_sections ());
    printf ("OK\n");
}
