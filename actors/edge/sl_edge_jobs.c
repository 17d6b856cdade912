/*  sl_edge_jobs: the job-control routes. See sl_edge_jobs.h.
*/
#include "sl_edge_jobs.h"
#include <stdio.h>
#include <string.h>

int
sl_edge_jobs_request (sl_edge_pool_t *pool, const char *ws, const char *action, const char *id,
                      int timeout_ms, json_t **reply, sl_edge_fail_t *fail)
{
    json_t *body = id ? json_pack ("{s:s}", "job", id) : json_object ();
    //  A cancel or retry asked again after a lost answer finds the job
    //  already moved and says so (409 with its state): never done twice
    int status = sl_edge_pool_request (pool, ws, "intake", action, NULL, body, timeout_ms, reply,
                                       fail);
    json_decref (body);
    return status;
}

void
sl_edge_jobs_ws_state (sl_edge_pool_t *pool, const char *ws, int timeout_ms, json_t *reply)
{
    json_t *state = NULL;
    sl_edge_fail_t fail;
    if (json_is_object (reply)
    &&  sl_edge_jobs_request (pool, ws, "ws_state", NULL, timeout_ms, &state, &fail) == 200) {
        json_object_set (reply, "paused", json_object_get (state, "paused"));
        json_object_set (reply, "held", json_object_get (state, "held"));
    }
    json_decref (state);
}

int
sl_edge_jobs_reprocess (sl_edge_pool_t *pool, const char *ws, const char *id, const char *body,
                        size_t len, int timeout_ms, json_t **reply, sl_edge_fail_t *fail)
{
    json_error_t error;
    json_t *in = body && len ? json_loadb (body, len, 0, &error) : json_object ();
    const char *from = json_string_value (json_object_get (in, "from"));
    if (!json_is_object (in) || (json_object_get (in, "from") && !from)
    ||  json_object_size (in) > (from ? 1u : 0u)) {
        memset (fail, 0, sizeof *fail);
        fail->status = 400;
        snprintf (fail->message, sizeof fail->message, "send {\"from\": \"chunk\"} (or no "
                  "body: the document is cut again with the workspace's settings and embedded) or "
                  "{\"from\": \"embed\"} (its chunks are embedded again), without a fetch or a "
                  "parse");
        json_decref (in);
        return 400;
    }
    json_t *request = json_pack ("{s:s, s:s}", "document", id, "from", from ? from : "chunk");
    json_decref (in);
    int status = sl_edge_pool_request (pool, ws, "intake", "reprocess", NULL, request, timeout_ms,
                                       reply, fail);
    json_decref (request);
    return status;
}
