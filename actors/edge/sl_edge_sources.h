/*  sl_edge_sources: the HTTP face of the sources service (/v1/sources).

        GET    /v1/sources                 the workspace's sources
        POST   /v1/sources                 register one (201)
        GET    /v1/sources/{id}            one, with its next sync and last run
        PATCH  /v1/sources/{id}            change its schedule, meta or name
        DELETE /v1/sources/{id}            delete it and its documents
        POST   /v1/sources/{id}/sync       sync now (202, the run)
        GET    /v1/sources/{id}/runs       its runs, newest first (?limit=)

    The edge checks only what it can without the server's folders and
    guard (a JSON object where one is needed) and asks the sources service
    (actors/sources) for the rest, in the caller's workspace, so another
    workspace's source is a 404 there. Every answer maps as the pool maps
    (sl_edge_pool.h).
*/
#ifndef SL_EDGE_SOURCES_H_INCLUDED
#define SL_EDGE_SOURCES_H_INCLUDED

#include "sl_edge_pool.h"

//  One call: method and path parts (id "" for the collection, sub "",
//  "sync" or "runs"), the request body (may be NULL) and the limit query
//  argument (may be NULL). Returns the HTTP status; on success (2xx) *reply
//  holds the body to send (caller decrefs), else fail says why.
int sl_edge_sources_call (sl_edge_pool_t *pool, const char *ws, const char *method,
                          const char *id, const char *sub, const char *body, size_t body_len,
                          const char *limit, int timeout_ms, json_t **reply, sl_edge_fail_t *fail);

#endif
