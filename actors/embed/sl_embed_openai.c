/*  sl_embed_openai: the "openai" embedding provider: any server that speaks
    the OpenAI embeddings API (POST {url}/embeddings) - OpenAI itself, or a
    local vLLM, llama.cpp, Ollama, text-embeddings-inference... - over
    libcurl.

    Options:
      url=https://api.openai.com/v1   base URL (http or https); the provider
                                      posts to <url>/embeddings
      model=NAME                      required; sent as "model"
      dim=N                           required; every returned vector must
                                      have N numbers (checked, never guessed)
      batch=64                        texts per request
      retries=4                       extra tries after a 429, a 5xx, a
                                      timeout or a failed connection
      timeout_ms=60000                per request, connect included
      backoff_ms=500                  first wait between tries, doubled each
                                      time (capped at 30 s, +0-25% jitter);
                                      a Retry-After header wins (up to 120 s)
      key_env=OPENAI_API_KEY          environment variable with the API key,
                                      sent as "Authorization: Bearer ...".
                                      Read once at open. If key_env is given
                                      it must be set; the default may be unset
                                      for local servers without auth (but not
                                      for api.openai.com)
      max_tokens=8191                 what the model reads (OpenAI's limit)

    model_id is "openai:<model>". count_tokens is a rough estimate, one token
    per 4 characters (code points), rounded up: the real tokenizer is on the
    server; for English text this overestimates slightly, which keeps chunks
    inside max_tokens.

    Each embed call: blank texts (empty or only whitespace) get the zero
    vector and are not sent (the API refuses empty input); the rest go in
    batches, invalid UTF-8 replaced by U+FFFD (JSON must be UTF-8). A batch
    that still fails after the last try fails the whole call with a message
    naming the endpoint, the tries and the last problem (the server's own
    error message when it sent one); a 4xx other than 429 fails at once.
    Vectors are L2-normalised here (OpenAI's already are; other servers'
    may not be), and read by their "index", not by position.

    Proxies from the environment (http_proxy...) are ignored: the endpoint
    is configured explicitly. Thread-safe: state is read-only after open;
    each call uses its own curl handle.
*/
#include "sl_embedder.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
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

#define S_MAX_RESPONSE (256 << 20)      //  a batch of 2048 x 4096 floats is ~150 MB of JSON
#define S_MAX_BACKOFF_MS 30000
#define S_MAX_RETRY_AFTER_S 120

typedef struct {
    char *url;                  //  base, no trailing slash
    char *endpoint;             //  url + "/embeddings"
    char *model;
    char *auth;                 //  "Authorization: Bearer ..." or NULL
    char *key_env;
    int dim, batch, retries, timeout_ms, backoff_ms, max_tokens;
} s_openai_t;

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init (void)
{
    //  Never cleaned up: other threads may still be using curl at exit
    CURLcode rc = curl_global_init (CURL_GLOBAL_DEFAULT);
    assert (rc == CURLE_OK);
}

//  --------------------------------------------------------------------------
//  Options

typedef struct {
    char url [512], model [256], key_env [128];
    bool key_env_given;
    long long dim, batch, retries, timeout_ms, backoff_ms, max_tokens;
} s_opts_t;

static int
s_on_option (void *arg, const char *key, const char *value, char *err, size_t errlen)
{
    s_opts_t *o = arg;
    if (strcmp (key, "url") == 0) {
        snprintf (o->url, sizeof o->url, "%s", value);
        return 0;
    }
    if (strcmp (key, "model") == 0) {
        snprintf (o->model, sizeof o->model, "%s", value);
        return 0;
    }
    if (strcmp (key, "key_env") == 0) {
        snprintf (o->key_env, sizeof o->key_env, "%s", value);
        o->key_env_given = true;
        return 0;
    }
    if (strcmp (key, "dim") == 0)
        return sl_embed_option_int (key, value, 1, 65536, &o->dim, err, errlen);
    if (strcmp (key, "batch") == 0)
        return sl_embed_option_int (key, value, 1, 2048, &o->batch, err, errlen);
    if (strcmp (key, "retries") == 0)
        return sl_embed_option_int (key, value, 0, 20, &o->retries, err, errlen);
    if (strcmp (key, "timeout_ms") == 0)
        return sl_embed_option_int (key, value, 100, 3600000, &o->timeout_ms, err, errlen);
    if (strcmp (key, "backoff_ms") == 0)
        return sl_embed_option_int (key, value, 1, S_MAX_BACKOFF_MS, &o->backoff_ms, err, errlen);
    if (strcmp (key, "max_tokens") == 0)
        return sl_embed_option_int (key, value, 0, 1 << 24, &o->max_tokens, err, errlen);
    snprintf (err, errlen, "openai provider: unknown option '%s' (known: url, model, dim, batch, "
              "retries, timeout_ms, backoff_ms, key_env, max_tokens)", key);
    return -1;
}

