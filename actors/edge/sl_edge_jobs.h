/*  sl_edge_jobs: the HTTP edge's job-control routes, as requests to intake.

      POST /v1/jobs/{id}/cancel     intake/cancel {job}
      POST /v1/jobs/{id}/retry      intake/retry {job}
      POST /v1/workspace/pause      intake/pause
      POST /v1/workspace/resume     intake/resume
      POST /v1/documents/{id}/reprocess {"from": "chunk" | "embed"}
                                    intake/reprocess {document, from}
      (GET /v1/workspace adds)      intake/ws_state: paused, held

    The decisions (what may be cancelled or retried, 404 for another
    workspace's job, 409 with the state for a finished one) are intake's
    (actors/intake/sl_jobctl.h); the edge only names the workspace of the
    caller's key and passes the answer on. The job id in the path was
    checked as a token by the router, so it is safe to pass on.
*/
#ifndef SL_EDGE_JOBS_H_INCLUDED
#define SL_EDGE_JOBS_H_INCLUDED

#include "sl_edge_pool.h"
#include <jansson.h>

//  Ask intake for action ("cancel", "retry": id needed; "pause",
//  "resume", "ws_state": id NULL) in workspace ws. 200 with *reply (the
//  caller decrefs), or the HTTP status with fail filled.
int sl_edge_jobs_request (sl_edge_pool_t *pool, const char *ws, const char *action,
                          const char *id, int timeout_ms, json_t **reply, sl_edge_fail_t *fail);

//  POST /v1/documents/{id}/reprocess: body (may be NULL: from "chunk") is
//  the request's JSON text. 200 with *reply ({"job": ...}), 400 with the
//  reason in fail for a body that is not {"from": "..."}, or intake's
//  answer.
int sl_edge_jobs_reprocess (sl_edge_pool_t *pool, const char *ws, const char *id, const char *body,
                            size_t len, int timeout_ms, json_t **reply, sl_edge_fail_t *fail);

//  Add the workspace's intake state ("paused", "held") to reply (a
//  GET /v1/workspace answer); left as it is if intake does not answer.
void sl_edge_jobs_ws_state (sl_edge_pool_t *pool, const char *ws, int timeout_ms, json_t *reply);

#endif
