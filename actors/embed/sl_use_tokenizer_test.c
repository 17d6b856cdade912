/*  sl_use_tokenizer_test: self-test of sl_use_tokenizer on a small
    vocabulary written here; the real one is tested against the JavaScript
    runtime's golden ids in sl_embed_use_test.c.
*/
#include "sl_use_tokenizer.h"
#include "sl_embedder.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

//  --------------------------------------------------------------------------
//  Self-test on a small vocabulary written here; the real one is tested
//  against the JavaScript runtime's golden ids in sl_embed_use_test.

static void
s_check (sl_use_tokenizer_t *tok, const char *text, const int32_t *want, long nwant, bool verbose)
{
    int32_t ids [64];
    long n = sl_use_tokenizer_encode (tok, text, strlen (text), ids, 64);
    bool same = n == nwant;
    for (long i = 0; same && i < n; i++)
        same = ids [i] == want [i];
    if (verbose || !same) {
        printf ("    '%s' ->", text);
        for (long i = 0; i < n && i < 64; i++)
            printf (" %d", ids [i]);
        printf ("%s\n", same ? "" : "  (MISMATCH)");
    }
    assert (same);
}

void
sl_use_tokenizer_test (bool verbose)
{
    printf (" * sl_use_tokenizer: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/sl_use_tok_XXXXXX";
    assert (mkdtemp (dir));
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/vocab.json", dir);
    //  ids:    0..5 reserved, 6 ▁, 7 ▁a, 8 b, 9 ab, 10 ▁ab, 11 a, 12 c (dup,
    //  loses), 13 x (null score), 14 c (dup, wins), 15 é, 16 ▁ff
    const char *vocab =
        "[[\"\xef\xbf\xbd\", 0], [\"<s>\", 0], [\"</s>\", 0], [\"e1\", 0], [\"e2\", 0], [\"e3\", 0],"
        " [\"\xe2\x96\x81\", -5], [\"\xe2\x96\x81" "a\", -2], [\"b\", -3], [\"ab\", -4],"
        " [\"\xe2\x96\x81" "ab\", -10], [\"a\", -1], [\"c\", -1], [\"x\", null], [\"c\", -9],"
        " [\"\xc3\xa9\", -1], [\"\xe2\x96\x81" "ff\", -1]]";
    FILE *f = fopen (path, "w");
    assert (f);
    fputs (vocab, f);
    fclose (f);
    char err [256];
    sl_use_tokenizer_t *tok = sl_use_tokenizer_new (path, err, sizeof err);
    if (!tok)
        printf ("%s\n", err);
    assert (tok);
    assert (sl_use_tokenizer_size (tok) == 17);
    assert (strlen (sl_use_tokenizer_digest (tok)) == 64);

    //  "▁ab": ▁a+b = -5 beats ▁ab = -10 and ▁+ab = -9
    s_check (tok, "ab", (int32_t []) { 7, 8 }, 2, verbose);
    //  spaces become separators; an uncovered character is id 0
    s_check (tok, "a b", (int32_t []) { 7, 6, 8 }, 3, verbose);
    s_check (tok, "zzz b", (int32_t []) { 6, 0, 6, 8 }, 4, verbose);     //  unknown run merged
    s_check (tok, "z z", (int32_t []) { 6, 0, 6, 0 }, 4, verbose);
    //  the later duplicate wins; a null score counts as 0
    s_check (tok, "c", (int32_t []) { 6, 14 }, 2, verbose);
    s_check (tok, "x", (int32_t []) { 6, 13 }, 2, verbose);
    //  NFKC: composed from decomposed; the ligature U+FB00 becomes "ff"
    s_check (tok, "e\xcc\x81", (int32_t []) { 6, 15 }, 2, verbose);
    s_check (tok, "\xc3\xa9", (int32_t []) { 6, 15 }, 2, verbose);
    s_check (tok, "a\xcc\x81", (int32_t []) { 6, 0 }, 2, verbose);          //  á: composed, unknown
    s_check (tok, "\xef\xac\x80", (int32_t []) { 16 }, 1, verbose);
    //  a no-break space is a space after NFKC; invalid bytes are U+FFFD, unknown
    s_check (tok, "a\xc2\xa0" "b", (int32_t []) { 7, 6, 8 }, 3, verbose);
    s_check (tok, "a\xff" "b", (int32_t []) { 7, 0, 8 }, 3, verbose);
    //  empty is no tokens; a space alone is two separators
    s_check (tok, "", NULL, 0, verbose);
    s_check (tok, " ", (int32_t []) { 6, 6 }, 2, verbose);
    //  count beyond max_ids, and counting without ids
    int32_t two [2];
    assert (sl_use_tokenizer_encode (tok, "a a a a", 7, two, 2) == 4);
    assert (two [0] == 7 && two [1] == 7);
    assert (sl_use_tokenizer_encode (tok, "a a a a", 7, NULL, 0) == 4);
    //  NUL is a character like any other
    s_check (tok, "a\xef\xbf\xbd" "b", (int32_t []) { 7, 0, 8 }, 3, verbose);
    int32_t three [3];
    assert (sl_use_tokenizer_encode (tok, "a\0b", 3, three, 3) == 3);
    assert (three [0] == 7 && three [1] == 0 && three [2] == 8);
    sl_use_tokenizer_destroy (&tok);
    assert (tok == NULL);

    //  Damaged vocabularies
    const char *bad [] = {
        "garbage", "{}", "[]", "[[\"a\", 1]]",
        "[[\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"a\", \"high\"]]",
        "[[\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [5, 1]]",
        "[[\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"\", 0], [\"a\"]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        f = fopen (path, "w");
        assert (f);
        fputs (bad [i], f);
        fclose (f);
        err [0] = 0;
        assert (sl_use_tokenizer_new (path, err, sizeof err) == NULL);
        if (verbose)
            printf ("    bad vocabulary %zu: %s\n", i, err);
        assert (strstr (err, path));
    }
    unlink (path);
    assert (sl_use_tokenizer_new (path, err, sizeof err) == NULL && strstr (err, "cannot open"));
    rmdir (dir);
    printf ("OK\n");
}