static void
s_openai_close (void *state)
{
    s_openai_t *self = state;
    if (self) {
        free (self->url);
        free (self->endpoint);
        free (self->model);
        free (self->auth);
        free (self->key_env);
        free (self);
    }
}

static void *
s_openai_open (const char *options, sl_embed_info_t *info, char *err, size_t errlen)
{
    s_opts_t o = { .url = "https://api.openai.com/v1", .key_env = "OPENAI_API_KEY",
                   .batch = 64, .retries = 4, .timeout_ms = 60000, .backoff_ms = 500,
                   .max_tokens = 8191 };
    if (sl_embed_options_parse (options, s_on_option, &o, err, errlen))
        return NULL;
    if (!o.model [0]) {
        snprintf (err, errlen, "openai provider: option model=NAME is required "
                  "(e.g. model=text-embedding-3-small)");
        return NULL;
    }
    if (!o.dim) {
        snprintf (err, errlen, "openai provider: option dim=N is required (the length of the "
                  "model's vectors, e.g. dim=1536 for text-embedding-3-small)");
        return NULL;
    }
    if (strncmp (o.url, "http://", 7) != 0 && strncmp (o.url, "https://", 8) != 0) {
        snprintf (err, errlen, "openai provider: url=%s: must start with http:// or https://", o.url);
        return NULL;
    }
    size_t ul = strlen (o.url);
    while (ul > 8 && o.url [ul - 1] == '/')
        o.url [--ul] = 0;
    const char *key = getenv (o.key_env);
    if (key && !key [0])
        key = NULL;
    if (!key && (o.key_env_given || strstr (o.url, "://api.openai.com"))) {
        snprintf (err, errlen, "openai provider: no API key: set the environment variable %s%s",
                  o.key_env, o.key_env_given ? " (named by key_env)" : "");
        return NULL;
    }
    pthread_once (&s_curl_once, s_curl_init);
    s_openai_t *self = calloc (1, sizeof *self);
    if (self) {
        self->url = strdup (o.url);
        self->model = strdup (o.model);
        self->key_env = strdup (o.key_env);
        if (asprintf (&self->endpoint, "%s/embeddings", o.url) < 0)
            self->endpoint = NULL;
        if (key && asprintf (&self->auth, "Authorization: Bearer %s", key) < 0)
            self->auth = NULL;
    }
    if (!self || !self->url || !self->model || !self->key_env || !self->endpoint
    ||  (key && !self->auth)) {
        s_openai_close (self);
        snprintf (err, errlen, "openai provider: out of memory");
        return NULL;
    }
    self->dim = (int) o.dim;
    self->batch = (int) o.batch;
    self->retries = (int) o.retries;
    self->timeout_ms = (int) o.timeout_ms;
    self->backoff_ms = (int) o.backoff_ms;
    self->max_tokens = (int) o.max_tokens;
    info->dim = self->dim;
    info->max_tokens = self->max_tokens;
    snprintf (info->model_id, sizeof info->model_id, "openai:%.120s", self->model);
    return self;
}

//  --------------------------------------------------------------------------
//  Texts to JSON

static bool
s_blank (const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr (" \t\n\r\v\f", text [i]) || !text [i])
            return false;
    return true;
}

//  A JSON string of text, invalid UTF-8 sequences replaced by U+FFFD.
static json_t *
s_json_text (const char *text, size_t len)
{
    json_t *s = json_stringn (text, len);
    if (s)
        return s;                       //  valid UTF-8 already
    size_t o = 0;
    char *fixed = sl_embed_utf8_repair (text, len, &o);
    if (!fixed)
        return NULL;
    s = json_stringn (fixed, o);
    free (fixed);
    return s;
}

static size_t
s_openai_count_tokens (void *state, const char *text, size_t len)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char) text [i] & 0xC0) != 0x80;
    return (chars + 3) / 4;
}

