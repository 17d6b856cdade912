/*  sl_chunk_test: self-test of sl_chunk. Chunkings checked against a
    reference built from the same normalisation rules (hyphen joining,
    paragraph and sentence boundaries), token budgets and overlaps, pages
    and offsets, early stop, hostile input (invalid UTF-8, huge words), and
    long documents for linear work and flat memory.
*/
#include "sl_chunk_internal.h"
#include "sl_log.h"
#include "sl_util.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

//  --------------------------------------------------------------------------
//  Failure reports

static bool s_verbose;
static const char *s_case = "";     //  the case running, for CHECK

//  Like assert, but says which case failed and always runs
#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, s_case, #cond); \
    abort (); } } while (0)

#define RUN(fn) do { s_case = #fn; if (s_verbose) printf ("  %s\n", #fn); fn (); } while (0)

//  --------------------------------------------------------------------------
//  Helpers

//  What the test keeps of each chunk
typedef struct {
    sl_chunk_t c;
    char *text;
    char section [1400];
    char context [1400];
} s_kept_t;

typedef struct {
    s_kept_t *items;
    int n, cap;
    int stop_after;             //  > 0: ask the chunker to stop after this many
} s_collector_t;

static int
s_collect (void *arg, const sl_chunk_t *chunk)
{
    s_collector_t *col = arg;
    if (col->n == col->cap) {
        col->cap = col->cap ? col->cap * 2 : 64;
        col->items = realloc (col->items, (size_t) col->cap * sizeof *col->items);
        CHECK (col->items);
    }
    s_kept_t *k = &col->items [col->n++];
    k->c = *chunk;
    k->text = malloc (chunk->len + 1);
    CHECK (k->text);
    memcpy (k->text, chunk->text, chunk->len);
    k->text [chunk->len] = 0;
    k->c.text = k->text;
    snprintf (k->section, sizeof k->section, "%s", chunk->section ? chunk->section : "");
    snprintf (k->context, sizeof k->context, "%s", chunk->context ? chunk->context : "");
    k->c.section = k->section;
    k->c.context = k->context;
    return col->stop_after > 0 && col->n >= col->stop_after;
}

static void
s_collector_reset (s_collector_t *col)
{
    for (int i = 0; i < col->n; i++)
        free (col->items [i].text);
    free (col->items);
    memset (col, 0, sizeof *col);
}

//  A counter that behaves like a subword tokenizer: about one token per 4
//  bytes, and not additive (ceil of the whole differs from the sum of ceils).
static size_t
s_count_bytes4 (void *arg, const char *text, size_t len)
{
    if (arg)
        (*(long *) arg)++;
    return (len + 3) / 4;
}

//  A tokenizer that adds BOS and EOS to every call.
static size_t
s_count_words_bos_eos (void *arg, const char *text, size_t len)
{
    return sl_chunk_count_words (NULL, text, len) + 2;
}

static size_t
s_count_calls_words (void *arg, const char *text, size_t len)
{
    (*(long *) arg) += (long) len;
    return sl_chunk_count_words (NULL, text, len);
}

//  The expected normalised document: pages normalised and joined by the rule
//  in sl_chunk.h. Also records each page's start offset.
typedef struct {
    char *text;
    size_t len;
    int page_no [512];
    size_t page_start [512];
    int npages;
} s_doc_t;

static void
s_doc_build (s_doc_t *doc, const char **pages, const size_t *lens, int n)
{
    sl_chunk_bytes_t b = { 0 };
    doc->npages = 0;
    for (int i = 0; i < n; i++) {
        size_t nl;
        char *norm = sl_chunk_normalise (pages [i], lens [i], &nl);
        CHECK (norm);
        if (nl > 0) {
            if (b.len > 0) {
                size_t hy = sl_chunk_ends_with_word_hyphen (b.data, b.len);
                if (hy && sl_chunk_starts_lowercase (norm, nl))
                    b.len -= hy;
                else {
                    size_t s = b.len;
                    while (s > 0 && b.data [s - 1] != ' ' && b.data [s - 1] != '\n')
                        s--;
                    if (sl_chunk_word_end_kind (b.data, s, b.len))
                        sl_chunk_bytes_put (&b, "\n\n", 2);
                    else
                        sl_chunk_bytes_put (&b, " ", 1);
                }
            }
            CHECK (doc->npages < 512);
            doc->page_no [doc->npages] = i + 1;
            doc->page_start [doc->npages++] = b.len;
            int rc = sl_chunk_bytes_put (&b, norm, nl);
            CHECK (rc == 0);
        }
        free (norm);
    }
    doc->text = b.data;
    doc->len = b.len;
}

static int
s_doc_page_of (s_doc_t *doc, size_t offset)
{
    int page = doc->page_no [0];
    for (int i = 0; i < doc->npages; i++)
        if (doc->page_start [i] <= offset)
            page = doc->page_no [i];
    return page;
}

static bool
s_all_space (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s [i] != ' ' && s [i] != '\n')
            return false;
    return true;
}

//  Chunk the pages, check every invariant against the expected document,
//  and return the number of chunks. Chunks are left in col.
static int
s_check (const char *label, const char **pages, const size_t *lens, int n,
         const sl_chunk_opts_t *opts, sl_token_count_fn *count, s_collector_t *col,
         bool expect_overlap, bool verbose)
{
    s_doc_t doc;
    s_doc_build (&doc, pages, lens, n);
    s_collector_reset (col);
    sl_chunker_t *chunker = sl_chunker_new (opts, count, NULL, s_collect, col);
    CHECK (chunker);
    for (int i = 0; i < n; i++)
        CHECK (sl_chunker_add_page (chunker, i + 1, pages [i], lens [i]) == 0);
    CHECK (sl_chunker_finish (chunker) == 0);
    CHECK (sl_chunker_doc_len (chunker) == doc.len);
    CHECK (sl_chunker_finish (chunker) == -1);     //  only once
    sl_chunker_destroy (&chunker);
    CHECK (chunker == NULL);
    if (!count)
        count = sl_chunk_count_words;

    int with_overlap = 0;
    size_t covered = 0;                 //  end of the previous chunk
    for (int i = 0; i < col->n; i++) {
        const sl_chunk_t *c = &col->items [i].c;
        CHECK (c->ordinal == i);
        CHECK (c->len > 0 && c->len == c->char_end - c->char_start);
        CHECK (c->char_end <= doc.len);
        CHECK (memcmp (doc.text + c->char_start, c->text, c->len) == 0);
        CHECK ((int) count (NULL, c->text, c->len) == c->tokens);
        CHECK (c->tokens <= opts->target_tokens);
        //  starts and ends on non-space, on UTF-8 boundaries
        CHECK (c->text [0] != ' ' && c->text [0] != '\n');
        CHECK (c->text [c->len - 1] != ' ' && c->text [c->len - 1] != '\n');
        CHECK (((unsigned char) c->text [0] & 0xC0) != 0x80);
        CHECK (c->char_end == doc.len || ((unsigned char) doc.text [c->char_end] & 0xC0) != 0x80);
        char hash [65];
        sl_sha256_hex (c->text, c->len, hash);
        CHECK (strcmp (hash, c->hash) == 0);
        CHECK (c->page_start == s_doc_page_of (&doc, c->char_start));
        CHECK (c->page_end == s_doc_page_of (&doc, c->char_end - 1));
        CHECK (c->overlap_len < c->len);
        size_t new_start = c->char_start + c->overlap_len;
        if (i == 0) {
            CHECK (c->overlap_len == 0 && c->char_start == 0);
        }
        else {
            const sl_chunk_t *p = &col->items [i - 1].c;
            if (c->overlap_len > 0) {
                with_overlap++;
                //  overlap is a proper suffix of the previous chunk, whole words
                CHECK (c->char_start > p->char_start);
                CHECK (c->char_start < p->char_end);
                CHECK (s_all_space (doc.text + c->char_start - 1, 1)
                        || sl_chunk_word_end_kind (doc.text, 0, c->char_start) == 2);
                CHECK ((int) (count (NULL, c->text, p->char_end - c->char_start)
                               - count (NULL, "", 0)) <= opts->overlap_tokens);
            }
            //  new content follows the previous chunk with only space between
            CHECK (new_start >= covered);
            CHECK (s_all_space (doc.text + covered, new_start - covered));
        }
        covered = c->char_end;
    }
    //  the new parts cover the whole document
    if (doc.len == 0)
        CHECK (col->n == 0);
    else
        CHECK (covered == doc.len);
    if (expect_overlap && opts->overlap_tokens > 0 && col->n > 1)
        CHECK (with_overlap >= (col->n - 1) * 9 / 10);
    if (verbose)
        printf ("  %-28s %6zu bytes %3d pages -> %4d chunks (%d with overlap)\n",
                label, doc.len, n, col->n, with_overlap);
    free (doc.text);
    return col->n;
}

