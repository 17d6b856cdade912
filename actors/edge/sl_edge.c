/*  sl_edge: HTTP server, routing, auth and the API handlers. See sl_edge.h.

    Request life cycle (MHD calls s_access several times per request):
      1. headers: route, authenticate, refuse early what can be refused
         without the body (404/405/401/413 by Content-Length/415), set up
         the body reader;
      2. body pieces: fed to the upload (streamed to the blob area) or to a
         bounded JSON buffer;
      3. end of body: run the handler, queue exactly one response.
    s_completed (MHD_OPTION_NOTIFY_COMPLETED) frees the request and counts
    it in the metrics, whatever path it took.
*/
#include "sl_edge.h"
#include "sl_edge_internal.h"
#include "sl_edge_assets.h"
#include "sl_edge_content.h"
#include "sl_edge_jobs.h"
#include "sl_json.h"
#include "sl_edge_pool.h"
#include "sl_edge_sse.h"
#include "sl_edge_tus.h"
#include "sl_edge_sources.h"
#include "sl_edge_upload.h"
#include "sl_filter.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <czmq.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/resource.h>

#define MAX_KEYS        256
#define MAX_PAGE        1000
#define DEFAULT_PAGE    50
#define MAX_ALLOWED     32          //  http.allowed_hosts / allowed_origins entries

typedef struct {
    char key [129];
    char ws [65];                   //  "" for an admin key that names no workspace
    bool admin;                     //  auth.admin_keys: /metrics and store-wide /v1/status
} edge_key_t;

//  Open mode: everyone is the one local user
static const edge_key_t s_open_key = { "", "default", true };

typedef struct {
    sl_node_t *node;
    sl_config_t *cfg;
    sl_metrics_t *metrics;
    struct MHD_Daemon *daemon;
    int listen_fd;                  //  ours, not MHD's: see s_acceptor
    pthread_t acceptor;
    bool acceptor_running;
    volatile int stopping;
    sl_edge_pool_t *pool;
    sl_edge_hub_t *hub;
    sl_blob_t *blobs;               //  the node's; not owned
    sl_edge_tus_t *tus;             //  resumable uploads (/v1/uploads); NULL without a blob area
    edge_key_t *keys;
    int key_count;
    char bind [128];
    int port;
    size_t max_upload;
    size_t max_json;
    int heartbeat_ms;
    int request_ms;
    int search_ms;
    char cors [256];                //  http.cors_origin: "" (none), "*" or one origin
    char *allowed_hosts [MAX_ALLOWED];      //  http.allowed_hosts, lower case
    int allowed_host_count;
    char *allowed_origins [MAX_ALLOWED];    //  http.allowed_origins, lower case
    int allowed_origin_count;
    volatile int draining;
} edge_t;

//  --------------------------------------------------------------------------
//  Routes

typedef enum {
    R_HEALTHZ, R_READYZ, R_METRICS, R_OPENAPI, R_STATUS, R_INGEST, R_JOBS, R_JOB, R_JOB_EVENTS,
    R_DOCS, R_DOC, R_DOC_CHUNKS, R_SEARCH, R_DLQ, R_DLQ_REPLAY, R_DOC_CONTENT, R_DOC_META,
    R_WS, R_WS_CHUNKING, R_JOB_CANCEL, R_JOB_RETRY, R_WS_PAUSE, R_WS_RESUME, R_DOC_REPROCESS,
    R_TUS_CREATE, R_TUS_OPTIONS, R_TUS,
    R_SOURCES, R_SOURCE, R_SOURCE_SYNC, R_SOURCE_RUNS, R_NONE
} route_id_t;

typedef struct {
    route_id_t id;
    const char *method;
    const char *path;               //  "{id}" matches one token segment
    bool open;                      //  no key needed
} route_t;

static const route_t s_routes [] = {
    { R_HEALTHZ, "GET", "/healthz", true },
    { R_READYZ, "GET", "/readyz", true },
    { R_METRICS, "GET", "/metrics", false },     //  admin key (open mode: anyone)
    { R_OPENAPI, "GET", "/v1/openapi.yaml", true },
    { R_STATUS, "GET", "/v1/status", false },
    { R_INGEST, "POST", "/v1/ingest", false },
    { R_JOBS, "GET", "/v1/jobs", false },
    { R_JOB, "GET", "/v1/jobs/{id}", false },
    { R_JOB_EVENTS, "GET", "/v1/jobs/{id}/events", false },
    { R_JOB_CANCEL, "POST", "/v1/jobs/{id}/cancel", false },
    { R_JOB_RETRY, "POST", "/v1/jobs/{id}/retry", false },
    { R_DOCS, "GET", "/v1/documents", false },
    { R_DOC, "GET", "/v1/documents/{id}", false },
    { R_DOC, "DELETE", "/v1/documents/{id}", false },
    { R_DOC_CHUNKS, "GET", "/v1/documents/{id}/chunks", false },
    { R_DOC_CONTENT, "GET", "/v1/documents/{id}/content", false },
    { R_DOC_META, "PUT", "/v1/documents/{id}/meta", false },
    { R_DOC_REPROCESS, "POST", "/v1/documents/{id}/reprocess", false },
    { R_DOC_META, "PATCH", "/v1/documents/{id}/meta", false },
    { R_SEARCH, "POST", "/v1/search", false },
    { R_SEARCH, "GET", "/v1/search", false },
    { R_DLQ, "GET", "/v1/dlq", false },
    { R_DLQ_REPLAY, "POST", "/v1/dlq/{id}/replay", false },
    { R_WS, "GET", "/v1/workspace", false },
    { R_WS_CHUNKING, "PUT", "/v1/workspace/chunking", false },
    { R_WS_CHUNKING, "DELETE", "/v1/workspace/chunking", false },
    { R_WS_PAUSE, "POST", "/v1/workspace/pause", false },
    { R_WS_RESUME, "POST", "/v1/workspace/resume", false },
    { R_TUS_CREATE, "POST", "/v1/uploads", false },
    { R_TUS_OPTIONS, "OPTIONS", "/v1/uploads", true },     //  tus discovery, as the protocol asks
    { R_TUS, "GET", "/v1/uploads/{id}", false },           //  and HEAD
    { R_TUS, "PATCH", "/v1/uploads/{id}", false },
    { R_TUS, "DELETE", "/v1/uploads/{id}", false },
    { R_SOURCES, "GET", "/v1/sources", false },
    { R_SOURCES, "POST", "/v1/sources", false },
    { R_SOURCE, "GET", "/v1/sources/{id}", false },
    { R_SOURCE, "PATCH", "/v1/sources/{id}", false },
    { R_SOURCE, "DELETE", "/v1/sources/{id}", false },
    { R_SOURCE_SYNC, "POST", "/v1/sources/{id}/sync", false },
    { R_SOURCE_RUNS, "GET", "/v1/sources/{id}/runs", false },
    { R_NONE, NULL, NULL, false }
};

//  Does path match the template? Fills id from the {id} segment. A
//  segment that is not a valid token never matches, so ids from the
//  network are safe to pass on.
bool
sl_edge_path_match (const char *tmpl, const char *path, char id [65], bool *bad_id)
{
    while (*tmpl && *path) {
        if (strncmp (tmpl, "{id}", 4) == 0) {
            const char *end = strchr (path, '/');
            size_t len = end ? (size_t) (end - path) : strlen (path);
            char seg [256];
            if (len == 0 || len >= sizeof seg)
                return false;
            memcpy (seg, path, len);
            seg [len] = 0;
            if (!sl_token_valid (seg))
                *bad_id = true;
            else
                snprintf (id, 65, "%.64s", seg);
            tmpl += 4;
            path += len;
            continue;
        }
        if (*tmpl != *path)
            return false;
        tmpl++;
        path++;
    }
    return *tmpl == 0 && *path == 0;
}

//  --------------------------------------------------------------------------
//  Per request

typedef struct {
    edge_t *edge;
    const route_t *route;
    char route_label [64];
    char method [16];
    char id [65];
    char ws [65];
    int64_t started;
    bool head;                      //  HEAD (method says GET, which MHD answers without a body)
    sl_edge_upload_t *upload;
    sl_edge_tus_patch_t *patch;     //  a tus PATCH body in progress
    char *body;                     //  small JSON bodies (search)
    size_t body_len;
    bool admin;                     //  the key may see store-wide numbers
    int status;                     //  queued response status, 0 = none yet
    int deferred_status;            //  error to answer once the body is read
    int deferred_retry_s;
    char deferred_message [512];
    bool streaming;                 //  SSE response in progress
} req_t;

typedef struct {
    edge_t *edge;
    char ws [65];
    sl_edge_stream_t *stream;
} sse_ctx_t;

//  --------------------------------------------------------------------------
//  Responses

//  CORS: with http.cors_origin set, browsers on that origin may call the API
//  (and open EventSource streams with ?access_token=).
static void
s_cors (edge_t *edge, struct MHD_Connection *conn, struct MHD_Response *response)
{
    if (!*edge->cors)
        return;
    const char *origin = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Origin");
    if (strcmp (edge->cors, "*") == 0)
        MHD_add_response_header (response, "Access-Control-Allow-Origin", "*");
    else
    if (origin && strcmp (origin, edge->cors) == 0) {
        MHD_add_response_header (response, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header (response, "Vary", "Origin");
    }
    MHD_add_response_header (response, "Access-Control-Expose-Headers",
                             "Location, Retry-After, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, "
                             "Tus-Version, Tus-Extension, Tus-Max-Size, Sluice-Job");
}

static enum MHD_Result
s_send (req_t *req, struct MHD_Connection *conn, int status, const char *ctype, char *body,
        size_t len, const char *const *headers)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (len, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    s_cors (req->edge, conn, response);
    for (int i = 0; headers && headers [i]; i += 2)
        MHD_add_response_header (response, headers [i], headers [i + 1]);
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned int) status, response);
    MHD_destroy_response (response);
    if (rc == MHD_YES)
        req->status = status;
    return rc;
}

static enum MHD_Result
s_json (req_t *req, struct MHD_Connection *conn, int status, json_t *value, const char *const *headers)
{
    char *text = json_dumps (value, JSON_COMPACT);
    json_decref (value);
    if (!text)
        return MHD_NO;
    size_t len = strlen (text);
    //  A trailing newline makes curl output readable; JSON parsers ignore it
    text = realloc (text, len + 2);
    text [len++] = '\n';
    text [len] = 0;
    return s_send (req, conn, status, "application/json", text, len, headers);
}

//  {"error": {"code", "message"}} plus optional extra top-level fields.
static enum MHD_Result
s_error_json (req_t *req, struct MHD_Connection *conn, int status, int retry_after_s, json_t *extra,
              const char *message)
{
    json_t *body = extra ? extra : json_object ();
    json_object_set_new (body, "error", json_pack ("{s:i, s:s}", "code", status, "message", message));
    const char *headers [7] = { NULL };
    int n = 0;
    char retry [16];
    if (status == 429) {
        snprintf (retry, sizeof retry, "%d", retry_after_s > 0 ? retry_after_s : 1);
        headers [n++] = "Retry-After";
        headers [n++] = retry;
    }
    if (status == 401) {
        headers [n++] = "WWW-Authenticate";
        headers [n++] = "Bearer realm=\"sluice\"";
    }
    if (status == 503 && retry_after_s > 0) {
        snprintf (retry, sizeof retry, "%d", retry_after_s);
        headers [n++] = "Retry-After";
        headers [n++] = retry;
    }
    return s_json (req, conn, status, body, headers);
}

