/*  sl_edge_test: self-test of sl_edge.

    A real broker (in-process, inproc) and the real edge on an ephemeral
    loopback port, driven by a minimal HTTP/1.1 client over real sockets.
    The pipeline services are absent here, so this covers routing, auth,
    error mapping, limits and the operational endpoints; the full API
    against a running pipeline is tests/test_edge.py.
*/
#include "sl_edge.h"
#include "sl_edge_internal.h"
#include "sl_edge_assets.h"
#include "sl_json.h"
#include "sl_edge_pool.h"
#include "sl_edge_sse.h"
#include "sl_edge_upload.h"
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

#include "sl_broker.h"
#include <netdb.h>
#include <sys/socket.h>

typedef struct {
    int status;
    char headers [4096];
    char *body;
} test_resp_t;

//  One request on a fresh connection (Connection: close); reads it all.
static void
s_http (int port, const char *method, const char *path, const char *extra_headers,
        const char *body, size_t body_len, test_resp_t *resp)
{
    memset (resp, 0, sizeof *resp);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    char head [4096];
    int n = snprintf (head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n", method, path, extra_headers ? extra_headers : "",
                      body_len);
    assert (write (fd, head, (size_t) n) == n);
    size_t sent = 0;
    while (body && sent < body_len) {
        ssize_t w = write (fd, body + sent, body_len - sent);
        if (w <= 0)
            break;                  //  the server may answer early and close
        sent += (size_t) w;
    }
    size_t cap = 1 << 20, len = 0;
    char *raw = malloc (cap);
    ssize_t r;
    while ((r = read (fd, raw + len, cap - len - 1)) > 0)
        len += (size_t) r;
    raw [len] = 0;
    close (fd);
    sscanf (raw, "HTTP/1.%*d %d", &resp->status);
    char *split = strstr (raw, "\r\n\r\n");
    if (split) {
        size_t hl = (size_t) (split - raw);
        snprintf (resp->headers, sizeof resp->headers, "%.*s", (int) (hl < 4095 ? hl : 4095), raw);
        resp->body = strdup (split + 4);
    }
    else
        resp->body = strdup ("");
    free (raw);
}

static json_t *
s_test_error (test_resp_t *resp, int status)
{
    if (resp->status != status)
        fprintf (stderr, "expected %d, got %d: %s\n", status, resp->status, resp->body);
    assert (resp->status == status);
    json_t *body = json_loads (resp->body, 0, NULL);
    assert (body);
    json_t *error = json_object_get (body, "error");
    assert (json_integer_value (json_object_get (error, "code")) == status);
    assert (json_string_length (json_object_get (error, "message")) > 0);
    return body;
}

