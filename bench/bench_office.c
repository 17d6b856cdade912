/*  bench_office: text extraction by sl_parse_file from Office and
    OpenDocument files, for bench/office.sh (hyperfine times it beside
    pandoc and LibreOffice) and for comparing the words each tool found.

    Usage: bench_office [-p] FILE...
      -p    print each page's text (marked: headings, table rows) to stdout
    The MIME type is left for sl_parse to guess (magic bytes, then the
    extension), as for a file fetch could not classify.
    Exit status 1 if any file fails (its reason on stderr).
*/
#include "sl_parse.h"

#include <stdio.h>
#include <string.h>

static int
s_page (void *arg, const sl_page_t *page)
{
    if (arg) {
        fwrite (page->text, 1, page->len, stdout);
        fputc ('\n', stdout);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    bool print = argc > 1 && strcmp (argv [1], "-p") == 0;
    int rc = 0;
    for (int i = print ? 2 : 1; i < argc; i++) {
        sl_parse_info_t info;
        char err [512];
        if (sl_parse_file (NULL, argv [i], NULL, s_page, print ? stdout : NULL, &info, err, sizeof err)) {
            fprintf (stderr, "%s: %s\n", argv [i], err);
            rc = 1;
        }
    }
    return rc;
}