//  Deterministic pseudo-English: sentences of capitalised words, paragraphs.
static uint64_t
s_rand (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static char *
s_make_page (uint64_t *rng, int words, bool hyphenate)
{
    static const char *vocab [] = {
        "stream", "document", "vector", "engine", "broker", "message", "parse", "chunk",
        "token", "index", "search", "query", "latency", "throughput", "actor", "socket",
        "information", "retrieval", "embedding", "normalisation", "the", "a", "of", "and",
        "to", "in", "is", "for", "with", "on", "über", "café", "naïve", "résumé"
    };
    size_t nv = sizeof vocab / sizeof vocab [0];
    sl_chunk_bytes_t b = { 0 };
    int in_sentence = 0, line = 0;
    for (int w = 0; w < words; w++) {
        const char *word = vocab [s_rand (rng) % nv];
        char tmp [64];
        snprintf (tmp, sizeof tmp, "%s", word);
        if (in_sentence == 0 && tmp [0] >= 'a' && tmp [0] <= 'z')
            tmp [0] = (char) (tmp [0] - 'a' + 'A');
        sl_chunk_bytes_put (&b, tmp, strlen (tmp));
        in_sentence++;
        line++;
        bool end_sentence = in_sentence > 4 && s_rand (rng) % 8 == 0;
        if (end_sentence) {
            sl_chunk_bytes_put (&b, ".", 1);
            in_sentence = 0;
        }
        if (w + 1 == words)
            break;
        if (end_sentence && s_rand (rng) % 5 == 0)
            sl_chunk_bytes_put (&b, "\n\n", 2);        //  paragraph
        else
        if (line > 9) {
            //  line break inside a paragraph, sometimes inside a word
            bool ascii = true;
            for (const char *c = tmp; *c; c++)
                ascii &= (unsigned char) *c < 0x80;
            if (hyphenate && ascii && strlen (tmp) > 6 && !end_sentence && s_rand (rng) % 2) {
                b.len -= strlen (tmp) - 3;
                sl_chunk_bytes_put (&b, "-\n", 2);
                sl_chunk_bytes_put (&b, tmp + 3, strlen (tmp + 3));
                sl_chunk_bytes_put (&b, " ", 1);
            }
            else
                sl_chunk_bytes_put (&b, "  \n\t", 4);
            line = 0;
        }
        else
            sl_chunk_bytes_put (&b, " ", 1);
    }
    return b.data ? b.data : strdup ("");
}

static bool
s_contains (const char *hay, size_t n, const char *needle)
{
    return memmem (hay, n, needle, strlen (needle)) != NULL;
}

//  READMEs as TeX packages ship them, written here: an RCS keyword line and
//  setext headings, aligned "key = value" fields, runs of blank lines,
//  trailing spaces, indented commands, TeX backslashes; Markdown with soft
//  hyphens (U+00AD) inside words and at line ends (a word hyphenated across
//  the break), a hard hyphen at a line end, Latin letters, definition lists.
static const struct {
    const char *name;
    const char *text;
} s_readmes [] = {
    { "sluice.txt",
      "$Id: sluice.txt,v 1.5 2005/03/07 14:22:19 m Exp $\n"
      "\n"
      "sluice.sty\n"
      "==========\n"
      "\n"
      "This package converts arbitrary flow rates between units\n"
      "using the cubic metre as base unit, and typesets them\n"
      "in almost any desired way. Write e.g. \\FLOW{17.6} to get\n"
      "something like `17,60 m\\textthreesuperior/s  (0,28 l/min)' automatically.\n"
      "Conversion rates for the usual units are already built-in.\n"
      "Further rates can be added easily.\n"
      "\n"
      "author          = \"A. N. Author\"\n"
      "version         = \"1.1\"\n"
      "date            = \"7 March 2005\"\n"
      "filename        = \"sluice.dtx\"\n"
      "address         = \"A. N. Author\n"
      "                   Lock Street 52\n"
      "                   A-5212 WEIRTOWN\n"
      "                   AUSTRIA\"\n"
      "telephone       = \"++43 7746 3109\"\n"
      "URL             = \"http://example.org/sluice/TeX/\"\n"
      "email           = \"author # example : org\"\n"
      "codetable       = \"ISO/ASCII\"\n"
      "keywords        = \"sluice\"\n"
      "supported       = \"yes\"\n"
      "\n"
      "\n"
      "\n"
      "COPYRIGHT NOTICE\n"
      "================\n"
      "This package is free software that can be redistributed and/or modified\n"
      "under the terms of the LaTeX Project Public License as specified\n"
      "in the file macros/latex/base/lppl.txt on any CTAN archive server.\n"
      "\n"
      "\n"
      "\n"
      "Extracting the package & processing the documentation\n"
      "=====================================================\n"
      "\n"
      "on Unix/Linux just run \"make\" to get the style file and the documentation;\n"
      "else generate the driver sluice.ins (if you don't already have it):\n"
      "\n"
      "    $ latex sluice.dtx\n"
      "\n"
      "Now generate the style file:\n"
      "\n"
      "    $ tex sluice.ins\n"
      "\n"
      "And finally to produce the documentation run LaTeX three times:\n"
      "\n"
      "    $ latex sluice.dtx\n"
      "\n"
      "\n"
      "\n"
      "This package needs the fp-package!\n"
      "===============================================================\n"
      "\n"
      " fp      -- CTAN//macros/latex/contrib/other/fp/  --  (by A. Mathematician)\n" },
    { "weir-README.txt",
      "\n"
      "The weir package allows integration between MetaPost\n"
      "pictures and LaTeX, the main feature is that passing\n"
      "parameters to the MetaPost pictures is possible and\n"
      "the picture code can be put inside arguments to\n"
      "commands, including \\newcommand.\n"
      "\n"
      "This is version 1.0 of the package\n"
      "\n"
      "Copyright (C) 2011 by A. N. Author \n"
      "<author at example dot org>\n"
      "-------------------------------------------------------\n"
      "\n"
      "This work may be distributed and/or modified under the\n"
      "conditions of the LaTeX Project Public License, either\n"
      "version 1.3c of this license or (at your option) any\n"
      "later version. The latest version of this license is in\n"
      "  http://www.latex-project.org/lppl.txt\n"
      "and version 1.3 or later is part of all distributions\n"
      "of LaTeX version 2005/12/01 or later.\n"
      "\n"
      "This work has the LPPL maintenance status `maintained'.\n"
      "\n"
      "This work consists of the files\n"
      "  weir.dtx \n"
      "  weir.ins\n"
      "and the derived file weir.sty.\n"
      "\n"
      "To install the distribution:\n"
      "\n"
      "o run \"latex weir.ins\"\n"
      "o move \"weir.sty\" to locations where LaTeX will find\n"
      "  it (the FAQ on CTAN in [...]/help/uktug-FAQ gives\n"
      "  information about this magic place\n"
      "\n"
      "To produce the documentation in pdf format:\n"
      "\n"
      "o run \"pdflatex -shell-escape weir.dtx\"\n"
      "o run \"makeindex -s gind.ist weir\"\n"
      "o run \"makeindex -s gglo.ist -o weir.gls weir.glo\"\n"
      "o run \"pdflatex weir.dtx\"\n"
      "\n"
      "2011/03/10\n"
      "A. N. Author\n" },
    { "repere-README.md",
      "Package repere - Version 23.01 - January 1, 2023\n"
      "\n"
      "---\n"
      "\n"
      "This package provides MetaPost macros for sec\xc2\xad" "ondary school math\xc2\xad" "e\xc2\xad"
      "mat\xc2\xad" "ics teachers to draw figures in a coordinate system, with axes, grids, "
      "points and vectors placed by their coordinates rather than by hand.\n"
      "- axis, grids\n"
      "- points, vectors\n"
      "- functions (curves, tangents, integrals, se\xc2\xad\n"
      "quences)\n"
      "- statistic diagrams, histo\xc2\xad\n"
      "grams and box plots\n"
      "- plane geometry (polygons, cir-\n"
      "cles)\n"
      "- arrays and game boards\n"
      "\n"
      "The doc is in french: \xc3\xa9l\xc3\xa8ves, g\xc3\xa9om\xc3\xa9trie, rep\xc3\xa8re "
      "orthonorm\xc3\xa9, \xc3\xa0 la fa\xc3\xa7on des manuels sco\xc2\xad\n"
      "laires...\n"
      "\n"
      "---\n"
      "\n"
      "Author : Ol\xc3\xa9ron P\xc3\xa9" "ault\n"
      "\n"
      "E-mail : o.peault@example.net\n"
      "\n"
      "Licence   : Released under the LaTeX Project Public License v1.3c or later, see "
      "http://www.latex-project.org/lppl.txt\n"
      "\n"
      "\n" },
    { "fonts-README.md",
      "# Interface to the sluice fonts for LaTeX2e.\n"
      "\n"
      "## License\n"
      "\n"
      "This material is subject to the LATEX Project Public License 1.3c.\n"
      "\n"
      "The package does work with the old fonts but some characters are\n"
      "missing and others may come out wrong. Therefore I suggest\n"
      "to upgrade to the new fonts.\n"
      "\n"
      "The fonts are provided as METAFONT fonts.\n"
      "There is a package sluice-type1 that contains the outline fonts.\n"
      "\n"
      "Bug reports (and enhancements) to\n"
      "\n"
      "A. N. Author\n"
      "tex@example.de\n"
      "\n"
      "Many TeX fonts are now supporting a wide range of Unicode symbols.\n"
      "You may look there first.\n"
      "\n"
      "This package supports the fonts version 2.4 or \n"
      "sluice-type1 version 001.001.\n"
      "When used with older versions some characters may be missing.\n"
      "\n"
      "## Changes:\n"
      "\n"
      "1.0b\n"
      ":   Corrected mathcode of integrals (now 1) (=mathop)\n"
      "\n"
      "1.0c \n"
      ":   The command is textsluice as defined and not textlasy as\n"
      "    shown in the margin\n"
      "\n"
      "1.0d \n"
      ":   Adapted to LaTeX2e[1994/06/01]\n"
      "\n"
      "1.0e \n"
      ":   Changed some symbols from mathrel to mathbin as in latexsym\n"
      "    Changed the way the documentation is generated form\n"
      "    latex2e-beta to official LaTeX2e-way.\n"
      "\n"
      "1.0f \n"
      ":   Corrected \\dh and \\Dh definition for T1 encoding\n"
      "    Renamed \\Dh to \\DH as in T1 encoding but keeping the old\n"
      "    name for compatibility\n"
      "\n"
      "1.0g \n"
      ":   Reinserted the \\hbox commands, the package now works in mathmode again\n"
      "\n"
      "1.0h \n"
      ":   Changed most \\hbox commands to \\mbox\n"
      "    and added partial support for AMSmath\n"
      "\n"
      "1.0i \n"
      ":   Changed license to LPPL, some documentation updates.\n" },
};

//  --------------------------------------------------------------------------
//  State shared by the cases

static s_collector_t s_col;         //  chunks of the last run


//  Synthetic multi-page documents: long pages, a few empty and tiny ones
#define S_NPAGES 24
static const char *s_pages [S_NPAGES];
static size_t s_lens [S_NPAGES];

static void
s_synthetic_make (void)
{
    uint64_t rng = 42;
    for (int i = 0; i < S_NPAGES; i++) {
        int words = i % 7 == 3 ? 0 : i % 5 == 4 ? 3 : 150 + (int) (s_rand (&rng) % 400);
        s_pages [i] = s_make_page (&rng, words, true);
        s_lens [i] = strlen (s_pages [i]);
    }
}

static void
s_synthetic_free (void)
{
    for (int i = 0; i < S_NPAGES; i++)
        free ((char *) s_pages [i]);
}

//  --------------------------------------------------------------------------
//  Cases, one behaviour each, in the order they run

//  Normalisation, one rule at a time
static void
test_normalise_rules (void)
{
    struct { const char *in, *out; } norm_cases [] = {
        { "infor-\nmation retrieval", "information retrieval" },
        { "well-\nKnown", "well- Known" },
        { "2020-\n2021", "2020- 2021" },
        { "line one\nline two", "line one line two" },
        { "a  b\t\tc   d", "a b c d" },
        { "para one.\n\n\n   para two", "para one.\n\npara two" },
        { "  \n trim me \n\n ", "trim me" },
        { "ctl\x01\x02 chars\x7f", "ctl chars" },
        { "dos\r\nline\rend", "dos line end" },
        { "page\fbreak", "page\n\nbreak" },
        { "sec\xc2\xad" "ondary", "secondary" },
        { "infor\xc2\xad\nmation", "information" },
        { "e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },               //  NFC: e + U+0301 -> é
        { "bad \xff\xfe utf8", "bad \xef\xbf\xbd\xef\xbf\xbd utf8" },  //  U+FFFD each
        { "nb\xc2\xa0space", "nb space" },
        { "zero\xe2\x80\x8bwidth", "zerowidth" },
        { "na\xc3\xafve-\n\xc3\xa9t\xc3\xa9", "na\xc3\xafve\xc3\xa9t\xc3\xa9" },  //  lowercase é joins
        { "", "" },
        { " \n\t\n ", "" },
    };
    for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases [0]; i++) {
        size_t nl;
        char *norm = sl_chunk_normalise (norm_cases [i].in, strlen (norm_cases [i].in), &nl);
        CHECK (norm);
        if (strcmp (norm, norm_cases [i].out) != 0 || nl != strlen (norm)) {
            printf ("normalise case %zu: got [%s] want [%s]\n", i, norm, norm_cases [i].out);
            CHECK (false);
        }
        free (norm);
    }
    //  embedded NUL is a control char, not an end
    {
        size_t nl;
        char *norm = sl_chunk_normalise ("a\0b", 3, &nl);
        CHECK (norm && nl == 2 && strcmp (norm, "ab") == 0);
        free (norm);
    }
}

//  Word counter
static void
test_word_counter (void)
{
    CHECK (sl_chunk_count_words (NULL, "hello world  foo", 16) == 3);
    CHECK (sl_chunk_count_words (NULL, "", 0) == 0);
    CHECK (sl_chunk_count_words (NULL, "  \n ", 4) == 0);
    const char *cjk = "\xe6\xbc\xa2\xe5\xad\x97" "abc";               //  漢字abc
    CHECK (sl_chunk_count_words (NULL, cjk, strlen (cjk)) == 3);
}

//  Invalid options
static void
test_invalid_options_refused (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    sl_chunk_opts_t bad = opts;
    bad.overlap_tokens = bad.target_tokens;
    CHECK (sl_chunker_new (&bad, NULL, NULL, s_collect, &s_col) == NULL);
    bad = opts;
    bad.target_tokens = 0;
    CHECK (sl_chunker_new (&bad, NULL, NULL, s_collect, &s_col) == NULL);
}

//  Empty document and empty pages: no chunks, no error
static void
test_empty_document_no_chunks (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    const char *pages [] = { "", "   \n\n  ", "\x01\x02" };
    size_t lens [] = { 0, 7, 2 };
    CHECK (s_check ("empty", pages, lens, 3, &opts, NULL, &s_col, false, s_verbose) == 0);
    CHECK (s_check ("no pages", pages, lens, 0, &opts, NULL, &s_col, false, s_verbose) == 0);
    sl_chunker_t *chunker = sl_chunker_new (NULL, NULL, NULL, s_collect, &s_col);
    CHECK (sl_chunker_add_page (chunker, 0, "x", 1) == -1);  //  pages are 1-based
    sl_chunker_destroy (&chunker);
    sl_chunker_destroy (&chunker);                            //  safe twice
}

//  A short document is one chunk
static void
test_short_document_one_chunk (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    const char *pages [] = { "Just a few words here." };
    size_t lens [] = { strlen (pages [0]) };
    CHECK (s_check ("short", pages, lens, 1, &opts, NULL, &s_col, false, s_verbose) == 1);
    CHECK (s_col.items [0].c.tokens == 5 && s_col.items [0].c.page_start == 1);
    CHECK (strcmp (s_col.items [0].text, "Just a few words here.") == 0);
}

//  Synthetic multi-page documents under several option sets
static void
test_synthetic_option_sets (void)
{
    const char **pages = s_pages;
    size_t *lens = s_lens;
    const int npages = S_NPAGES;
    sl_chunk_opts_t sets [] = {
        { 100, 15, 10, false }, { 50, 10, 5, false }, { 20, 0, 0, false }, { 7, 3, 2, false }, { 200, 40, 20, false }, { 1, 0, 0, false }
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets [0]; s++) {
        char label [64];
        snprintf (label, sizeof label, "synthetic %d/%d/%d", sets [s].target_tokens,
                  sets [s].overlap_tokens, sets [s].min_tokens);
        int n = s_check (label, pages, lens, npages, &sets [s], NULL, &s_col,
                         sets [s].target_tokens > 1, s_verbose);
        CHECK (n > 1);
        //  the final chunk keeps min_tokens of new text when the document is big
        const sl_chunk_t *last = &s_col.items [n - 1].c;
        int new_tokens = (int) sl_chunk_count_words (NULL, last->text + last->overlap_len,
                                                     last->len - last->overlap_len);
        CHECK (new_tokens >= sets [s].min_tokens || sets [s].min_tokens > sets [s].target_tokens - sets [s].overlap_tokens);
        //  most cuts land on sentence or paragraph ends with a roomy target
        if (sets [s].target_tokens >= 100) {
            int sentence_ends = 0;
            for (int i = 0; i < n; i++) {
                const sl_chunk_t *c = &s_col.items [i].c;
                char last_char = c->text [c->len - 1];
                sentence_ends += last_char == '.';
            }
            CHECK (sentence_ends * 10 >= n * 7);
        }
        //  with the defaults, check chunks span pages and hyphenation is joined
        if (s == 0) {
            int spanning = 0;
            for (int i = 0; i < n; i++)
                spanning += s_col.items [i].c.page_end > s_col.items [i].c.page_start;
            CHECK (spanning > 0);
        }
    }
}

//  The same document again gives the same chunks (deterministic)
static void
test_deterministic (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    const char **pages = s_pages;
    size_t *lens = s_lens;
    const int npages = S_NPAGES;
    s_check ("determinism run 1", pages, lens, npages, &opts, NULL, &s_col, true, false);
    int n1 = s_col.n;
    char (*hashes) [65] = malloc ((size_t) n1 * 65);
    for (int i = 0; i < n1; i++)
        memcpy (hashes [i], s_col.items [i].c.hash, 65);
    s_check ("determinism run 2", pages, lens, npages, &opts, NULL, &s_col, true, false);
    CHECK (s_col.n == n1);
    for (int i = 0; i < n1; i++)
        CHECK (strcmp (hashes [i], s_col.items [i].c.hash) == 0);
    free (hashes);
}

//  A non-additive, tokenizer-like counter
static void
test_non_additive_counter (void)
{
    const char **pages = s_pages;
    size_t *lens = s_lens;
    const int npages = S_NPAGES;
    sl_chunk_opts_t o = { 60, 10, 5, false };
    s_check ("bytes/4 counter", pages, lens, npages, &o, s_count_bytes4, &s_col, true, s_verbose);
}

//  A counter with fixed BOS/EOS tokens: chunks still fill up
static void
test_bos_eos_counter_fills (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    const char **pages = s_pages;
    size_t *lens = s_lens;
    const int npages = S_NPAGES;
    int n = s_check ("bos/eos counter", pages, lens, npages, &opts, s_count_words_bos_eos,
                     &s_col, true, s_verbose);
    long long sum = 0;
    for (int i = 0; i < n; i++)
        sum += s_col.items [i].c.tokens;
    CHECK (sum / n >= opts.target_tokens * 3 / 4);
}

//  The counter is called about twice over the text, not O(n^2)
static void
test_counter_work_linear (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    const char **pages = s_pages;
    size_t *lens = s_lens;
    const int npages = S_NPAGES;
    long bytes = 0;
    s_collector_reset (&s_col);
    sl_chunker_t *chunker = sl_chunker_new (&opts, s_count_calls_words, &bytes, s_collect, &s_col);
    size_t total = 0;
    for (int i = 0; i < npages; i++) {
        CHECK (sl_chunker_add_page (chunker, i + 1, pages [i], lens [i]) == 0);
        total += lens [i];
    }
    CHECK (sl_chunker_finish (chunker) == 0);
    sl_chunker_destroy (&chunker);
    if (s_verbose)
        printf ("  counter saw %ld bytes for %zu bytes of text\n", bytes, total);
    CHECK ((size_t) bytes < 3 * total);
}

//  Text placed on known pages; hyphenation across lines and pages
static void
test_known_pages_and_hyphens (void)
{
    const char *p [] = {
        "Alpha section starts here. It talks about infor-\nmation retrieval in depth",
        "",
        "and continues on page three with the gamma marker. Then the docu-",
        "ment ends on page four with omega."
    };
    size_t l [] = { strlen (p [0]), 0, strlen (p [2]), strlen (p [3]) };
    sl_chunk_opts_t o = { 8, 2, 0, false };
    s_check ("known pages", p, l, 4, &o, NULL, &s_col, true, s_verbose);
    bool saw_information = false, saw_document = false;
    for (int i = 0; i < s_col.n; i++) {
        const sl_chunk_t *c = &s_col.items [i].c;
        if (s_contains (c->text, c->len, "Alpha"))
            CHECK (c->page_start == 1);
        if (s_contains (c->text, c->len, "gamma"))
            CHECK (c->page_start <= 3 && c->page_end >= 3);
        if (s_contains (c->text, c->len, "omega"))
            CHECK (c->page_end == 4);
        if (s_contains (c->text, c->len, "information"))
            saw_information = true;
        if (s_contains (c->text, c->len, "document")) {
            saw_document = true;
            CHECK (c->page_start == 3 && c->page_end == 4);
        }
        CHECK (!s_contains (c->text, c->len, "infor-"));
    }
    CHECK (saw_information && saw_document);
    //  a mid-sentence page end joins with a space, a sentence end with \n\n
    s_doc_t doc;
    s_doc_build (&doc, p, l, 4);
    CHECK (s_contains (doc.text, doc.len, "depth and continues"));
    free (doc.text);
    const char *q [] = { "First page ends a sentence.", "Second page." };
    size_t ql [] = { strlen (q [0]), strlen (q [1]) };
    s_doc_build (&doc, q, ql, 2);
    CHECK (strcmp (doc.text, "First page ends a sentence.\n\nSecond page.") == 0);
    free (doc.text);
}

//  Paragraph boundaries win over sentence boundaries
static void
test_paragraph_beats_sentence (void)
{
    const char *p [] = {
        "One two three four five six seven. Eight nine ten eleven twelve.\n\n"
        "Thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen twenty. "
        "Twenty-one twenty-two twenty-three twenty-four."
    };
    size_t l [] = { strlen (p [0]) };
    sl_chunk_opts_t o = { 20, 0, 0, false };
    CHECK (s_check ("paragraph first", p, l, 1, &o, NULL, &s_col, false, s_verbose) == 2);
    CHECK (strcmp (s_col.items [0].text,
                    "One two three four five six seven. Eight nine ten eleven twelve.") == 0);
}

//  Trailing fragment: a 19-word sentence plus two words, target 20, no
//  overlap. Plain greedy would leave a 2-word last chunk.
static void
test_trailing_fragment_merged (void)
{
    sl_chunk_bytes_t b = { 0 };
    for (int i = 0; i < 19; i++)
        sl_chunk_bytes_put (&b, i ? " word" : "Word", i ? 5 : 4);
    sl_chunk_bytes_put (&b, ". Tail end.", 11);
    const char *p [] = { b.data };
    size_t l [] = { b.len };
    sl_chunk_opts_t o = { 20, 0, 5, false };
    CHECK (s_check ("trailing fragment", p, l, 1, &o, NULL, &s_col, false, s_verbose) == 2);
    CHECK (sl_chunk_count_words (NULL, s_col.items [1].text, s_col.items [1].c.len) >= 5);
    o.min_tokens = 0;
    CHECK (s_check ("fragment allowed", p, l, 1, &o, NULL, &s_col, false, s_verbose) == 2);
    CHECK (strcmp (s_col.items [1].text, "Tail end.") == 0);
    free (b.data);
}

//  A huge single word, by words and by a byte-based tokenizer
static void
test_huge_word_split (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    size_t big = 200000;
    char *p0 = malloc (big + 64);
    strcpy (p0, "Before the blob ");
    size_t at = strlen (p0);
    for (size_t i = 0; i < big; i++)
        p0 [at + i] = (char) ('a' + i % 26);
    strcpy (p0 + at + big, " after the blob.");
    const char *p [] = { p0 };
    size_t l [] = { strlen (p0) };
    int n = s_check ("huge word / words", p, l, 1, &opts, NULL, &s_col, false, s_verbose);
    CHECK (n > 1);
    for (int i = 0; i < n; i++)
        CHECK (s_col.items [i].c.len <= (size_t) opts.target_tokens * SL_CHUNK_MAX_PIECE_BYTES);
    sl_chunk_opts_t o = { 64, 8, 4, false };
    n = s_check ("huge word / bytes4", p, l, 1, &o, s_count_bytes4, &s_col, false, s_verbose);
    CHECK (n >= (int) (big / 4 / 64));
    free (p0);
}

//  CJK without spaces: splits after 。 and by characters
static void
test_cjk_without_spaces (void)
{
    sl_chunk_bytes_t b = { 0 };
    const char *sentence = "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88"
                           "\xe5\xa5\xbd\xe3\x80\x82";     //  今天天气很好。 (7 chars)
    for (int i = 0; i < 40; i++)
        sl_chunk_bytes_put (&b, sentence, strlen (sentence));
    const char *p [] = { b.data };
    size_t l [] = { b.len };
    sl_chunk_opts_t o = { 20, 8, 2, false };
    int n = s_check ("cjk", p, l, 1, &o, NULL, &s_col, true, s_verbose);
    CHECK (n > 10);
    for (int i = 0; i < n - 1; i++) {
        const sl_chunk_t *c = &s_col.items [i].c;
        CHECK (c->len >= 3 && memcmp (c->text + c->len - 3, "\xe3\x80\x82", 3) == 0);
    }
    free (b.data);
}

//  Hostile bytes: invalid UTF-8, controls, stray hyphens and newlines,
//  CJK marks, combining marks. Every invariant must still hold.
static void
test_hostile_bytes (void)
{
    static const char *atoms [] = {
        " ", "\n", "\n\n", "-\n", "\t", ".", ". ", "A", "b", "z", "\xff", "\xc3",
        "\xe3\x80\x82", "\xe6\xbc\xa2", "\xcc\x81", "\xc2\xad", "\r", "\x00", "?",
        "\xe2\x80\x90\n", "\xf0\x9f\x98\x80", "\"", ")", "\xef\xbc\x81"
    };
    uint64_t r = 12345;
    for (int round = 0; round < 30; round++) {
        const char *hp [6];
        size_t hl [6];
        for (int pg = 0; pg < 6; pg++) {
            sl_chunk_bytes_t b = { 0 };
            int atoms_n = (int) (s_rand (&r) % 600);
            for (int a = 0; a < atoms_n; a++) {
                const char *atom = atoms [s_rand (&r) % (sizeof atoms / sizeof *atoms)];
                sl_chunk_bytes_put (&b, atom, atom [0] ? strlen (atom) : 1);
            }
            hp [pg] = b.data ? b.data : strdup ("");
            hl [pg] = b.len;
        }
        sl_chunk_opts_t o = { 1 + (int) (s_rand (&r) % 40), 0, (int) (s_rand (&r) % 6), false };
        o.overlap_tokens = (int) (s_rand (&r) % (uint64_t) o.target_tokens);
        s_check ("hostile", hp, hl, 6, &o, round % 2 ? s_count_bytes4 : NULL, &s_col,
                 false, false);
        for (int pg = 0; pg < 6; pg++)
            free ((char *) hp [pg]);
    }
}

//  The callback can stop the chunker
static void
test_callback_stops_chunker (void)
{
    s_collector_reset (&s_col);
    s_col.stop_after = 2;
    sl_chunker_t *chunker = sl_chunker_new (&(sl_chunk_opts_t) { 5, 0, 0, false }, NULL, NULL,
                                            s_collect, &s_col);
    const char *text = "one two three four five six seven eight nine ten eleven twelve "
                       "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
    int rc = sl_chunker_add_page (chunker, 1, text, strlen (text));
    if (rc == 0)
        rc = sl_chunker_finish (chunker);
    CHECK (rc == -1 && s_col.n == 2);
    CHECK (sl_chunker_add_page (chunker, 2, "more", 4) == -1);
    sl_chunker_destroy (&chunker);
    s_collector_reset (&s_col);
}

//  Real-world text (READMEs written above), as one page and as 20-line pages
static void
test_readmes (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    for (size_t f = 0; f < sizeof s_readmes / sizeof s_readmes [0]; f++) {
        const char *name = s_readmes [f].name;
        const char *data = s_readmes [f].text;
        size_t len = strlen (data);
        const char *one [] = { data };
        size_t one_len [] = { len };
        sl_chunk_opts_t o = { 40, 8, 5, false };
        CHECK (s_check (name, one, one_len, 1, &o, NULL, &s_col, true, s_verbose) > 1);
        if (strcmp (name, "repere-README.md") == 0) {
            //  soft hyphens gone, words hyphenated across a line joined
            bool school = false, sequences = false, histograms = false, schoolbooks = false;
            for (int i = 0; i < s_col.n; i++) {
                school |= strstr (s_col.items [i].text, "secondary school mathematics teachers") != NULL;
                sequences |= strstr (s_col.items [i].text, "integrals, sequences)") != NULL;
                histograms |= strstr (s_col.items [i].text, "diagrams, histograms and") != NULL;
                schoolbooks |= strstr (s_col.items [i].text, "manuels scolaires...") != NULL;
                CHECK (!strstr (s_col.items [i].text, "\xc2\xad"));
            }
            CHECK (school && sequences && histograms && schoolbooks);
        }
        s_check (name, one, one_len, 1, &opts, NULL, &s_col, true, s_verbose);
        //  split into pages of 20 lines
        const char *pp [512];
        size_t pl [512];
        int np = 0;
        const char *cursor = data, *end = data + len;
        while (cursor < end && np < 512) {
            const char *stop = cursor;
            for (int line = 0; line < 20 && stop < end; line++) {
                const char *nl = memchr (stop, '\n', (size_t) (end - stop));
                stop = nl ? nl + 1 : end;
            }
            pp [np] = cursor;
            pl [np++] = (size_t) (stop - cursor);
            cursor = stop;
        }
        CHECK (np > 1);
        s_check (name, pp, pl, np, &o, s_count_bytes4, &s_col, true, s_verbose);
    }
    s_collector_reset (&s_col);
}

//  A long document: the window stays bounded (a page plus a few chunks),
//  and (verbose) the throughput
static void
test_long_document_bounded (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    uint64_t r = 7;
    int big_pages = s_verbose ? 200 : 40;
    sl_chunker_t *chunker = sl_chunker_new (&opts, NULL, NULL, s_collect, &s_col);
    int64_t t0 = sl_mono_ms ();
    size_t total = 0, max_page = 0;
    int chunks = 0;
    for (int i = 0; i < big_pages; i++) {
        char *page = s_make_page (&r, 2000, true);
        size_t len = strlen (page);
        total += len;
        max_page = len > max_page ? len : max_page;
        CHECK (sl_chunker_add_page (chunker, i + 1, page, len) == 0);
        free (page);
        size_t buf_len, np, npages;
        sl_chunker_window (chunker, &buf_len, &np, &npages);
        CHECK (buf_len <= 2 * (max_page + 16 * 1024));
        CHECK (np <= 8 * (size_t) opts.target_tokens);
        CHECK (npages <= 3);
        //  drop chunks as we go, as an actor would
        chunks += s_col.n;
        s_collector_reset (&s_col);
    }
    CHECK (sl_chunker_finish (chunker) == 0);
    chunks += s_col.n;
    CHECK (chunks > big_pages * 2000 / opts.target_tokens);
    sl_chunker_destroy (&chunker);
    int64_t ms = sl_mono_ms () - t0;
    if (s_verbose)
        printf ("  %.1f MB chunked in %lld ms\n", total / 1e6, (long long) ms);
    s_collector_reset (&s_col);
}

//  --------------------------------------------------------------------------
//  Structure: sections, tables, OCR confidence, embedding context

static bool
streq (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

//  Chunk the marked (or not) pages given, with opts, into s_col
static void
s_structured (const sl_chunk_opts_t *opts, sl_token_count_fn *count, const char *title,
              const sl_chunk_page_t *pages, int n)
{
    s_collector_reset (&s_col);
    sl_chunker_t *chunker = sl_chunker_new (opts, count, NULL, s_collect, &s_col);
    CHECK (chunker);
    sl_chunker_set_title (chunker, title);
    for (int i = 0; i < n; i++)
        CHECK (sl_chunker_add (chunker, &pages [i]) == 0);
    CHECK (sl_chunker_finish (chunker) == 0);
    sl_chunker_destroy (&chunker);
    for (int i = 0; i < s_col.n; i++) {
        CHECK (s_col.items [i].c.ordinal == i);
        CHECK (s_col.items [i].c.tokens <= opts->target_tokens);
        CHECK (s_col.items [i].c.char_end >= s_col.items [i].c.char_start);
    }
}

//  Append n words "<stem>0 <stem>1 ..." (a sentence every 7 words)
static void
s_words (sl_chunk_bytes_t *b, const char *stem, int n)
{
    char word [64];
    for (int i = 0; i < n; i++) {
        snprintf (word, sizeof word, "%s%d%s", stem, i, i % 7 == 6 || i == n - 1 ? ". " : " ");
        CHECK (sl_chunk_bytes_put (b, word, strlen (word)) == 0);
    }
}

static void
s_put (sl_chunk_bytes_t *b, const char *text)
{
    CHECK (sl_chunk_bytes_put (b, text, strlen (text)) == 0);
}

static sl_chunk_page_t
s_marked (int page_no, sl_chunk_bytes_t *b)
{
    return (sl_chunk_page_t) { .page_no = page_no, .text = b->data, .len = b->len, .marked = true,
                               .ocr_confidence = -1 };
}

static void
test_section_path_carried (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "# Installation\n\n");
    s_words (&b, "intro", 30);
    s_put (&b, "\n\n## Configuring the network\n\n");
    s_words (&b, "net", 30);
    s_put (&b, "\n\n### Static addresses\n\n");
    s_words (&b, "static", 30);
    s_put (&b, "\n\n# Usage\n\n");
    s_words (&b, "usage", 30);
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 4);
    const char *want [4][2] = {
        { "intro0", "Installation" },
        { "net0", "Installation \xE2\x80\xBA Configuring the network" },
        { "static0", "Installation \xE2\x80\xBA Configuring the network \xE2\x80\xBA Static addresses" },
        { "usage0", "Usage" }
    };
    for (int i = 0; i < 4; i++) {
        CHECK (strncmp (s_col.items [i].text, want [i][0], strlen (want [i][0])) == 0);
        CHECK (streq (s_col.items [i].section, want [i][1]));
        CHECK (streq (s_col.items [i].c.kind, "text"));
        CHECK (!strchr (s_col.items [i].text, '#'));        //  headings are not text
        CHECK (s_col.items [i].c.ocr_confidence == -1);
    }
    free (b.data);
}

