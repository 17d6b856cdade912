/*  sl_embed_openai_test: self-test of the "openai" provider against an
    OpenAI-compatible server on 127.0.0.1, written here, that serves
    deterministic vectors and misbehaves on request (one thread, one
    connection at a time, like sl_fetch_test.c's server).
*/
#include "sl_embedder.h"
#include "sl_log.h"
#include "sl_util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "sl_check.h"

//  --------------------------------------------------------------------------
//  Self-test: an OpenAI-compatible server on 127.0.0.1, written here, that
//  serves deterministic vectors and misbehaves on request (the approach of
//  sl_fetch.c's test server: one thread, one connection at a time).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum {
    S_OK, S_429, S_429_LONG, S_500, S_GARBAGE, S_WRONG_DIM, S_SHORT, S_STALL, S_401
} s_act_t;

typedef struct {
    int listen_fd, port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    s_act_t plan [16];          //  what to do for the next requests; then S_OK
    int plan_len, plan_pos;
    int requests;               //  requests seen
    int sizes [64];             //  inputs per answered request
    int nsizes;
    char auth [256], model [128], first_input [256];
    int dim;
} s_server_t;

static void
s_send_all (int fd, const char *data, size_t size)
{
    while (size) {
        ssize_t n = send (fd, data, size, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        size -= (size_t) n;
    }
}

static void
s_reply (int fd, const char *status, const char *extra, const char *body)
{
    char head [512];
    int n = snprintf (head, sizeof head, "HTTP/1.1 %s\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      status, extra, strlen (body));
    s_send_all (fd, head, (size_t) n);
    s_send_all (fd, body, strlen (body));
}

//  The server's vector for a text: splitmix64 from its FNV-1a hash, not
//  normalised (the client must normalise).
static void
s_fake_vector (const char *text, size_t len, int dim, double *v)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char) text [i]) * 0x100000001B3ULL;
    for (int k = 0; k < dim; k++) {
        uint64_t z = (h += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        v [k] = (double) (int) (z % 2001) / 100.0 - 10.0;
    }
}