static enum MHD_Result
s_error (req_t *req, struct MHD_Connection *conn, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static enum MHD_Result
s_error (req_t *req, struct MHD_Connection *conn, int status, const char *fmt, ...)
{
    char message [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return s_error_json (req, conn, status, 0, NULL, message);
}

static enum MHD_Result
s_fail (req_t *req, struct MHD_Connection *conn, const sl_edge_fail_t *fail)
{
    return s_error_json (req, conn, fail->status, fail->retry_after_s, NULL, fail->message);
}

//  --------------------------------------------------------------------------
//  Helpers

static const char *
s_arg (struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *
s_header (struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value (conn, MHD_HEADER_KIND, name);
}

//  A decimal number 0..max in text: digits only (no sign, no spaces), at
//  most 18 of them so it cannot overflow. False if it is anything else.
static bool
s_uint_parse (const char *value, int64_t max, int64_t *out)
{
    if (!value || !*value || strlen (value) > 18)
        return false;
    for (const char *p = value; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return false;
    int64_t n = strtoll (value, NULL, 10);
    if (n > max)
        return false;
    *out = n;
    return true;
}

//  Parse a non-negative integer query argument, capped at max; -1 if
//  malformed.
static int64_t
s_int_arg (struct MHD_Connection *conn, const char *name, int64_t def, int64_t max)
{
    const char *value = s_arg (conn, name);
    if (!value)
        return def;
    int64_t n;
    if (!s_uint_parse (value, INT64_MAX, &n))
        return -1;
    return n > max ? max : n;
}

//  Add status_url and events_url to a job object.
static void
s_job_links (json_t *job)
{
    const char *id = json_string_value (json_object_get (job, "id"));
    if (!json_is_object (job) || !id)
        return;
    char url [128];
    snprintf (url, sizeof url, "/v1/jobs/%s", id);
    json_object_set_new (job, "status_url", json_string (url));
    snprintf (url, sizeof url, "/v1/jobs/%s/events", id);
    json_object_set_new (job, "events_url", json_string (url));
}

//  Constant-time comparison, so response timing does not leak key bytes.
static bool
s_key_equal (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    unsigned char diff = (unsigned char) (la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char) (a [i] ^ b [i % (lb ? lb : 1)]);
    return diff == 0;
}

//  The request's key, or NULL with a reason (401). Keys travel in the
//  Authorization header; only the event stream takes ?access_token=, since
//  a browser's EventSource cannot set headers, and nowhere else, so keys
//  do not end up in URLs (browser history, proxy logs) needlessly. Open
//  mode: the one local user, who may see everything.
static const edge_key_t *
s_authenticate (edge_t *edge, struct MHD_Connection *conn, route_id_t route, const char **why)
{
    if (edge->key_count == 0)
        return &s_open_key;
    const char *auth = s_header (conn, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *key = NULL;
    if (auth && strncasecmp (auth, "Bearer ", 7) == 0) {
        key = auth + 7;
        while (*key == ' ')
            key++;
    }
    const char *query_key = s_arg (conn, "access_token");
    if (!key && query_key && route != R_JOB_EVENTS) {
        *why = "a key in the query string (access_token) is accepted only by the event stream "
               "(GET /v1/jobs/{id}/events); send 'Authorization: Bearer <key>'";
        return NULL;
    }
    if (!key)
        key = query_key;
    if (!key || !*key) {
        *why = "missing API key: send 'Authorization: Bearer <key>'";
        return NULL;
    }
    const edge_key_t *found = NULL;
    for (int i = 0; i < edge->key_count; i++)
        if (s_key_equal (key, edge->keys [i].key) && !found)
            found = &edge->keys [i];
    if (!found)
        *why = "invalid API key";
    return found;
}

//  --------------------------------------------------------------------------
//  Browser safety (open mode)
//
//  With no keys, the API trusts whoever reaches it, and on a loopback bind
//  that is meant to be the local user's own tools. A web page the user
//  visits can reach it too: it can POST a form or a text/plain body to
//  /v1/ingest (browsers send those cross-origin without asking), and with
//  DNS rebinding (evil.example resolving to 127.0.0.1) it can read answers
//  as if it were same-origin. Two checks close that:
//    - Host must name this server: localhost, 127.0.0.1, [::1], the bound
//      address, the address the client connected to, or an entry of
//      http.allowed_hosts; a rebinding page's requests carry its own name
//      (421). The port is not compared: it changes under port forwarding
//      (ssh -L, docker -p) and an attacker controls names, not our port.
//    - a state-changing request (POST, PUT, PATCH, DELETE) from a browser
//      must come from this server's own page: its Origin must be
//      http(s)://<Host>, http.cors_origin or in http.allowed_origins;
//      without Origin, Sec-Fetch-Site must not say cross-site or same-site
//      (403). curl and the CLI send neither header and pass.
//  With keys these checks are off: keys travel in headers a foreign page
//  cannot attach without a CORS grant, and never as cookies.

//  Split a Host header into a lower-case name (IPv6 without brackets) and
//  return true, or false if it is malformed.
bool
sl_edge_host_name (const char *host, char *name, size_t cap)
{
    size_t n = 0;
    const char *p = host;
    if (*p == '[') {
        const char *close = strchr (p, ']');
        if (!close || (close [1] && close [1] != ':'))
            return false;
        for (p++; p < close && n + 1 < cap; p++)
            name [n++] = (char) tolower ((unsigned char) *p);
        p = close + 1;
    }
    else {
        for (; *p && *p != ':' && n + 1 < cap; p++)
            name [n++] = (char) tolower ((unsigned char) *p);
    }
    name [n] = 0;
    if (*p == ':')
        for (p++; *p; p++)
            if (!isdigit ((unsigned char) *p))
                return false;
    return *p == 0 && n > 0;
}

//  True if the literal address in name is the address this connection
//  arrived on (what a client that typed the server's IP sends).
static bool
s_host_is_local_addr (struct MHD_Connection *conn, const char *name)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return false;
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname (info->connect_fd, (struct sockaddr *) &local, &len) != 0)
        return false;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton (AF_INET, name, &a4) == 1) {
        if (local.ss_family == AF_INET)
            return ((struct sockaddr_in *) &local)->sin_addr.s_addr == a4.s_addr;
        const struct in6_addr *l6 = &((struct sockaddr_in6 *) &local)->sin6_addr;
        return IN6_IS_ADDR_V4MAPPED (l6) && memcmp (l6->s6_addr + 12, &a4, 4) == 0;
    }
    if (inet_pton (AF_INET6, name, &a6) == 1 && local.ss_family == AF_INET6)
        return memcmp (&((struct sockaddr_in6 *) &local)->sin6_addr, &a6, sizeof a6) == 0;
    return false;
}

static bool
s_host_allowed (edge_t *edge, struct MHD_Connection *conn, const char *name)
{
    if (strcmp (name, "localhost") == 0 || strcmp (name, "127.0.0.1") == 0 || strcmp (name, "::1") == 0)
        return true;
    char bind [128];
    if (sl_edge_host_name (edge->bind, bind, sizeof bind) && strcmp (bind, name) == 0)
        return true;
    for (int i = 0; i < edge->allowed_host_count; i++)
        if (strcmp (edge->allowed_hosts [i], "*") == 0 || strcmp (edge->allowed_hosts [i], name) == 0)
            return true;
    return s_host_is_local_addr (conn, name);
}

static bool
s_origin_allowed (edge_t *edge, const char *origin, const char *host)
{
    if (strcmp (edge->cors, "*") == 0 || (*edge->cors && strcasecmp (edge->cors, origin) == 0))
        return true;
    for (int i = 0; i < edge->allowed_origin_count; i++)
        if (strcmp (edge->allowed_origins [i], "*") == 0 || strcasecmp (edge->allowed_origins [i], origin) == 0)
            return true;
    //  Same origin: the page this server served, on the host it was asked for
    const char *authority = strncasecmp (origin, "http://", 7) == 0 ? origin + 7
                          : strncasecmp (origin, "https://", 8) == 0 ? origin + 8 : NULL;
    return authority && host && strcasecmp (authority, host) == 0;
}

//  0 if the request may go on, else the status (421, 403) with a reason.
static int
s_browser_check (edge_t *edge, struct MHD_Connection *conn, const char *method, const char *path,
                 char *why, size_t cap)
{
    if (edge->key_count > 0 || strcmp (path, "/healthz") == 0)
        return 0;
    const char *host = s_header (conn, MHD_HTTP_HEADER_HOST);
    char name [256];
    if (host && (!sl_edge_host_name (host, name, sizeof name) || !s_host_allowed (edge, conn, name))) {
        snprintf (why, cap, "Host '%.200s' is not a name of this server (a DNS rebinding attempt?): "
                  "open mode answers localhost, 127.0.0.1, [::1] and the bound address; add other "
                  "names to http.allowed_hosts", host);
        return 421;
    }
    bool changes = strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0
                || strcmp (method, "PATCH") == 0 || strcmp (method, "DELETE") == 0;
    if (!changes)
        return 0;
    const char *origin = s_header (conn, "Origin");
    if (origin) {
        if (s_origin_allowed (edge, origin, host))
            return 0;
        snprintf (why, cap, "cross-origin %s refused: a page on %.200s may not change this server's "
                  "library (no API keys are set, so anything could); allow it with "
                  "http.allowed_origins", method, origin);
        return 403;
    }
    const char *site = s_header (conn, "Sec-Fetch-Site");
    if (site && (strcasecmp (site, "cross-site") == 0 || strcasecmp (site, "same-site") == 0)) {
        snprintf (why, cap, "cross-site %s refused (Sec-Fetch-Site: %.40s): another site's page may "
                  "not change this server's library", method, site);
        return 403;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Handlers

static enum MHD_Result
s_on_healthz (req_t *req, struct MHD_Connection *conn)
{
    return s_json (req, conn, 200, json_pack ("{s:s, s:b}", "status", "ok", "draining",
                                              req->edge->draining != 0), NULL);
}

//  Broker STATS as msgpack bytes (caller frees), or NULL with fail filled.
static char *
s_broker_stats_raw (edge_t *edge, int timeout_ms, size_t *size, sl_edge_fail_t *fail)
{
    sl_client_t *client = sl_edge_pool_take (edge->pool, fail);
    if (!client)
        return NULL;
    char *data = NULL;
    sl_client_result_t result;
    sl_client_rc_t rc = sl_client_stats (client, timeout_ms, &data, size, &result);
    sl_edge_pool_give (edge->pool, client);
    if (rc != SL_CLIENT_OK) {
        free (data);
        sl_edge_pool_map (&result, "broker stats", fail);
        return NULL;
    }
    return data;
}

//  Broker STATS as JSON, or NULL with fail filled.
static json_t *
s_broker_stats (edge_t *edge, int timeout_ms, sl_edge_fail_t *fail)
{
    size_t size = 0;
    char *data = s_broker_stats_raw (edge, timeout_ms, &size, fail);
    if (!data)
        return NULL;
    char err [256];
    json_t *stats = sl_json_from_msgpack (data, size, err, sizeof err);
    free (data);
    if (!stats) {
        fail->status = 502;
        snprintf (fail->message, sizeof fail->message, "unreadable broker stats: %s", err);
    }
    return stats;
}

static enum MHD_Result
s_on_readyz (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    json_t *checks = json_object ();
    char reasons [1024] = "";
    sl_edge_fail_t fail = { 0 };
    json_t *stats = s_broker_stats (edge, 1000, &fail);
    if (stats) {
        json_object_set_new (checks, "broker", json_string ("ok"));
        json_t *services = json_object_get (stats, "services");
        const char *needed [] = { "intake", "query", NULL };
        for (int i = 0; needed [i]; i++) {
            json_t *workers = json_object_get (json_object_get (services, needed [i]), "workers");
            bool ok = json_integer_value (workers) > 0;
            json_object_set_new (checks, needed [i], json_string (ok ? "ok" : "no workers"));
            if (!ok) {
                size_t len = strlen (reasons);
                snprintf (reasons + len, sizeof reasons - len, "%sno %s workers", *reasons ? "; " : "",
                          needed [i]);
            }
        }
        json_decref (stats);
    }
    else {
        json_object_set_new (checks, "broker", json_string (fail.message));
        snprintf (reasons, sizeof reasons, "broker unreachable: %s", fail.message);
    }
    if (stats) {
        json_t *reply = NULL;
        int status = sl_edge_pool_request (edge->pool, "default", "query", "status", NULL, NULL, 2000,
                                           &reply, &fail);
        if (status == 200 && json_is_string (json_object_get (reply, "store"))
        &&  strcmp (json_string_value (json_object_get (reply, "store")), "ok") == 0)
            json_object_set_new (checks, "store", json_string ("ok"));
        else {
            const char *why = status == 200 ? "store not ok" : fail.message;
            json_object_set_new (checks, "store", json_string (why));
            size_t len = strlen (reasons);
            snprintf (reasons + len, sizeof reasons - len, "%sstore: %s", *reasons ? "; " : "", why);
        }
        json_decref (reply);
    }
    if (edge->draining) {
        size_t len = strlen (reasons);
        snprintf (reasons + len, sizeof reasons - len, "%sdraining", *reasons ? "; " : "");
    }
    if (*reasons) {
        char message [1100];
        snprintf (message, sizeof message, "not ready: %s", reasons);
        return s_error_json (req, conn, 503, 0, json_pack ("{s:o}", "checks", checks), message);
    }
    return s_json (req, conn, 200, json_pack ("{s:b, s:o}", "ready", 1, "checks", checks), NULL);
}

static void
s_declare_metrics (sl_metrics_t *m)
{
    sl_metrics_declare (m, "sluice_http_requests_total", SL_COUNTER, "HTTP requests by route, method and status");
    sl_metrics_declare (m, "sluice_http_request_duration_seconds", SL_HISTOGRAM,
                        "HTTP request duration by route (SSE streams: whole stream)");
    sl_metrics_declare (m, "sluice_ingest_bytes_total", SL_COUNTER, "Bytes uploaded and accepted for ingest");
    sl_metrics_declare (m, "sluice_ingest_documents_total", SL_COUNTER, "Documents accepted for ingest by kind");
    sl_metrics_declare (m, "sluice_sse_streams", SL_GAUGE, "Open Server-Sent Event streams on this edge");
    sl_metrics_declare (m, "sluice_broker_up", SL_GAUGE, "1 if the broker answered STATS within 1 s");
    sl_metrics_broker_stats (m, NULL, 0);      //  the broker's figures: sluice_broker_*
    sl_metrics_declare (m, "sluice_store_up", SL_GAUGE, "1 if query/status answered within 2 s");
    sl_metrics_declare (m, "sluice_jobs", SL_GAUGE, "Jobs by state (store)");
    sl_metrics_declare (m, "sluice_documents", SL_GAUGE, "Documents stored");
    sl_metrics_declare (m, "sluice_chunks", SL_GAUGE, "Chunks stored");
}

static enum MHD_Result
s_on_metrics (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    sl_metrics_t *m = edge->metrics;
    sl_edge_fail_t fail;
    size_t size = 0;
    char *stats = s_broker_stats_raw (edge, 1000, &size, &fail);
    bool broker_up = stats != NULL;
    sl_metrics_set (m, "sluice_broker_up", NULL, broker_up ? 1 : 0);
    //  The same series, under the same names, as the broker's own metrics
    //  port: one mapping (sl_metrics_broker_stats); a snapshot, so a
    //  vanished service disappears too
    sl_metrics_broker_stats (m, stats, size);
    free (stats);
    json_t *status = NULL;
    int rc = broker_up ? sl_edge_pool_request (edge->pool, "default", "query", "status", NULL, NULL, 2000,
                                               &status, &fail) : 503;
    sl_metrics_set (m, "sluice_store_up", NULL, rc == 200 ? 1 : 0);
    if (rc == 200) {
        sl_metrics_clear (m, "sluice_jobs");
        const char *state;
        json_t *count;
        json_object_foreach (json_object_get (status, "jobs"), state, count) {
            char label [128], esc [64];
            snprintf (label, sizeof label, "state=\"%s\"", sl_metrics_label (state, esc, sizeof esc));
            sl_metrics_set (m, "sluice_jobs", label, (double) json_integer_value (count));
        }
        sl_metrics_set (m, "sluice_documents", NULL, (double) json_integer_value (json_object_get (status, "documents")));
        sl_metrics_set (m, "sluice_chunks", NULL, (double) json_integer_value (json_object_get (status, "chunks")));
    }
    json_decref (status);
    sl_metrics_set (m, "sluice_sse_streams", NULL, edge->hub ? sl_edge_hub_streams (edge->hub) : 0);
    char *text = sl_metrics_render (m);
    return s_send (req, conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text), NULL);
}

static enum MHD_Result
s_on_openapi (req_t *req, struct MHD_Connection *conn)
{
    char *copy = malloc (sl_edge_openapi_len + 1);
    assert (copy);
    memcpy (copy, sl_edge_openapi, sl_edge_openapi_len);
    copy [sl_edge_openapi_len] = 0;
    return s_send (req, conn, 200, "application/yaml", copy, sl_edge_openapi_len, NULL);
}

//  A query request whose reply is the response body (after an optional
//  touch-up). Any failure becomes the mapped JSON error.
static enum MHD_Result
s_query (req_t *req, struct MHD_Connection *conn, const char *kind, json_t *body, int timeout_ms,
         void (*touch) (json_t *reply), int ok_status)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_pool_request (req->edge->pool, req->ws, "query", kind, NULL, body,
                                       timeout_ms, &reply, &fail);
    json_decref (body);
    if (status != 200)
        return s_fail (req, conn, &fail);
    if (touch)
        touch (reply);
    return s_json (req, conn, ok_status, reply, NULL);
}

static void
s_touch_job (json_t *reply)
{
    s_job_links (json_object_get (reply, "job"));
}

static void
s_touch_jobs (json_t *reply)
{
    size_t index;
    json_t *job;
    json_array_foreach (json_object_get (reply, "jobs"), index, job)
        s_job_links (job);
}

static const char *s_states [] = { "queued", "fetching", "parsing", "chunking", "embedding", "storing",
                                   "completed", "failed", "cancelled", NULL };

//  limit/offset from the query string into body; false (and 400 sent) if bad.
static bool
s_page (req_t *req, struct MHD_Connection *conn, json_t *body)
{
    int64_t limit = s_int_arg (conn, "limit", DEFAULT_PAGE, MAX_PAGE);
    //  The store pages with an int: an offset past INT_MAX is refused here,
    //  not wrapped into a negative one down there
    int64_t offset = 0;
    const char *text = s_arg (conn, "offset");
    if (limit <= 0 || (text && !s_uint_parse (text, INT_MAX, &offset))) {
        s_error (req, conn, 400, "limit must be an integer 1..%d and offset an integer 0..%d", MAX_PAGE,
                 INT_MAX);
        return false;
    }
    json_object_set_new (body, "limit", json_integer (limit));
    json_object_set_new (body, "offset", json_integer (offset));
    return true;
}

static enum MHD_Result
s_on_jobs (req_t *req, struct MHD_Connection *conn)
{
    json_t *body = json_object ();
    if (!s_page (req, conn, body)) {
        json_decref (body);
        return MHD_YES;
    }
    const char *state = s_arg (conn, "state");
    if (state) {
        bool known = false;
        for (int i = 0; s_states [i]; i++)
            known |= strcmp (state, s_states [i]) == 0;
        if (!known) {
            json_decref (body);
            return s_error (req, conn, 400, "unknown state '%.64s' (queued, fetching, parsing, chunking, "
                            "embedding, storing, completed, failed, cancelled)", state);
        }
        json_object_set_new (body, "state", json_string (state));
    }
    return s_query (req, conn, "jobs_list", body, req->edge->request_ms, s_touch_jobs, 200);
}

//  The fetch callback of SSE streams: query/events in the stream's workspace.
static int
s_fetch_events (void *arg, const char *job, int64_t after, json_t **reply)
{
    sse_ctx_t *ctx = (sse_ctx_t *) arg;
    sl_edge_fail_t fail;
    json_t *body = json_pack ("{s:s, s:I}", "job", job, "after", (json_int_t) after);
    int status = sl_edge_pool_request (ctx->edge->pool, ctx->ws, "query", "events", NULL, body,
                                       ctx->edge->request_ms, reply, &fail);
    json_decref (body);
    if (status != 200)
        sl_debug (job, "SSE events query failed: %d %s", status, fail.message);
    return status;
}

static ssize_t
s_sse_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_ctx_t *ctx = (sse_ctx_t *) cls;
    ssize_t n = sl_edge_stream_read (ctx->stream, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void
s_sse_free (void *cls)
{
    sse_ctx_t *ctx = (sse_ctx_t *) cls;
    sl_edge_stream_destroy (&ctx->stream);
    free (ctx);
}

static enum MHD_Result
s_on_events (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    //  The job must exist in this workspace (404 otherwise)
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    json_t *body = json_pack ("{s:s}", "job", req->id);
    int status = sl_edge_pool_request (edge->pool, req->ws, "query", "job_get", NULL, body,
                                       edge->request_ms, &reply, &fail);
    json_decref (body);
    json_decref (reply);
    if (status != 200)
        return s_fail (req, conn, &fail);
    const char *last = s_header (conn, "Last-Event-ID");
    if (!last)
        last = s_arg (conn, "last_event_id");
    int64_t after = 0;
    if (last && *last && !s_uint_parse (last, INT64_MAX - 1, &after))
        return s_error (req, conn, 400, "Last-Event-ID must be an event id: a non-negative integer "
                        "of at most 18 digits");
    //  Subscribe first, then read the journal: nothing can fall between
    char topic [SL_TOPIC_MAX];
    sl_proto_topic (topic, sizeof topic, req->ws, req->id);
    sl_edge_sub_t *sub = sl_edge_hub_subscribe (edge->hub, topic, 2000);
    if (!sub)
        return s_error (req, conn, 503, "this edge is shutting down");
    sse_ctx_t *ctx = calloc (1, sizeof *ctx);
    assert (ctx);
    ctx->edge = edge;
    snprintf (ctx->ws, sizeof ctx->ws, "%s", req->ws);
    ctx->stream = sl_edge_stream_new (sub, req->id, after, edge->heartbeat_ms, s_fetch_events, ctx);
    status = sl_edge_stream_prime (ctx->stream);
    if (status != 200) {
        s_sse_free (ctx);
        if (status == 204)
            return s_send (req, conn, 204, NULL, NULL, 0, NULL);
        if (status == 404)
            return s_error (req, conn, 404, "no job %s", req->id);
        return s_error (req, conn, status == 429 ? 503 : status, "cannot read the events of job %s", req->id);
    }
    struct MHD_Response *response = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096,
                                                                       s_sse_read, ctx, s_sse_free);
    if (!response) {
        s_sse_free (ctx);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header (response, "Cache-Control", "no-cache");
    s_cors (edge, conn, response);
    MHD_add_response_header (response, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    if (rc == MHD_YES) {
        req->status = 200;
        req->streaming = true;
    }
    return rc;
}

static enum MHD_Result
s_on_docs (req_t *req, struct MHD_Connection *conn)
{
    json_t *body = json_object ();
    if (!s_page (req, conn, body)) {
        json_decref (body);
        return MHD_YES;
    }
    return s_query (req, conn, "doc_list", body, req->edge->request_ms, NULL, 200);
}

//  Whether the stored bytes went with a deleted document depends on whether
//  any other document, in any workspace, holds the same bytes: the store's
//  "blob_removed" would tell a caller what other workspaces hold. Dropped.
static void
s_touch_deleted (json_t *reply)
{
    json_object_del (reply, "blob_removed");
}

static enum MHD_Result
s_on_doc (req_t *req, struct MHD_Connection *conn)
{
    bool delete = strcmp (req->method, "DELETE") == 0;
    return s_query (req, conn, delete ? "doc_delete" : "doc_get", json_pack ("{s:s}", "id", req->id),
                    req->edge->request_ms, delete ? s_touch_deleted : NULL, delete ? 202 : 200);
}

static enum MHD_Result
s_on_doc_chunks (req_t *req, struct MHD_Connection *conn)
{
    json_t *body = json_pack ("{s:s}", "id", req->id);
    if (!s_page (req, conn, body)) {
        json_decref (body);
        return MHD_YES;
    }
    return s_query (req, conn, "doc_chunks", body, req->edge->request_ms, NULL, 200);
}

//  The store answers status with counts for every workspace. An admin key
//  (and open mode, one workspace) gets them as they are, "scope": "store".
//  A workspace key gets the store's health and model with the counts of
//  its own workspace only, "scope": "workspace": its documents; the store
//  has no per-workspace job or chunk counts to offer, so those are left
//  out rather than shown store-wide.
static enum MHD_Result
s_on_status (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_pool_request (edge->pool, req->ws, "query", "status", NULL, NULL, edge->request_ms,
                                       &reply, &fail);
    if (status != 200)
        return s_fail (req, conn, &fail);
    if (req->admin) {
        json_object_set_new (reply, "scope", json_string ("store"));
        return s_json (req, conn, 200, reply, NULL);
    }
    json_t *docs = NULL;
    json_t *body = json_pack ("{s:i, s:i}", "limit", 1, "offset", 0);
    status = sl_edge_pool_request (edge->pool, req->ws, "query", "doc_list", NULL, body, edge->request_ms,
                                   &docs, &fail);
    json_decref (body);
    if (status != 200) {
        json_decref (reply);
        return s_fail (req, conn, &fail);
    }
    json_object_del (reply, "jobs");
    json_object_del (reply, "chunks");
    json_object_set (reply, "documents", json_object_get (docs, "total"));
    json_object_set_new (reply, "scope", json_string ("workspace"));
    json_object_set_new (reply, "workspace", json_string (req->ws));
    json_decref (docs);
    return s_json (req, conn, 200, reply, NULL);
}

//  Each hit gets document_url: its document's stored bytes, opened at the
//  hit's first page where the type has pages (PDF viewers read #page=N)
static void
s_touch_hits (json_t *reply)
{
    size_t index;
    json_t *hit;
    json_array_foreach (json_object_get (reply, "hits"), index, hit) {
        const char *id = json_string_value (json_object_get (hit, "document_id"));
        const char *mime = json_string_value (json_object_get (hit, "mime"));
        json_int_t page = json_integer_value (json_object_get (hit, "page_start"));
        if (!id)
            continue;
        char url [160];
        int len = snprintf (url, sizeof url, "/v1/documents/%.64s/content", id);
        if (mime && strcmp (mime, "application/pdf") == 0 && page > 0)
            snprintf (url + len, sizeof url - (size_t) len, "#page=%lld", (long long) page);
        json_object_set_new (hit, "document_url", json_string (url));
    }
}

//  GET /v1/documents/{id}/content: the query service says whether the
//  caller's workspace has the document (404 if not) and which blob holds
//  it; sl_edge_content streams the bytes with their headers
static enum MHD_Result
s_on_doc_content (req_t *req, struct MHD_Connection *conn)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    json_t *body = json_pack ("{s:s}", "id", req->id);
    int status = sl_edge_pool_request (req->edge->pool, req->ws, "query", "doc_get", NULL, body,
                                       req->edge->request_ms, &reply, &fail);
    json_decref (body);
    if (status != 200) {
        json_decref (reply);
        return s_fail (req, conn, &fail);
    }
    json_t *doc = json_object_get (reply, "document");
    sl_edge_content_req_t what = {
        .id = req->id,
        .sha256 = json_string_value (json_object_get (doc, "sha256")),
        .mime = json_string_value (json_object_get (doc, "mime")),
        .source = json_string_value (json_object_get (doc, "source")),
        .range = s_header (conn, "Range"),
        .if_none_match = s_header (conn, "If-None-Match")
    };
    int code = 500;
    struct MHD_Response *response = sl_edge_content_response (req->edge->blobs, &what, &code);
    json_decref (reply);
    if (!response)
        return MHD_NO;
    s_cors (req->edge, conn, response);
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned int) code, response);
    MHD_destroy_response (response);
    if (rc == MHD_YES)
        req->status = code;
    return rc;
}

//  A search's "documents": an array of document ids (the query service
//  checks each against the workspace)
#define S_SEARCH_DOCS 100
static bool
s_search_documents_ok (json_t *docs)
{
    if (!json_is_array (docs) || json_array_size (docs) > S_SEARCH_DOCS)
        return false;
    size_t i;
    json_t *id;
    json_array_foreach (docs, i, id)
        if (!json_is_string (id) || !sl_token_valid (json_string_value (id)))
            return false;
    return true;
}

//  A query-string value as JSON: a string, or (not valid UTF-8) a number,
//  which the string checks then refuse
static json_t *
s_arg_json (const char *value)
{
    json_t *string = json_string (value);
    return string ? string : json_integer (0);
}

//  GET /v1/search's filter fields: filter=<JSON object>, source_prefix=,
//  mime=a,b. A filter that is not JSON goes in as a string, which the
//  body's check refuses with its reason
static void
s_filter_args (struct MHD_Connection *conn, json_t *in)
{
    const char *filter = s_arg (conn, "filter");
    if (filter) {
        json_t *parsed = json_loads (filter, JSON_REJECT_DUPLICATES, NULL);
        json_object_set_new (in, "filter", parsed ? parsed : s_arg_json (filter));
    }
    const char *prefix = s_arg (conn, "source_prefix");
    if (prefix)
        json_object_set_new (in, "source_prefix", s_arg_json (prefix));
    const char *mime = s_arg (conn, "mime");
    if (mime) {
        json_t *list = json_array ();
        char *copy = strdup (mime), *save = NULL;
        for (char *type = strtok_r (copy, ",", &save); type; type = strtok_r (NULL, ",", &save))
            json_array_append_new (list, s_arg_json (type));
        free (copy);
        json_object_set_new (in, "mime", list);
    }
}

//  GET /v1/search?q=...&k=10&mode=hybrid&documents=ID,ID: the POST body's
//  fields from the query string, for curl and a browser's address bar.
//  Values the body could not hold (k not a number, text not UTF-8) go in as
//  values the body's checks refuse, so both forms answer alike.
static json_t *
s_search_args (struct MHD_Connection *conn)
{
    json_t *in = json_object ();
    const char *q = s_arg (conn, "q");
    if (q)
        json_object_set_new (in, "query", s_arg_json (q));
    if (s_arg (conn, "k"))
        json_object_set_new (in, "k", json_integer (s_int_arg (conn, "k", 10, 1000)));
    const char *mode = s_arg (conn, "mode");
    if (mode)
        json_object_set_new (in, "mode", s_arg_json (mode));
    const char *docs = s_arg (conn, "documents");
    if (docs) {
        json_t *list = json_array ();
        char *copy = strdup (docs), *save = NULL;
        for (char *id = strtok_r (copy, ",", &save); id; id = strtok_r (NULL, ",", &save))
            json_array_append_new (list, s_arg_json (id));
        free (copy);
        json_object_set_new (in, "documents", list);
    }
    s_filter_args (conn, in);
    return in;
}

static enum MHD_Result
s_on_search (req_t *req, struct MHD_Connection *conn)
{
    json_error_t jerr;
    bool get = strcmp (req->method, "GET") == 0;
    json_t *in = get ? s_search_args (conn)
               : req->body ? json_loadb (req->body, req->body_len, 0, &jerr) : NULL;
    if (!in)
        return req->body ? s_error (req, conn, 400, "malformed JSON at line %d column %d: %s",
                                    jerr.line, jerr.column, jerr.text)
                         : s_error (req, conn, 400, "send {\"query\": \"...\", \"k\": 10}");
    json_t *query = json_object_get (in, "query");
    json_t *k = json_object_get (in, "k");
    json_t *mode = json_object_get (in, "mode");
    json_t *docs = json_object_get (in, "documents");
    enum MHD_Result rc;
    char why [300] = "";
    sl_filter_t *filter = NULL;
    bool filter_bad = json_is_object (in) && sl_filter_from_request (in, &filter, why, sizeof why);
    if (!json_is_object (in) || !json_is_string (query) || json_string_length (query) == 0)
        rc = s_error (req, conn, 400, "\"query\" must be a non-empty string");
    else
    if (json_string_length (query) > 4096)
        rc = s_error (req, conn, 400, "\"query\" is longer than 4096 bytes");
    else
    if (k && (!json_is_integer (k) || json_integer_value (k) < 1 || json_integer_value (k) > 100))
        rc = s_error (req, conn, 400, "\"k\" must be an integer 1..100");
    else
    if (mode && !(json_is_string (mode) && (streq (json_string_value (mode), "hybrid")
                                           || streq (json_string_value (mode), "vector")
                                           || streq (json_string_value (mode), "lexical"))))
        rc = s_error (req, conn, 400, "\"mode\" must be \"hybrid\", \"vector\" or \"lexical\"");
    else
    if (docs && !s_search_documents_ok (docs))
        rc = s_error (req, conn, 400, "\"documents\" must be an array of at most %d document ids",
                      S_SEARCH_DOCS);
    else
    if (filter_bad)
        rc = s_error (req, conn, 400, "%s", why);
    else {
        json_t *body = json_pack ("{s:O, s:I, s:s}", "query", query, "k",
                                  (json_int_t) (k ? json_integer_value (k) : 10), "mode",
                                  mode ? json_string_value (mode) : "hybrid");
        if (docs)
            json_object_set (body, "documents", docs);
        //  the filter fields go on as given (checked above; the query
        //  service checks them again)
        const char *fields [] = { "filter", "source_prefix", "mime" };
        for (size_t i = 0; filter && i < 3; i++)
            if (json_object_get (in, fields [i]))
                json_object_set (body, fields [i], json_object_get (in, fields [i]));
        rc = s_query (req, conn, "search", body, req->edge->search_ms, s_touch_hits, 200);
    }
    sl_filter_destroy (&filter);
    json_decref (in);
    return rc;
}

//  Job control (sl_edge_jobs): cancel and retry a job, pause and resume
//  the workspace's intake; intake decides, the answer is passed on
static enum MHD_Result
s_on_job_control (req_t *req, struct MHD_Connection *conn, const char *action)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_jobs_request (req->edge->pool, req->ws, action, *req->id ? req->id : NULL,
                                       req->edge->request_ms, &reply, &fail);
    if (status != 200)
        return s_fail (req, conn, &fail);
    s_job_links (json_object_get (reply, "job"));
    return s_json (req, conn, 200, reply, NULL);
}

