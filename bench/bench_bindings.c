/*  bench_bindings: submit -> completed latency of a small text document
    through libsluice (ZeroMQ, bytes through the upload service) and through
    the HTTP edge (POST /v1/ingest, then its SSE stream), against the same
    running sluiced; then submissions per second from one client, both ways.

        bench_bindings BROKER_ENDPOINT HTTP_URL N_LATENCY N_RATE

    Built by bench/bindings.sh against an *installed* libsluice (pkg-config)
    plus libcurl and jansson. Every document is distinct (a counter in the
    text), so no job is short-circuited as a duplicate. Latency rounds
    alternate C and HTTP so a burst of load from elsewhere hits both alike.
    Prints one "key value" line per figure for the script to collect.
*/
#include <sluice_client.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_pct (double *v, int n, double p)
{
    qsort (v, (size_t) n, sizeof *v, s_cmp);
    int i = (int) (p * (n - 1) + 0.5);
    return v [i < n ? i : n - 1];
}

static int s_counter = 0;

static int
s_document (char *buf, size_t cap)
{
    return snprintf (buf, cap,
        "Benchmark note %d, %ld.\n"
        "The quick survey of river crossings lists the ferry at the northern bend,\n"
        "the stone bridge near the mill, and the rope crossing used in summer.\n"
        "Each crossing is described with its width, its depth in spring, and\n"
        "the towns on either side. This short text stands for a small document.\n",
        ++s_counter, (long) getpid ());
}

//  --------------------------------------------------------------------------
//  C client

static double
s_c_once (sluice_client_t *client)
{
    char doc [1024], job [SLUICE_ID_SIZE] = "";
    int len = s_document (doc, sizeof doc);
    double t0 = s_now ();
    sluice_rc_t rc;
    while ((rc = sluice_client_ingest_bytes (client, doc, (size_t) len, "note.txt", "text/plain", job, 0))
           == SLUICE_BUSY)
        usleep ((useconds_t) sluice_client_retry_ms (client) * 1000);
    if (rc != SLUICE_OK) {
        fprintf (stderr, "ingest: %s %s\n", sluice_rc_name (rc), sluice_client_message (client));
        exit (1);
    }
    sluice_watch_t *watch = NULL;
    if (sluice_client_watch (client, job, 0, &watch, 0) != SLUICE_OK) {
        fprintf (stderr, "watch: %s\n", sluice_client_message (client));
        exit (1);
    }
    double t1 = 0;
    sluice_event_t *event = NULL;
    while ((rc = sluice_watch_next (watch, &event, 60000)) == SLUICE_OK) {
        if (strcmp (sluice_event_type (event), "job_completed") == 0)
            t1 = s_now ();
        else
        if (strcmp (sluice_event_type (event), "job_failed") == 0) {
            fprintf (stderr, "job failed: %s\n", sluice_event_json (event));
            exit (1);
        }
        sluice_event_destroy (&event);
    }
    sluice_watch_destroy (&watch);
    if (t1 == 0) {
        fprintf (stderr, "job %s did not complete (%s)\n", job, sluice_rc_name (rc));
        exit (1);
    }
    return t1 - t0;
}

//  --------------------------------------------------------------------------
//  HTTP

typedef struct {
    char *data;
    size_t len;
    bool done;
} buf_t;

static size_t
s_collect (char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = (buf_t *) arg;
    size_t n = size * nmemb;
    b->data = realloc (b->data, b->len + n + 1);
    memcpy (b->data + b->len, ptr, n);
    b->len += n;
    b->data [b->len] = 0;
    return n;
}

//  SSE: stop reading (abort the transfer) at the terminal event.
static size_t
s_sse (char *ptr, size_t size, size_t nmemb, void *arg)
{
    size_t n = s_collect (ptr, size, nmemb, arg);
    buf_t *b = (buf_t *) arg;
    if (strstr (b->data, "event: job_completed") || strstr (b->data, "event: job_failed")) {
        b->done = true;
        return 0;
    }
    return n;
}

