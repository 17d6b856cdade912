/*  sl_crawl self-test: robots.txt groups and precedence, links of a page. */
#include "sl_crawl.h"
#include "sl_check.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char urls [16][256];
    int n;
} s_links_t;

static bool
s_collect (void *arg, const char *url)
{
    s_links_t *links = arg;
    if (links->n < 16)
        snprintf (links->urls [links->n++], 256, "%s", url);
    return true;
}

void
sl_crawl_test (bool verbose)
{
    printf (" * sl_crawl: ");
    CASE ("robots.txt", {
        const char *text =
            "# comment\n"
            "User-agent: otherbot\nDisallow: /\n\n"
            "User-agent: *\nDisallow: /private\nAllow: /private/open\nDisallow: /*.pdf$\n";
        sl_robots_t *robots = sl_robots_new (text, strlen (text), "sluice");
        CHECK (sl_robots_allowed (robots, "/"));
        CHECK (sl_robots_allowed (robots, "/docs/a.html"));
        CHECK (!sl_robots_allowed (robots, "/private/x"));
        CHECK (sl_robots_allowed (robots, "/private/open/y"));
        CHECK (!sl_robots_allowed (robots, "/files/a.pdf"));
        CHECK (sl_robots_allowed (robots, "/files/a.pdf?x=1"));
        sl_robots_destroy (&robots);
        CHECK (!robots);
        //  our own group wins over "*"
        const char *own = "User-agent: *\nDisallow: /\nUser-agent: sluice\nDisallow: /tmp\n";
        robots = sl_robots_new (own, strlen (own), "sluice");
        CHECK (sl_robots_allowed (robots, "/docs") && !sl_robots_allowed (robots, "/tmp/x"));
        sl_robots_destroy (&robots);
        robots = sl_robots_new (NULL, 0, "sluice");
        CHECK (sl_robots_allowed (robots, "/anything"));
        sl_robots_destroy (&robots);
    });
    CASE ("links", {
        char path [] = "/tmp/sl_crawl_test_XXXXXX";
        int fd = mkstemp (path);
        CHECK (fd >= 0);
        const char *html = "<html><body><a href='b.html#top'>b</a><a href=\"/c?x=1\">c</a>"
                           "<a href='http://other.example/d'>d</a><a href='mailto:x@y'>m</a>"
                           "<a href='HTTP://site.example:80/e'>e</a><area href='f.html'>"
                           "<a>no href</a></body></html>";
        CHECK (write (fd, html, strlen (html)) == (ssize_t) strlen (html));
        close (fd);
        s_links_t links = { .n = 0 };
        int n = sl_crawl_links (path, "http://site.example/dir/a.html", 100, s_collect, &links);
        unlink (path);
        CHECK (n == 4 && links.n == 4);
        CHECK (strcmp (links.urls [0], "http://site.example/dir/b.html") == 0);
        CHECK (strcmp (links.urls [1], "http://site.example/c?x=1") == 0);
        CHECK (strcmp (links.urls [2], "http://site.example/e") == 0);
        CHECK (strcmp (links.urls [3], "http://site.example/dir/f.html") == 0);
        char p [256];
        CHECK (sl_crawl_url_path ("http://site.example/a/b?q=1#f", p, sizeof p) == 0
               && strcmp (p, "/a/b?q=1") == 0);
        CHECK (sl_crawl_url_path ("http://site.example", p, sizeof p) == 0 && strcmp (p, "/") == 0);
        CHECK (sl_crawl_url_path ("ftp://x/y", p, sizeof p) == -1);
        CHECK (sl_crawl_robots_url ("https://site.example:8443/a/b?q#f", p, sizeof p) == 0
               && strcmp (p, "https://site.example:8443/robots.txt") == 0);
    });
    printf ("OK\n");
}