//  POST /v1/documents/{id}/reprocess {"from": "chunk"}: a job that cuts
//  the document again from its kept pages (sl_edge_jobs)
static enum MHD_Result
s_on_reprocess (req_t *req, struct MHD_Connection *conn)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_jobs_reprocess (req->edge->pool, req->ws, req->id, req->body,
                                         req->body_len, req->edge->request_ms, &reply, &fail);
    if (status != 200)
        return s_fail (req, conn, &fail);
    s_job_links (json_object_get (reply, "job"));
    return s_json (req, conn, 202, reply, NULL);
}

//  GET /v1/workspace: the query service's answer, and whether its intake
//  is paused (intake's)
static enum MHD_Result
s_on_ws (req_t *req, struct MHD_Connection *conn)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_pool_request (req->edge->pool, req->ws, "query", "ws_get", NULL, NULL,
                                       req->edge->request_ms, &reply, &fail);
    if (status != 200)
        return s_fail (req, conn, &fail);
    sl_edge_jobs_ws_state (req->edge->pool, req->ws, req->edge->request_ms, reply);
    return s_json (req, conn, 200, reply, NULL);
}

//  PUT /v1/workspace/chunking {"target_tokens": 128, ...}: the fields
//  given change (the query service validates them against the model);
//  DELETE: back to the server's settings
static enum MHD_Result
s_on_ws_chunking (req_t *req, struct MHD_Connection *conn)
{
    if (strcmp (req->method, "DELETE") == 0)
        return s_query (req, conn, "ws_chunking", json_pack ("{s:n}", "chunking"),
                        req->edge->request_ms, NULL, 200);
    json_error_t jerr;
    json_t *in = req->body ? json_loadb (req->body, req->body_len, 0, &jerr) : NULL;
    if (!in && req->body)
        return s_error (req, conn, 400, "malformed JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
    if (!json_is_object (in)) {
        json_decref (in);
        return s_error (req, conn, 400, "send {\"target_tokens\": 128, \"overlap_tokens\": 37, "
                        "\"embed_context\": true} (any of them)");
    }
    return s_query (req, conn, "ws_chunking", json_pack ("{s:o}", "chunking", in),
                    req->edge->request_ms, NULL, 200);
}

//  PUT /v1/documents/{id}/meta replaces the document's attributes with the
//  body's object; PATCH merges it over them (a key set to null goes). The
//  answer is the document as it is now; another workspace's id is 404
static enum MHD_Result
s_on_doc_meta (req_t *req, struct MHD_Connection *conn)
{
    bool merge = strcmp (req->method, "PATCH") == 0;
    json_error_t jerr;
    json_t *in = req->body ? json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                           : NULL;
    if (!in)
        return req->body ? s_error (req, conn, 400, "malformed JSON at line %d column %d: %s",
                                    jerr.line, jerr.column, jerr.text)
                         : s_error (req, conn, 400, "send the attributes as a JSON object, "
                                    "such as {\"team\": \"legal\", \"year\": 2024}");
    char why [300] = "";
    sl_meta_t *checked = NULL;
    if (!merge && !(checked = sl_meta_from_json (in, why, sizeof why))) {
        json_decref (in);
        return s_error (req, conn, 400, "%s", why);
    }
    sl_meta_destroy (&checked);
    //  a patch is checked once merged (a null there removes a key), by the store
    if (merge && !json_is_object (in)) {
        json_decref (in);
        return s_error (req, conn, 400, "meta must be a JSON object such as {\"team\": "
                        "\"legal\"} (a key set to null is removed)");
    }
    json_t *body = json_pack ("{s:s, s:o, s:b}", "id", req->id, "meta", in, "merge", merge);
    return s_query (req, conn, "doc_meta", body, req->edge->request_ms, NULL, 200);
}

//  May this workspace see the dead letter? Letters carry the job (and, once
//  the broker adds it, the workspace); jobs are looked up in the caller's
//  workspace, which answers 404 for anyone else's.
static bool
s_letter_visible (req_t *req, json_t *letter)
{
    if (req->edge->key_count == 0)
        return true;                //  open mode: one workspace
    const char *ws = json_string_value (json_object_get (letter, "ws"));
    if (ws)
        return strcmp (ws, req->ws) == 0;
    const char *job = json_string_value (json_object_get (letter, "job"));
    if (!job || !*job)
        return false;
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    json_t *body = json_pack ("{s:s}", "job", job);
    int status = sl_edge_pool_request (req->edge->pool, req->ws, "query", "job_get", NULL, body,
                                       req->edge->request_ms, &reply, &fail);
    json_decref (body);
    json_decref (reply);
    return status == 200;
}

//  The DLQ as JSON (array), or NULL with fail.
static json_t *
s_dlq (edge_t *edge, int limit, sl_edge_fail_t *fail)
{
    sl_client_t *client = sl_edge_pool_take (edge->pool, fail);
    if (!client)
        return NULL;
    char *data = NULL;
    size_t size = 0;
    sl_client_result_t result;
    sl_client_rc_t rc = sl_client_dlq_list (client, limit, edge->request_ms, &data, &size, &result);
    sl_edge_pool_give (edge->pool, client);
    if (rc != SL_CLIENT_OK) {
        free (data);
        sl_edge_pool_map (&result, "dead letters", fail);
        return NULL;
    }
    char err [256];
    json_t *list = sl_json_from_msgpack (data, size, err, sizeof err);
    free (data);
    if (!json_is_array (list)) {
        json_decref (list);
        fail->status = 502;
        snprintf (fail->message, sizeof fail->message, "unreadable dead-letter list");
        return NULL;
    }
    return list;
}

static enum MHD_Result
s_on_dlq (req_t *req, struct MHD_Connection *conn)
{
    int64_t limit = s_int_arg (conn, "limit", 100, 10000);
    if (limit <= 0)
        return s_error (req, conn, 400, "limit must be an integer 1..10000");
    sl_edge_fail_t fail;
    json_t *list = s_dlq (req->edge, (int) limit, &fail);
    if (!list)
        return s_fail (req, conn, &fail);
    json_t *letters = json_array ();
    size_t index;
    json_t *letter;
    json_array_foreach (list, index, letter)
        if (s_letter_visible (req, letter)) {
            json_t *copy = json_deep_copy (letter);
            //  "id" is what POST /v1/dlq/{id}/replay takes
            json_object_set (copy, "id", json_object_get (letter, "mid"));
            json_array_append_new (letters, copy);
        }
    json_decref (list);
    return s_json (req, conn, 200, json_pack ("{s:o}", "letters", letters), NULL);
}

static enum MHD_Result
s_on_dlq_replay (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    sl_edge_fail_t fail;
    if (edge->key_count > 0) {
        json_t *list = s_dlq (edge, 100000, &fail);
        if (!list)
            return s_fail (req, conn, &fail);
        bool visible = false;
        size_t index;
        json_t *letter;
        json_array_foreach (list, index, letter)
            if (strcmp (json_string_value (json_object_get (letter, "mid")) ?: "", req->id) == 0) {
                visible = s_letter_visible (req, letter);
                break;
            }
        json_decref (list);
        if (!visible)
            return s_error (req, conn, 404, "no dead letter %s", req->id);
    }
    sl_client_t *client = sl_edge_pool_take (edge->pool, &fail);
    if (!client)
        return s_fail (req, conn, &fail);
    sl_client_result_t result;
    sl_client_rc_t rc = sl_client_dlq_replay (client, req->id, edge->request_ms, &result);
    sl_edge_pool_give (edge->pool, client);
    if (rc != SL_CLIENT_OK) {
        sl_edge_pool_map (&result, "replay", &fail);
        if (fail.status == 404)
            snprintf (fail.message, sizeof fail.message, "no dead letter %s", req->id);
        return s_fail (req, conn, &fail);
    }
    return s_json (req, conn, 202, json_pack ("{s:s, s:b}", "id", req->id, "replayed", 1), NULL);
}

//  Ask intake for one document's job (body: what intake/ingest takes).
//  The job object (with its links; caller owns it), or NULL with fail.
static json_t *
s_submit (edge_t *edge, const char *ws, json_t *body, sl_edge_fail_t *fail)
{
    //  The edge names the job, so intake recognises a retry: when the
    //  answer is lost (timeout) the request may have been done, and asking
    //  once more with the same id returns that job instead of a second one
    char job_id [SL_ID_LEN + 1];
    sl_id_new (job_id);
    json_t *reply = NULL;
    int status = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        status = sl_edge_pool_request (edge->pool, ws, "intake", "ingest", job_id, body, edge->request_ms,
                                       &reply, fail);
        if (!(status == 503 && fail->timed_out))
            break;
        sl_warn (job_id, "intake/ingest timed out; asking again with the same job id");
    }
    json_t *job = json_object_get (reply, "job");
    if (status == 200 && json_is_object (job)) {
        json_incref (job);
        json_decref (reply);
        s_job_links (job);
        return job;
    }
    if (status == 200) {
        fail->status = 502;
        snprintf (fail->message, sizeof fail->message, "intake/ingest: reply without a job");
    }
    json_decref (reply);
    return NULL;
}

