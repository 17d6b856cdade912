/*  sl_sitemap: the URLs a sitemap.xml lists.

    A sitemap is a <urlset> of <url><loc>…</loc><lastmod>…</lastmod></url>,
    or a <sitemapindex> of <sitemap><loc>…</loc></sitemap> naming other
    sitemaps (sitemaps.org). The file is read with libxml2's streaming
    reader with the network, DTDs and entity substitution off (a billion
    laughs or an external entity go nowhere), element depth bounded, and
    at most max_entries locations, so a hostile sitemap costs bounded time
    and memory. What is not a sitemap (not XML, another root element) is
    refused with a reason a person can act on.
*/
#ifndef SL_SITEMAP_H_INCLUDED
#define SL_SITEMAP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sl_sitemap_t sl_sitemap_t;

//  Read the sitemap in file path (named url in messages); NULL with the
//  reason in err if it is not one.
sl_sitemap_t *sl_sitemap_read (const char *path, const char *url, int max_entries, char *err,
                               size_t errlen);
void sl_sitemap_destroy (sl_sitemap_t **self_p);

//  True for a sitemap index (its locations are sitemaps), false for a urlset.
bool sl_sitemap_is_index (const sl_sitemap_t *self);
int sl_sitemap_count (const sl_sitemap_t *self);
//  Entry i's location, and its lastmod ("" if none).
const char *sl_sitemap_loc (const sl_sitemap_t *self, int i);
const char *sl_sitemap_lastmod (const sl_sitemap_t *self, int i);

void sl_sitemap_test (bool verbose);

#endif
