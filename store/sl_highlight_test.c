/*  sl_highlight_test: self-test of sl_highlight.

    Spans are code points of whole words, sorted; the two index flavours
    differ where the indexes differ (diacritics, case beyond ASCII); hostile
    text (invalid UTF-8, a huge token, more spans than room) is bounded.
    And the proof that the spans are the words the ranking used: for a list
    of tricky words, the stem sl_highlight computes equals the term SQLite's
    real FTS5 index stored (a store opened and migrated by sl_store, the
    words committed as chunks, the index read back through fts5vocab).
    PostgreSQL's is proven by the store's conformance suite on a real
    server (sl_store_test.c, "highlights"), which also checks that on both
    backends a chunk gets highlights exactly when lexical search finds it.
*/
#include "sl_highlight.h"
#include "sl_highlight_test_words.h"
#include "sl_store.h"
#include "sl_log.h"
#include "sl_util.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl_check.h"

#define streq(a, b) (strcmp ((a), (b)) == 0)

//  Spans of text for query as "[s,e][s,e]..."
static const char *
s_marks (const char *query, const char *stemmer, const char *text, int max)
{
    static char out [1024];
    sl_highlight_t *h = sl_highlight_new (query, stemmer);
    CHECK (h);
    int spans [64];
    CHECK (max <= 32);
    int n = sl_highlight_spans (h, text, spans, max);
    size_t used = 0;
    out [0] = 0;
    for (int i = 0; i < n; i++)
        used += (size_t) snprintf (out + used, sizeof out - used, "[%d,%d]", spans [2 * i],
                                   spans [2 * i + 1]);
    sl_highlight_destroy (&h);
    CHECK (h == NULL);
    return out;
}

static void
s_test_spans (void)
{
    //  code points, not bytes: ✓ and é are one each
    const char *text = "Configured \xE2\x9C\x93 caf\xC3\xA9: caching \xE2\x80\x94 configuration of a CACHE";
    CHECK (streq (s_marks ("configuring caches", "porter", text, 32),
                  "[0,10][19,26][29,42][48,53]"));
    CHECK (streq (s_marks ("configuring caches", "english", text, 32),
                  "[0,10][19,26][29,42][48,53]"));
    //  stop words are not what the ranking used; "the" alone is
    CHECK (streq (s_marks ("the cache", "porter", "the cache", 32), "[4,9]"));
    CHECK (streq (s_marks ("the", "porter", "the cache", 32), "[0,3]"));
    //  a word inside another word is not that word
    CHECK (streq (s_marks ("cat", "porter", "concatenate cats cat's", 32), "[12,16][17,20]"));
    //  at most max spans, the first ones
    CHECK (streq (s_marks ("cat", "porter", "cat cat cat", 2), "[0,3][4,7]"));
}

static void
s_test_flavours (void)
{
    //  FTS5 strips diacritics and folds all case; PostgreSQL (C locale,
    //  Sluice's columns) folds ASCII and Latin-1 capitals, strips nothing
    const char *text = "Caf\xC3\xA9 cafe \xC3\x89" "COLE \xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0";
    CHECK (streq (s_marks ("cafe", "porter", text, 32), "[0,4][5,9]"));
    CHECK (streq (s_marks ("cafe", "english", text, 32), "[5,9]"));
    CHECK (streq (s_marks ("\xC3\xA9" "cole", "porter", text, 32), "[10,15]"));
    CHECK (streq (s_marks ("\xC3\xA9" "cole", "english", text, 32), "[10,15]"));
    CHECK (streq (s_marks ("\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", "english", text, 32),
                  ""));
    CHECK (streq (s_marks ("\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", "porter", text, 32),
                  "[16,22]"));
    //  FTS5's Porter leaves words under 3 bytes alone ("as" is no "a")
    CHECK (streq (s_marks ("as is", "porter", "as is a", 32), "[0,2][3,5]"));
    //  hyphens, apostrophes and digits split words alike on both
    CHECK (streq (s_marks ("known 2024", "porter", "well-known in 2024's v2024", 32),
                  "[5,10][14,18]"));
    CHECK (streq (s_marks ("known 2024", "english", "well-known in 2024's v2024", 32),
                  "[5,10][14,18]"));
}

static void
s_test_hostile (void)
{
    CHECK (sl_highlight_new ("x", "klingon") == NULL);
    CHECK (sl_highlight_new ("x", NULL) == NULL);
    sl_highlight_t *h = sl_highlight_new (NULL, "porter");
    CHECK (h && sl_highlight_stems (h) == 0);
    int spans [8];
    CHECK (sl_highlight_spans (h, "anything", spans, 4) == 0);
    sl_highlight_destroy (&h);
    sl_highlight_destroy (&h);      //  safe twice
    //  invalid UTF-8: one code point per bad byte, a separator
    CHECK (streq (s_marks ("ok", "porter", "\xff" "ok\xc3" "ok \xe2\x82", 32), "[1,3][4,6]"));
    CHECK (streq (s_marks ("ok", "english", "\xff" "ok\xc3" "ok \xe2\x82", 32), "[1,3][4,6]"));
    //  a token longer than any term never matches and stops nothing
    size_t big = 100000;
    char *text = malloc (big + 8);
    CHECK (text);
    memset (text, 'a', big);
    memcpy (text + big, " aaa", 5);
    CHECK (streq (s_marks ("aaa", "porter", text, 32), "[100001,100004]"));
    CHECK (streq (s_marks ("aaa", "english", text, 32), "[100001,100004]"));
    free (text);
    h = sl_highlight_new ("cat", "porter");
    CHECK (h && sl_highlight_spans (h, NULL, spans, 4) == 0 && sl_highlight_spans (h, "cat", spans, 0) == 0);
    sl_highlight_destroy (&h);
}