static enum MHD_Result
s_on_ingest (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    sl_edge_upload_t *up = req->upload;
    const char *message;
    if (sl_edge_upload_finish (up)) {
        int status = sl_edge_upload_error (up, &message);
        return s_error_json (req, conn, status, sl_edge_upload_retry_after (up), NULL, message);
    }
    //  Attributes for every document of the request: in the body ("meta"
    //  of a JSON body or a form field) or, for any body, ?meta=<JSON>
    const char *meta_arg = s_arg (conn, "meta");
    const char *meta_text = sl_edge_upload_meta (up);
    if (meta_arg && meta_text)
        return s_error (req, conn, 400, "meta is given twice: in the body and as ?meta=");
    json_t *meta = NULL;
    if (meta_arg) {
        char why [300];
        sl_meta_t *checked = sl_meta_parse (meta_arg, -1, why, sizeof why);
        if (!checked)
            return s_error (req, conn, 400, "%s", why);
        meta = json_loads (checked->json, 0, NULL);
        sl_meta_destroy (&checked);
    }
    else
    if (meta_text)
        meta = json_loads (meta_text, 0, NULL);
    json_t *jobs = json_array ();
    json_t *rejected = json_array ();
    sl_edge_fail_t stop = { 0 };    //  once intake is full or gone, stop asking
    int first_status = 0, first_retry = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < sl_edge_upload_count (up); i++) {
        sl_edge_doc_t *doc = sl_edge_upload_doc (up, i);
        json_t *what = doc->url ? json_pack ("{s:s}", "url", doc->url)
                                : json_pack ("{s:s}", "filename", doc->filename);
        sl_edge_fail_t fail = { 0 };
        if (doc->status) {
            fail.status = doc->status;
            snprintf (fail.message, sizeof fail.message, "%s", doc->message);
        }
        else
        if (stop.status)
            fail = stop;
        else {
            //  "filename" is the caller's name for the document (the store
            //  replaces an earlier document of that name); an upload
            //  without one becomes a document of its own
            json_t *body = doc->url
                ? json_pack ("{s:s}", "url", doc->url)
                : json_pack ("{s:s, s:I, s:s}", "blob", doc->sha256, "size", (json_int_t) doc->size,
                             "mime", doc->mime);
            if (!doc->url && *doc->filename)
                json_object_set_new (body, "filename", json_string (doc->filename));
            //  attributes travel in the job's options to the store's commit
            if (meta)
                json_object_set (body, "meta", meta);
            json_t *job = s_submit (edge, req->ws, body, &fail);
            json_decref (body);
            if (job) {
                json_array_append_new (jobs, job);
                if (!doc->url)
                    bytes += doc->size;
                sl_metrics_add (edge->metrics, "sluice_ingest_documents_total",
                                doc->url ? "kind=\"url\"" : "kind=\"upload\"", 1);
                json_decref (what);
                continue;
            }
            if (fail.status == 429 || fail.status >= 500)
                stop = fail;
        }
        if (!first_status) {
            first_status = fail.status;
            first_retry = fail.retry_after_s;
        }
        json_object_set_new (what, "error", json_pack ("{s:i, s:s}", "code", fail.status, "message", fail.message));
        json_array_append_new (rejected, what);
    }
    if (bytes)
        sl_metrics_add (edge->metrics, "sluice_ingest_bytes_total", NULL, (double) bytes);
    if (json_array_size (jobs) == 0) {
        json_decref (meta);
        json_decref (jobs);
        json_t *first = json_array_get (rejected, 0);
        const char *msg = json_string_value (json_object_get (json_object_get (first, "error"), "message"));
        char message [600];
        snprintf (message, sizeof message, "%s", msg ? msg : "nothing to ingest");
        int status = first_status ? first_status : 400;
        return s_error_json (req, conn, status, first_retry, json_pack ("{s:o}", "rejected", rejected), message);
    }
    json_decref (meta);
    char location [128];
    snprintf (location, sizeof location, "%s",
              json_string_value (json_object_get (json_array_get (jobs, 0), "status_url")));
    json_t *out = json_pack ("{s:o}", "jobs", jobs);
    if (json_array_size (rejected))
        json_object_set_new (out, "rejected", rejected);
    else
        json_decref (rejected);
    const char *headers [] = { "Location", location, NULL };
    return s_json (req, conn, 202, out, headers);
}

