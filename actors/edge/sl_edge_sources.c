/*  sl_edge_sources: /v1/sources over the sources service. See the header. */
#include "sl_edge_sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_refuse (sl_edge_fail_t *fail, int status, const char *message)
{
    memset (fail, 0, sizeof *fail);
    fail->status = status;
    snprintf (fail->message, sizeof fail->message, "%s", message);
    return status;
}

//  The body as a JSON object; NULL with fail filled if it is not one.
static json_t *
s_object (const char *body, size_t len, const char *hint, sl_edge_fail_t *fail)
{
    json_error_t jerr;
    json_t *in = body ? json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!in && body) {
        char message [400];
        snprintf (message, sizeof message, "malformed JSON at line %d column %d: %s", jerr.line,
                  jerr.column, jerr.text);
        s_refuse (fail, 400, message);
        return NULL;
    }
    if (!json_is_object (in)) {
        json_decref (in);
        s_refuse (fail, 400, hint);
        return NULL;
    }
    return in;
}

int
sl_edge_sources_call (sl_edge_pool_t *pool, const char *ws, const char *method,
                      const char *id, const char *sub, const char *body, size_t body_len,
                      const char *limit, int timeout_ms, json_t **reply, sl_edge_fail_t *fail)
{
    *reply = NULL;
    const char *kind = NULL;
    json_t *request = NULL;
    int ok = 200;
    if (!*id && strcmp (method, "GET") == 0) {
        kind = "source_list";
        request = json_object ();
    }
    else
    if (!*id && strcmp (method, "POST") == 0) {
        json_t *in = s_object (body, body_len, "send the source as a JSON object, such as "
                               "{\"kind\": \"folder\", \"path\": \"/srv/docs\", \"schedule\": "
                               "\"every 15m\"}", fail);
        if (!in)
            return fail->status;
        kind = "source_add";
        request = json_pack ("{s:o}", "source", in);
        ok = 201;
    }
    else
    if (strcmp (sub, "sync") == 0) {
        kind = "source_sync";
        request = json_pack ("{s:s}", "id", id);
        ok = 202;
    }
    else
    if (strcmp (sub, "runs") == 0) {
        long n = limit ? strtol (limit, NULL, 10) : 20;
        if (n < 1 || n > 100)
            return s_refuse (fail, 400, "limit must be an integer 1..100");
        kind = "source_runs";
        request = json_pack ("{s:s, s:i}", "id", id, "limit", (int) n);
    }
    else
    if (strcmp (method, "PATCH") == 0) {
        json_t *in = s_object (body, body_len, "send the changes as a JSON object, such as "
                               "{\"schedule\": \"every 1h\"}", fail);
        if (!in)
            return fail->status;
        kind = "source_update";
        request = json_pack ("{s:s, s:o}", "id", id, "source", in);
    }
    else {
        kind = strcmp (method, "DELETE") == 0 ? "source_delete" : "source_get";
        request = json_pack ("{s:s}", "id", id);
    }
    int status = sl_edge_pool_request (pool, ws, "sources", kind, NULL, request, timeout_ms,
                                       reply, fail);
    json_decref (request);
    return status == 200 ? ok : status;
}