//  A long section then a top-level heading: no chunk holds words of both
static void
test_no_straddle_top_level (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "# Alpha\n\n");
    s_words (&b, "alpha", 130);
    s_put (&b, "\n# Beta\n");
    s_words (&b, "beta", 130);
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n >= 4);
    bool saw_beta = false;
    for (int i = 0; i < s_col.n; i++) {
        bool alpha = strstr (s_col.items [i].text, "alpha") != NULL;
        bool beta = strstr (s_col.items [i].text, "beta") != NULL;
        CHECK (alpha != beta);
        CHECK (streq (s_col.items [i].section, alpha ? "Alpha" : "Beta"));
        CHECK (!(alpha && saw_beta));
        saw_beta |= beta;
    }
    CHECK (strstr (s_col.items [s_col.n - 1].text, "beta129"));
    free (b.data);
}

//  A section below min_tokens with nothing before it is not a chunk of
//  its own: the next section's text joins it
static void
test_small_section_not_alone (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "# Tiny\n\nTwo words.\n\n# Next\n\n");
    s_words (&b, "next", 20);
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 1);
    CHECK (strncmp (s_col.items [0].text, "Two words.\n\nnext0", 17) == 0);
    CHECK (streq (s_col.items [0].section, "Tiny"));
    free (b.data);
}