//  --------------------------------------------------------------------------
//  One request

typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} s_body_t;

static size_t
s_on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_body_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > S_MAX_RESPONSE) {
        b->too_big = true;
        return 0;                       //  abort the transfer
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy (b->data + b->len, ptr, n);
    b->len += n;
    b->data [b->len] = 0;
    return n;
}

//  The server's own words: error.message, error (a string), detail or
//  message, else the start of the body, printable characters only.
static void
s_server_message (const s_body_t *b, char *out, size_t size)
{
    out [0] = 0;
    if (!b->len)
        return;
    json_t *root = json_loadb (b->data, b->len, 0, NULL);
    json_t *error = json_object_get (root, "error");
    const char *msg = NULL;
    if (json_is_string (json_object_get (error, "message")))
        msg = json_string_value (json_object_get (error, "message"));
    else
    if (json_is_string (error))
        msg = json_string_value (error);
    else
    if (json_is_string (json_object_get (root, "detail")))
        msg = json_string_value (json_object_get (root, "detail"));
    else
    if (json_is_string (json_object_get (root, "message")))
        msg = json_string_value (json_object_get (root, "message"));
    size_t o = 0;
    const char *src = msg ? msg : b->data;
    size_t len = msg ? strlen (msg) : b->len;
    for (size_t i = 0; i < len && o + 4 < size && i < 300; i++) {
        unsigned char c = (unsigned char) src [i];
        out [o++] = (c < 0x20 || c == 0x7F) ? ' ' : (char) c;
    }
    if (o + 4 < size && len > 300) {
        memcpy (out + o, "...", 3);
        o += 3;
    }
    out [o] = 0;
    json_decref (root);
}

typedef enum { S_DONE, S_RETRY, S_FAIL } s_outcome_t;

//  POST body once. On S_DONE, resp holds the 200 body; otherwise problem
//  says what went wrong and *wait_ms what the server asked for (-1: no
//  Retry-After).
static s_outcome_t
s_post (s_openai_t *self, CURL *curl, const char *body, size_t body_len, s_body_t *resp,
        char *problem, size_t size, long *wait_s)
{
    resp->len = 0;
    resp->too_big = false;
    *wait_s = -1;
    char curl_msg [CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Expect:");       //  no 100-continue round trip
    if (self->auth)
        headers = curl_slist_append (headers, self->auth);
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, self->endpoint);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROXY, "");     //  ignore *_proxy from the environment
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS,
                      (long) (self->timeout_ms < 10000 ? self->timeout_ms : 10000));
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "sluice/0.1");
    curl_easy_setopt (curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_msg);
    CURLcode code = curl_easy_perform (curl);
    curl_slist_free_all (headers);
    if (code != CURLE_OK) {
        if (resp->too_big) {
            snprintf (problem, size, "the answer is over %d MB", S_MAX_RESPONSE >> 20);
            return S_FAIL;
        }
        if (code == CURLE_OPERATION_TIMEDOUT)
            snprintf (problem, size, "no complete answer within timeout_ms=%d", self->timeout_ms);
        else
            snprintf (problem, size, "%s", curl_msg [0] ? curl_msg : curl_easy_strerror (code));
        //  a bad URL or protocol won't get better; the network might
        return code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ? S_FAIL : S_RETRY;
    }
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200)
        return S_DONE;
    char msg [400];
    s_server_message (resp, msg, sizeof msg);
    snprintf (problem, size, "HTTP %ld%s%s", status, msg [0] ? ": " : "", msg);
    if (status == 429 || status >= 500) {
        curl_off_t after = -1;
        if (curl_easy_getinfo (curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            *wait_s = (long) after;
        return S_RETRY;
    }
    if (status == 401 || status == 403) {
        size_t l = strlen (problem);
        snprintf (problem + l, size - l, " (check the API key in $%s)", self->key_env);
    }
    return S_FAIL;
}

static void
s_sleep_ms (long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0)
        ;
}