void
sl_edge_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge: ");
    char err [512];
    assert (sl_edge_keys_check ("abcdefgh:ws1, ijklmnopq:ws2", err, sizeof err) == 2);
    assert (sl_edge_keys_check ("", err, sizeof err) == 0);
    assert (sl_edge_keys_check ("short:ws", err, sizeof err) == -1);
    assert (sl_edge_keys_check ("abcdefgh:bad ws", err, sizeof err) == -1);
    assert (sl_edge_keys_check ("abcdefghnows", err, sizeof err) == -1);
    assert (sl_edge_is_loopback ("127.0.0.1") && sl_edge_is_loopback ("127.1.2.3"));
    assert (sl_edge_is_loopback ("::1") && sl_edge_is_loopback ("localhost"));
    assert (!sl_edge_is_loopback ("0.0.0.0") && !sl_edge_is_loopback ("10.0.0.1"));
    bool bad = false;
    char id [65] = "";
    assert (sl_edge_path_match ("/v1/jobs/{id}/events", "/v1/jobs/abc123/events", id, &bad) && !bad);
    assert (strcmp (id, "abc123") == 0);
    assert (!sl_edge_path_match ("/v1/jobs/{id}", "/v1/jobs/abc/events", id, &bad));
    assert (sl_edge_path_match ("/v1/jobs/{id}", "/v1/jobs/a%20b", id, &bad) && bad);
    assert (sl_edge_admin_keys_check ("abcdefgh, ijklmnop", err, sizeof err) == 2);
    assert (sl_edge_admin_keys_check ("abcdefgh:ws", err, sizeof err) == -1);
    assert (sl_edge_admin_keys_check ("short", err, sizeof err) == -1);
    char name [64];
    assert (sl_edge_host_name ("LocalHost:8080", name, sizeof name) && strcmp (name, "localhost") == 0);
    assert (sl_edge_host_name ("[::1]:80", name, sizeof name) && strcmp (name, "::1") == 0);
    assert (sl_edge_host_name ("127.0.0.1", name, sizeof name) && strcmp (name, "127.0.0.1") == 0);
    assert (!sl_edge_host_name ("a:b", name, sizeof name) && !sl_edge_host_name ("[::1", name, sizeof name));
    assert (!sl_edge_host_name (":80", name, sizeof name));
    char line [] = "GET /v1/jobs/x/events?a=1&access_token=sekrit-key-123&b=2 failed; access_token=xyz";
    sl_edge_scrub_keys (line);
    assert (strcmp (line, "GET /v1/jobs/x/events?a=1&access_token=***&b=2 failed; access_token=***") == 0);
    assert (sl_edge_openapi_len > 100 && strstr (sl_edge_openapi, "openapi: 3"));

    char data [] = "/tmp/sl-edge-test-XXXXXX";
    assert (mkdtemp (data));
    sl_broker_config_t bc;
    sl_broker_config_defaults (&bc);
    bc.endpoint = "inproc://sl-edge-test";
    bc.pub_endpoint = "inproc://sl-edge-test-events";
    bc.heartbeat_ms = 100;
    sl_broker_t *broker = sl_broker_new (&bc);
    assert (broker);

    //  Open mode refuses a public address
    sl_config_t *cfg = sl_config_new ();
    sl_config_set (cfg, "data.dir", data);
    sl_config_set (cfg, "http.bind", "0.0.0.0");
    sl_config_set (cfg, "http.port", "0");
    sl_node_t *node = sl_node_new (cfg);
    sl_node_set_broker (node, bc.endpoint, bc.pub_endpoint);
    void *state = sl_edge_actor.start (node, err, sizeof err);
    assert (state == NULL && strstr (err, "auth.keys"));
    sl_node_destroy (&node);

    //  With keys, on loopback
    sl_config_set (cfg, "http.bind", "127.0.0.1");
    sl_config_set (cfg, "auth.keys", "key-one-1234:ws1,key-two-5678:ws2");
    sl_config_set (cfg, "auth.admin_keys", "admin-key-0000");
    sl_config_set (cfg, "http.max_upload", "1k");
    sl_config_set (cfg, "http.request_timeout_ms", "500");
    node = sl_node_new (cfg);
    sl_node_set_broker (node, bc.endpoint, bc.pub_endpoint);
    state = sl_edge_actor.start (node, err, sizeof err);
    if (!state)
        fprintf (stderr, "edge start: %s\n", err);
    assert (state);
    int port = sl_edge_state_port (state);
    assert (port > 0);
    const char *auth = "Authorization: Bearer key-one-1234\r\n";
    test_resp_t resp;

    s_http (port, "GET", "/healthz", NULL, NULL, 0, &resp);
    assert (resp.status == 200 && strstr (resp.body, "\"ok\""));
    free (resp.body);
    s_http (port, "GET", "/v1/openapi.yaml", NULL, NULL, 0, &resp);
    assert (resp.status == 200 && strstr (resp.body, "/v1/ingest"));
    assert (strcasestr (resp.headers, "content-type: application/yaml"));
    free (resp.body);

    //  Not ready: no intake/query workers behind the broker
    s_http (port, "GET", "/readyz", NULL, NULL, 0, &resp);
    json_t *body = s_test_error (&resp, 503);
    assert (strstr (resp.body, "no intake workers"));
    assert (json_is_object (json_object_get (body, "checks")));
    json_decref (body);
    free (resp.body);

    //  Routing: 404 and 405 with Allow
    s_http (port, "GET", "/v2/nothing", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 404));
    free (resp.body);
    s_http (port, "PUT", "/v1/jobs", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 405));
    assert (strcasestr (resp.headers, "allow: GET"));
    free (resp.body);
    s_http (port, "GET", "/v1/ingest", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 405));
    assert (strcasestr (resp.headers, "allow: POST"));
    free (resp.body);

    //  Auth: missing, wrong, and right key (then 503: no query service)
    s_http (port, "GET", "/v1/jobs", NULL, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 401));
    assert (strcasestr (resp.headers, "www-authenticate: Bearer"));
    free (resp.body);
    s_http (port, "GET", "/v1/jobs", "Authorization: Bearer key-one-1235\r\n", NULL, 0, &resp);
    json_decref (s_test_error (&resp, 401));
    free (resp.body);
    //  A key in the query string only on the event stream
    s_http (port, "GET", "/v1/jobs?access_token=key-two-5678", NULL, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 401));
    assert (strstr (resp.body, "only by the event stream"));
    free (resp.body);
    s_http (port, "GET", "/v1/jobs/abc/events?access_token=key-two-5678", NULL, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 503));
    free (resp.body);
    //  The admin key reads /metrics and /v1/status, not documents
    s_http (port, "GET", "/v1/jobs", "Authorization: Bearer admin-key-0000\r\n", NULL, 0, &resp);
    json_decref (s_test_error (&resp, 403));
    free (resp.body);
    s_http (port, "GET", "/metrics", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 403));
    free (resp.body);
    s_http (port, "GET", "/metrics", NULL, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 401));
    free (resp.body);
    s_http (port, "GET", "/v1/jobs?limit=abc", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);
    s_http (port, "GET", "/v1/jobs?state=bogus", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);

    //  Ingest refusals: malformed JSON, 415, 413 by length and mid-stream
    const char *json_hdr = "Content-Type: application/json\r\n";
    char headers [512];
    snprintf (headers, sizeof headers, "%s%s", auth, json_hdr);
    s_http (port, "POST", "/v1/ingest", headers, "{\"url\":", 7, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);
    s_http (port, "POST", "/v1/ingest", headers, "{\"url\":\"gopher://x/\"}", 21, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);
    snprintf (headers, sizeof headers, "%sContent-Type: image/gif\r\n", auth);
    s_http (port, "POST", "/v1/ingest?filename=a.gif", headers, "GIF8", 4, &resp);
    json_decref (s_test_error (&resp, 415));
    free (resp.body);
    char big [4096];
    memset (big, 'a', sizeof big);
    snprintf (headers, sizeof headers, "%sContent-Type: text/plain\r\n", auth);
    s_http (port, "POST", "/v1/ingest?filename=a.txt", headers, big, sizeof big, &resp);
    json_decref (s_test_error (&resp, 413));
    free (resp.body);
    //  A URL is valid, but nobody serves intake: 503, nothing accepted
    snprintf (headers, sizeof headers, "%s%s", auth, json_hdr);
    s_http (port, "POST", "/v1/ingest", headers, "{\"url\":\"http://127.0.0.1:1/a\"}", 30, &resp);
    body = s_test_error (&resp, 503);
    assert (json_array_size (json_object_get (body, "rejected")) == 1);
    json_decref (body);
    free (resp.body);
    //  A small upload is streamed into the blob area before intake says 503
    snprintf (headers, sizeof headers, "%sContent-Type: text/plain\r\nContent-Disposition: attachment; "
              "filename=\"note.txt\"\r\n", auth);
    s_http (port, "POST", "/v1/ingest", headers, "hello edge", 10, &resp);
    json_decref (s_test_error (&resp, 503));
    free (resp.body);
    char sha [65], path [1200];
    sl_sha256_hex ("hello edge", 10, sha);
    snprintf (path, sizeof path, "%s/blobs/%.2s/%s", data, sha, sha);
    assert (access (path, F_OK) == 0);

    //  Search validation happens before the broker is asked
    s_http (port, "POST", "/v1/search", headers, "{\"query\": \"\"}", 13, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);
    s_http (port, "POST", "/v1/search", headers, "{\"query\": \"x\", \"k\": 0}", 22, &resp);
    json_decref (s_test_error (&resp, 400));
    free (resp.body);

    //  DLQ goes straight to the broker: an empty list
    s_http (port, "GET", "/v1/dlq", auth, NULL, 0, &resp);
    assert (resp.status == 200);
    body = json_loads (resp.body, 0, NULL);
    assert (json_is_array (json_object_get (body, "letters")));
    json_decref (body);
    free (resp.body);
    s_http (port, "POST", "/v1/dlq/nosuchletter/replay", auth, NULL, 0, &resp);
    json_decref (s_test_error (&resp, 404));
    free (resp.body);

    //  Metrics count what happened above
    s_http (port, "GET", "/metrics", "Authorization: Bearer admin-key-0000\r\n", NULL, 0, &resp);
    assert (resp.status == 200);
    assert (strstr (resp.body, "sluice_http_requests_total{route=\"/v1/jobs\",method=\"GET\",status=\"401\"} 3"));
    assert (strstr (resp.body, "sluice_broker_up 1"));
    assert (strstr (resp.body, "sluice_store_up 0"));
    free (resp.body);

    sl_edge_actor.stop (&state);
    assert (state == NULL);
    sl_node_destroy (&node);
    sl_config_destroy (&cfg);
    sl_broker_destroy (&broker);
    char cmd [256];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", data);
    assert (system (cmd) == 0);
    if (verbose)
        printf ("OK\n");
}
