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
