/*  sl_parse_fanout self-test: the join's files in a temporary job folder. */
#include "sl_parse_fanout.h"
#include "sl_check.h"
#include "sl_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [256];

static void
s_write (const char *name, const char *text)
{
    char path [400];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "wb");
    CHECK (f);
    fputs (text, f);
    fclose (f);
}

static long
s_size (const char *name, char *buf, size_t cap)
{
    char path [400];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    size_t n = fread (buf, 1, cap - 1, f);
    buf [n] = 0;
    fclose (f);
    return (long) n;
}

static void
s_test_ranges (void)
{
    CHECK (sl_fanout_ranges (2000, 200) == 10);
    CHECK (sl_fanout_ranges (201, 200) == 2);
    CHECK (sl_fanout_ranges (0, 200) == 0);
    CHECK (sl_fanout_range_valid (1, 201, 200, 2000));
    CHECK (sl_fanout_range_valid (1801, 2001, 200, 2000));
    CHECK (sl_fanout_range_valid (201, 202, 200, 201));
}

static void
s_test_refusals (void)
{
    CHECK (!sl_fanout_range_valid (2, 202, 200, 2000));     //  not on a cut
    CHECK (!sl_fanout_range_valid (1, 200, 200, 2000));     //  short
    CHECK (!sl_fanout_range_valid (1801, 2002, 200, 2000)); //  past the end
    CHECK (!sl_fanout_range_valid (0, 200, 200, 2000));
    CHECK (!sl_fanout_range_valid (1, 1, 0, 2000));
    CHECK (!sl_fanout_range_valid (1, 2001, 2001, 2000));
    CHECK (!sl_fanout_range_valid (1, 101, 100, -5));
    CHECK (!sl_fanout_range_valid (2001, 2201, 200, 2000));
    CHECK (!sl_fanout_range_valid (1, 11, 10, 100000000));
}

//  Three ranges of 2 pages in a 5-page document: the join waits for all,
//  one claim wins, a redelivered claimer wins again, pages join in order
static void
s_test_join (void)
{
    sl_fanout_range_t r = { .need_ocr = 1, .text_bytes = 10 }, total;
    s_write ("pages.r3.mp", "BB");
    s_write ("pages.r5.mp", "C");
    snprintf (r.title, sizeof r.title, "Title of range 3");
    CHECK (sl_fanout_mark (s_dir, 3, &r) == 0);
    CHECK (sl_fanout_mark (s_dir, 5, &r) == 0);
    CHECK (!sl_fanout_complete (s_dir, 5, 2, &total));
    s_write ("pages.r1.mp", "AA");
    snprintf (r.title, sizeof r.title, "The Manual");
    r.need_ocr = 0;
    CHECK (sl_fanout_mark (s_dir, 1, &r) == 0);
    CHECK (sl_fanout_complete (s_dir, 5, 2, &total));
    CHECK (total.need_ocr == 2 && total.text_bytes == 30);
    CHECK (strcmp (total.title, "The Manual") == 0);
    CHECK (sl_fanout_claim (s_dir, 5) == 1);
    CHECK (sl_fanout_claim (s_dir, 1) == 0);
    CHECK (sl_fanout_claim (s_dir, 3) == 0);
    CHECK (sl_fanout_claim (s_dir, 5) == 1);     //  redelivered: still its join
    CHECK (sl_fanout_join (s_dir, 5, 2) == 0);
    char buf [64];
    CHECK (s_size ("pages.mp", buf, sizeof buf) == 5 && strcmp (buf, "AABBC") == 0);
    //  a late duplicate never rewrites pages.mp (ocr may have since)
    s_write ("pages.mp", "OCRED");
    s_write ("pages.r1.mp", "ZZ");
    CHECK (sl_fanout_join (s_dir, 5, 2) == 0);
    CHECK (s_size ("pages.mp", buf, sizeof buf) == 5 && strcmp (buf, "OCRED") == 0);
}