//  Check the table chunks in s_col: every one starts with header, holds
//  only whole rows "| r<i> ... |" in order, each row exactly once. Returns
//  the number of table chunks.
static int
s_check_table (const char *header, int rows)
{
    int next_row = 0, tables = 0;
    for (int i = 0; i < s_col.n; i++) {
        const sl_chunk_t *c = &s_col.items [i].c;
        if (!streq (c->kind, "table"))
            continue;
        tables++;
        const char *t = s_col.items [i].text;
        CHECK (strncmp (t, header, strlen (header)) == 0 && t [strlen (header)] == '\n');
        if (tables == 1)
            CHECK (c->len == c->char_end - c->char_start && c->overlap_len == 0);
        else
            CHECK (c->len == c->overlap_len + (c->char_end - c->char_start)
                && c->overlap_len == strlen (header) + 1);
        const char *line = t + strlen (header) + 1;
        int in_chunk = 0;
        while (*line) {
            const char *nl = strchr (line, '\n');
            size_t n = nl ? (size_t) (nl - line) : strlen (line);
            char want [32];
            snprintf (want, sizeof want, "| r%d ", next_row);
            CHECK (strncmp (line, want, strlen (want)) == 0);
            CHECK (n >= 2 && line [n - 1] == '|' && line [n - 2] == ' ');
            next_row++;
            in_chunk++;
            line += n + (nl ? 1 : 0);
        }
        if (in_chunk == 0) fprintf (stderr, "chunk %d: [%s]\n", i, t);
        CHECK (in_chunk > 0);
    }
    CHECK (next_row == rows);
    return tables;
}