//  --------------------------------------------------------------------------
//  Resumable uploads (tus): the protocol is sl_edge_tus's; here are the
//  routing, the answers, and the ingest of a finished upload

static void
s_tus_headers (struct MHD_Connection *conn, sl_edge_tus_headers_t *h)
{
    h->tus_resumable = s_header (conn, "Tus-Resumable");
    h->upload_length = s_header (conn, "Upload-Length");
    h->upload_defer_length = s_header (conn, "Upload-Defer-Length");
    h->upload_metadata = s_header (conn, "Upload-Metadata");
    h->upload_offset = s_header (conn, "Upload-Offset");
    h->upload_checksum = s_header (conn, "Upload-Checksum");
    h->content_type = s_header (conn, MHD_HTTP_HEADER_CONTENT_TYPE);
}

//  Send a tus reply: its headers, and for an error the usual JSON body
//  (json, for a GET, is sent and freed)
static enum MHD_Result
s_tus_send (req_t *req, struct MHD_Connection *conn, const sl_edge_tus_reply_t *reply, char *json)
{
    const char *headers [2 * SL_EDGE_TUS_HEADERS + 1];
    int n = 0;
    for (int i = 0; i < reply->count; i++) {
        headers [n++] = reply->name [i];
        headers [n++] = reply->value [i];
    }
    headers [n] = NULL;
    if (reply->status >= 400) {
        free (json);
        json_t *body = json_pack ("{s:{s:i, s:s}}", "error", "code", reply->status, "message", reply->message);
        return s_json (req, conn, reply->status, body, headers);
    }
    if (json)
        return s_send (req, conn, reply->status, "application/json", json, strlen (json), headers);
    return s_send (req, conn, reply->status, NULL, NULL, 0, headers);
}

