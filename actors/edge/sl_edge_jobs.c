/*  sl_edge_jobs: the job-control routes. See sl_edge_jobs.h.
*/
#include "sl_edge_jobs.h"
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