static void
test_table_header_repeated (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "Before the table.\n\n| Name | Value |\n|---|---|\n");
    char row [128];
    for (int i = 0; i < 60; i++) {
        snprintf (row, sizeof row, "| r%d | value %d of the   table |\n", i, i);
        s_put (&b, row);
    }
    s_put (&b, "\nAfter the table.\n");
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts = { 30, 5, 3, false };
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_check_table ("| Name | Value |", 60) >= 5);
    CHECK (streq (s_col.items [0].text, "Before the table."));
    CHECK (streq (s_col.items [0].c.kind, "text"));
    CHECK (streq (s_col.items [s_col.n - 1].text, "After the table."));
    //  spaces inside a cell are collapsed, row newlines kept
    CHECK (strstr (s_col.items [1].text, "| r0 | value 0 of the table |\n| r1 |"));
    free (b.data);
}

//  Rows of very different sizes, a counter that is not additive
static void
test_table_no_row_split (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "| Key | Description |\n");
    char row [512];
    for (int i = 0; i < 80; i++) {
        snprintf (row, sizeof row, "| r%d | %.*s |\n", i, (i * 37) % 200,
                  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
                  "incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud "
                  "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat duis aute");
        s_put (&b, row);
    }
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts = { 80, 10, 5, false };
    s_structured (&opts, s_count_bytes4, NULL, &page, 1);
    CHECK (s_check_table ("| Key | Description |", 80) == s_col.n);
    CHECK (s_col.n > 5);
    free (b.data);
}