static char *
s_http_submit (CURL *curl, const char *base)
{
    char doc [1024], url [512];
    int len = s_document (doc, sizeof doc);
    snprintf (url, sizeof url, "%s/v1/ingest?filename=note.txt", base);
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: text/plain");
    while (true) {
        buf_t b = { 0 };
        curl_easy_reset (curl);
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, doc);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) len);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, &b);
        long status = 0;
        if (curl_easy_perform (curl) != CURLE_OK
        ||  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
            fprintf (stderr, "POST %s failed\n", url);
            exit (1);
        }
        if (status == 429) {
            free (b.data);
            usleep (200000);
            continue;
        }
        json_t *reply = status == 202 ? json_loads (b.data, 0, NULL) : NULL;
        const char *id = json_string_value (json_object_get (json_array_get (json_object_get (reply, "jobs"), 0), "id"));
        if (!id) {
            fprintf (stderr, "POST answered %ld: %s\n", status, b.data);
            exit (1);
        }
        char *job = strdup (id);
        json_decref (reply);
        free (b.data);
        curl_slist_free_all (headers);
        return job;
    }
}

static double
s_http_once (CURL *curl, const char *base)
{
    double t0 = s_now ();
    char *job = s_http_submit (curl, base);
    char url [512];
    snprintf (url, sizeof url, "%s/v1/jobs/%s/events", base, job);
    buf_t b = { 0 };
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_sse);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_perform (curl);           //  "aborted" by s_sse at the terminal event
    double t1 = s_now ();
    if (!b.done || !strstr (b.data, "event: job_completed")) {
        fprintf (stderr, "job %s: no job_completed on the SSE stream:\n%s\n", job, b.data ? b.data : "");
        exit (1);
    }
    free (b.data);
    free (job);
    return t1 - t0;
}

int
main (int argc, char **argv)
{
    if (argc != 5) {
        fprintf (stderr, "usage: bench_bindings BROKER_ENDPOINT HTTP_URL N_LATENCY N_RATE\n");
        return 2;
    }
    const char *endpoint = argv [1], *base = argv [2];
    int n = atoi (argv [3]), m = atoi (argv [4]);
    sluice_client_t *client = sluice_client_new (endpoint);
    if (!client || sluice_client_connect (client, 10000) != SLUICE_OK) {
        fprintf (stderr, "connect: %s\n", client ? sluice_client_message (client) : endpoint);
        return 1;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init ();

    //  Warm up both paths (model loaded, connections open)
    for (int i = 0; i < 5; i++) {
        s_c_once (client);
        s_http_once (curl, base);
    }
    double *c_lat = calloc ((size_t) n, sizeof *c_lat), *h_lat = calloc ((size_t) n, sizeof *h_lat);
    for (int i = 0; i < n; i++) {
        c_lat [i] = s_c_once (client);
        h_lat [i] = s_http_once (curl, base);
    }
    printf ("c_p50_ms %.1f\nc_p99_ms %.1f\n", s_pct (c_lat, n, 0.5) * 1000, s_pct (c_lat, n, 0.99) * 1000);
    printf ("http_p50_ms %.1f\nhttp_p99_ms %.1f\n", s_pct (h_lat, n, 0.5) * 1000, s_pct (h_lat, n, 0.99) * 1000);

    //  Submissions per second, one client, sequential: accepted, not completed
    char doc [1024], job [SLUICE_ID_SIZE];
    double t0 = s_now ();
    for (int i = 0; i < m; i++) {
        int len = s_document (doc, sizeof doc);
        job [0] = 0;
        sluice_rc_t rc;
        while ((rc = sluice_client_ingest_bytes (client, doc, (size_t) len, "note.txt", "text/plain", job, 0))
               == SLUICE_BUSY)
            usleep ((useconds_t) sluice_client_retry_ms (client) * 1000);
        if (rc != SLUICE_OK) {
            fprintf (stderr, "ingest: %s\n", sluice_client_message (client));
            return 1;
        }
    }
    printf ("c_bytes_per_s %.0f\n", m / (s_now () - t0));
    t0 = s_now ();
    for (int i = 0; i < m; i++) {
        job [0] = 0;
        //  A URL the fetch stage will refuse: only the submission is timed
        char url [128];
        snprintf (url, sizeof url, "http://127.0.0.1:9/bench-%d-%d.pdf", getpid (), i);
        if (sluice_client_ingest_url (client, url, job, 0) != SLUICE_OK) {
            fprintf (stderr, "ingest_url: %s\n", sluice_client_message (client));
            return 1;
        }
    }
    printf ("c_url_per_s %.0f\n", m / (s_now () - t0));
    t0 = s_now ();
    for (int i = 0; i < m; i++)
        free (s_http_submit (curl, base));
    printf ("http_bytes_per_s %.0f\n", m / (s_now () - t0));
    curl_easy_cleanup (curl);
    curl_global_cleanup ();
    sluice_client_destroy (&client);
    free (c_lat);
    free (h_lat);
    return 0;
}
