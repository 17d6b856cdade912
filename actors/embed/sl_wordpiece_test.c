/*  sl_wordpiece_test: self-test of sl_wordpiece on a hand-made vocabulary,
    one behaviour per block (basic tokenizer, accents and casing, CJK,
    WordPiece splitting, unknown words, limits).
*/
#include "sl_wordpiece.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

//  --------------------------------------------------------------------------
//  Self-test: a hand-made vocabulary, one behaviour per block

static const char *s_vocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "un\n##aff\n##able\nthe\ncafe\nnaive\n.\n,\n!\n'\n-\nhello\nworld\n##s\na\n"
    "\xe4\xb8\xad\n\xe6\x96\x87\n"                      //  中 文
    "\xce\xbf\xce\xb4\xce\xbf\n##\xcf\x82\n##\xcf\x83\n"  //  οδο ##ς ##σ
    "i\n##\xcc\x87\n"                                   //  i ##U+0307
    "Hello\nx\n##x\n"
    "caf\xc3\xa9\n"                                     //  café (kept accents)
    "\xea\xb0\x80\n"                                     //  가 (precomposed)
    "\xe1\x84\x80\n##\xe1\x85\xa1\n"                     //  ᄀ ##ᅡ (decomposed)
    "the\n"                                             //  duplicate: "the" is id 34
    "\xcf\x82\n\xcf\x83\n";                                //  ς σ

static void
s_expect (sl_wordpiece_t *wp, const char *text, const char *expect)
{
    int32_t ids [256];
    size_t n = sl_wordpiece_encode (wp, text, strlen (text), ids, 256, true);
    char got [2048] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && i < 256; i++)
        len += (size_t) snprintf (got + len, sizeof got - len, "%s%s", i ? " " : "",
                                  sl_wordpiece_token (wp, ids [i]));
    if (strcmp (got, expect) != 0)
        fprintf (stderr, "\n'%s': expected '%s', got '%s'\n", text, expect, got);
    assert (strcmp (got, expect) == 0);
}