//  One row bigger than the budget: split by cells, still "table"
static void
test_table_huge_row_split_by_cells (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "| A | B | C |\n| x | y | z |\n| ");
    s_words (&b, "first", 25);
    s_put (&b, " | ");
    s_words (&b, "second", 25);
    s_put (&b, " | ");
    s_words (&b, "third", 25);
    s_put (&b, " |\n| p | q | r |\n");
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts = { 30, 0, 3, false };
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n >= 4);
    //  the first piece ends before the huge row, the last holds the row after it
    CHECK (streq (s_col.items [0].text, "| A | B | C |\n| x | y | z |"));
    CHECK (streq (s_col.items [s_col.n - 1].text, "| A | B | C |\n| p | q | r |"));
    bool first = false, third = false;
    for (int i = 0; i < s_col.n; i++) {
        CHECK (streq (s_col.items [i].c.kind, "table"));
        first |= strstr (s_col.items [i].text, "| first0") != NULL;
        third |= strstr (s_col.items [i].text, "third24. |") != NULL;
    }
    CHECK (first && third);
    //  cells are not cut while they fit: "second" starts a chunk
    bool second_starts = false;
    for (int i = 0; i < s_col.n; i++)
        second_starts |= strncmp (s_col.items [i].text, "| second0", 9) == 0;
    CHECK (second_starts);
    free (b.data);
}

