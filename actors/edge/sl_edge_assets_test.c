/*  sl_edge_assets_test: self-test of sl_edge_assets.

    The table is complete and well-formed, the page obeys its own CSP (no
    inline script or style, nothing loaded from elsewhere), and the
    responses carry the headers and honour If-None-Match.
*/
#include "sl_edge_assets.h"
#include <assert.h>
#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

//  Count of occurrences of needle in text (case-insensitive).
static int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strcasestr (text, needle); p; p = strcasestr (p + 1, needle))
        n++;
    return n;
}

//  Every src="..." / href="..." value in html must be a path on this server
//  or a fragment: nothing that loads from, or links to, another origin.
static void
s_check_links (const char *html, const char *attr)
{
    for (const char *p = strcasestr (html, attr); p; p = strcasestr (p + 1, attr)) {
        const char *value = p + strlen (attr);
        bool local = (value [0] == '/' && value [1] != '/') || value [0] == '#';
        if (!local)
            fprintf (stderr, "index.html: %s%.40s is not a path on this server\n", attr, value);
        assert (local);
    }
}

void
sl_edge_assets_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge_assets: ");
    const char *expect [][2] = {
        { "/", "text/html; charset=utf-8" },
        { "/app.js", "text/javascript; charset=utf-8" },
        { "/app.css", "text/css; charset=utf-8" },
        { "/favicon.svg", "image/svg+xml" },
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect [0]; i++) {
        const sl_edge_asset_t *a = sl_edge_asset_find (expect [i][0]);
        assert (a);
        assert (strcmp (a->ctype, expect [i][1]) == 0);
        assert (a->size > 100);
        assert (a->data [a->size] == 0);
        assert (strlen ((const char *) a->data) == a->size);    //  text: no NUL inside
        assert (strlen (a->etag) == 22 && a->etag [0] == '"' && a->etag [21] == '"');
    }
    assert (sl_edge_asset_find ("/index.html") == NULL);
    assert (sl_edge_asset_find ("/v1/jobs") == NULL);
    assert (sl_edge_asset_find ("/app.js/") == NULL);
    assert (sl_edge_asset_find ("") == NULL);

    //  The page obeys its CSP: every script is an external file from here,
    //  no inline handlers or style attributes, no <style> blocks
    const char *html = (const char *) sl_edge_asset_find ("/")->data;
    assert (strncasecmp (html, "<!doctype html>", 15) == 0);
    assert (s_count (html, "<script") == 1);
    assert (strstr (html, "<script src=\"/app.js\" defer></script>"));
    assert (strstr (html, "<link rel=\"stylesheet\" href=\"/app.css\">"));
    assert (s_count (html, "<style") == 0);
    assert (s_count (html, " style=") == 0);
    assert (s_count (html, "javascript:") == 0);
    for (const char *p = html; (p = strchr (p, '<')); p++) {
        //  No on*= attribute inside any tag
        const char *end = strchr (p, '>');
        assert (end);
        for (const char *q = p; q < end; q++)
            if (isspace ((unsigned char) q [0]) && tolower ((unsigned char) q [1]) == 'o'
            &&  tolower ((unsigned char) q [2]) == 'n' && isalpha ((unsigned char) q [3])) {
                const char *eq = q + 3;
                while (isalpha ((unsigned char) *eq))
                    eq++;
                if (*eq == '=')
                    fprintf (stderr, "index.html: inline handler at %.40s\n", q + 1);
                assert (*eq != '=');
            }
    }
    s_check_links (html, "src=\"");
    s_check_links (html, "href=\"");
    const char *css = (const char *) sl_edge_asset_find ("/app.css")->data;
    assert (s_count (css, "url(") == 0 && s_count (css, "@import") == 0);
    const char *js = (const char *) sl_edge_asset_find ("/app.js")->data;
    assert (s_count (js, "eval(") == 0 && s_count (js, "new Function") == 0);
    assert (s_count (js, "innerHTML") == 0);           //  text goes in as text

    //  Conditional requests
    const sl_edge_asset_t *page = sl_edge_asset_find ("/");
    char list [128];
    assert (!sl_edge_asset_fresh (page, NULL));
    assert (!sl_edge_asset_fresh (page, ""));
    assert (!sl_edge_asset_fresh (page, "\"0000\""));
    assert (sl_edge_asset_fresh (page, page->etag));
    assert (sl_edge_asset_fresh (page, "*"));
    snprintf (list, sizeof list, "\"abc\", W/%s", page->etag);
    assert (sl_edge_asset_fresh (page, list));
    snprintf (list, sizeof list, "%.*s\"", (int) strlen (page->etag) - 2, page->etag);
    assert (!sl_edge_asset_fresh (page, list));         //  a prefix is not a match

    int status = 0;
    struct MHD_Response *r = sl_edge_asset_response (page, NULL, &status);
    assert (r && status == 200);
    assert (strcmp (MHD_get_response_header (r, "Content-Type"), "text/html; charset=utf-8") == 0);
    assert (strcmp (MHD_get_response_header (r, "ETag"), page->etag) == 0);
    assert (strcmp (MHD_get_response_header (r, "Cache-Control"), "no-cache") == 0);
    const char *csp = MHD_get_response_header (r, "Content-Security-Policy");
    assert (csp && strstr (csp, "default-src 'self'") && strstr (csp, "connect-src 'self'"));
    assert (!strstr (csp, "unsafe-inline") && !strstr (csp, "unsafe-eval"));
    assert (strcmp (MHD_get_response_header (r, "X-Content-Type-Options"), "nosniff") == 0);
    MHD_destroy_response (r);
    r = sl_edge_asset_response (page, page->etag, &status);
    assert (r && status == 304);
    assert (strcmp (MHD_get_response_header (r, "ETag"), page->etag) == 0);
    MHD_destroy_response (r);
    if (verbose)
        printf ("OK\n");
}
