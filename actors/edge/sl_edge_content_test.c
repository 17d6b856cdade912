/*  sl_edge_content_test: self-test of sl_edge_content's header rules.
    The response itself (bytes, headers, workspaces, 410) is tested end to
    end against a real sluiced: tests/test_answers.py.
*/
#include "sl_edge_content.h"

#include <stdio.h>
#include <string.h>

#include "sl_check.h"

#define streq(a, b) (strcmp ((a), (b)) == 0)

static void
s_test_range (void)
{
    uint64_t a = 0, b = 0;
    CHECK (sl_edge_content_range ("bytes=0-99", 1000, &a, &b) == 1 && a == 0 && b == 99);
    CHECK (sl_edge_content_range ("bytes=900-", 1000, &a, &b) == 1 && a == 900 && b == 999);
    CHECK (sl_edge_content_range ("bytes=-10", 1000, &a, &b) == 1 && a == 990 && b == 999);
    CHECK (sl_edge_content_range ("bytes=-5000", 1000, &a, &b) == 1 && a == 0 && b == 999);
    CHECK (sl_edge_content_range ("bytes=10-5000", 1000, &a, &b) == 1 && a == 10 && b == 999);
    //  past the end: 416; an empty file has no byte to give
    CHECK (sl_edge_content_range ("bytes=1000-", 1000, &a, &b) == -1);
    CHECK (sl_edge_content_range ("bytes=-0", 1000, &a, &b) == -1);
    CHECK (sl_edge_content_range ("bytes=0-", 0, &a, &b) == -1);
    //  absent, several, malformed, overflowing: the whole file
    CHECK (sl_edge_content_range (NULL, 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes=0-1,5-6", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("items=0-1", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes=5-1", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes=x-1", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes= 1-2", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes=-", 1000, &a, &b) == 0);
    CHECK (sl_edge_content_range ("bytes=99999999999999999999-", 1000, &a, &b) == 0);
}

static void
s_test_filename (void)
{
    char out [128];
    sl_edge_content_filename ("upload:reports/2024/q1 report.pdf", out, sizeof out);
    CHECK (streq (out, "q1 report.pdf"));
    sl_edge_content_filename ("https://example.com/docs/guide.html?x=1#top", out, sizeof out);
    CHECK (streq (out, "guide.html"));
    sl_edge_content_filename ("https://example.com/docs/", out, sizeof out);
    CHECK (streq (out, "docs"));
    //  quotes, CR/LF, semicolons, non-ASCII: nothing that could end the
    //  header value or start another
    sl_edge_content_filename ("upload:a\"b\r\nSet-Cookie: x;y\xC3\xA9.txt", out, sizeof out);
    CHECK (streq (out, "a_b__Set-Cookie_ x_y__.txt"));
    sl_edge_content_filename ("upload:..", out, sizeof out);
    CHECK (streq (out, "document"));
    sl_edge_content_filename (NULL, out, sizeof out);
    CHECK (streq (out, "document"));
    sl_edge_content_filename ("upload:/", out, sizeof out);
    CHECK (streq (out, "document"));
    char big [400];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    sl_edge_content_filename (big, out, sizeof out);
    CHECK (strlen (out) == 100);
}

static void
s_test_type (void)
{
    CHECK (streq (sl_edge_content_type ("application/pdf"), "application/pdf"));
    CHECK (streq (sl_edge_content_type ("image/svg+xml"), "image/svg+xml"));
    CHECK (streq (sl_edge_content_type (NULL), "application/octet-stream"));
    CHECK (streq (sl_edge_content_type ("text/html\r\nX: y"), "application/octet-stream"));
    CHECK (streq (sl_edge_content_type ("text/html; charset=utf-8"), "application/octet-stream"));
    CHECK (streq (sl_edge_content_type ("texthtml"), "application/octet-stream"));
    CHECK (streq (sl_edge_content_type ("a/b/c"), "application/octet-stream"));
    CHECK (streq (sl_edge_content_type ("/pdf"), "application/octet-stream"));
}

void
sl_edge_content_test (bool verbose)
{
    printf (" * sl_edge_content: ");
    if (verbose)
        printf ("\n");
    CASE ("Range: one range served, several or malformed ignored, past the end 416",
          s_test_range ());
    CASE ("filename: the source's last segment, nothing that breaks the header", s_test_filename ());
    CASE ("type: type/subtype of token characters, else octet-stream", s_test_type ());
}