//  A header bigger than the budget is not repeated (it would leave no
//  room): it is split by cells, and the rows after it still form pieces
static void
test_table_huge_header_not_repeated (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "| ");
    s_words (&b, "head", 40);
    s_put (&b, " | B |\n");
    char row [64];
    for (int i = 0; i < 30; i++) {
        snprintf (row, sizeof row, "| r%d | v%d |\n", i, i);
        s_put (&b, row);
    }
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts = { 30, 0, 3, false };
    s_structured (&opts, NULL, NULL, &page, 1);
    int rows = 0;
    for (int i = 0; i < s_col.n; i++) {
        CHECK (streq (s_col.items [i].c.kind, "table"));
        CHECK (s_col.items [i].c.tokens <= 30);
        if (strncmp (s_col.items [i].text, "| r", 3) == 0) {
            CHECK (!strstr (s_col.items [i].text, "head"));
            for (const char *p = s_col.items [i].text; (p = strstr (p, "| r")); p++)
                rows++;
        }
    }
    CHECK (rows == 30);
    free (b.data);
}

//  A 20,000-row table: the window stays empty and every piece bounded
static void
test_table_long_bounded (void)
{
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_collector_reset (&s_col);
    sl_chunker_t *chunker = sl_chunker_new (&opts, NULL, NULL, s_collect, &s_col);
    CHECK (chunker);
    sl_chunk_bytes_t b = { 0 };
    int chunks = 0;
    for (int page = 1; page <= 20; page++) {
        b.len = 0;
        s_put (&b, "| id | name | amount |\n");
        char row [128];
        for (int i = 0; i < 1000; i++) {
            snprintf (row, sizeof row, "| r%d | item %d | %d.00 |\n", i, i, i * 3);
            s_put (&b, row);
        }
        sl_chunk_page_t p = s_marked (page, &b);
        CHECK (sl_chunker_add (chunker, &p) == 0);
        size_t buf_len, np, npages;
        sl_chunker_window (chunker, &buf_len, &np, &npages);
        CHECK (buf_len == 0 && np == 0 && npages <= 2);
        CHECK (s_check_table ("| id | name | amount |", 1000) == s_col.n);
        for (int i = 0; i < s_col.n; i++)
            CHECK (s_col.items [i].c.page_start == page && s_col.items [i].c.page_end == page);
        chunks += s_col.n;
        s_collector_reset (&s_col);
    }
    CHECK (sl_chunker_finish (chunker) == 0);
    CHECK (chunks > 20 * 1000 * 6 / 100);
    sl_chunker_destroy (&chunker);
    free (b.data);
}

//  A document that is only headings is indexed by them
static void
test_headings_only_document (void)
{
    const char *text = "# Summer\n## Notes\n";
    sl_chunk_page_t page = { .page_no = 1, .text = text, .len = strlen (text), .marked = true,
                             .ocr_confidence = -1 };
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 1);
    CHECK (streq (s_col.items [0].text, "Summer\n\nNotes"));
    CHECK (streq (s_col.items [0].section, "Summer \xE2\x80\xBA Notes"));
    //  with any text, headings stay out of it
    text = "# Summer\nWarm.\n";
    page.text = text;
    page.len = strlen (text);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 1 && streq (s_col.items [0].text, "Warm."));
}

//  A page that is not marked: "# apt install" is text, no section
static void
test_unmarked_hash_line_is_text (void)
{
    const char *text = "# apt install sluice\n\nThen run it.\n| not | a table |";
    sl_chunk_page_t page = { .page_no = 1, .text = text, .len = strlen (text), .ocr_confidence = -1 };
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 1);
    CHECK (streq (s_col.items [0].text, "# apt install sluice\n\nThen run it. | not | a table |"));
    CHECK (streq (s_col.items [0].section, ""));
    CHECK (streq (s_col.items [0].c.kind, "text"));
}

//  In a marked page an escaped line is text, backslash dropped
static void
test_marked_escape_is_text (void)
{
    const char *text = "# Real\n\n\\# comment in code\n\\| not a row |\n";
    sl_chunk_page_t page = { .page_no = 1, .text = text, .len = strlen (text), .marked = true,
                             .ocr_confidence = -1 };
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, &page, 1);
    CHECK (s_col.n == 1);
    CHECK (streq (s_col.items [0].text, "# comment in code | not a row |"));
    CHECK (streq (s_col.items [0].section, "Real"));
    CHECK (streq (s_col.items [0].c.kind, "text"));
}