void
sl_wordpiece_test (bool verbose)
{
    printf (" * sl_wordpiece: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/sl_wordpiece_test_XXXXXX";
    assert (mkdtemp (dir));
    char path [256], err [512];
    snprintf (path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen (path, "wb");
    assert (f);
    fputs (s_vocab, f);
    fclose (f);

    sl_wordpiece_t *wp = sl_wordpiece_new (path, NULL, err, sizeof err);
    assert (wp);
    assert (sl_wordpiece_vocab_size (wp) == 37);
    assert (sl_wordpiece_cls (wp) == 2 && sl_wordpiece_sep (wp) == 3);
    assert (sl_wordpiece_unk (wp) == 1 && sl_wordpiece_pad (wp) == 0);
    assert (sl_wordpiece_id (wp, "the") == 34);        //  last duplicate wins, as in HF
    assert (strcmp (sl_wordpiece_token (wp, 8), "the") == 0);
    assert (sl_wordpiece_id (wp, "##aff") == 6 && sl_wordpiece_id (wp, "nope") == -1);
    assert (sl_wordpiece_token (wp, 37) == NULL && sl_wordpiece_token (wp, -1) == NULL);

    //  Greedy longest match, continuation pieces, unknown words
    s_expect (wp, "unaffable", "un ##aff ##able");
    s_expect (wp, "unaffables", "un ##aff ##able ##s");
    s_expect (wp, "unaffablez hello", "[UNK] hello");   //  one bad part: the whole word
    s_expect (wp, "", "");
    s_expect (wp, "  \t\n ", "");
    //  Lower-casing, punctuation, accents
    s_expect (wp, "Hello, WORLD!", "hello , world !");
    s_expect (wp, "Caf\xc3\xa9 NA\xc3\x8fVE.", "cafe naive .");
    s_expect (wp, "cafe\xcc\x81", "cafe");              //  decomposed accent stripped too
    s_expect (wp, "the-world's", "the - world ' [UNK]");    //  "s" alone is no word
    //  Cleaning: controls vanish inside a word, odd spaces split, invalid
    //  UTF-8 and U+FFFD vanish
    s_expect (wp, "hel\x01lo wor\xe2\x80\x8bld", "hello world");      //  \x01, U+200B (Cf)
    s_expect (wp, "hello\xc2\xa0world\xe2\x80\xa8the", "hello world the");  //  NBSP, U+2028
    s_expect (wp, "hel\xfflo \xef\xbf\xbd", "hello");
    s_expect (wp, "hello\x0bworld", "[UNK]");           //  \v is a control: "helloworld"
    //  CJK ideographs are words; Hangul is not, and NFD splits it into jamo
    s_expect (wp, "a\xe4\xb8\xad\xe6\x96\x87" "a", "a \xe4\xb8\xad \xe6\x96\x87 a");
    s_expect (wp, "\xea\xb0\x80", "\xe1\x84\x80 ##\xe1\x85\xa1");
    //  Final sigma: ΟΔΟΣ -> οδος, ΟΔΟΣΑ -> οδοσα (not final), ΟΔΟΣ. -> final
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf ##\xcf\x82");
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f\xce\xa3\xce\x91", "[UNK]");
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f\xce\xa3.", "\xce\xbf\xce\xb4\xce\xbf ##\xcf\x82 .");
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f\xce\xa3'x", "\xce\xbf\xce\xb4\xce\xbf ##\xcf\x83 ' x");   //  ' is ignorable: ΟΔΟΣ'x -> σ
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f^\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf [UNK] \xcf\x82");  //  ^ is ignorable
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f-\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf - \xcf\x83");  //  - is not
    //  İ lower-cases to i + U+0307, which accent stripping removes
    s_expect (wp, "\xc4\xb0", "i");
    //  A word of 100 characters is split; 101 is [UNK]
    char longword [160];
    memset (longword, 'x', 100);
    longword [100] = 0;
    int32_t ids [128];
    assert (sl_wordpiece_encode (wp, longword, 100, ids, 128, true) == 100);
    assert (ids [0] == sl_wordpiece_id (wp, "x") && ids [99] == sl_wordpiece_id (wp, "##x"));
    memset (longword, 'x', 101);
    assert (sl_wordpiece_encode (wp, longword, 101, ids, 128, true) == 1 && ids [0] == 1);
    //  max_ids truncates; count_all still counts everything
    const char *text = "hello world hello world the";
    assert (sl_wordpiece_encode (wp, text, strlen (text), ids, 3, true) == 5);
    assert (sl_wordpiece_encode (wp, text, strlen (text), ids, 3, false) == 3);
    assert (ids [2] == sl_wordpiece_id (wp, "hello"));
    assert (sl_wordpiece_encode (wp, text, strlen (text), NULL, 0, true) == 5);
    assert (sl_wordpiece_encode (wp, text, strlen (text), NULL, 0, false) == 0);
    sl_wordpiece_destroy (&wp);
    assert (wp == NULL);

    //  Case kept, accents kept
    sl_wordpiece_config_t config;
    sl_wordpiece_config_default (&config);
    config.lower_case = false;
    wp = sl_wordpiece_new (path, &config, err, sizeof err);
    assert (wp);
    s_expect (wp, "Hello hello HELLO", "Hello hello [UNK]");
    s_expect (wp, "caf\xc3\xa9", "caf\xc3\xa9");
    s_expect (wp, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "[UNK]");
    sl_wordpiece_destroy (&wp);
    //  Lower-case without stripping: İ keeps its dot; é stays
    config.lower_case = true;
    config.strip_accents = 0;
    wp = sl_wordpiece_new (path, &config, err, sizeof err);
    assert (wp);
    s_expect (wp, "\xc4\xb0", "i ##\xcc\x87");
    s_expect (wp, "CAF\xc3\x89", "caf\xc3\xa9");
    sl_wordpiece_destroy (&wp);
    //  No CJK splitting: 中文 is one word, not in the vocabulary
    sl_wordpiece_config_default (&config);
    config.chinese_chars = false;
    wp = sl_wordpiece_new (path, &config, err, sizeof err);
    assert (wp);
    s_expect (wp, "\xe4\xb8\xad\xe6\x96\x87", "[UNK]");
    sl_wordpiece_destroy (&wp);

    //  CRLF vocabulary, last line without a newline
    f = fopen (path, "wb");
    fputs ("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s", f);
    fclose (f);
    wp = sl_wordpiece_new (path, NULL, err, sizeof err);
    assert (wp && sl_wordpiece_vocab_size (wp) == 6);
    s_expect (wp, "hellos", "hello ##s");
    sl_wordpiece_destroy (&wp);

    //  Missing special tokens and files are messages
    f = fopen (path, "wb");
    fputs ("[PAD]\n[CLS]\n[SEP]\nhello\n", f);
    fclose (f);
    assert (!sl_wordpiece_new (path, NULL, err, sizeof err));
    assert (strstr (err, "'[UNK]' is not in the vocabulary"));
    sl_wordpiece_config_default (&config);
    snprintf (config.unk, sizeof config.unk, "hello");
    wp = sl_wordpiece_new (path, &config, err, sizeof err);     //  custom specials
    assert (wp && sl_wordpiece_unk (wp) == 3);
    sl_wordpiece_destroy (&wp);
    unlink (path);
    assert (!sl_wordpiece_new (path, NULL, err, sizeof err) && strstr (err, "No such file"));
    assert (!sl_wordpiece_new (dir, NULL, err, sizeof err) && strstr (err, "not a regular"));
    assert (rmdir (dir) == 0);
    if (verbose)
        printf ("  (all cases matched)\n");
    printf ("OK\n");
}