static void
s_test_join_missing_range (void)
{
    char path [400];
    snprintf (path, sizeof path, "%s/pages.mp", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/pages.r3.mp", s_dir);
    unlink (path);
    CHECK (sl_fanout_join (s_dir, 5, 2) == -1);
    char buf [64];
    CHECK (s_size ("pages.mp", buf, sizeof buf) == -1);     //  nothing half-joined
}

//  Write range first's pages file: pages first.. with these texts
static void
s_pages (const char *dir, int first, const char *const *texts, int count)
{
    char path [400];
    sl_fanout_pages_path (dir, first, path, sizeof path);
    sl_recw_t *w = sl_recw_new (path);
    CHECK (w);
    for (int i = 0; i < count; i++) {
        sl_mpw_t mpw;
        sl_mpw_init (&mpw);
        msgpack_pack_map (&mpw.pk, 2);
        sl_mpw_kv_int (&mpw, "p", first + i);
        sl_mpw_kv_str (&mpw, "t", texts [i]);
        CHECK (sl_recw_write_mpw (w, &mpw) == 0);
        sl_mpw_reset (&mpw);
    }
    CHECK (sl_recw_commit (&w) == 0);
}

//  The text limit is counted over the document in page order, as a whole
//  parse counts it, whichever range stopped at its own count
static void
s_test_text_over (void)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%s/limit", s_dir);
    CHECK (mkdir (dir, 0700) == 0);
    const char *r1 [] = { "aaaa", "bbbb" }, *r3 [] = { "cc" };
    s_pages (dir, 1, r1, 2);
    s_pages (dir, 3, r3, 1);
    s_pages (dir, 5, NULL, 0);
    sl_fanout_range_t r = { .text_bytes = 0 };
    CHECK (sl_fanout_mark (dir, 1, &r) == 0 && sl_fanout_mark (dir, 3, &r) == 0);
    r.over_at = 5;              //  range 5 stopped at its first page
    CHECK (sl_fanout_mark (dir, 5, &r) == 0);
    CHECK (sl_fanout_text_over (dir, 5, 2, 9) == 3);
    CHECK (sl_fanout_text_over (dir, 5, 2, 7) == 2);
    CHECK (sl_fanout_text_over (dir, 5, 2, 20) == 5);
    r.over_at = 0;
    CHECK (sl_fanout_mark (dir, 5, &r) == 0);
    CHECK (sl_fanout_text_over (dir, 5, 2, 20) == 0);
    CHECK (sl_fanout_text_over (dir, 7, 2, 20) == -1);      //  range 7's pages missing
}

//  A redelivered range starts its count again: no page counted twice
static void
s_test_progress (void)
{
    sl_fanout_progress_set (s_dir, 1, 2);
    sl_fanout_progress_set (s_dir, 3, 1);
    CHECK (sl_fanout_progress_sum (s_dir, 5, 2) == 3);
    sl_fanout_progress_set (s_dir, 3, 2);
    sl_fanout_progress_set (s_dir, 3, 1);       //  range 3 again, from its start
    CHECK (sl_fanout_progress_sum (s_dir, 5, 2) == 3);
    sl_fanout_progress_set (s_dir, 5, 1);
    sl_fanout_progress_set (s_dir, 3, 2);
    CHECK (sl_fanout_progress_sum (s_dir, 5, 2) == 5);
}

void
sl_parse_fanout_test (bool verbose)
{
    printf (" * sl_parse_fanout: ");
    if (verbose)
        printf ("\n");
    snprintf (s_dir, sizeof s_dir, "/tmp/sl-fanout-test-XXXXXX");
    CHECK (mkdtemp (s_dir));
    CASE ("ranges cut a document every step pages", s_test_ranges ());
    CASE ("a range the fan-out cannot have made is refused", s_test_refusals ());
    CASE ("the join waits for every range, is claimed once, joins in page order", s_test_join ());
    CASE ("a missing range's pages fail the join and leave no pages.mp", s_test_join_missing_range ());
    CASE ("the text limit is the document's, found at its page across ranges", s_test_text_over ());
    CASE ("progress sums ranges and never counts a redelivered range twice", s_test_progress ());
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    CHECK (system (cmd) == 0);
    printf ("OK\n");
}