//  Parse a 200 answer for count texts into rows (count x dim, pre-zeroed
//  rows of out picked by idx). Returns 0 or -1 with problem set.
static int
s_parse (s_openai_t *self, const s_body_t *resp, const int *idx, int count, float *out,
         char *problem, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb (resp->data ? resp->data : "", resp->len, 0, &jerr);
    if (!root) {
        char start [120];
        size_t shown = resp->len < 80 ? resp->len : 80, o = 0;
        for (size_t i = 0; i < shown && o + 1 < sizeof start; i++)
            start [o++] = (unsigned char) resp->data [i] < 0x20 ? ' ' : resp->data [i];
        start [o] = 0;
        snprintf (problem, size, "HTTP 200 with a body that is not valid JSON (%s): '%s'",
                  jerr.text, start);
        return -1;
    }
    int rc = -1;
    json_t *data = json_object_get (root, "data");
    if (!json_is_array (data) || json_array_size (data) != (size_t) count) {
        snprintf (problem, size, "HTTP 200 but %s for %d texts (expected an OpenAI embeddings "
                  "answer: {\"data\": [{\"index\": i, \"embedding\": [...]}, ...]})",
                  json_is_array (data) ? "a different number of embeddings" : "no \"data\" array",
                  count);
        goto done;
    }
    bool *seen = calloc ((size_t) count, sizeof *seen);
    if (!seen) {
        snprintf (problem, size, "out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        json_t *item = json_array_get (data, (size_t) i);
        json_t *index = json_object_get (item, "index");
        json_t *vec = json_object_get (item, "embedding");
        long long at = index ? (json_is_integer (index) ? json_integer_value (index) : -1) : i;
        if (at < 0 || at >= count || seen [at]) {
            snprintf (problem, size, "HTTP 200 but item %d has a bad or repeated \"index\"", i);
            free (seen);
            goto done;
        }
        seen [at] = true;
        if (!json_is_array (vec)) {
            snprintf (problem, size, "HTTP 200 but item %d has no \"embedding\" array (was "
                      "encoding_format honoured?)", i);
            free (seen);
            goto done;
        }
        if (json_array_size (vec) != (size_t) self->dim) {
            snprintf (problem, size, "model '%s' returned %zu-dimensional vectors but dim=%d was "
                      "configured: set dim=%zu, or use a model with %d", self->model,
                      json_array_size (vec), self->dim, json_array_size (vec), self->dim);
            free (seen);
            goto done;
        }
        float *row = out + (size_t) idx [at] * (size_t) self->dim;
        double norm = 0;
        for (int k = 0; k < self->dim; k++) {
            json_t *x = json_array_get (vec, (size_t) k);
            double v = json_number_value (x);
            if (!json_is_number (x) || !isfinite (v) || fabs (v) > 1e30) {
                snprintf (problem, size, "HTTP 200 but embedding %d has a value that is not a "
                          "finite number", i);
                free (seen);
                goto done;
            }
            row [k] = (float) v;
            norm += v * v;
        }
        if (norm > 0) {
            float inv = (float) (1.0 / sqrt (norm));
            for (int k = 0; k < self->dim; k++)
                row [k] *= inv;
        }
        else
            memset (row, 0, (size_t) self->dim * sizeof *row);
    }
    free (seen);
    rc = 0;
done:
    json_decref (root);
    return rc;
}

//  Embed texts idx [0..count) with retries. Returns 0 or -1 with err set.
static int
s_batch (s_openai_t *self, CURL *curl, const char **texts, const size_t *lens, const int *idx,
         int count, float *out, s_body_t *resp, uint64_t *rng, char *err, size_t errlen)
{
    json_t *input = json_array ();
    json_t *req = json_pack ("{s:s, s:o, s:s}", "model", self->model, "input", input,
                             "encoding_format", "float");
    for (int i = 0; req && i < count; i++) {
        json_t *s = s_json_text (texts [idx [i]], lens [idx [i]]);
        if (!s || json_array_append_new (input, s)) {
            json_decref (req);
            req = NULL;
        }
    }
    char *body = req ? json_dumps (req, JSON_COMPACT) : NULL;
    json_decref (req);
    if (!body) {
        snprintf (err, errlen, "openai provider: out of memory building a request of %d texts", count);
        return -1;
    }
    size_t body_len = strlen (body);
    char problem [700] = "";
    int tries = 0, rc = -1;
    for (;;) {
        long wait_s;
        tries++;
        s_outcome_t outcome = s_post (self, curl, body, body_len, resp, problem, sizeof problem, &wait_s);
        if (outcome == S_DONE) {
            if (s_parse (self, resp, idx, count, out, problem, sizeof problem) == 0)
                rc = 0;
            break;
        }
        if (outcome == S_FAIL || tries > self->retries)
            break;
        long delay_ms;
        if (wait_s >= 0) {
            if (wait_s > S_MAX_RETRY_AFTER_S) {
                size_t l = strlen (problem);
                snprintf (problem + l, sizeof problem - l, " (server asked to wait %ld s, more "
                          "than the %d s this provider waits)", wait_s, S_MAX_RETRY_AFTER_S);
                break;
            }
            delay_ms = wait_s * 1000;
        }
        else {
            delay_ms = (long) self->backoff_ms << (tries - 1 < 16 ? tries - 1 : 16);
            if (delay_ms > S_MAX_BACKOFF_MS)
                delay_ms = S_MAX_BACKOFF_MS;
            *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
            delay_ms += (long) ((*rng >> 33) % (uint64_t) (delay_ms / 4 + 1));   //  jitter
        }
        sl_warn (NULL, "openai provider: %s: %s; retrying in %ld ms (try %d of %d)",
                 self->endpoint, problem, delay_ms, tries + 1, self->retries + 1);
        s_sleep_ms (delay_ms);
    }
    free (body);
    if (rc != 0)
        snprintf (err, errlen, "openai provider: POST %s failed after %d %s: %s", self->endpoint,
                  tries, tries == 1 ? "try" : "tries", problem);
    return rc;
}

static int
s_openai_embed (void *state, const char **texts, const size_t *lens, int n, float *out,
                char *err, size_t errlen)
{
    s_openai_t *self = state;
    int *idx = malloc ((size_t) n * sizeof *idx);
    if (!idx) {
        snprintf (err, errlen, "openai provider: out of memory");
        return -1;
    }
    int m = 0;
    for (int t = 0; t < n; t++)
        if (texts [t] && !s_blank (texts [t], lens [t]))
            idx [m++] = t;
    int rc = 0;
    CURL *curl = m ? curl_easy_init () : NULL;
    if (m && !curl) {
        snprintf (err, errlen, "openai provider: curl_easy_init failed");
        rc = -1;
    }
    s_body_t resp = { 0 };
    uint64_t rng = (uint64_t) sl_mono_ms () ^ (uint64_t) (uintptr_t) &rng;
    for (int b = 0; b < m && rc == 0; b += self->batch) {
        int count = m - b < self->batch ? m - b : self->batch;
        rc = s_batch (self, curl, texts, lens, idx + b, count, out, &resp, &rng, err, errlen);
    }
    if (curl)
        curl_easy_cleanup (curl);
    free (resp.data);
    free (idx);
    return rc;
}

const sl_embed_provider_t sl_embed_openai_provider = {
    .name = "openai",
    .open = s_openai_open,
    .close = s_openai_close,
    .count_tokens = s_openai_count_tokens,
    .embed = s_openai_embed,
};

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
    assert (req);
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
        assert (json_is_array (input));
        assert (strcmp (json_string_value (json_object_get (root, "encoding_format")), "float") == 0);
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
    assert (server->listen_fd >= 0);
    atomic_store (&server->stop, false);
    assert (pthread_create (&server->thread, NULL, s_server_run, server) == 0);
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
    assert (e);
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
    assert (sl_embedder_embed (e, texts, lens, 2, out, err, errlen) == -1);
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
        assert (sl_embedder_embed (c->e, &t, &len, 1, out, err, sizeof err) == 0);
        s_expected (text, len, 8, expect);
        for (int k = 0; k < 8; k++)
            assert (fabsf (out [k] - expect [k]) < 1e-6f);
    }
    return NULL;
}

