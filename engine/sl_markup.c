/*  sl_markup: structure in page text. See sl_markup.h for the grammar and
    why it lives in the text.
*/
#include "sl_markup.h"

#include <string.h>

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

sl_line_kind_t
sl_markup_line (const char *line, size_t len, int *level, const char **content, size_t *content_len)
{
    size_t i = 0;
    while (i < len && s_is_space (line [i]))
        i++;
    *content = line;
    *content_len = len;
    if (i == len)
        return SL_LINE_BLANK;
    if (line [0] == '\\' && len > 1 && (line [1] == '#' || line [1] == '|' || line [1] == '\\')) {
        *content = line + 1;
        *content_len = len - 1;
        return SL_LINE_TEXT;
    }
    if (line [0] == '#') {
        int n = 0;
        while ((size_t) n < len && line [n] == '#')
            n++;
        if (n <= 6 && (size_t) n < len && line [n] == ' ') {
            size_t s = (size_t) n, e = len;
            while (s < e && s_is_space (line [s]))
                s++;
            while (e > s && s_is_space (line [e - 1]))
                e--;
            if (e > s) {
                if (level)
                    *level = n;
                *content = line + s;
                *content_len = e - s;
                return SL_LINE_HEADING;
            }
        }
        return SL_LINE_TEXT;
    }
    if (line [0] == '|') {
        bool rule = true, dash = false;
        for (size_t k = 0; k < len; k++) {
            char c = line [k];
            if (c == '-')
                dash = true;
            else if (c != '|' && c != ':' && !s_is_space (c)) {
                rule = false;
                break;
            }
        }
        return rule && dash ? SL_LINE_RULE : SL_LINE_ROW;
    }
    return SL_LINE_TEXT;
}

bool
sl_markup_cell_next (const char *row, size_t len, size_t *pos, const char **cell, size_t *cell_len)
{
    size_t i = *pos;
    if (i == 0 && len > 0 && row [0] == '|')
        i = 1;
    //  Trailing "|" (and spaces) end the row: no empty cell after it
    size_t end = len;
    while (end > i && s_is_space (row [end - 1]))
        end--;
    if (end > i && row [end - 1] == '|' && !(end >= 2 && row [end - 2] == '\\'))
        end--;
    if (i >= end) {
        *pos = len;
        return false;
    }
    size_t s = i;
    while (i < end && !(row [i] == '|' && !(i > 0 && row [i - 1] == '\\')))
        i++;
    size_t e = i;
    while (s < e && s_is_space (row [s]))
        s++;
    while (e > s && s_is_space (row [e - 1]))
        e--;
    *cell = row + s;
    *cell_len = e - s;
    *pos = i < end ? i + 1 : end + 1;
    if (*pos > len)
        *pos = len;
    return true;
}

size_t
sl_markup_unescape_cell (const char *cell, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (cell [i] == '\\' && i + 1 < len && cell [i + 1] == '|')
            continue;
        out [o++] = cell [i];
    }
    out [o] = 0;
    return o;
}

//  Append text with newlines and tabs as spaces, runs of spaces collapsed,
//  ends trimmed; escape '|' when in_cell.
static void
s_put_flat (sl_markup_put_fn *put, void *arg, const char *s, size_t len, bool in_cell)
{
    size_t i = 0;
    while (i < len && (s_is_space (s [i]) || s [i] == '\n'))
        i++;
    while (len > i && (s_is_space (s [len - 1]) || s [len - 1] == '\n'))
        len--;
    bool space = false;
    size_t run = i;
    for (; i < len; i++) {
        char c = s [i];
        bool ws = s_is_space (c) || c == '\n' || c == '\f' || c == '\v';
        if (ws || (in_cell && c == '|')) {
            if (i > run)
                put (arg, s + run, i - run);
            run = i + 1;
            if (ws) {
                space = true;
                continue;
            }
            if (space)
                put (arg, " ", 1);
            space = false;
            put (arg, "\\|", 2);
            continue;
        }
        if (space) {
            put (arg, " ", 1);
            space = false;
            //  run already starts at i
        }
    }
    if (len > run)
        put (arg, s + run, len - run);
}

void
sl_markup_heading (sl_markup_put_fn *put, void *arg, int level, const char *title, size_t len)
{
    size_t i = 0;
    while (i < len && (s_is_space (title [i]) || title [i] == '\n'))
        i++;
    if (i == len)
        return;
    if (level < 1)
        level = 1;
    if (level > 6)
        level = 6;
    put (arg, "######", (size_t) level);
    put (arg, " ", 1);
    s_put_flat (put, arg, title, len, false);
    put (arg, "\n", 1);
}

void
sl_markup_row (sl_markup_put_fn *put, void *arg, const char **cells, const size_t *lens, int n)
{
    if (n <= 0)
        return;
    put (arg, "|", 1);
    for (int c = 0; c < n; c++) {
        put (arg, " ", 1);
        s_put_flat (put, arg, cells [c] ? cells [c] : "", cells [c] ? lens [c] : 0, true);
        put (arg, " |", 2);
    }
    put (arg, "\n", 1);
}

void
sl_markup_rule (sl_markup_put_fn *put, void *arg, int n)
{
    if (n <= 0)
        return;
    put (arg, "|", 1);
    for (int c = 0; c < n; c++)
        put (arg, "---|", 4);
    put (arg, "\n", 1);
}

void
sl_markup_para (sl_markup_put_fn *put, void *arg, const char *text, size_t len)
{
    bool any = false;
    size_t i = 0;
    while (i <= len) {
        size_t e = i;
        while (e < len && text [e] != '\n')
            e++;
        size_t s = i;
        while (s < e && s_is_space (text [s]))
            s++;
        if (e > s) {
            int level;
            const char *c;
            size_t cl;
            if (text [s] == '\\' || sl_markup_line (text + s, e - s, &level, &c, &cl) != SL_LINE_TEXT)
                put (arg, "\\", 1);
            put (arg, text + s, e - s);
            put (arg, "\n", 1);
            any = true;
        }
        i = e + 1;
    }
    if (any)
        put (arg, "\n", 1);
}