//  PDF outline entries (pages.mp "h") are headings at the top of their page
static void
test_outline_headings_sections (void)
{
    sl_chunk_bytes_t p1 = { 0 }, p2 = { 0 }, p3 = { 0 };
    s_words (&p1, "one", 40);
    s_words (&p2, "two", 40);
    s_put (&p3, "# not a heading in a PDF\n");
    s_words (&p3, "three", 40);
    sl_chunk_heading_t h1 [] = { { 1, "Chapter One" } };
    sl_chunk_heading_t h2 [] = { { 2, "Details\nof it" } };
    sl_chunk_heading_t h3 [] = { { 1, "Chapter Two" }, { 2, "Start" } };
    sl_chunk_page_t pages [] = {
        { .page_no = 1, .text = p1.data, .len = p1.len, .headings = h1, .heading_count = 1, .ocr_confidence = -1 },
        { .page_no = 2, .text = p2.data, .len = p2.len, .headings = h2, .heading_count = 1, .ocr_confidence = -1 },
        { .page_no = 3, .text = p3.data, .len = p3.len, .headings = h3, .heading_count = 2, .ocr_confidence = -1 },
    };
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_structured (&opts, NULL, NULL, pages, 3);
    CHECK (s_col.n == 3);
    CHECK (streq (s_col.items [0].section, "Chapter One") && s_col.items [0].c.page_start == 1);
    CHECK (streq (s_col.items [1].section, "Chapter One \xE2\x80\xBA Details of it"));
    CHECK (s_col.items [1].c.page_start == 2 && s_col.items [1].c.page_end == 2);
    CHECK (streq (s_col.items [2].section, "Chapter Two \xE2\x80\xBA Start"));
    CHECK (strncmp (s_col.items [2].text, "# not a heading in a PDF three0", 31) == 0);
    free (p1.data);
    free (p2.data);
    free (p3.data);
}

//  A chunk's OCR confidence is the lowest of its pages that were OCR'd
static void
test_ocr_confidence_carried (void)
{
    sl_chunk_bytes_t p1 = { 0 }, p2 = { 0 }, p3 = { 0 };
    s_words (&p1, "typed", 50);
    s_words (&p2, "scan", 6);           //  no sentence end at the page end:
    p2.len -= 2;                        //  the chunk runs on into page 3
    s_words (&p3, "more", 30);
    sl_chunk_page_t pages [] = {
        { .page_no = 1, .text = p1.data, .len = p1.len, .ocr_confidence = -1 },
        { .page_no = 2, .text = p2.data, .len = p2.len, .ocr_confidence = 91 },
        { .page_no = 3, .text = p3.data, .len = p3.len, .ocr_confidence = 78 },
    };
    sl_chunk_opts_t opts = { 40, 0, 5, false };
    s_structured (&opts, NULL, NULL, pages, 3);
    bool typed_only = false, scanned = false;
    for (int i = 0; i < s_col.n; i++) {
        const sl_chunk_t *c = &s_col.items [i].c;
        if (c->page_end == 1) {
            CHECK (c->ocr_confidence == -1);
            typed_only = true;
        }
        if (c->page_start <= 2 && c->page_end >= 3) {
            CHECK (c->ocr_confidence == 78);
            scanned = true;
        }
        if (c->page_start == 2 && c->page_end == 2)
            CHECK (c->ocr_confidence == 91);
    }
    CHECK (typed_only && scanned);
    free (p1.data);
    free (p2.data);
    free (p3.data);
}

//  The hash covers what is embedded: title, section and text; a changed
//  context changes the hash, the displayed text stays the same
static void
test_embedding_context_hashed (void)
{
    const char *a = "# Installation\n## Configuring the network\nEdit the file and restart.\n";
    const char *b = "# Installation\n## Proxies\nEdit the file and restart.\n";
    sl_chunk_page_t pa = { .page_no = 1, .text = a, .len = strlen (a), .marked = true, .ocr_confidence = -1 };
    sl_chunk_page_t pb = { .page_no = 1, .text = b, .len = strlen (b), .marked = true, .ocr_confidence = -1 };
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    opts.embed_context = true;
    s_structured (&opts, NULL, "Admin Guide", &pa, 1);
    CHECK (s_col.n == 1);
    const char *want = "Admin Guide \xE2\x80\xBA Installation \xE2\x80\xBA Configuring the network";
    CHECK (streq (s_col.items [0].context, want));
    CHECK (streq (s_col.items [0].text, "Edit the file and restart."));
    char embedded [512], hash [65], hash_a [65];
    snprintf (embedded, sizeof embedded, "%s\n\n%s", want, "Edit the file and restart.");
    sl_sha256_hex (embedded, strlen (embedded), hash);
    CHECK (streq (s_col.items [0].c.hash, hash));
    CHECK (s_col.items [0].c.tokens == (int) sl_chunk_count_words (NULL, embedded, strlen (embedded)));
    strcpy (hash_a, hash);
    s_structured (&opts, NULL, "Admin Guide", &pb, 1);
    CHECK (streq (s_col.items [0].text, "Edit the file and restart."));
    CHECK (!streq (s_col.items [0].c.hash, hash_a));
    //  switched off: no context, the hash is the text's
    opts.embed_context = false;
    s_structured (&opts, NULL, "Admin Guide", &pa, 1);
    CHECK (streq (s_col.items [0].context, ""));
    CHECK (streq (s_col.items [0].section, "Installation \xE2\x80\xBA Configuring the network"));
    sl_sha256_hex ("Edit the file and restart.", 26, hash);
    CHECK (streq (s_col.items [0].c.hash, hash));
}

//  The context counts against the budget, and a context too long for a
//  quarter of it drops the title, then the outer headings
static void
test_embedding_context_budgeted (void)
{
    sl_chunk_bytes_t b = { 0 };
    s_put (&b, "# Section with a rather long name here\n## Sub part\n");
    s_words (&b, "w", 200);
    s_put (&b, "\n| Key | Value |\n");
    char row [64];
    for (int i = 0; i < 40; i++) {
        snprintf (row, sizeof row, "| k%d | some value %d |\n", i, i);
        s_put (&b, row);
    }
    sl_chunk_page_t page = s_marked (1, &b);
    sl_chunk_opts_t opts = { 40, 5, 5, true };
    s_structured (&opts, NULL, "The Title", &page, 1);
    CHECK (s_col.n > 5 && streq (s_col.items [s_col.n - 1].c.kind, "table"));
    for (int i = 0; i < s_col.n; i++) {
        const s_kept_t *k = &s_col.items [i];
        //  9 words: over 40/4 = 10 with the title (11), the path alone fits
        CHECK (streq (k->context, "Section with a rather long name here \xE2\x80\xBA Sub part"));
        char embedded [2048];
        snprintf (embedded, sizeof embedded, "%s\n\n%s", k->context, k->text);
        CHECK ((int) sl_chunk_count_words (NULL, embedded, strlen (embedded)) <= 40);
        CHECK (k->c.tokens <= 40);
    }
    free (b.data);
}

void
sl_chunk_test (bool verbose)
{
    s_verbose = verbose;
    printf (" * sl_chunk: ");
    if (verbose)
        printf ("\n");
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    s_case = "defaults";
    CHECK (opts.target_tokens == 100 && opts.overlap_tokens == 15 && opts.min_tokens == 10);

    RUN (test_normalise_rules);
    RUN (test_word_counter);
    RUN (test_invalid_options_refused);
    RUN (test_empty_document_no_chunks);
    RUN (test_short_document_one_chunk);
    s_synthetic_make ();
    RUN (test_synthetic_option_sets);
    RUN (test_deterministic);
    RUN (test_non_additive_counter);
    RUN (test_bos_eos_counter_fills);
    RUN (test_counter_work_linear);
    s_synthetic_free ();
    RUN (test_known_pages_and_hyphens);
    RUN (test_paragraph_beats_sentence);
    RUN (test_trailing_fragment_merged);
    RUN (test_huge_word_split);
    RUN (test_cjk_without_spaces);
    RUN (test_hostile_bytes);
    RUN (test_callback_stops_chunker);
    RUN (test_readmes);
    RUN (test_long_document_bounded);
    RUN (test_section_path_carried);
    RUN (test_no_straddle_top_level);
    RUN (test_small_section_not_alone);
    RUN (test_table_header_repeated);
    RUN (test_table_no_row_split);
    RUN (test_table_huge_row_split_by_cells);
    RUN (test_table_huge_header_not_repeated);
    RUN (test_table_long_bounded);
    RUN (test_headings_only_document);
    RUN (test_unmarked_hash_line_is_text);
    RUN (test_marked_escape_is_text);
    RUN (test_outline_headings_sections);
    RUN (test_ocr_confidence_carried);
    RUN (test_embedding_context_hashed);
    RUN (test_embedding_context_budgeted);
    s_collector_reset (&s_col);
    printf ("OK\n");
}