//  A finished upload becomes a job (once: the upload records it). Adds
//  Sluice-Job to reply, or turns reply into the refusal (the bytes stay:
//  an empty PATCH at the end asks again).
static void
s_tus_ingest (req_t *req, sl_edge_tus_done_t *done, sl_edge_tus_reply_t *reply)
{
    edge_t *edge = req->edge;
    if (!*done->job) {
        json_t *body = json_pack ("{s:s, s:I, s:s}", "blob", done->blob, "size", (json_int_t) done->size,
                                  "mime", done->mime);
        if (*done->filename)
            json_object_set_new (body, "filename", json_string (done->filename));
        json_t *meta = *done->attrs ? json_loads (done->attrs, 0, NULL) : NULL;
        if (meta)
            json_object_set_new (body, "meta", meta);
        sl_edge_fail_t fail = { 0 };
        json_t *job = s_submit (edge, req->ws, body, &fail);
        json_decref (body);
        if (!job) {
            *reply = (sl_edge_tus_reply_t) { 0 };
            reply->status = fail.status ? fail.status : 503;
            snprintf (reply->message, sizeof reply->message, "every byte arrived, but the document could not "
                      "be ingested: %.200s (send an empty PATCH at Upload-Offset %llu to ask again)", fail.message,
                      (unsigned long long) done->size);
            sl_edge_tus_reply_header (reply, "Tus-Resumable", "1.0.0");
            if (fail.retry_after_s > 0 || reply->status == 429) {
                char retry [16];
                snprintf (retry, sizeof retry, "%d", fail.retry_after_s > 0 ? fail.retry_after_s : 1);
                sl_edge_tus_reply_header (reply, "Retry-After", retry);
            }
            return;
        }
        snprintf (done->job, sizeof done->job, "%s", json_string_value (json_object_get (job, "id")));
        json_decref (job);
        if (sl_edge_tus_set_job (edge->tus, req->ws, done->id, done->job))
            sl_warn (done->job, "upload %s: cannot record its job (a retried PATCH may ingest it again)",
                     done->id);
        sl_metrics_add (edge->metrics, "sluice_ingest_documents_total", "kind=\"upload\"", 1);
        sl_metrics_add (edge->metrics, "sluice_ingest_bytes_total", NULL, (double) done->size);
        sl_info (done->job, "upload %s complete (%llu bytes): ingesting", done->id,
                 (unsigned long long) done->size);
    }
    sl_edge_tus_reply_header (reply, "Sluice-Job", done->job);
}

//  PATCH headers arrived: open the upload for the body, or refuse now
static bool
s_tus_begin_patch (req_t *req, struct MHD_Connection *conn)
{
    sl_edge_tus_headers_t h;
    s_tus_headers (conn, &h);
    sl_edge_tus_reply_t reply;
    if (!req->edge->tus) {
        s_error (req, conn, 503, "resumable uploads are off: this edge has no blob area");
        return true;
    }
    req->patch = sl_edge_tus_patch_begin (req->edge->tus, req->ws, req->id, &h, &reply);
    if (!req->patch) {
        s_tus_send (req, conn, &reply, NULL);
        return true;
    }
    return false;
}

static enum MHD_Result
s_on_tus (req_t *req, struct MHD_Connection *conn)
{
    edge_t *edge = req->edge;
    sl_edge_tus_headers_t h;
    s_tus_headers (conn, &h);
    sl_edge_tus_reply_t reply;
    if (!edge->tus)
        return s_error (req, conn, 503, "resumable uploads are off: this edge has no blob area");
    char *json = NULL;
    if (req->route->id == R_TUS_OPTIONS)
        sl_edge_tus_options (edge->tus, &reply);
    else
    if (req->route->id == R_TUS_CREATE)
        sl_edge_tus_create (edge->tus, req->ws, &h, &reply);
    else
    if (strcmp (req->method, "GET") == 0)
        sl_edge_tus_head (edge->tus, req->ws, req->id, &h, &reply, req->head ? NULL : &json);
    else
    if (strcmp (req->method, "DELETE") == 0)
        sl_edge_tus_delete (edge->tus, req->ws, req->id, &h, &reply);
    else {
        sl_edge_tus_done_t done;
        if (sl_edge_tus_patch_end (&req->patch, true, &reply, &done))
            s_tus_ingest (req, &done, &reply);
    }
    return s_tus_send (req, conn, &reply, json);
}

//  The connection dropped mid-PATCH: keep what arrived, and if that was
//  the last byte, ingest it now (the client's next HEAD will say the
//  upload is whole and send nothing more)
static void
s_tus_dropped (req_t *req)
{
    sl_edge_tus_reply_t reply;
    sl_edge_tus_done_t done;
    if (sl_edge_tus_patch_end (&req->patch, false, &reply, &done))
        s_tus_ingest (req, &done, &reply);
}

//  /v1/sources and below (sl_edge_sources): sub is "", "sync" or "runs"
static enum MHD_Result
s_on_sources (req_t *req, struct MHD_Connection *conn, const char *sub)
{
    json_t *reply = NULL;
    sl_edge_fail_t fail;
    int status = sl_edge_sources_call (req->edge->pool, req->ws, req->method,
                                       req->route->id == R_SOURCES ? "" : req->id, sub, req->body,
                                       req->body_len, s_arg (conn, "limit"), req->edge->request_ms,
                                       &reply, &fail);
    if (status >= 300)
        return s_fail (req, conn, &fail);
    return s_json (req, conn, status, reply, NULL);
}

static enum MHD_Result
s_dispatch (req_t *req, struct MHD_Connection *conn)
{
    switch (req->route->id) {
        case R_HEALTHZ: return s_on_healthz (req, conn);
        case R_READYZ: return s_on_readyz (req, conn);
        case R_METRICS: return s_on_metrics (req, conn);
        case R_OPENAPI: return s_on_openapi (req, conn);
        case R_STATUS: return s_on_status (req, conn);
        case R_INGEST: return s_on_ingest (req, conn);
        case R_JOBS: return s_on_jobs (req, conn);
        case R_JOB:
            return s_query (req, conn, "job_get", json_pack ("{s:s}", "job", req->id),
                            req->edge->request_ms, s_touch_job, 200);
        case R_JOB_EVENTS: return s_on_events (req, conn);
        case R_DOCS: return s_on_docs (req, conn);
        case R_DOC: return s_on_doc (req, conn);
        case R_DOC_CHUNKS: return s_on_doc_chunks (req, conn);
        case R_DOC_CONTENT: return s_on_doc_content (req, conn);
        case R_SEARCH: return s_on_search (req, conn);
        case R_DOC_META: return s_on_doc_meta (req, conn);
        case R_DLQ: return s_on_dlq (req, conn);
        case R_DLQ_REPLAY: return s_on_dlq_replay (req, conn);
        case R_WS: return s_on_ws (req, conn);
        case R_JOB_CANCEL: return s_on_job_control (req, conn, "cancel");
        case R_JOB_RETRY: return s_on_job_control (req, conn, "retry");
        case R_WS_PAUSE: return s_on_job_control (req, conn, "pause");
        case R_WS_RESUME: return s_on_job_control (req, conn, "resume");
        case R_DOC_REPROCESS: return s_on_reprocess (req, conn);
        case R_WS_CHUNKING: return s_on_ws_chunking (req, conn);
        case R_TUS_CREATE: case R_TUS_OPTIONS: case R_TUS: return s_on_tus (req, conn);
        case R_SOURCES: case R_SOURCE: return s_on_sources (req, conn, "");
        case R_SOURCE_SYNC: return s_on_sources (req, conn, "sync");
        case R_SOURCE_RUNS: return s_on_sources (req, conn, "runs");
        default: return s_error (req, conn, 404, "no such endpoint");
    }
}

//  --------------------------------------------------------------------------
//  MHD callbacks

