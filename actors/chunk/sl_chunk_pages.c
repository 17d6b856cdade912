/*  sl_chunk_pages: pages.mp record -> sl_chunk_page_t. See the header.
*/
#include "sl_chunk_pages.h"
#include "sl_mp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

//  Copy the well-formed outline entries of h into buf and page
static void
s_read_headings (const msgpack_object *h, sl_chunk_page_t *page, sl_chunk_headings_t *buf)
{
    if (!h || h->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t i = 0; i < h->via.array.size && page->heading_count < SL_CHUNK_PAGE_HEADINGS; i++) {
        const msgpack_object *entry = &h->via.array.ptr [i];
        int64_t level;
        const char *title;
        size_t len;
        if (entry->type != MSGPACK_OBJECT_ARRAY || entry->via.array.size != 2
        ||  sl_mp_int (&entry->via.array.ptr [0], &level)
        ||  sl_mp_bytes (&entry->via.array.ptr [1], &title, &len))
            continue;                   //  a malformed entry is no heading
        int k = page->heading_count++;
        len = len < SL_CHUNK_TITLE_BYTES - 1 ? len : SL_CHUNK_TITLE_BYTES - 1;
        memcpy (buf->titles [k], title, len);
        buf->titles [k][len] = 0;
        buf->headings [k] = (sl_chunk_heading_t) {
            (int) (level < 1 ? 1 : level > 6 ? 6 : level), buf->titles [k]
        };
    }
    page->headings = buf->headings;
}

int
sl_chunk_page_read (const msgpack_object *rec, sl_chunk_page_t *page, sl_chunk_headings_t *buf,
                    char *err, size_t errlen)
{
    memset (page, 0, sizeof *page);
    page->ocr_confidence = -1;
    int64_t page_no = 0, ocr = -1;
    if (sl_mp_get_int (rec, "p", &page_no) || page_no < 1 || page_no > INT_MAX
    ||  sl_mp_bytes (sl_mp_get (rec, "t"), &page->text, &page->len)) {
        if (errlen > 0)
            snprintf (err, errlen, "malformed page record in pages.mp (no page number or text)");
        return -1;
    }
    page->page_no = (int) page_no;
    bool marked = false;
    page->marked = sl_mp_bool (sl_mp_get (rec, "m"), &marked) == 0 && marked;
    if (sl_mp_get_int (rec, "c", &ocr) == 0 && ocr >= 0 && ocr <= 100)
        page->ocr_confidence = (int) ocr;
    s_read_headings (sl_mp_get (rec, "h"), page, buf);
    return 0;
}
