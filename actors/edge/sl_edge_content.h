/*  sl_edge_content: a stored document's own bytes, for
    GET /v1/documents/{id}/content (a hit's document_url).

    The edge already holds the blob area (uploads stream into it), in every
    deployment: one sluiced, `--role edge` on the same host, and the k8s
    edge pod, which mounts the sluice-blobs volume for uploads. So it
    serves the bytes itself: the query service says which document the
    caller's workspace may see (its sha256, mime and source: another
    workspace's id is 404 there), and this module answers from the blob
    named by that sha256, streamed from the file by libmicrohttpd (no copy
    in memory), with:

    - Content-Type: the document's type as detected at ingest (a malformed
      one becomes application/octet-stream);
    - Content-Disposition: inline; filename="<the source's last segment,
      reduced to letters, digits, '.', '-', '_' and space>";
    - X-Content-Type-Options: nosniff, Cross-Origin-Resource-Policy:
      same-origin;
    - Content-Security-Policy: sandbox, for everything but PDF: a stored
      HTML page or SVG then runs no script and has no origin, so it cannot
      act as the edge's page (read the API key, call the API). PDFs are
      shown by the browser's own viewer, which runs no document script in
      the page's origin, and Chrome refuses to show a PDF in a sandboxed
      document;
    - ETag: the sha256 (If-None-Match answers 304), Cache-Control:
      private, no-cache (the bytes never change, but whether the caller may
      still see them does: ask each time);
    - Range: one range (bytes=a-b, a-, -n) is a 206 with Content-Range;
      several ranges or a malformed header are ignored (the whole file,
      RFC 9110 allows it); a range starting past the end is 416.

    Failure model: the blob gone (collected after a delete, lost with a
    volume) is 410 with what to do; a blob that is not a regular file is
    500. Every refusal has a JSON body like the rest of the API.
*/
#ifndef SL_EDGE_CONTENT_H_INCLUDED
#define SL_EDGE_CONTENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_blob.h"

struct MHD_Response;

//  The document as the query service described it (strings may be NULL
//  but sha256), and the request's Range and If-None-Match headers (NULL:
//  absent)
typedef struct {
    const char *id;
    const char *sha256;
    const char *mime;
    const char *source;
    const char *range;
    const char *if_none_match;
} sl_edge_content_req_t;

//  The response to queue (caller destroys it) with its status in *status;
//  NULL only if memory ran out.
struct MHD_Response *sl_edge_content_response (sl_blob_t *blobs, const sl_edge_content_req_t *req,
                                               int *status);

//  Range header -> [*first, *last] of a file of size bytes: 1 a range to
//  serve, 0 serve the whole file (absent, malformed, several), -1 not
//  satisfiable (416).
int sl_edge_content_range (const char *header, uint64_t size, uint64_t *first, uint64_t *last);

//  A filename for Content-Disposition from a document's source (a URL or
//  "upload:<name>"): its last path segment without query or fragment,
//  every byte but [A-Za-z0-9._ -] made '_', at most 100 bytes, never
//  empty or dots only ("document").
void sl_edge_content_filename (const char *source, char *out, size_t size);

//  The Content-Type to send: mime if it is type/subtype of token
//  characters (at most 127 bytes), else application/octet-stream.
const char *sl_edge_content_type (const char *mime);

void sl_edge_content_test (bool verbose);

#endif