void
sl_embed_openai_test (bool verbose)
{
    printf (" * sl_embed_openai: ");
    if (verbose)
        printf ("\n");
    char err [1024];
    setenv ("SL_TEST_OPENAI_KEY", "sk-test-123", 1);
    //  a proxy in the environment must not be used (it would fail: nothing listens there)
    setenv ("http_proxy", "http://127.0.0.1:9", 1);
    setenv ("HTTP_PROXY", "http://127.0.0.1:9", 1);

    //  Options
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
        assert (sl_embedder_new ("openai", bad [i].options, err, sizeof err) == NULL);
        if (!strstr (err, bad [i].expect))
            fprintf (stderr, "'%s': expected '%s', got '%s'\n", bad [i].options, bad [i].expect, err);
        assert (strstr (err, bad [i].expect));
        if (verbose)
            printf ("  %s\n", err);
    }
    //  the default endpoint needs a key; a local one may do without
    assert (!sl_embedder_new ("openai", "model=m,dim=8", err, sizeof err));
    assert (strstr (err, "OPENAI_API_KEY"));
    sl_embedder_t *e = sl_embedder_new ("openai", "model=m,dim=8,url=http://127.0.0.1:1/v1",
                                        err, sizeof err);
    assert (e);
    assert (strcmp (sl_embedder_model_id (e), "openai:m") == 0);
    assert (sl_embedder_dim (e) == 8 && sl_embedder_max_tokens (e) == 8191);
    //  token estimate: characters / 4, rounded up
    assert (sl_embedder_count_tokens (e, "", 0) == 0);
    assert (sl_embedder_count_tokens (e, "abcdefgh", 8) == 2);
    assert (sl_embedder_count_tokens (e, "abcdefghi", 9) == 3);
    assert (sl_embedder_count_tokens (e, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8) == 1);
    sl_embedder_destroy (&e);

    s_server_t server;
    s_server_start (&server, 8);

    //  Batches: 150 texts, batch=64 -> 64 + 64 + 22, vectors by index,
    //  normalised; the key and model are sent
    e = s_open (&server, "batch=64");
    int n = 150;
    const char **texts = malloc ((size_t) n * sizeof *texts);
    size_t *lens = malloc ((size_t) n * sizeof *lens);
    char (*store) [32] = malloc ((size_t) n * 32);
    for (int i = 0; i < n; i++) {
        snprintf (store [i], 32, "chunk number %d", i);
        texts [i] = store [i];
        lens [i] = strlen (store [i]);
    }
    float *out = malloc ((size_t) n * 8 * sizeof *out);
    s_server_plan (&server, 0);
    assert (sl_embedder_embed (e, texts, lens, n, out, err, sizeof err) == 0);
    assert (s_server_requests (&server) == 3);
    assert (server.sizes [0] == 64 && server.sizes [1] == 64 && server.sizes [2] == 22);
    assert (strcmp (server.auth, "Bearer sk-test-123") == 0);
    assert (strcmp (server.model, "test-embed") == 0);
    for (int i = 0; i < n; i++) {
        float expect [8];
        s_expected (texts [i], lens [i], 8, expect);
        for (int k = 0; k < 8; k++)
            assert (fabsf (out [i * 8 + k] - expect [k]) < 1e-6f);
    }

    //  Blank texts are zero vectors and not sent; invalid UTF-8 is repaired
    {
        const char *t [4] = { "", "  \n\t", "hel\xfflo", "x" };
        size_t l [4] = { 0, 4, 6, 1 };
        float o [32];
        s_server_plan (&server, 0);
        assert (sl_embedder_embed (e, t, l, 4, o, err, sizeof err) == 0);
        assert (s_server_requests (&server) == 1 && server.sizes [0] == 2);
        assert (strcmp (server.first_input, "hel\xef\xbf\xbdlo") == 0);
        for (int k = 0; k < 16; k++)
            assert (o [k] == 0.0f);
        float expect [8];
        s_expected ("hel\xef\xbf\xbdlo", 8, 8, expect);
        for (int k = 0; k < 8; k++)
            assert (fabsf (o [16 + k] - expect [k]) < 1e-6f);
        //  nothing but blanks: no request at all
        s_server_plan (&server, 0);
        assert (sl_embedder_embed (e, t, l, 2, o, err, sizeof err) == 0);
        assert (s_server_requests (&server) == 0);
    }
    sl_embedder_destroy (&e);

    //  429 with Retry-After: 1 once: waits a second, then succeeds
    e = s_open (&server, NULL);
    s_server_plan (&server, 1, S_429);
    int64_t t0 = sl_mono_ms ();
    assert (sl_embedder_embed (e, texts, lens, 3, out, err, sizeof err) == 0);
    int64_t waited = sl_mono_ms () - t0;
    assert (s_server_requests (&server) == 2);
    assert (waited >= 950 && waited < 5000);
    if (verbose)
        printf ("  429 + Retry-After: 1 -> retried after %lld ms\n", (long long) waited);

    //  500 twice: backoff, then success on the third try
    s_server_plan (&server, 2, S_500, S_500);
    assert (sl_embedder_embed (e, texts, lens, 3, out, err, sizeof err) == 0);
    assert (s_server_requests (&server) == 3);
    sl_embedder_destroy (&e);

    //  500 every time: gives up after retries + 1 tries, saying why
    e = s_open (&server, "retries=2");
    s_server_plan (&server, 5, S_500, S_500, S_500, S_500, S_500);
    s_expect_error (e, err, sizeof err);
    assert (s_server_requests (&server) == 3);
    assert (strstr (err, "failed after 3 tries") && strstr (err, "HTTP 500: boom"));
    assert (strstr (err, "/v1/embeddings"));
    if (verbose)
        printf ("  %s\n", err);

    //  Retry-After beyond what we wait: fails at once
    s_server_plan (&server, 1, S_429_LONG);
    s_expect_error (e, err, sizeof err);
    assert (s_server_requests (&server) == 1 && strstr (err, "wait 3600 s"));
    assert (strstr (err, "slow down"));
    if (verbose)
        printf ("  %s\n", err);

    //  401: no retry, and a hint about the key
    s_server_plan (&server, 1, S_401);
    s_expect_error (e, err, sizeof err);
    assert (s_server_requests (&server) == 1);
    assert (strstr (err, "HTTP 401: Incorrect API key provided") && strstr (err, "$SL_TEST_OPENAI_KEY"));
    assert (!strstr (err, "sk-test-123"));          //  never the key itself
    if (verbose)
        printf ("  %s\n", err);

    //  garbage on a 200: a clear error, not retried
    s_server_plan (&server, 1, S_GARBAGE);
    s_expect_error (e, err, sizeof err);
    assert (s_server_requests (&server) == 1 && strstr (err, "not valid JSON") && strstr (err, "<html>"));
    if (verbose)
        printf ("  %s\n", err);

    //  wrong dimension: says which and what to do
    s_server_plan (&server, 1, S_WRONG_DIM);
    s_expect_error (e, err, sizeof err);
    assert (strstr (err, "returned 5-dimensional vectors but dim=8") && strstr (err, "set dim=5"));
    if (verbose)
        printf ("  %s\n", err);

    //  fewer embeddings than texts
    s_server_plan (&server, 1, S_SHORT);
    s_expect_error (e, err, sizeof err);
    assert (strstr (err, "different number of embeddings for 2 texts"));
    sl_embedder_destroy (&e);

    //  a server that stalls: timeout on each try, then the error
    e = s_open (&server, "retries=1,timeout_ms=300");
    s_server_plan (&server, 2, S_STALL, S_STALL);
    t0 = sl_mono_ms ();
    s_expect_error (e, err, sizeof err);
    waited = sl_mono_ms () - t0;
    assert (s_server_requests (&server) == 2);
    assert (strstr (err, "failed after 2 tries") && strstr (err, "timeout_ms=300"));
    assert (waited >= 600 && waited < 2500);
    if (verbose)
        printf ("  %s (%lld ms)\n", err, (long long) waited);
    sl_embedder_destroy (&e);

    //  several threads at once
    {
        e = s_open (&server, NULL);
        s_server_plan (&server, 0);
        pthread_t threads [3];
        s_client_t clients [3];
        for (int i = 0; i < 3; i++) {
            clients [i] = (s_client_t) { e, 5 };
            assert (pthread_create (&threads [i], NULL, s_client, &clients [i]) == 0);
        }
        for (int i = 0; i < 3; i++)
            pthread_join (threads [i], NULL);
        assert (s_server_requests (&server) == 15);
        sl_embedder_destroy (&e);
    }

    //  nobody listening: connection errors are retried, then reported
    int port = server.port;
    s_server_stop (&server);
    char options [256];
    snprintf (options, sizeof options, "url=http://127.0.0.1:%d/v1,model=m,dim=8,retries=1,"
              "backoff_ms=10", port);
    e = sl_embedder_new ("openai", options, err, sizeof err);
    assert (e);
    s_expect_error (e, err, sizeof err);
    assert (strstr (err, "failed after 2 tries") && strstr (err, "onnect"));
    if (verbose)
        printf ("  %s\n", err);
    sl_embedder_destroy (&e);

    free (texts);
    free (lens);
    free (store);
    free (out);
    unsetenv ("http_proxy");
    unsetenv ("HTTP_PROXY");
    unsetenv ("SL_TEST_OPENAI_KEY");
    printf ("OK\n");
}