//  First call of a request: route, auth, early refusals. Returns true if a
//  response was queued already.
static bool
s_begin (req_t *req, struct MHD_Connection *conn, const char *url, const char *method)
{
    edge_t *edge = req->edge;
    req->head = strcmp (method, "HEAD") == 0;
    snprintf (req->method, sizeof req->method, "%s", req->head ? "GET" : method);
    snprintf (req->route_label, sizeof req->route_label, "other");
    char path [1024];
    snprintf (path, sizeof path, "%s", url);
    size_t len = strlen (path);
    while (len > 1 && path [len - 1] == '/')
        path [--len] = 0;
    char why [512];
    int refusal = s_browser_check (edge, conn, method, path, why, sizeof why);
    if (refusal) {
        s_error (req, conn, refusal, "%s", why);
        return true;
    }
    if (strcmp (method, "OPTIONS") == 0 && *edge->cors
    &&  !(strcmp (path, "/v1/uploads") == 0 && !s_header (conn, "Access-Control-Request-Method"))) {
        //  CORS preflight: answered for any path, no key needed
        const char *headers [] = { "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE",
                                   "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, "
                                   "Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum",
                                   "Access-Control-Max-Age", "600", NULL };
        s_send (req, conn, 204, NULL, NULL, 0, headers);
        return true;
    }
    //  The web page (actors/edge/web, compiled in): public, like /healthz;
    //  the API calls it makes carry the key
    const sl_edge_asset_t *asset = strcmp (req->method, "GET") == 0 ? sl_edge_asset_find (path) : NULL;
    if (asset) {
        snprintf (req->route_label, sizeof req->route_label, "%s", asset->path);
        int status = 0;
        struct MHD_Response *response = sl_edge_asset_response (asset, s_header (conn, "If-None-Match"),
                                                                &status);
        if (response && MHD_queue_response (conn, (unsigned int) status, response) == MHD_YES)
            req->status = status;
        if (response)
            MHD_destroy_response (response);
        return true;
    }
    //  Find the route: path first, then method (405 lists what is allowed)
    char allow [64] = "";
    bool bad_id = false;
    for (const route_t *r = s_routes; r->path; r++) {
        char id [65] = "";
        bool bad = false;
        if (!sl_edge_path_match (r->path, path, id, &bad))
            continue;
        if (bad) {
            bad_id = true;
            snprintf (req->route_label, sizeof req->route_label, "%s", r->path);
            continue;
        }
        if (strcmp (r->method, req->method) == 0) {
            req->route = r;
            snprintf (req->id, sizeof req->id, "%s", id);
            snprintf (req->route_label, sizeof req->route_label, "%s", r->path);
            break;
        }
        size_t n = strlen (allow);
        snprintf (allow + n, sizeof allow - n, "%s%s", n ? ", " : "", r->method);
        snprintf (req->route_label, sizeof req->route_label, "%s", r->path);
    }
    if (!req->route) {
        if (*allow && !bad_id) {
            const char *headers [] = { "Allow", allow, NULL };
            char message [160];
            snprintf (message, sizeof message, "method %s not allowed here (allowed: %s)", method, allow);
            json_t *body = json_pack ("{s:{s:i, s:s}}", "error", "code", 405, "message", message);
            s_json (req, conn, 405, body, headers);
        }
        else
            s_error (req, conn, 404, bad_id ? "no such resource (malformed id)" : "no such endpoint: %.200s", url);
        return true;
    }
    if (edge->draining && req->route->id != R_HEALTHZ) {
        s_error (req, conn, 503, "this edge is shutting down");
        return true;
    }
    if (!req->route->open) {
        const char *reason = "";
        const edge_key_t *key = s_authenticate (edge, conn, req->route->id, &reason);
        if (!key) {
            s_error (req, conn, 401, "%s", reason);
            return true;
        }
        //  Store-wide numbers are for operators: a workspace key must not
        //  learn how much other workspaces hold
        if (req->route->id == R_METRICS && !key->admin) {
            s_error (req, conn, 403, "/metrics shows numbers for every workspace: it needs an admin key "
                     "(auth.admin_keys)");
            return true;
        }
        if (!*key->ws && req->route->id != R_METRICS && req->route->id != R_STATUS) {
            s_error (req, conn, 403, "this is an admin key (auth.admin_keys): it reads /metrics and "
                     "/v1/status; documents and jobs need a workspace key (auth.keys)");
            return true;
        }
        req->admin = key->admin;
        snprintf (req->ws, sizeof req->ws, "%s", *key->ws ? key->ws : "default");
    }
    const char *length = s_header (conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = length ? strtoull (length, NULL, 10) : 0;
    if (req->route->id == R_INGEST) {
        const char *ctype = s_header (conn, MHD_HTTP_HEADER_CONTENT_TYPE);
        bool json = ctype && strncasecmp (ctype, "application/json", 16) == 0;
        size_t limit = json ? edge->max_json : edge->max_upload;
        if (declared > limit) {
            s_error (req, conn, 413, "%s of %llu bytes exceeds %s (%zu bytes)", json ? "JSON body" : "upload",
                     declared, json ? "the JSON limit" : "http.max_upload", limit);
            return true;
        }
        //  A raw body's name: ?name= (or ?filename=), else Content-Disposition
        const char *filename = s_arg (conn, "name");
        if (!filename)
            filename = s_arg (conn, "filename");
        char *from_header = NULL;
        if (!filename)
            filename = from_header = sl_edge_disposition_filename (s_header (conn, "Content-Disposition"));
        int status;
        char message [512];
        req->upload = sl_edge_upload_new (conn, edge->blobs, ctype, filename, edge->max_upload,
                                          edge->max_json, &status, message, sizeof message);
        free (from_header);
        if (!req->upload) {
            s_error_json (req, conn, status, status == 503 ? 1 : 0, NULL, message);
            return true;
        }
    }
    else
    if (req->route->id == R_TUS && strcmp (req->method, "PATCH") == 0)
        return s_tus_begin_patch (req, conn);
    else
    if (declared > edge->max_json) {
        s_error (req, conn, 413, "request body of %llu bytes exceeds %zu bytes", declared, edge->max_json);
        return true;
    }
    return false;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    edge_t *edge = (edge_t *) cls;
    req_t *req = (req_t *) *con_cls;
    if (!req) {
        req = calloc (1, sizeof *req);
        assert (req);
        req->edge = edge;
        req->started = sl_mono_ms ();
        *con_cls = req;
        s_begin (req, conn, url, method);
        return MHD_YES;
    }
    if (req->status) {
        //  Answered already (early refusal): drop whatever body follows
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (req->deferred_status)
            return MHD_YES;
        if (req->patch) {
            if (sl_edge_tus_patch_feed (req->patch, upload_data, size))
                req->deferred_status = -1;      //  the patch holds the answer: read the rest, then say it
        }
        else
        if (req->upload) {
            if (sl_edge_upload_feed (req->upload, upload_data, size)) {
                const char *message;
                int status = sl_edge_upload_error (req->upload, &message);
                int retry = sl_edge_upload_retry_after (req->upload);
                //  Answer now if MHD lets us (it then closes the connection);
                //  otherwise read and discard the rest, and answer at the end
                if (s_error_json (req, conn, status, retry, NULL, message) != MHD_YES) {
                    req->deferred_status = status;
                    req->deferred_retry_s = retry;
                    snprintf (req->deferred_message, sizeof req->deferred_message, "%s", message);
                }
            }
        }
        else {
            if (req->body_len + size > edge->max_json) {
                req->deferred_status = 413;
                snprintf (req->deferred_message, sizeof req->deferred_message,
                          "request body exceeds %zu bytes", edge->max_json);
                return MHD_YES;
            }
            req->body = realloc (req->body, req->body_len + size + 1);
            assert (req->body);
            memcpy (req->body + req->body_len, upload_data, size);
            req->body_len += size;
            req->body [req->body_len] = 0;
        }
        return MHD_YES;
    }
    if (req->deferred_status > 0)
        return s_error_json (req, conn, req->deferred_status, req->deferred_retry_s, NULL,
                             req->deferred_message);
    return s_dispatch (req, conn);
}

//  Percent-decoding of paths and arguments, as libmicrohttpd's own but
//  leaving "%00" as it is: a NUL would end the C string there, and
//  "/v1/documents/%00/content" would be read as "/v1/documents" (the
//  caller's list) instead of a malformed id
static size_t
s_unescape (void *cls, struct MHD_Connection *conn, char *text)
{
    (void) cls;
    (void) conn;
    char *r = text, *w = text;
    while (*r) {
        if (r [0] == '%' && isxdigit ((unsigned char) r [1]) && isxdigit ((unsigned char) r [2])
        &&  !(r [1] == '0' && r [2] == '0')) {
            char hex [3] = { r [1], r [2], 0 };
            *w++ = (char) strtol (hex, NULL, 16);
            r += 3;
        }
        else
            *w++ = *r++;
    }
    *w = 0;
    return (size_t) (w - text);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    edge_t *edge = (edge_t *) cls;
    req_t *req = (req_t *) *con_cls;
    if (!req)
        return;
    char labels [256], esc [96];
    snprintf (labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"",
              sl_metrics_label (req->route_label, esc, sizeof esc), req->method,
              req->status ? req->status : 499);
    sl_metrics_add (edge->metrics, "sluice_http_requests_total", labels, 1);
    snprintf (labels, sizeof labels, "route=\"%s\"", sl_metrics_label (req->route_label, esc, sizeof esc));
    sl_metrics_observe (edge->metrics, "sluice_http_request_duration_seconds", labels,
                        (double) (sl_mono_ms () - req->started) / 1000.0);
    sl_edge_upload_destroy (&req->upload);
    if (req->patch)
        s_tus_dropped (req);
    free (req->body);
    free (req);
    *con_cls = NULL;
}

//  Blank the value of every access_token=... in text (in place): URLs that
//  reach a log must not carry keys.
void
sl_edge_scrub_keys (char *text)
{
    const char *mask = "***";
    char *p = text;
    while ((p = strcasestr (p, "access_token=")) != NULL) {
        p += 13;
        size_t vlen = strcspn (p, "& \t\r\n\"'#");
        size_t mlen = strlen (mask) < vlen ? strlen (mask) : vlen;
        memcpy (p, mask, mlen);
        memmove (p + mlen, p + vlen, strlen (p + vlen) + 1);
        p += mlen;
    }
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    char line [512];
    vsnprintf (line, sizeof line, fmt, ap);
    sl_edge_scrub_keys (line);
    size_t len = strlen (line);
    while (len && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = 0;
    sl_warn (NULL, "http: %s", line);
}

//  --------------------------------------------------------------------------
//  Configuration

int
sl_edge_keys_check (const char *value, char *err, size_t errlen)
{
    if (!value || !*value)
        return 0;
    char *copy = strdup (value);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        while (isspace ((unsigned char) *tok))
            tok++;
        char *end = tok + strlen (tok);
        while (end > tok && isspace ((unsigned char) end [-1]))
            *--end = 0;
        if (!*tok)
            continue;
        char *colon = strrchr (tok, ':');
        if (!colon || colon == tok || !colon [1]) {
            snprintf (err, errlen, "auth.keys: entry #%d is not KEY:WORKSPACE", n + 1);
            free (copy);
            return -1;
        }
        *colon = 0;
        if (strlen (tok) < 8 || strlen (tok) > 128) {
            snprintf (err, errlen, "auth.keys: key #%d must be 8..128 characters", n + 1);
            free (copy);
            return -1;
        }
        for (const char *p = tok; *p; p++)
            if (*p <= ' ' || *p == 0x7f) {
                snprintf (err, errlen, "auth.keys: key #%d contains spaces or control characters", n + 1);
                free (copy);
                return -1;
            }
        if (!sl_token_valid (colon + 1)) {
            snprintf (err, errlen, "auth.keys: workspace '%.64s' must be 1..64 of [A-Za-z0-9_.-]", colon + 1);
            free (copy);
            return -1;
        }
        n++;
    }
    free (copy);
    if (n > MAX_KEYS) {
        snprintf (err, errlen, "auth.keys: at most %d keys", MAX_KEYS);
        return -1;
    }
    return n;
}

//  A comma-separated list (http.allowed_hosts, http.allowed_origins) into
//  lower-case entries; an origin loses a trailing '/', a host its port.
static int
s_list_load (const char *value, char **out, bool hosts)
{
    int n = 0;
    char *copy = strdup (value ? value : "");
    char *save = NULL;
    for (char *tok = strtok_r (copy, ", ", &save); tok && n < MAX_ALLOWED; tok = strtok_r (NULL, ", ", &save)) {
        size_t len = strlen (tok);
        while (len > 1 && tok [len - 1] == '/')
            tok [--len] = 0;
        char name [256];
        if (hosts && strcmp (tok, "*") != 0 && sl_edge_host_name (tok, name, sizeof name))
            out [n] = strdup (name);
        else {
            out [n] = strdup (tok);
            for (char *p = out [n]; *p; p++)
                *p = (char) tolower ((unsigned char) *p);
        }
        n++;
    }
    free (copy);
    return n;
}

int
sl_edge_admin_keys_check (const char *value, char *err, size_t errlen)
{
    int n = 0;
    char *copy = strdup (value ? value : "");
    char *save = NULL;
    for (char *tok = strtok_r (copy, ", ", &save); tok; tok = strtok_r (NULL, ", ", &save)) {
        size_t len = strlen (tok);
        bool bad = len < 8 || len > 128 || strchr (tok, ':');
        for (const char *p = tok; *p; p++)
            bad |= *p < ' ' || *p == 0x7f;
        if (bad) {
            snprintf (err, errlen, "auth.admin_keys: key #%d must be 8..128 characters without ':' "
                      "or control characters", n + 1);
            free (copy);
            return -1;
        }
        n++;
    }
    free (copy);
    if (n > MAX_KEYS / 2) {
        snprintf (err, errlen, "auth.admin_keys: at most %d keys", MAX_KEYS / 2);
        return -1;
    }
    return n;
}

static void
s_keys_load (edge_t *edge, const char *value, const char *admin)
{
    edge->keys = calloc (MAX_KEYS + MAX_KEYS / 2, sizeof *edge->keys);
    assert (edge->keys);
    char *copy = strdup (value ? value : "");
    char *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok && edge->key_count < MAX_KEYS;
         tok = strtok_r (NULL, ",", &save)) {
        while (isspace ((unsigned char) *tok))
            tok++;
        char *end = tok + strlen (tok);
        while (end > tok && isspace ((unsigned char) end [-1]))
            *--end = 0;
        char *colon = strrchr (tok, ':');
        if (!*tok || !colon)
            continue;
        *colon = 0;
        edge_key_t *k = &edge->keys [edge->key_count++];
        snprintf (k->key, sizeof k->key, "%s", tok);
        snprintf (k->ws, sizeof k->ws, "%s", colon + 1);
    }
    free (copy);
    //  Admin keys: a key also in auth.keys keeps its workspace
    copy = strdup (admin ? admin : "");
    for (char *tok = strtok_r (copy, ", ", &save); tok && edge->key_count < MAX_KEYS + MAX_KEYS / 2;
         tok = strtok_r (NULL, ", ", &save)) {
        edge_key_t *k = NULL;
        for (int i = 0; i < edge->key_count && !k; i++)
            if (strcmp (edge->keys [i].key, tok) == 0)
                k = &edge->keys [i];
        if (!k) {
            k = &edge->keys [edge->key_count++];
            snprintf (k->key, sizeof k->key, "%s", tok);
        }
        k->admin = true;
    }
    free (copy);
}

bool
sl_edge_is_loopback (const char *host)
{
    if (!host)
        return false;
    if (strcmp (host, "localhost") == 0 || strcmp (host, "::1") == 0 || strcmp (host, "[::1]") == 0)
        return true;
    struct in_addr addr;
    if (inet_pton (AF_INET, host, &addr) == 1)
        return (ntohl (addr.s_addr) >> 24) == 127;
    return false;
}

//  --------------------------------------------------------------------------
//  Actor

static void s_stop (void **state_p);

