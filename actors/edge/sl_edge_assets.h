/*  sl_edge_assets: the web page's files, compiled into sluiced.

    actors/edge/web/ (index.html, app.js, app.css, favicon.svg) is turned
    into byte arrays at build time by actors/edge/web.cmake; the generated
    table sl_edge_asset_table lives in the build directory (sl_edge_web.c).
    This module looks a URL path up in that table and builds the response:
    the right Content-Type, a strong ETag (SHA-256 prefix of the file) so a
    browser revalidates cheaply with If-None-Match (304), "Cache-Control:
    no-cache" so a new build's page is picked up at once, and a strict
    Content-Security-Policy: scripts, styles and connections from this
    origin only, no inline script or style, no framing. The page is public
    (it holds no data); the API calls it makes carry the key.

    Everything here is read-only static data: safe from any thread.
*/
#ifndef SL_EDGE_ASSETS_H_INCLUDED
#define SL_EDGE_ASSETS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

struct MHD_Response;

typedef struct {
    const char *path;               //  URL path: "/" for index.html, "/app.js"...
    const char *ctype;              //  Content-Type
    const unsigned char *data;      //  the file's bytes (NUL appended, not counted)
    size_t size;
    const char *etag;               //  quoted strong ETag
} sl_edge_asset_t;

//  The generated table (sl_edge_web.c), ended by an entry with path NULL.
extern const sl_edge_asset_t sl_edge_asset_table [];

//  The Content-Security-Policy sent with every asset.
extern const char sl_edge_assets_csp [];

//  The asset served at path (no query string), or NULL if there is none.
const sl_edge_asset_t *sl_edge_asset_find (const char *path);

//  True if an If-None-Match header value (NULL: absent) names the asset's
//  current ETag, i.e. the browser's copy is current and 304 is the answer.
bool sl_edge_asset_fresh (const sl_edge_asset_t *asset, const char *if_none_match);

//  The response for a GET of the asset: 200 with the bytes (not copied), or
//  304 with none when if_none_match says the browser's copy is current.
//  Sets *status. Caller queues the response and destroys it; NULL if MHD
//  could not allocate one.
struct MHD_Response *sl_edge_asset_response (const sl_edge_asset_t *asset, const char *if_none_match,
                                             int *status);

void sl_edge_assets_test (bool verbose);

#endif
