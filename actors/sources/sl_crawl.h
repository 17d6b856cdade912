/*  sl_crawl: what a bounded site crawl needs besides fetching: robots.txt
    rules and the links of an HTML page.

    robots.txt (RFC 9309): the group for our agent ("sluice") if there is
    one, else the "*" group; Allow and Disallow paths with "*" wildcards and
    a "$" end anchor; the longest matching rule wins, Allow on a tie; no
    rule: allowed. A file over 500 KiB is read up to there, as the RFC lets
    a crawler do.

    Links: the href of every <a> (and <area>) of a page, parsed by libxml2's
    HTML parser with the network off, resolved against the page's URL (and
    its <base href>), without the fragment, kept only when they are http(s)
    on the same scheme, host and port as the page: a crawl stays on its
    site. At most max_links per page.
*/
#ifndef SL_CRAWL_H_INCLUDED
#define SL_CRAWL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sl_robots_t sl_robots_t;

//  Rules for agent from robots.txt text (len bytes; NULL or 0: allow all).
sl_robots_t *sl_robots_new (const char *text, size_t len, const char *agent);
void sl_robots_destroy (sl_robots_t **self_p);
//  May path (the URL's path and query, "/a/b?c") be fetched?
bool sl_robots_allowed (const sl_robots_t *self, const char *path);

//  Called with each same-site link (absolute, no fragment); return false
//  to stop.
typedef bool (sl_crawl_link_fn) (void *arg, const char *url);

//  The links of the HTML page in file path, fetched from url. Returns how
//  many were passed to fn, or -1 if the page cannot be read.
int sl_crawl_links (const char *path, const char *url, int max_links, sl_crawl_link_fn *fn,
                    void *arg);

//  The robots.txt URL of url's site into out; -1 if url is not http(s).
int sl_crawl_robots_url (const char *url, char *out, size_t size);

//  The path and query of url ("/" if none) into out; -1 if url is not http(s).
int sl_crawl_url_path (const char *url, char *out, size_t size);

void sl_crawl_test (bool verbose);

#endif