//  Bind and listen on addr; fills edge->listen_fd and, for port 0, the
//  port the kernel chose. 0, or -1 with a reason.
static int
s_listen (edge_t *edge, struct sockaddr *addr, socklen_t len, char *err, size_t errlen)
{
    int fd = socket (addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0) {
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (addr->sa_family == AF_INET6)
            setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
    if (fd < 0 || bind (fd, addr, len) != 0 || listen (fd, 1024) != 0) {
        snprintf (err, errlen, "cannot listen on %s:%d: %s", edge->bind, edge->port, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname (fd, (struct sockaddr *) &bound, &blen) == 0)
        edge->port = ntohs (bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                        : ((struct sockaddr_in *) &bound)->sin_port);
    edge->listen_fd = fd;
    return 0;
}

//  The accept loop. MHD runs without a listen socket and this thread hands
//  it each connection (MHD_add_connection), because MHD's own loop, in
//  the poll mode thread-per-connection needs, retries a failed accept()
//  at once: out of file descriptors, it spins a core and logs on every
//  turn. Here a failed accept logs once and waits a little; the clients
//  wait in the backlog until descriptors are free again, and the requests
//  in progress get 503s for what they cannot open.
static void *
s_acceptor (void *arg)
{
    edge_t *edge = (edge_t *) arg;
    bool starved = false;
    while (!edge->stopping) {
        struct pollfd p = { .fd = edge->listen_fd, .events = POLLIN };
        if (poll (&p, 1, 200) <= 0)
            continue;
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4 (edge->listen_fd, (struct sockaddr *) &addr, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (!starved)
                    sl_warn (NULL, "edge: cannot accept connections (%s): they wait until descriptors "
                             "are free", strerror (errno));
                starved = true;
                usleep (50 * 1000);
            }
            continue;
        }
        if (starved)
            sl_info (NULL, "edge: accepting connections again");
        starved = false;
        //  On failure (connection limit) MHD closes the socket and logs
        MHD_add_connection (edge->daemon, fd, (struct sockaddr *) &addr, len);
    }
    return NULL;
}

//  Every connection takes a descriptor, and the common soft limit (1024)
//  is below http.max_connections: raise the soft limit as far as the hard
//  one allows (as Go's runtime does; everything here polls with poll(),
//  never select(), so descriptors above 1024 are fine), and warn when
//  that is still short.
static void
s_check_descriptors (int max_conn)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t want = (rlim_t) max_conn + 512;
    if (rl.rlim_cur >= want)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (rl.rlim_cur > was && setrlimit (RLIMIT_NOFILE, &rl) == 0)
        sl_debug (NULL, "edge: descriptor limit raised from %llu to %llu", (unsigned long long) was,
                  (unsigned long long) rl.rlim_cur);
    else
        rl.rlim_cur = was;
    if (rl.rlim_cur < want)
        sl_warn (NULL, "edge: http.max_connections is %d but the descriptor limit (ulimit -n) is %llu: "
                 "past it, new connections wait and requests get 503s; raise the limit or lower "
                 "http.max_connections", max_conn, (unsigned long long) rl.rlim_cur);
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_config_t *cfg = sl_node_config (node);
    edge_t *edge = calloc (1, sizeof *edge);
    assert (edge);
    edge->listen_fd = -1;
    edge->node = node;
    edge->cfg = cfg;
    edge->metrics = sl_node_metrics (node);
    snprintf (edge->bind, sizeof edge->bind, "%s", sl_config_get (cfg, "http.bind", "127.0.0.1"));
    edge->port = (int) sl_config_int (cfg, "http.port", 8080);
    edge->max_upload = (size_t) sl_config_size (cfg, "http.max_upload", 256LL << 20);
    edge->max_json = (size_t) sl_config_size (cfg, "http.max_json", 1 << 20);
    edge->heartbeat_ms = (int) (sl_config_double (cfg, "http.sse_heartbeat_s", 15) * 1000);
    edge->request_ms = (int) sl_config_int (cfg, "http.request_timeout_ms", 10000);
    edge->search_ms = (int) sl_config_int (cfg, "http.search_timeout_ms", 30000);
    snprintf (edge->cors, sizeof edge->cors, "%s", sl_config_get (cfg, "http.cors_origin", ""));
    int timeout_s = (int) sl_config_int (cfg, "http.timeout_s", 60);
    int max_conn = (int) sl_config_int (cfg, "http.max_connections", 2048);
    int clients = (int) sl_config_int (cfg, "http.broker_clients", 64);
    int broker_wait_ms = (int) sl_config_int (cfg, "http.broker_wait_ms", 5000);
    if (edge->port < 0 || edge->port > 65535 || edge->max_upload == 0 || edge->heartbeat_ms < 100
    ||  edge->request_ms < 100 || timeout_s < 0 || max_conn < 1 || clients < 1) {
        snprintf (err, errlen, "invalid http.* settings (port %d, max_upload %zu, sse_heartbeat_s, "
                  "request_timeout_ms, timeout_s, max_connections, broker_clients must be positive)",
                  edge->port, edge->max_upload);
        free (edge);
        return NULL;
    }
    //  Keys: refuse a malformed list rather than run open by accident
    const char *keys = sl_config_get (cfg, "auth.keys", "");
    const char *admin = sl_config_get (cfg, "auth.admin_keys", "");
    int nkeys = sl_edge_keys_check (keys, err, errlen);
    int nadmin = nkeys < 0 ? -1 : sl_edge_admin_keys_check (admin, err, errlen);
    if (nkeys < 0 || nadmin < 0) {
        free (edge);
        return NULL;
    }
    if (nadmin > 0 && nkeys == 0) {
        //  Admin keys alone would leave every document open to anyone
        snprintf (err, errlen, "auth.admin_keys needs auth.keys: without workspace keys the edge runs "
                  "open and an admin key would protect nothing");
        free (edge);
        return NULL;
    }
    s_keys_load (edge, keys, admin);
    edge->allowed_host_count = s_list_load (sl_config_get (cfg, "http.allowed_hosts", ""),
                                            edge->allowed_hosts, true);
    edge->allowed_origin_count = s_list_load (sl_config_get (cfg, "http.allowed_origins", ""),
                                              edge->allowed_origins, false);
    if (edge->key_count == 0 && !sl_edge_is_loopback (edge->bind)
    &&  !sl_config_bool (cfg, "http.allow_open", false)) {
        snprintf (err, errlen, "refusing to serve %s without auth.keys: anyone who can reach it could "
                  "read and write every document. Set auth.keys=KEY:WORKSPACE,... or, on a trusted "
                  "network, http.allow_open=true", edge->bind);
        sl_error (NULL, "edge: %s", err);
        free (edge->keys);
        free (edge);
        return NULL;
    }
    //  Broker access: the request pool and the event hub
    const char *broker = sl_node_broker (node);
    const char *pub = sl_node_broker_pub (node);
    if (!broker || !pub) {
        snprintf (err, errlen, "no broker endpoint known");
        free (edge->keys);
        free (edge);
        return NULL;
    }
    edge->pool = sl_edge_pool_new (broker, sl_node_curve_client (node), sl_node_curve_server (node), clients,
                                   broker_wait_ms);
    edge->hub = sl_edge_hub_new (pub, sl_node_curve_client (node), sl_node_curve_server (node), err, errlen);
    if (!edge->hub) {
        s_stop ((void **) &edge);
        return NULL;
    }
    //  Uploads land in the node's blob area, where fetch adopts them (in
    //  scaled mode the data folder must be shared with the fetch workers)
    char berr [256] = "";
    edge->blobs = sl_node_blob (node, berr, sizeof berr);
    if (!edge->blobs)
        sl_warn (NULL, "edge: %s: uploads will be refused", berr);
    else {
        int64_t expire_s = sl_config_int (cfg, "uploads.expire_s", 86400);
        int64_t max_open = sl_config_int (cfg, "uploads.max_open", 1000);
        edge->tus = sl_edge_tus_new (edge->blobs, edge->max_upload, expire_s > 0 ? expire_s : 86400,
                                     max_open > 0 && max_open < 1000000 ? (int) max_open : 0);
        if (!edge->tus)
            sl_warn (NULL, "edge: cannot use %s/uploads: resumable uploads will be refused",
                     sl_blob_root (edge->blobs));
    }
    s_declare_metrics (edge->metrics);

    //  The listening address
    struct sockaddr_in addr4;
    struct sockaddr_in6 addr6;
    struct sockaddr *addr = NULL;
    socklen_t addr_len = 0;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL
                       | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;
    const char *host = strcmp (edge->bind, "localhost") == 0 ? "127.0.0.1" : edge->bind;
    char host6 [128];
    snprintf (host6, sizeof host6, "%s", host);
    if (host6 [0] == '[') {
        memmove (host6, host6 + 1, strlen (host6));
        char *close_br = strchr (host6, ']');
        if (close_br)
            *close_br = 0;
    }
    memset (&addr4, 0, sizeof addr4);
    memset (&addr6, 0, sizeof addr6);
    if (inet_pton (AF_INET, host, &addr4.sin_addr) == 1) {
        addr4.sin_family = AF_INET;
        addr4.sin_port = htons ((uint16_t) edge->port);
        addr = (struct sockaddr *) &addr4;
        addr_len = sizeof addr4;
    }
    else
    if (inet_pton (AF_INET6, host6, &addr6.sin6_addr) == 1) {
        addr6.sin6_family = AF_INET6;
        addr6.sin6_port = htons ((uint16_t) edge->port);
        addr = (struct sockaddr *) &addr6;
        addr_len = sizeof addr6;
        flags |= MHD_USE_IPv6;
    }
    else {
        snprintf (err, errlen, "http.bind '%s' is not an IP address", edge->bind);
        s_stop ((void **) &edge);
        return NULL;
    }
    if (s_listen (edge, addr, addr_len, err, errlen)) {
        s_stop ((void **) &edge);
        return NULL;
    }
    s_check_descriptors (max_conn);
    edge->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, edge,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, edge,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) max_conn,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) (512 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, edge,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape, edge,
        MHD_OPTION_END);
    if (!edge->daemon) {
        snprintf (err, errlen, "cannot start the HTTP server on %s:%d: %s", edge->bind, edge->port,
                  strerror (errno));
        s_stop ((void **) &edge);
        return NULL;
    }
    if (pthread_create (&edge->acceptor, NULL, s_acceptor, edge) != 0) {
        snprintf (err, errlen, "cannot start the accept thread: %s", strerror (errno));
        s_stop ((void **) &edge);
        return NULL;
    }
    edge->acceptor_running = true;
    sl_info (NULL, "edge listening on http://%s:%d (%s, %d key%s, max upload %zu bytes)", edge->bind,
             edge->port, edge->key_count ? "keys" : "open, workspace 'default'", edge->key_count,
             edge->key_count == 1 ? "" : "s", edge->max_upload);
    return edge;
}

static void
s_stop (void **state_p)
{
    edge_t *edge = (edge_t *) *state_p;
    if (!edge)
        return;
    edge->draining = 1;
    //  Stop accepting, end the SSE streams (they block their threads),
    //  then let MHD finish the requests in progress and join
    edge->stopping = 1;
    if (edge->acceptor_running)
        pthread_join (edge->acceptor, NULL);
    if (edge->listen_fd >= 0)
        close (edge->listen_fd);
    if (edge->hub)
        sl_edge_hub_shutdown (edge->hub);
    if (edge->daemon)
        MHD_stop_daemon (edge->daemon);
    sl_edge_hub_destroy (&edge->hub);
    sl_edge_pool_destroy (&edge->pool);
    sl_edge_tus_destroy (&edge->tus);
    free (edge->keys);
    for (int i = 0; i < edge->allowed_host_count; i++)
        free (edge->allowed_hosts [i]);
    for (int i = 0; i < edge->allowed_origin_count; i++)
        free (edge->allowed_origins [i]);
    free (edge);
    *state_p = NULL;
}

const sl_actor_def_t sl_edge_actor = {
    .name = "edge",
    .default_concurrency = 1,
    .start = s_start,
    .handler = NULL,
    .stop = s_stop,
    .diagnostic = false
};

int
sl_edge_state_port (void *state)
{
    return ((edge_t *) state)->port;
}