static int
s_rm (const char *file, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove (file);
}

//  The real index: every tricky word committed as a chunk of its own into
//  a store sl_store made, then each chunk's first term as FTS5 stored it
static void
s_test_fts5_agrees (void)
{
    char dir [] = "/tmp/sl_highlight_test_XXXXXX";
    CHECK (mkdtemp (dir));
    char path [256], url [300], err [256];
    snprintf (path, sizeof path, "%s/sluice.db", dir);
    snprintf (url, sizeof url, "sqlite:%s", path);
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    CHECK (store);
    int n = SL_HIGHLIGHT_TEST_WORDS;
    sl_chunk_row_t rows [SL_HIGHLIGHT_TEST_WORDS];
    float vectors [SL_HIGHLIGHT_TEST_WORDS * 4];
    for (int i = 0; i < n; i++) {
        rows [i] = (sl_chunk_row_t) { .ordinal = i, .page_start = 1, .page_end = 1,
                                      .text = sl_highlight_test_words [i] };
        for (int d = 0; d < 4; d++)
            vectors [i * 4 + d] = d == i % 4 ? 1.0f : 0.0f;
    }
    char sha [SL_SHA256_HEX];
    sl_sha256_hex ("words", 5, sha);
    sl_doc_meta_t meta = { .workspace = "words", .source = "upload:words.txt", .sha256 = sha,
                           .mime = "text/plain", .pages = 1, .bytes = 5 };
    char id [SL_STORE_ID];
    CHECK (sl_store_document_commit (store, &meta, rows, n, vectors, 4, "m", id) == SL_STORE_OK);
    sl_store_destroy (&store);

    sqlite3 *db = NULL;
    CHECK (sqlite3_open (path, &db) == SQLITE_OK);
    CHECK (sqlite3_exec (db, "CREATE VIRTUAL TABLE temp.terms USING fts5vocab (main, chunks_fts, "
                             "instance)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK (sqlite3_prepare_v2 (db, "SELECT c.ordinal, t.term FROM temp.terms t JOIN chunks c "
                                   "ON c.rid = t.doc WHERE t.col = 'text' AND t.offset = 0 "
                                   "ORDER BY c.ordinal", -1, &st, NULL) == SQLITE_OK);
    sl_highlight_t *h = sl_highlight_new ("", "porter");
    CHECK (h);
    int seen = 0, differ = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
        int ordinal = sqlite3_column_int (st, 0);
        const char *indexed = (const char *) sqlite3_column_text (st, 1);
        char stem [SL_HIGHLIGHT_TOKEN_MAX + 1];
        CHECK (ordinal >= 0 && ordinal < n);
        CHECK (sl_highlight_stem (h, sl_highlight_test_words [ordinal], stem, sizeof stem));
        if (!streq (stem, indexed)) {
            fprintf (stderr, "FTS5 keeps \"%s\" as \"%s\", sl_highlight says \"%s\"\n",
                     sl_highlight_test_words [ordinal], indexed, stem);
            differ++;
        }
        seen++;
    }
    CHECK (seen == n);
    CHECK (differ == 0);
    sqlite3_finalize (st);
    sqlite3_close (db);
    sl_highlight_destroy (&h);
    nftw (dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

//  Not a behaviour, a figure (verbose only): what highlighting adds to a
//  search of k = 10 hits of a typical chunk (about 700 bytes, 100 words)
static void
s_bench (void)
{
    const char *sentence = "The configured daemon restarts its workers when a configuration "
                           "file changes; caching settings apply at once. ";
    char text [800] = "";
    while (strlen (text) + strlen (sentence) < sizeof text)
        strcat (text, sentence);
    int spans [2 * SL_HIGHLIGHT_SPANS_MAX];
    for (int f = 0; f < 2; f++) {
        const char *stemmer = f ? "english" : "porter";
        struct timespec a, b;
        clock_gettime (CLOCK_MONOTONIC, &a);
        int rounds = 2000, found = 0;
        for (int r = 0; r < rounds; r++) {
            sl_highlight_t *h = sl_highlight_new ("how do I change configuring and cache workers", stemmer);
            for (int i = 0; i < 10; i++)
                found += sl_highlight_spans (h, text, spans, SL_HIGHLIGHT_SPANS_MAX);
            sl_highlight_destroy (&h);
        }
        clock_gettime (CLOCK_MONOTONIC, &b);
        double us = ((double) (b.tv_sec - a.tv_sec) * 1e6 + (double) (b.tv_nsec - a.tv_nsec) / 1e3) / rounds;
        printf ("     %s: %.1f us per search of 10 hits of %zu bytes (%d spans each)\n", stemmer, us,
                strlen (text), found / rounds / 10);
    }
}

void
sl_highlight_test (bool verbose)
{
    printf (" * sl_highlight: ");
    if (verbose)
        printf ("\n");
    else
        sl_log_set_level (SL_LOG_WARN);
    CASE ("spans: code points of the words the query stems to", s_test_spans ());
    CASE ("flavours: FTS5 folds and strips accents, PostgreSQL folds Latin-1 only",
          s_test_flavours ());
    CASE ("hostile: unknown stemmer, invalid UTF-8, a huge token, no room", s_test_hostile ());
    CASE ("FTS5's index keeps the stem sl_highlight computes for each tricky word",
          s_test_fts5_agrees ());
    if (verbose)
        CASE ("figure: the cost of highlighting one search", s_bench ());
}
