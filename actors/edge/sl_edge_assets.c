/*  sl_edge_assets: the web page's files, compiled in. See sl_edge_assets.h. */
#include "sl_edge_assets.h"

#include <assert.h>
#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

//  Scripts, styles, images and connections from this origin only; nothing
//  inline (so injected markup cannot run), no plugins, no <base> tricks, no
//  framing (clickjacking). connect-src 'self' covers fetch, XHR and
//  EventSource: the page can talk to this server and nothing else.
const char sl_edge_assets_csp [] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

const sl_edge_asset_t *
sl_edge_asset_find (const char *path)
{
    assert (path);
    for (const sl_edge_asset_t *a = sl_edge_asset_table; a->path; a++)
        if (strcmp (a->path, path) == 0)
            return a;
    return NULL;
}

bool
sl_edge_asset_fresh (const sl_edge_asset_t *asset, const char *if_none_match)
{
    assert (asset);
    if (!if_none_match)
        return false;
    //  A comma-separated list of entity tags, or "*". If-None-Match uses the
    //  weak comparison, so W/"x" matches "x" (RFC 9110 §13.1.2)
    const char *p = if_none_match;
    size_t want = strlen (asset->etag);
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp (p, "W/", 2) == 0)
            p += 2;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        size_t len = (size_t) (end - p);
        while (len && (p [len - 1] == ' ' || p [len - 1] == '\t'))
            len--;
        if (len == want && memcmp (p, asset->etag, want) == 0)
            return true;
        p = end;
    }
    return false;
}

struct MHD_Response *
sl_edge_asset_response (const sl_edge_asset_t *asset, const char *if_none_match, int *status)
{
    assert (asset);
    assert (status);
    bool fresh = sl_edge_asset_fresh (asset, if_none_match);
    //  PERSISTENT: the bytes are static data, MHD sends them without a copy
    struct MHD_Response *response = fresh
        ? MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT)
        : MHD_create_response_from_buffer (asset->size, (void *) asset->data, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return NULL;
    *status = fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, asset->ctype);
    MHD_add_response_header (response, MHD_HTTP_HEADER_ETAG, asset->etag);
    //  Revalidate every time: after an upgrade the page must match the API
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header (response, "Content-Security-Policy", sl_edge_assets_csp);
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    return response;
}