static void
s_serve (s_server_t *server, int fd)
{
    size_t cap = 1 << 20, len = 0;
    char *req = malloc (cap + 1);
    CHECK (req);
    char *body = NULL;
    size_t want = 0;
    while (len < cap) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll (&pfd, 1, 2000) <= 0)
            break;
        ssize_t n = recv (fd, req + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
        req [len] = 0;
        char *end = strstr (req, "\r\n\r\n");
        if (end && !body) {
            body = end + 4;
            const char *cl = strcasestr (req, "\r\nContent-Length:");
            want = cl ? (size_t) strtoul (cl + 17, NULL, 10) : 0;
        }
        if (body && (size_t) (req + len - body) >= want)
            break;
    }
    if (!body || (size_t) (req + len - body) < want) {
        free (req);
        return;
    }
    pthread_mutex_lock (&server->lock);
    server->requests++;
    s_act_t act = server->plan_pos < server->plan_len ? server->plan [server->plan_pos++] : S_OK;
    const char *auth = strcasestr (req, "\r\nAuthorization: ");
    server->auth [0] = 0;
    if (auth)
        snprintf (server->auth, sizeof server->auth, "%.*s", (int) strcspn (auth + 17, "\r"), auth + 17);
    int dim = server->dim;
    pthread_mutex_unlock (&server->lock);

    if (strncmp (req, "POST /v1/embeddings HTTP/1.1\r\n", 30) != 0) {
        s_reply (fd, "404 Not Found", "", "{\"error\":{\"message\":\"no such route\"}}");
        free (req);
        return;
    }
    if (act == S_429) {
        s_reply (fd, "429 Too Many Requests", "Retry-After: 1\r\n",
                 "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}");
    }
    else
    if (act == S_429_LONG)
        s_reply (fd, "429 Too Many Requests", "Retry-After: 3600\r\n", "{\"error\":\"slow down\"}");
    else
    if (act == S_500)
        s_reply (fd, "500 Internal Server Error", "", "{\"error\":{\"message\":\"boom\"}}");
    else
    if (act == S_401)
        s_reply (fd, "401 Unauthorized", "", "{\"error\":{\"message\":\"Incorrect API key provided\"}}");
    else
    if (act == S_GARBAGE)
        s_reply (fd, "200 OK", "", "<html>upstream proxy error</html>");
    else
    if (act == S_STALL) {
        //  say nothing until the client gives up (or 3 s)
        int64_t deadline = sl_mono_ms () + 3000;
        while (!atomic_load (&server->stop) && sl_mono_ms () < deadline) {
            struct pollfd pfd = { fd, POLLIN, 0 };
            char scratch [256];
            if (poll (&pfd, 1, 50) > 0 && recv (fd, scratch, sizeof scratch, 0) <= 0)
                break;
        }
    }
    else {
        json_t *root = json_loadb (body, want, 0, NULL);
        json_t *input = json_object_get (root, "input");
        CHECK (json_is_array (input));
        CHECK (strcmp (json_string_value (json_object_get (root, "encoding_format")), "float") == 0);
        size_t count = json_array_size (input);
        pthread_mutex_lock (&server->lock);
        if (server->nsizes < 64)
            server->sizes [server->nsizes++] = (int) count;
        snprintf (server->model, sizeof server->model, "%s",
                  json_string_value (json_object_get (root, "model")));
        snprintf (server->first_input, sizeof server->first_input, "%s",
                  json_string_value (json_array_get (input, 0)));
        pthread_mutex_unlock (&server->lock);
        int answer_dim = act == S_WRONG_DIM ? dim - 3 : dim;
        size_t answer_count = act == S_SHORT ? count - 1 : count;
        json_t *data = json_array ();
        //  in reverse order: the client must use "index"
        for (size_t i = answer_count; i-- > 0;) {
            json_t *text = json_array_get (input, i);
            double v [64];
            s_fake_vector (json_string_value (text), json_string_length (text), answer_dim, v);
            json_t *vec = json_array ();
            for (int k = 0; k < answer_dim; k++)
                json_array_append_new (vec, json_real (v [k]));
            json_array_append_new (data, json_pack ("{s:s, s:I, s:o}", "object", "embedding",
                                                    "index", (json_int_t) i, "embedding", vec));
        }
        json_t *answer = json_pack ("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data,
                                    "model", "fake", "usage", "prompt_tokens", 1, "total_tokens", 1);
        char *text = json_dumps (answer, JSON_COMPACT);
        s_reply (fd, "200 OK", "", text);
        free (text);
        json_decref (answer);
        json_decref (root);
    }
    free (req);
}

