/*  sl_sitemap self-test: urlsets, indexes, refusals (not XML, not a
    sitemap, entity tricks, too many entries). */
#include "sl_sitemap.h"
#include "sl_check.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sl_sitemap_t *
s_read (const char *xml, int max, char *err, size_t errlen)
{
    char path [] = "/tmp/sl_sitemap_test_XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    CHECK (write (fd, xml, strlen (xml)) == (ssize_t) strlen (xml));
    close (fd);
    sl_sitemap_t *map = sl_sitemap_read (path, "http://x/sitemap.xml", max, err, errlen);
    unlink (path);
    return map;
}

void
sl_sitemap_test (bool verbose)
{
    printf (" * sl_sitemap: ");
    char err [400];
    CASE ("urlset with lastmod", {
        sl_sitemap_t *map = s_read (
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
            "<url><loc> http://x/a.html </loc><lastmod>2024-01-02</lastmod></url>"
            "<url><loc>http://x/b.html</loc></url></urlset>", 10, err, sizeof err);
        CHECK (map && !sl_sitemap_is_index (map) && sl_sitemap_count (map) == 2);
        CHECK (strcmp (sl_sitemap_loc (map, 0), "http://x/a.html") == 0);
        CHECK (strcmp (sl_sitemap_lastmod (map, 0), "2024-01-02") == 0);
        CHECK (strcmp (sl_sitemap_lastmod (map, 1), "") == 0);
        sl_sitemap_destroy (&map);
        CHECK (!map);
    });
    CASE ("index", {
        sl_sitemap_t *map = s_read ("<sitemapindex><sitemap><loc>http://x/s1.xml</loc></sitemap>"
                                    "</sitemapindex>", 10, err, sizeof err);
        CHECK (map && sl_sitemap_is_index (map) && sl_sitemap_count (map) == 1);
        sl_sitemap_destroy (&map);
    });
    CASE ("refusals", {
        CHECK (!s_read ("this is not xml at all", 10, err, sizeof err));
        CHECK (strstr (err, "not well-formed XML"));
        CHECK (!s_read ("<html><body>hi</body></html>", 10, err, sizeof err));
        CHECK (strstr (err, "root element is <html>"));
        CHECK (!s_read ("<urlset><url><loc>a</loc></url><url><loc>b</loc></url></urlset>", 1, err,
                        sizeof err));
        CHECK (strstr (err, "more than 1 locations"));
        //  An external entity is never fetched nor substituted
        sl_sitemap_t *map = s_read ("<!DOCTYPE u [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                                    "<urlset><url><loc>&e;</loc></url></urlset>", 10, err,
                                    sizeof err);
        CHECK (!map || sl_sitemap_count (map) == 0
               || !strstr (sl_sitemap_loc (map, 0), "root:"));
        sl_sitemap_destroy (&map);
    });
    printf ("OK\n");
}
