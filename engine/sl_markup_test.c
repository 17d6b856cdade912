/*  sl_markup_test: self-test of sl_markup, the structure grammar parse
    writes and chunk reads. Each case writes with the writers and reads
    back with the reader, so the two halves cannot drift apart.
*/
#include "sl_markup.h"
#include "sl_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char data [1024];
    size_t size;
} buf_t;

static void
s_put (void *arg, const char *s, size_t n)
{
    buf_t *b = (buf_t *) arg;
    if (b->size + n < sizeof b->data) {
        memcpy (b->data + b->size, s, n);
        b->size += n;
        b->data [b->size] = 0;
    }
}

static sl_line_kind_t
s_kind (const char *line, int *level, char *content, size_t cap)
{
    const char *c;
    size_t cl;
    sl_line_kind_t k = sl_markup_line (line, strlen (line), level, &c, &cl);
    snprintf (content, cap, "%.*s", (int) cl, c);
    return k;
}

static void
s_markup_heading_round_trip (void)
{
    buf_t b = { .size = 0 };
    sl_markup_heading (s_put, &b, 2, "  Configuring\nthe  network ", 27);
    CHECK (strcmp (b.data, "## Configuring the network\n") == 0);
    int level = 0;
    char c [128];
    b.data [b.size - 1] = 0;
    CHECK (s_kind (b.data, &level, c, sizeof c) == SL_LINE_HEADING && level == 2);
    CHECK (strcmp (c, "Configuring the network") == 0);
    b.size = 0;
    sl_markup_heading (s_put, &b, 9, "x", 1);
    CHECK (strcmp (b.data, "###### x\n") == 0);
}

static void
s_markup_not_headings (void)
{
    int level;
    char c [128];
    CHECK (s_kind ("#hashtag", &level, c, sizeof c) == SL_LINE_TEXT);
    CHECK (s_kind ("####### seven", &level, c, sizeof c) == SL_LINE_TEXT);
    CHECK (s_kind ("#   ", &level, c, sizeof c) == SL_LINE_TEXT);
    CHECK (s_kind ("   ", &level, c, sizeof c) == SL_LINE_BLANK);
    CHECK (s_kind ("", &level, c, sizeof c) == SL_LINE_BLANK);
}

static void
s_markup_row_cells_escape_pipes (void)
{
    buf_t b = { .size = 0 };
    const char *cells [] = { "Name", " a|b ", "multi\nline" };
    size_t lens [] = { 4, 5, 10 };
    sl_markup_row (s_put, &b, cells, lens, 3);
    CHECK (strcmp (b.data, "| Name | a\\|b | multi line |\n") == 0);
    int level;
    char c [128];
    b.data [b.size - 1] = 0;
    CHECK (s_kind (b.data, &level, c, sizeof c) == SL_LINE_ROW);
    size_t pos = 0, n = 0, cl;
    const char *cell;
    char out [64], got [3][64];
    while (sl_markup_cell_next (b.data, strlen (b.data), &pos, &cell, &cl)) {
        CHECK (n < 3);
        sl_markup_unescape_cell (cell, cl, out, sizeof out);
        snprintf (got [n++], 64, "%s", out);
    }
    CHECK (n == 3);
    CHECK (strcmp (got [0], "Name") == 0 && strcmp (got [1], "a|b") == 0 && strcmp (got [2], "multi line") == 0);
}

static void
s_markup_empty_cells_kept (void)
{
    const char *row = "| a |  | c |";
    size_t pos = 0, n = 0, cl;
    const char *cell;
    while (sl_markup_cell_next (row, strlen (row), &pos, &cell, &cl))
        n++;
    CHECK (n == 3);
}

static void
s_markup_rule_is_skipped (void)
{
    buf_t b = { .size = 0 };
    sl_markup_rule (s_put, &b, 2);
    CHECK (strcmp (b.data, "|---|---|\n") == 0);
    int level;
    char c [64];
    CHECK (s_kind ("|---|---|", &level, c, sizeof c) == SL_LINE_RULE);
    CHECK (s_kind ("| :-- | --: |", &level, c, sizeof c) == SL_LINE_RULE);
    CHECK (s_kind ("| | |", &level, c, sizeof c) == SL_LINE_ROW);
}

static void
s_markup_para_escapes_lookalikes (void)
{
    buf_t b = { .size = 0 };
    const char *text = "# apt install x\nplain line\n| not a table\n\\back";
    sl_markup_para (s_put, &b, text, strlen (text));
    CHECK (strcmp (b.data, "\\# apt install x\nplain line\n\\| not a table\n\\\\back\n\n") == 0);
    int level;
    char c [64];
    CHECK (s_kind ("\\# apt install x", &level, c, sizeof c) == SL_LINE_TEXT && strcmp (c, "# apt install x") == 0);
    CHECK (s_kind ("\\| not a table", &level, c, sizeof c) == SL_LINE_TEXT && strcmp (c, "| not a table") == 0);
    CHECK (s_kind ("\\\\back", &level, c, sizeof c) == SL_LINE_TEXT && strcmp (c, "\\back") == 0);
    b.size = 0;
    b.data [0] = 0;
    sl_markup_para (s_put, &b, "  \n ", 4);
    CHECK (b.size == 0);
}

void
sl_markup_test (bool verbose)
{
    CASE ("heading round trip", s_markup_heading_round_trip ());
    CASE ("not headings", s_markup_not_headings ());
    CASE ("row cells escape pipes", s_markup_row_cells_escape_pipes ());
    CASE ("empty cells kept", s_markup_empty_cells_kept ());
    CASE ("rule is skipped", s_markup_rule_is_skipped ());
    CASE ("para escapes lookalikes", s_markup_para_escapes_lookalikes ());
    if (verbose)
        printf (" * sl_markup: OK\n");
}