static void *
s_server_run (void *arg)
{
    s_server_t *server = arg;
    while (!atomic_load (&server->stop)) {
        struct pollfd pfd = { server->listen_fd, POLLIN, 0 };
        if (poll (&pfd, 1, 50) <= 0)
            continue;
        int fd = accept4 (server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        s_serve (server, fd);
        close (fd);
    }
    return NULL;
}

static void
s_server_start (s_server_t *server, int dim)
{
    memset (server, 0, sizeof *server);
    pthread_mutex_init (&server->lock, NULL);
    server->dim = dim;
    server->listen_fd = sl_loopback_listen (16, &server->port);
    CHECK (server->listen_fd >= 0);
    atomic_store (&server->stop, false);
    CHECK (pthread_create (&server->thread, NULL, s_server_run, server) == 0);
}

static void
s_server_stop (s_server_t *server)
{
    atomic_store (&server->stop, true);
    pthread_join (server->thread, NULL);
    close (server->listen_fd);
    pthread_mutex_destroy (&server->lock);
}

//  Set what the next requests get, and forget earlier counts.
static void
s_server_plan (s_server_t *server, int count, ...)
{
    va_list args;
    va_start (args, count);
    pthread_mutex_lock (&server->lock);
    for (int i = 0; i < count; i++)
        server->plan [i] = (s_act_t) va_arg (args, int);
    server->plan_len = count;
    server->plan_pos = 0;
    server->requests = 0;
    server->nsizes = 0;
    pthread_mutex_unlock (&server->lock);
    va_end (args);
}

static int
s_server_requests (s_server_t *server)
{
    pthread_mutex_lock (&server->lock);
    int n = server->requests;
    pthread_mutex_unlock (&server->lock);
    return n;
}

//  What the client should return for text: the server's vector, normalised
static void
s_expected (const char *text, size_t len, int dim, float *v)
{
    double raw [64], norm = 0;
    s_fake_vector (text, len, dim, raw);
    for (int k = 0; k < dim; k++)
        norm += raw [k] * raw [k];
    for (int k = 0; k < dim; k++)
        v [k] = (float) (raw [k] / sqrt (norm));
}

static sl_embedder_t *
s_open (s_server_t *server, const char *extra)
{
    char options [512], err [512];
    snprintf (options, sizeof options, "url=http://127.0.0.1:%d/v1/,model=test-embed,dim=8,"
              "key_env=SL_TEST_OPENAI_KEY,backoff_ms=20%s%s", server->port, extra ? "," : "",
              extra ? extra : "");
    sl_embedder_t *e = sl_embedder_new ("openai", options, err, sizeof err);
    if (!e)
        fprintf (stderr, "%s\n", err);
    CHECK (e);
    return e;
}

//  Embed "one", "two" and expect failure; returns the message.
static void
s_expect_error (sl_embedder_t *e, char *err, size_t errlen)
{
    const char *texts [2] = { "one", "two" };
    size_t lens [2] = { 3, 3 };
    float out [16];
    err [0] = 0;
    CHECK (sl_embedder_embed (e, texts, lens, 2, out, err, errlen) == -1);
}

typedef struct {
    sl_embedder_t *e;
    int rounds;
} s_client_t;

static void *
s_client (void *arg)
{
    s_client_t *c = arg;
    char text [32], err [256];
    for (int r = 0; r < c->rounds; r++) {
        snprintf (text, sizeof text, "text %d of %p", r, (void *) c);
        const char *t = text;
        size_t len = strlen (text);
        float out [8], expect [8];
        CHECK (sl_embedder_embed (c->e, &t, &len, 1, out, err, sizeof err) == 0);
        s_expected (text, len, 8, expect);
        for (int k = 0; k < 8; k++)
            CHECK (fabsf (out [k] - expect [k]) < 1e-6f);
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Shared fixture: the test server, the embedder under test (each case
//  that opens one leaves it to the cases after it, as noted), 150 texts
//  and room for their vectors, and the last error message

static struct {
    bool verbose;
    s_server_t server;
    sl_embedder_t *e;
    int n;
    const char **texts;
    size_t *lens;
    char (*store) [32];
    float *out;
    char err [1024];
} s_fx;

//  Options
static void
s_test_bad_options_refused (void)
{
    char *err = s_fx.err;
    size_t errlen = sizeof s_fx.err;
    struct {
        const char *options, *expect;
    } bad [] = {
        { "dim=8", "model=NAME is required" },
        { "model=m", "dim=N is required" },
        { "model=m,dim=0", "dim=0" },
        { "model=m,dim=8,url=ftp://example.com/v1", "must start with http" },
        { "model=m,dim=8,url=http://127.0.0.1:1/v1,key_env=SL_TEST_NO_SUCH_KEY",
          "set the environment variable SL_TEST_NO_SUCH_KEY" },
        { "model=m,dim=8,batch=0", "batch=0" },
        { "model=m,dim=8,retries=99", "retries=99" },
        { "model=m,dim=8,colour=red", "unknown option 'colour'" },
    };
    unsetenv ("OPENAI_API_KEY");
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        CHECK (sl_embedder_new ("openai", bad [i].options, err, errlen) == NULL);
        if (!strstr (err, bad [i].expect))
            fprintf (stderr, "'%s': expected '%s', got '%s'\n", bad [i].options, bad [i].expect, err);
        CHECK (strstr (err, bad [i].expect));
        if (s_fx.verbose)
            printf ("  %s\n", err);
    }
}

//  the default endpoint needs a key; a local one may do without
static void
s_test_default_endpoint_needs_key (void)
{
    CHECK (!sl_embedder_new ("openai", "model=m,dim=8", s_fx.err, sizeof s_fx.err));
    CHECK (strstr (s_fx.err, "OPENAI_API_KEY"));
}

//  Leaves s_fx.e open for the token estimate
static void
s_test_local_endpoint_needs_no_key (void)
{
    s_fx.e = sl_embedder_new ("openai", "model=m,dim=8,url=http://127.0.0.1:1/v1",
                              s_fx.err, sizeof s_fx.err);
    CHECK (s_fx.e);
    CHECK (strcmp (sl_embedder_model_id (s_fx.e), "openai:m") == 0);
    CHECK (sl_embedder_dim (s_fx.e) == 8 && sl_embedder_max_tokens (s_fx.e) == 8191);
}

//  token estimate: characters / 4, rounded up
static void
s_test_token_estimate (void)
{
    sl_embedder_t *e = s_fx.e;
    CHECK (sl_embedder_count_tokens (e, "", 0) == 0);
    CHECK (sl_embedder_count_tokens (e, "abcdefgh", 8) == 2);
    CHECK (sl_embedder_count_tokens (e, "abcdefghi", 9) == 3);
    CHECK (sl_embedder_count_tokens (e, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8) == 1);
    sl_embedder_destroy (&s_fx.e);
}

//  Batches: 150 texts, batch=64 -> 64 + 64 + 22, vectors by index,
//  normalised; the key and model are sent. Leaves s_fx.e open (batch=64)
static void
s_test_batches_split_ordered_normalised (void)
{
    s_server_t *server = &s_fx.server;
    s_fx.e = s_open (server, "batch=64");
    int n = s_fx.n = 150;
    s_fx.texts = malloc ((size_t) n * sizeof *s_fx.texts);
    s_fx.lens = malloc ((size_t) n * sizeof *s_fx.lens);
    s_fx.store = malloc ((size_t) n * 32);
    for (int i = 0; i < n; i++) {
        snprintf (s_fx.store [i], 32, "chunk number %d", i);
        s_fx.texts [i] = s_fx.store [i];
        s_fx.lens [i] = strlen (s_fx.store [i]);
    }
    s_fx.out = malloc ((size_t) n * 8 * sizeof *s_fx.out);
    s_server_plan (server, 0);
    CHECK (sl_embedder_embed (s_fx.e, s_fx.texts, s_fx.lens, n, s_fx.out,
                              s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_server_requests (server) == 3);
    CHECK (server->sizes [0] == 64 && server->sizes [1] == 64 && server->sizes [2] == 22);
    CHECK (strcmp (server->auth, "Bearer sk-test-123") == 0);
    CHECK (strcmp (server->model, "test-embed") == 0);
    for (int i = 0; i < n; i++) {
        float expect [8];
        s_expected (s_fx.texts [i], s_fx.lens [i], 8, expect);
        for (int k = 0; k < 8; k++)
            CHECK (fabsf (s_fx.out [i * 8 + k] - expect [k]) < 1e-6f);
    }
}

//  Blank texts are zero vectors and not sent; invalid UTF-8 is repaired;
//  nothing but blanks: no request at all. Closes s_fx.e
static void
s_test_blanks_not_sent_invalid_utf8_repaired (void)
{
    s_server_t *server = &s_fx.server;
    const char *t [4] = { "", "  \n\t", "hel\xfflo", "x" };
    size_t l [4] = { 0, 4, 6, 1 };
    float o [32];
    s_server_plan (server, 0);
    CHECK (sl_embedder_embed (s_fx.e, t, l, 4, o, s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_server_requests (server) == 1 && server->sizes [0] == 2);
    CHECK (strcmp (server->first_input, "hel\xef\xbf\xbdlo") == 0);
    for (int k = 0; k < 16; k++)
        CHECK (o [k] == 0.0f);
    float expect [8];
    s_expected ("hel\xef\xbf\xbdlo", 8, 8, expect);
    for (int k = 0; k < 8; k++)
        CHECK (fabsf (o [16 + k] - expect [k]) < 1e-6f);
    //  nothing but blanks: no request at all
    s_server_plan (server, 0);
    CHECK (sl_embedder_embed (s_fx.e, t, l, 2, o, s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_server_requests (server) == 0);
    sl_embedder_destroy (&s_fx.e);
}

//  429 with Retry-After: 1 once: waits a second, then succeeds. Leaves
//  s_fx.e open (default options)
static void
s_test_429_waits_retry_after (void)
{
    s_fx.e = s_open (&s_fx.server, NULL);
    s_server_plan (&s_fx.server, 1, S_429);
    int64_t t0 = sl_mono_ms ();
    CHECK (sl_embedder_embed (s_fx.e, s_fx.texts, s_fx.lens, 3, s_fx.out,
                              s_fx.err, sizeof s_fx.err) == 0);
    int64_t waited = sl_mono_ms () - t0;
    CHECK (s_server_requests (&s_fx.server) == 2);
    CHECK (waited >= 950 && waited < 5000);
    if (s_fx.verbose)
        printf ("  429 + Retry-After: 1 -> retried after %lld ms\n", (long long) waited);
}

//  500 twice: backoff, then success on the third try. Closes s_fx.e
static void
s_test_500_retried_with_backoff (void)
{
    s_server_plan (&s_fx.server, 2, S_500, S_500);
    CHECK (sl_embedder_embed (s_fx.e, s_fx.texts, s_fx.lens, 3, s_fx.out,
                              s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_server_requests (&s_fx.server) == 3);
    sl_embedder_destroy (&s_fx.e);
}

//  500 every time: gives up after retries + 1 tries, saying why. Leaves
//  s_fx.e open (retries=2) for the error cases after it
static void
s_test_gives_up_after_retries (void)
{
    char *err = s_fx.err;
    s_fx.e = s_open (&s_fx.server, "retries=2");
    s_server_plan (&s_fx.server, 5, S_500, S_500, S_500, S_500, S_500);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (s_server_requests (&s_fx.server) == 3);
    CHECK (strstr (err, "failed after 3 tries") && strstr (err, "HTTP 500: boom"));
    CHECK (strstr (err, "/v1/embeddings"));
    if (s_fx.verbose)
        printf ("  %s\n", err);
}

//  Retry-After beyond what we wait: fails at once
static void
s_test_long_retry_after_fails_at_once (void)
{
    char *err = s_fx.err;
    s_server_plan (&s_fx.server, 1, S_429_LONG);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (s_server_requests (&s_fx.server) == 1 && strstr (err, "wait 3600 s"));
    CHECK (strstr (err, "slow down"));
    if (s_fx.verbose)
        printf ("  %s\n", err);
}

//  401: no retry, and a hint about the key
static void
s_test_401_not_retried_key_hidden (void)
{
    char *err = s_fx.err;
    s_server_plan (&s_fx.server, 1, S_401);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (s_server_requests (&s_fx.server) == 1);
    CHECK (strstr (err, "HTTP 401: Incorrect API key provided") && strstr (err, "$SL_TEST_OPENAI_KEY"));
    CHECK (!strstr (err, "sk-test-123"));          //  never the key itself
    if (s_fx.verbose)
        printf ("  %s\n", err);
}

//  garbage on a 200: a clear error, not retried
static void
s_test_garbage_answer_not_retried (void)
{
    char *err = s_fx.err;
    s_server_plan (&s_fx.server, 1, S_GARBAGE);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (s_server_requests (&s_fx.server) == 1 && strstr (err, "not valid JSON") && strstr (err, "<html>"));
    if (s_fx.verbose)
        printf ("  %s\n", err);
}

//  wrong dimension: says which and what to do
static void
s_test_wrong_dimension_explained (void)
{
    char *err = s_fx.err;
    s_server_plan (&s_fx.server, 1, S_WRONG_DIM);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (strstr (err, "returned 5-dimensional vectors but dim=8") && strstr (err, "set dim=5"));
    if (s_fx.verbose)
        printf ("  %s\n", err);
}

//  fewer embeddings than texts. Closes s_fx.e
static void
s_test_short_answer_refused (void)
{
    s_server_plan (&s_fx.server, 1, S_SHORT);
    s_expect_error (s_fx.e, s_fx.err, sizeof s_fx.err);
    CHECK (strstr (s_fx.err, "different number of embeddings for 2 texts"));
    sl_embedder_destroy (&s_fx.e);
}

//  a server that stalls: timeout on each try, then the error
static void
s_test_stalled_server_times_out (void)
{
    char *err = s_fx.err;
    s_fx.e = s_open (&s_fx.server, "retries=1,timeout_ms=300");
    s_server_plan (&s_fx.server, 2, S_STALL, S_STALL);
    int64_t t0 = sl_mono_ms ();
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    int64_t waited = sl_mono_ms () - t0;
    CHECK (s_server_requests (&s_fx.server) == 2);
    CHECK (strstr (err, "failed after 2 tries") && strstr (err, "timeout_ms=300"));
    CHECK (waited >= 600 && waited < 2500);
    if (s_fx.verbose)
        printf ("  %s (%lld ms)\n", err, (long long) waited);
    sl_embedder_destroy (&s_fx.e);
}

//  several threads at once
static void
s_test_concurrent_clients (void)
{
    s_fx.e = s_open (&s_fx.server, NULL);
    s_server_plan (&s_fx.server, 0);
    pthread_t threads [3];
    s_client_t clients [3];
    for (int i = 0; i < 3; i++) {
        clients [i] = (s_client_t) { s_fx.e, 5 };
        CHECK (pthread_create (&threads [i], NULL, s_client, &clients [i]) == 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join (threads [i], NULL);
    CHECK (s_server_requests (&s_fx.server) == 15);
    sl_embedder_destroy (&s_fx.e);
}

//  nobody listening: connection errors are retried, then reported (stops
//  the server)
static void
s_test_unreachable_server_retried_then_reported (void)
{
    char *err = s_fx.err;
    int port = s_fx.server.port;
    s_server_stop (&s_fx.server);
    char options [256];
    snprintf (options, sizeof options, "url=http://127.0.0.1:%d/v1,model=m,dim=8,retries=1,"
              "backoff_ms=10", port);
    s_fx.e = sl_embedder_new ("openai", options, err, sizeof s_fx.err);
    CHECK (s_fx.e);
    s_expect_error (s_fx.e, err, sizeof s_fx.err);
    CHECK (strstr (err, "failed after 2 tries") && strstr (err, "onnect"));
    if (s_fx.verbose)
        printf ("  %s\n", err);
    sl_embedder_destroy (&s_fx.e);
}

void
sl_embed_openai_test (bool verbose)
{
    printf (" * sl_embed_openai: ");
    if (verbose)
        printf ("\n");
    s_fx.verbose = verbose;
    setenv ("SL_TEST_OPENAI_KEY", "sk-test-123", 1);
    //  a proxy in the environment must not be used (it would fail: nothing listens there)
    setenv ("http_proxy", "http://127.0.0.1:9", 1);
    setenv ("HTTP_PROXY", "http://127.0.0.1:9", 1);

    CASE ("bad options refused, saying which", s_test_bad_options_refused ());
    CASE ("default endpoint needs a key", s_test_default_endpoint_needs_key ());
    CASE ("local endpoint needs no key; model id, dim, max tokens", s_test_local_endpoint_needs_no_key ());
    CASE ("token estimate: characters / 4, rounded up", s_test_token_estimate ());

    CASE ("setup: test server", s_server_start (&s_fx.server, 8));
    CASE ("batches split 64 + 64 + 22, vectors by index, normalised, key and model sent",
          s_test_batches_split_ordered_normalised ());
    CASE ("blanks are zero and not sent, invalid UTF-8 repaired",
          s_test_blanks_not_sent_invalid_utf8_repaired ());
    CASE ("429 waits Retry-After, then succeeds", s_test_429_waits_retry_after ());
    CASE ("500 retried with backoff", s_test_500_retried_with_backoff ());
    CASE ("gives up after retries + 1 tries, saying why", s_test_gives_up_after_retries ());
    CASE ("Retry-After too long fails at once", s_test_long_retry_after_fails_at_once ());
    CASE ("401 not retried, key hinted but not shown", s_test_401_not_retried_key_hidden ());
    CASE ("garbage on a 200 not retried", s_test_garbage_answer_not_retried ());
    CASE ("wrong dimension explained", s_test_wrong_dimension_explained ());
    CASE ("fewer embeddings than texts refused", s_test_short_answer_refused ());
    CASE ("stalled server times out on each try", s_test_stalled_server_times_out ());
    CASE ("concurrent clients share one embedder", s_test_concurrent_clients ());
    CASE ("unreachable server retried, then reported", s_test_unreachable_server_retried_then_reported ());

    free (s_fx.texts);
    free (s_fx.lens);
    free (s_fx.store);
    free (s_fx.out);
    unsetenv ("http_proxy");
    unsetenv ("HTTP_PROXY");
    unsetenv ("SL_TEST_OPENAI_KEY");
    printf ("OK\n");
}
