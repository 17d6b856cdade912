/*  sluice: the command-line client of the Sluice HTTP API (docs/openapi.yaml).

        sluice ingest FILE|URL|DIR ... [--wait]
        sluice jobs | ls | show ID | rm ID | search "query" [-k N] | status
        sluice ingest FILE --meta team=legal; sluice search "q" --filter year>=2020
        sluice tag ID key=value ...
        sluice sources add folder DIR --schedule "every 15m"; sluice sync ID --wait

    Talks HTTP only (libcurl + jansson), so it works against any edge, local
    or remote. Files are uploaded as multipart/form-data streamed from disk
    (curl reads them as it sends: a 2 GB file is never in memory), one
    request per document so that a 429 for one document is retried alone;
    URLs go as JSON. Files of SLUICE_RESUMABLE_MIN bytes or more (8 MiB)
    go as resumable tus uploads instead (sluice_tus.h): a dropped
    connection, or a second run after a crash, resumes where the server
    stands. With --wait every job is followed on its Server-Sent
    Event stream (all at once, on one curl multi handle), with a live
    progress bar per document when stdout is a terminal and one plain line
    per event otherwise; a dropped stream is resumed with Last-Event-ID.

    Exit codes are part of the interface (see s_usage): scripts branch on
    them, so every path ends in exactly one of them.
*/
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice_args.h"
#include "sluice_tus.h"

#define SLUICE_CLI_VERSION "0.1.0"

//  Exit codes
#define EXIT_OK         0
#define EXIT_FAILED     1           //  a job failed
#define EXIT_USAGE      2           //  bad command line, or the server refused the request (4xx)
#define EXIT_SERVER     3           //  server unreachable or 5xx
#define EXIT_NOTFOUND   4
#define EXIT_RATE       5           //  still 429 after the retries

#define MAX_STREAMS     64          //  SSE streams followed at once

static struct {
    char server [1024];
    const char *key;
    bool json;
    bool wait;
    bool quiet;
    bool tty;
    int retries;
    int k;
    const char *state;
    const char *mode;
    const char *docs [100];         //  search --doc ID (repeatable)
    int n_docs;
    json_t *meta;                   //  ingest --meta / --meta-json; tag
    json_t *filter;                 //  search --filter / --filter-json
    const char *source_prefix;      //  search --source-prefix
    json_t *mimes;                  //  search --mime (repeatable, or a,b)
    bool replace;                   //  tag --replace: PUT instead of PATCH
    const char *schedule;           //  sources add/set --schedule
    int limit;
    int offset;
    CURL *curl;                     //  one handle: connections are reused
} s_opt;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: sluice [options] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  ingest FILE|URL|DIR ...   submit documents (DIR: every regular file inside, recursively,\n"
        "                            named by its path from DIR's parent: `ingest d` sends d/a/n.txt;\n"
        "                            ingesting a name again replaces that document)\n"
        "         --wait             follow every job to the end (progress bars on a terminal)\n"
        "  jobs [--state S]          list jobs (queued, fetching, parsing, chunking, embedding,\n"
        "                            storing, completed, failed, cancelled)\n"
        "  cancel JOB                stop a job at its next stage boundary; what it made goes\n"
        "  retry JOB                 run a failed or cancelled job again from its start\n"
        "  reprocess ID [chunk|embed] process a stored document again from a stage, without\n"
        "                            fetch or parse (chunk: with the workspace's chunking now)\n"
        "  pause                     hold the workspace's new jobs (accepted, not started)\n"
        "  resume                    start the held jobs, and new ones as they come\n"
        "  ls                        list documents\n"
        "  show ID                   show a document (or, if there is none, a job)\n"
        "  rm ID                     delete a document\n"
        "  tag ID key=value...       set a document's attributes (key= removes one;\n"
        "         --replace          replace them all instead of merging)\n"
        "  search \"QUERY\" [-k N] [--mode M] [--doc ID]...\n"
        "                            best matching chunks (default k 10); M: hybrid (default:\n"
        "                            meaning and exact words), vector or lexical; --doc: only\n"
        "                            within that document (repeatable, up to 100)\n"
        "  status                    server status (model, counts)\n"
        "  chunking [KEY=VALUE]...   how the workspace cuts documents; with settings\n"
        "                            (target_tokens=N, overlap_tokens=N, embed_context=true|false)\n"
        "                            change them for documents ingested from now on;\n"
        "                            `chunking reset`: back to the server's\n"
        "  sources [ls]              registered sources with their last run\n"
        "  sources add folder PATH | urls URL... | sitemap URL [--schedule S] [--meta k=v]\n"
        "                            register one (S: 'every 15m' or cron '0 3 * * *'; a\n"
        "                            folder must be below the server's fetch.file_roots)\n"
        "  sources show|runs|rm ID   one source and its runs, its runs, delete it (and its documents)\n"
        "  sources set ID --schedule S|none [--meta k=v]   change its schedule or attributes\n"
        "  sync ID [--wait]          sync a source now; --wait: until its run ends (exit 1 if\n"
        "                            it failed or any of its documents did)\n"
        "\n"
        "options:\n"
        "  --meta key=value  ingest: an attribute of every document (repeatable; 1 is a\n"
        "                    number, true a boolean, a,b a list); --meta-json '{...}' for any\n"
        "  --filter EXPR     search: key=v, key~a,b (any of), key>=v, key>v, key<=v, key<v\n"
        "                    (repeatable, ANDed; numbers or dates); --filter-json '{...}'\n"
        "  --source-prefix P, --mime TYPE   search: only sources starting with P, of TYPE\n"
        "  --server URL      server (default $SLUICE_SERVER or http://127.0.0.1:8080)\n"
        "  --key KEY         API key (default $SLUICE_KEY)\n"
        "  --json            machine-readable output (one JSON document)\n"
        "  --limit N, --offset N   paging for jobs and ls (default 50, 0)\n"
        "  --retries N       retries on 429 Too Many Requests, honouring Retry-After (default 10)\n"
        "  -q, --quiet       print only errors\n"
        "  --help, --version\n"
        "\n"
        "exit codes:\n"
        "  0  success\n"
        "  1  a job failed (ingest --wait)\n"
        "  2  usage error, or the server refused the request (400, 401, 413, 415)\n"
        "  3  server unreachable, or it answered 5xx\n"
        "  4  not found\n"
        "      (cancel or retry of a job in a state that does not allow it: 2, with the state)\n"
        "  5  still rate-limited (429) after the retries\n");
}

static void
s_err (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fprintf (stderr, "sluice: ");
    vfprintf (stderr, fmt, args);
    fprintf (stderr, "\n");
    va_end (args);
}

//  Exit code for an HTTP status.
static int
s_exit_for (long status)
{
    if (status >= 200 && status < 300)
        return EXIT_OK;
    if (status == 404)
        return EXIT_NOTFOUND;
    if (status == 429)
        return EXIT_RATE;
    if (status >= 500 || status == 0)
        return EXIT_SERVER;
    return EXIT_USAGE;
}

//  Keep the most severe exit code: usage > server > rate > not found > failed.
static int
s_worse (int a, int b)
{
    static const int rank [] = { 0, 1, 5, 4, 2, 3 };    //  by code 0..5
    return rank [b] > rank [a] ? b : a;
}

//  --------------------------------------------------------------------------
//  HTTP

typedef struct {
    char *data;
    size_t size;
} buf_t;

static size_t
s_collect (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *buf = (buf_t *) userdata;
    size_t n = size * nmemb;
    char *grown = realloc (buf->data, buf->size + n + 1);
    if (!grown)
        return 0;
    buf->data = grown;
    memcpy (buf->data + buf->size, ptr, n);
    buf->size += n;
    buf->data [buf->size] = 0;
    return n;
}

typedef struct {
    int retry_after;
} hdr_t;

static size_t
s_header_cb (char *line, size_t size, size_t nmemb, void *userdata)
{
    hdr_t *h = (hdr_t *) userdata;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp (line, "Retry-After:", 12) == 0)
        h->retry_after = atoi (line + 12);
    return n;
}

static struct curl_slist *
s_auth_headers (struct curl_slist *list)
{
    if (s_opt.key && *s_opt.key) {
        char auth [600];
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", s_opt.key);
        list = curl_slist_append (list, auth);
    }
    return list;
}

//  One request, retried on 429 (Retry-After). body: JSON to send, or a
//  curl_mime for uploads. Returns the HTTP status (0: unreachable, with
//  a message in *error) and the parsed reply in *reply (may be NULL).
static long
s_request (const char *method, const char *path, json_t *body, curl_mime *mime, json_t **reply,
           char *error, size_t errlen)
{
    *reply = NULL;
    char url [2048];
    snprintf (url, sizeof url, "%s%s", s_opt.server, path);
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    long status = 0;
    for (int attempt = 0; ; attempt++) {
        CURL *curl = s_opt.curl;
        curl_easy_reset (curl);
        buf_t buf = { NULL, 0 };
        hdr_t hdr = { 0 };
        struct curl_slist *headers = s_auth_headers (NULL);
        headers = curl_slist_append (headers, "Accept: application/json");
        if (text)
            headers = curl_slist_append (headers, "Content-Type: application/json");
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, &buf);
        curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_header_cb);
        curl_easy_setopt (curl, CURLOPT_HEADERDATA, &hdr);
        curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        if (text)
            curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
        if (mime)
            curl_easy_setopt (curl, CURLOPT_MIMEPOST, mime);
        CURLcode rc = curl_easy_perform (curl);
        curl_slist_free_all (headers);
        if (rc != CURLE_OK) {
            snprintf (error, errlen, "cannot reach %.300s: %s", s_opt.server, curl_easy_strerror (rc));
            free (buf.data);
            status = 0;
            break;
        }
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        json_t *value = buf.data ? json_loadb (buf.data, buf.size, 0, NULL) : NULL;
        free (buf.data);
        if (status == 429 && attempt < s_opt.retries) {
            int wait = hdr.retry_after > 0 ? hdr.retry_after : 1;
            if (wait > 30)
                wait = 30;
            if (!s_opt.quiet && !s_opt.json)
                fprintf (stderr, "sluice: server busy (429), retrying in %d s (%d/%d)\n", wait,
                         attempt + 1, s_opt.retries);
            json_decref (value);
            sleep ((unsigned) wait);
            continue;
        }
        if (status >= 400) {
            const char *message = json_string_value (json_object_get (json_object_get (value, "error"), "message"));
            snprintf (error, errlen, "%ld: %s", status, message ? message : "request failed");
        }
        *reply = value;
        break;
    }
    free (text);
    return status;
}

//  Print a reply (JSON mode) or the error, and return the exit code.
static int
s_finish (long status, json_t *reply, const char *error)
{
    if (status < 200 || status >= 300) {
        if (s_opt.json && reply)
            json_dumpf (reply, stdout, JSON_INDENT (2)), printf ("\n");
        s_err ("%s", error);
    }
    return s_exit_for (status);
}

static void
s_print_json (json_t *value)
{
    json_dumpf (value, stdout, JSON_INDENT (2));
    printf ("\n");
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *s = json_string_value (json_object_get (object, key));
    return s ? s : "";
}

static void
s_time (json_t *ms, char *buf, size_t cap)
{
    time_t t = (time_t) (json_integer_value (ms) / 1000);
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

//  --------------------------------------------------------------------------
//  Workspace chunking

//  "key=value" into change; false (reason printed) if it does not parse
static bool
s_chunking_arg (const char *arg, json_t *change)
{
    const char *eq = strchr (arg, '=');
    if (!eq || eq == arg) {
        s_err ("expected KEY=VALUE, got '%s'", arg);
        return false;
    }
    char key [64];
    snprintf (key, sizeof key, "%.*s", (int) (eq - arg), arg);
    const char *value = eq + 1;
    if (strcmp (value, "true") == 0 || strcmp (value, "false") == 0)
        json_object_set_new (change, key, json_boolean (strcmp (value, "true") == 0));
    else {
        char *end;
        long long n = strtoll (value, &end, 10);
        if (!*value || *end) {
            s_err ("%s: expected a number, true or false, got '%s'", key, value);
            return false;
        }
        json_object_set_new (change, key, json_integer (n));
    }
    return true;
}

static int
s_cmd_chunking (int argc, char **argv)
{
    json_t *reply = NULL, *change = NULL;
    char error [1024];
    long status;
    if (argc == 1 && strcmp (argv [0], "reset") == 0)
        status = s_request ("DELETE", "/v1/workspace/chunking", NULL, NULL, &reply, error,
                            sizeof error);
    else
    if (argc > 0) {
        change = json_object ();
        for (int i = 0; i < argc; i++)
            if (!s_chunking_arg (argv [i], change)) {
                json_decref (change);
                return EXIT_USAGE;
            }
        status = s_request ("PUT", "/v1/workspace/chunking", change, NULL, &reply, error,
                            sizeof error);
    }
    else
        status = s_request ("GET", "/v1/workspace", NULL, NULL, &reply, error, sizeof error);
    json_decref (change);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK && s_opt.json)
        s_print_json (reply);
    else
    if (rc == EXIT_OK && !s_opt.quiet) {
        json_t *c = json_object_get (reply, "chunking");
        printf ("workspace       %s\nmodel           %s\ntarget_tokens   %lld\n"
                "overlap_tokens  %lld\nembed_context   %s\nsettings        %s\n",
                s_str (reply, "workspace"), *s_str (reply, "model") ? s_str (reply, "model") : "(none yet)",
                (long long) json_integer_value (json_object_get (c, "target_tokens")),
                (long long) json_integer_value (json_object_get (c, "overlap_tokens")),
                json_is_true (json_object_get (c, "embed_context")) ? "true" : "false",
                strcmp (s_str (reply, "chunking_source"), "workspace") == 0
                ? "the workspace's own" : "the server's");
    }
    json_decref (reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Sources: folders, URL lists and sitemaps kept in sync (/v1/sources)

static void
s_print_run (json_t *run)
{
    char started [32] = "-";
    if (json_object_get (run, "started"))
        s_time (json_object_get (run, "started"), started, sizeof started);
    printf ("  run %s  %-9s %s  new %lld  changed %lld  deleted %lld  unchanged %lld  failed %lld%s%s\n",
            s_str (run, "id"), s_str (run, "state"), started,
            (long long) json_integer_value (json_object_get (run, "new")),
            (long long) json_integer_value (json_object_get (run, "changed")),
            (long long) json_integer_value (json_object_get (run, "deleted")),
            (long long) json_integer_value (json_object_get (run, "unchanged")),
            (long long) json_integer_value (json_object_get (run, "failed")),
            *s_str (run, "error") ? "\n    " : "", s_str (run, "error"));
}

static void
s_print_source (json_t *source)
{
    const char *kind = s_str (source, "kind");
    char next [32] = "on demand";
    if (json_is_integer (json_object_get (source, "next_sync")))
        s_time (json_object_get (source, "next_sync"), next, sizeof next);
    printf ("%s  %-7s %s  schedule: %s  next: %s\n", s_str (source, "id"), kind,
            strcmp (kind, "folder") == 0 ? s_str (source, "path")
            : strcmp (kind, "sitemap") == 0 ? s_str (source, "url") : "(urls)",
            *s_str (source, "schedule") ? s_str (source, "schedule") : "none", next);
    json_t *run = json_object_get (source, "last_run");
    if (json_is_object (run))
        s_print_run (run);
}

//  One request about sources; prints the reply's `what` (a source, the
//  runs) unless --json or -q.
static int
s_sources_call (const char *method, const char *path, json_t *body, const char *what,
                json_t **reply_out)
{
    json_t *reply = NULL;
    char error [1024];
    long status = s_request (method, path, body, NULL, &reply, error, sizeof error);
    json_decref (body);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK && s_opt.json)
        s_print_json (reply);
    else
    if (rc == EXIT_OK && !s_opt.quiet && what) {
        json_t *value = json_object_get (reply, what);
        size_t index;
        json_t *item;
        if (json_is_array (value))
            json_array_foreach (value, index, item)
                strcmp (what, "runs") == 0 ? s_print_run (item) : s_print_source (item);
        else
        if (json_is_object (value))
            strcmp (what, "run") == 0 ? s_print_run (value) : s_print_source (value);
    }
    if (reply_out && rc == EXIT_OK)
        *reply_out = reply;
    else
        json_decref (reply);
    return rc;
}

//  sources add folder PATH | urls URL... | sitemap URL  [--schedule S] [--meta k=v]
static int
s_sources_add (int argc, char **argv)
{
    if (argc < 2 || (strcmp (argv [0], "urls") != 0 && argc != 2)) {
        s_err ("sources add folder PATH | urls URL... | sitemap URL [--schedule S] [--meta k=v]");
        return EXIT_USAGE;
    }
    json_t *source = json_pack ("{s:s}", "kind", argv [0]);
    if (strcmp (argv [0], "folder") == 0) {
        char real [PATH_MAX];
        //  the server resolves it again, under its own roots
        json_object_set_new (source, "path", json_string (realpath (argv [1], real) ? real : argv [1]));
    }
    else
    if (strcmp (argv [0], "urls") == 0) {
        json_t *urls = json_array ();
        for (int i = 1; i < argc; i++)
            json_array_append_new (urls, json_string (argv [i]));
        json_object_set_new (source, "urls", urls);
    }
    else
        json_object_set_new (source, "url", json_string (argv [1]));
    if (s_opt.schedule)
        json_object_set_new (source, "schedule", json_string (s_opt.schedule));
    if (s_opt.meta)
        json_object_set (source, "meta", s_opt.meta);
    return s_sources_call ("POST", "/v1/sources", source, "source", NULL);
}

static int
s_cmd_sources (int argc, char **argv)
{
    char path [256];
    const char *sub = argc ? argv [0] : "ls";
    if (strcmp (sub, "ls") == 0 && argc <= 1)
        return s_sources_call ("GET", "/v1/sources", NULL, "sources", NULL);
    if (strcmp (sub, "add") == 0)
        return s_sources_add (argc - 1, argv + 1);
    if (argc == 2 && strcmp (sub, "show") == 0) {
        snprintf (path, sizeof path, "/v1/sources/%.64s", argv [1]);
        int rc = s_sources_call ("GET", path, NULL, "source", NULL);
        if (rc == EXIT_OK && !s_opt.json) {
            snprintf (path, sizeof path, "/v1/sources/%.64s/runs?limit=%d", argv [1],
                      s_opt.limit > 100 ? 100 : s_opt.limit);
            rc = s_sources_call ("GET", path, NULL, "runs", NULL);
        }
        return rc;
    }
    if (argc == 2 && strcmp (sub, "runs") == 0) {
        snprintf (path, sizeof path, "/v1/sources/%.64s/runs?limit=%d", argv [1],
                  s_opt.limit > 100 ? 100 : s_opt.limit);
        return s_sources_call ("GET", path, NULL, "runs", NULL);
    }
    if (argc == 2 && strcmp (sub, "rm") == 0) {
        snprintf (path, sizeof path, "/v1/sources/%.64s", argv [1]);
        json_t *reply = NULL;
        int rc = s_sources_call ("DELETE", path, NULL, NULL, &reply);
        if (rc == EXIT_OK && !s_opt.json && !s_opt.quiet)
            printf ("deleted source %s and its %lld documents\n", argv [1],
                    (long long) json_integer_value (json_object_get (reply, "documents_deleted")));
        json_decref (reply);
        return rc;
    }
    if (argc == 2 && strcmp (sub, "set") == 0 && (s_opt.schedule || s_opt.meta)) {
        json_t *change = json_object ();
        if (s_opt.schedule)
            json_object_set_new (change, "schedule", strcmp (s_opt.schedule, "none") == 0
                                 ? json_null () : json_string (s_opt.schedule));
        if (s_opt.meta)
            json_object_set (change, "meta", s_opt.meta);
        snprintf (path, sizeof path, "/v1/sources/%.64s", argv [1]);
        return s_sources_call ("PATCH", path, change, "source", NULL);
    }
    s_err ("sources [ls] | add KIND ... | show ID | runs ID | set ID --schedule S|none "
           "[--meta k=v] | rm ID");
    return EXIT_USAGE;
}

//  sync ID [--wait]: ask for a run; with --wait follow it to its end (exit
//  1 if it failed or any of its jobs did)
static int
s_cmd_sync (const char *id)
{
    char path [256];
    snprintf (path, sizeof path, "/v1/sources/%.64s/sync", id);
    json_t *reply = NULL;
    bool wait = s_opt.wait;
    bool json = s_opt.json;
    s_opt.json = s_opt.json && !wait;
    int rc = s_sources_call ("POST", path, NULL, wait ? NULL : "run", &reply);
    s_opt.json = json;
    if (rc != EXIT_OK || !wait) {
        json_decref (reply);
        return rc;
    }
    char run_id [80];
    snprintf (run_id, sizeof run_id, "%s", s_str (json_object_get (reply, "run"), "id"));
    json_decref (reply);
    snprintf (path, sizeof path, "/v1/sources/%.64s/runs?limit=20", id);
    for (;;) {
        json_t *runs = NULL;
        char error [1024];
        long status = s_request ("GET", path, NULL, NULL, &runs, error, sizeof error);
        if (status != 200) {
            rc = s_finish (status, runs, error);
            json_decref (runs);
            return rc;
        }
        size_t index;
        json_t *run, *mine = NULL;
        json_array_foreach (json_object_get (runs, "runs"), index, run)
            if (strcmp (s_str (run, "id"), run_id) == 0)
                mine = run;
        const char *state = s_str (mine, "state");
        if (strcmp (state, "completed") == 0 || strcmp (state, "failed") == 0) {
            if (s_opt.json)
                s_print_json (mine);
            else
            if (!s_opt.quiet)
                s_print_run (mine);
            rc = strcmp (state, "failed") == 0
              || json_integer_value (json_object_get (mine, "failed")) > 0 ? EXIT_FAILED : EXIT_OK;
            json_decref (runs);
            return rc;
        }
        json_decref (runs);
        usleep (300 * 1000);
    }
}

//  --------------------------------------------------------------------------
//  Listing commands

static int
s_cmd_jobs (void)
{
    char path [256];
    snprintf (path, sizeof path, "/v1/jobs?limit=%d&offset=%d%s%s", s_opt.limit, s_opt.offset,
              s_opt.state ? "&state=" : "", s_opt.state ? s_opt.state : "");
    json_t *reply;
    char error [1024];
    long status = s_request ("GET", path, NULL, NULL, &reply, error, sizeof error);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else {
            size_t i;
            json_t *job;
            printf ("%-32s  %-10s  %4s  %-19s  %s\n", "JOB", "STATE", "%", "CREATED", "SOURCE");
            json_array_foreach (json_object_get (reply, "jobs"), i, job) {
                char when [32];
                s_time (json_object_get (job, "created"), when, sizeof when);
                printf ("%-32s  %-10s  %4lld  %-19s  %s%s%s\n", s_str (job, "id"), s_str (job, "state"),
                        (long long) json_integer_value (json_object_get (job, "percent")), when,
                        s_str (job, "source"), *s_str (job, "error") ? "  -- " : "", s_str (job, "error"));
            }
        }
    }
    json_decref (reply);
    return rc;
}

//  A document's attributes on a line of their own under it, as
//  key=value pairs (lists joined with commas), the form --meta takes
static void
s_print_meta (json_t *meta)
{
    if (!json_is_object (meta) || json_object_size (meta) == 0)
        return;
    printf ("%34s", "");
    const char *key;
    json_t *value;
    json_object_foreach (meta, key, value) {
        printf (" %s=", key);
        json_t *items = json_is_array (value) ? value : NULL;
        size_t n = items ? json_array_size (items) : 1;
        for (size_t j = 0; j < n; j++) {
            json_t *item = items ? json_array_get (items, j) : value;
            char *text = json_is_string (item) ? NULL : json_dumps (item, JSON_ENCODE_ANY);
            printf ("%s%s", j ? "," : "", text ? text : json_string_value (item));
            free (text);
        }
    }
    printf ("\n");
}

static int
s_cmd_ls (void)
{
    char path [256];
    snprintf (path, sizeof path, "/v1/documents?limit=%d&offset=%d", s_opt.limit, s_opt.offset);
    json_t *reply;
    char error [1024];
    long status = s_request ("GET", path, NULL, NULL, &reply, error, sizeof error);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else {
            size_t i;
            json_t *doc;
            printf ("%-32s  %5s  %6s  %10s  %s\n", "DOCUMENT", "PAGES", "CHUNKS", "BYTES", "TITLE / SOURCE");
            json_array_foreach (json_object_get (reply, "documents"), i, doc) {
                printf ("%-32s  %5lld  %6lld  %10lld  %s  (%s)\n", s_str (doc, "id"),
                        (long long) json_integer_value (json_object_get (doc, "pages")),
                        (long long) json_integer_value (json_object_get (doc, "chunks")),
                        (long long) json_integer_value (json_object_get (doc, "bytes")),
                        s_str (doc, "title"), s_str (doc, "source"));
                s_print_meta (json_object_get (doc, "meta"));
            }
            json_t *total = json_object_get (reply, "total");
            if (json_is_integer (total))
                printf ("(%lld document%s)\n", (long long) json_integer_value (total),
                        json_integer_value (total) == 1 ? "" : "s");
        }
    }
    json_decref (reply);
    return rc;
}

static bool
s_id_ok (const char *id)
{
    size_t n = strlen (id);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

static int
s_cmd_show (const char *id)
{
    if (!s_id_ok (id)) {
        s_err ("'%s' is not an id", id);
        return EXIT_USAGE;
    }
    char path [256];
    snprintf (path, sizeof path, "/v1/documents/%s", id);
    json_t *reply;
    char error [1024];
    long status = s_request ("GET", path, NULL, NULL, &reply, error, sizeof error);
    if (status == 404) {
        //  Not a document: maybe a job
        json_decref (reply);
        snprintf (path, sizeof path, "/v1/jobs/%s", id);
        status = s_request ("GET", path, NULL, NULL, &reply, error, sizeof error);
        if (status == 404)
            snprintf (error, sizeof error, "no document or job %s", id);
    }
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else {
            json_t *item = json_object_get (reply, "document");
            if (!item)
                item = json_object_get (reply, "job");
            const char *key;
            json_t *value;
            json_object_foreach (item, key, value) {
                if (json_is_object (value) || json_is_array (value)) {
                    char *text = json_dumps (value, JSON_COMPACT);
                    printf ("%-12s %s\n", key, text);
                    free (text);
                }
                else
                if (json_is_string (value))
                    printf ("%-12s %s\n", key, json_string_value (value));
                else
                if (!json_is_null (value)) {
                    char *text = json_dumps (value, JSON_ENCODE_ANY);
                    printf ("%-12s %s\n", key, text);
                    free (text);
                }
            }
        }
    }
    json_decref (reply);
    return rc;
}

//  tag ID key=value...: PATCH the document's attributes (key= removes
//  one), or PUT them with --replace
static int
s_cmd_tag (const char *id, int argc, char **argv)
{
    if (!s_id_ok (id)) {
        s_err ("'%s' is not an id", id);
        return EXIT_USAGE;
    }
    json_t *meta = s_opt.meta ? json_deep_copy (s_opt.meta) : json_object ();
    char why [256];
    for (int i = 0; i < argc; i++)
        if (sluice_meta_add (meta, argv [i], !s_opt.replace, why, sizeof why)) {
            json_decref (meta);
            s_err ("%s", why);
            return EXIT_USAGE;
        }
    char path [256];
    snprintf (path, sizeof path, "/v1/documents/%s/meta", id);
    json_t *reply;
    char error [1024];
    long status = s_request (s_opt.replace ? "PUT" : "PATCH", path, meta, NULL, &reply, error,
                             sizeof error);
    json_decref (meta);
    if (status == 404)
        snprintf (error, sizeof error, "no document %s", id);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else
        if (!s_opt.quiet) {
            char *text = json_dumps (json_object_get (json_object_get (reply, "document"), "meta"),
                                     JSON_COMPACT | JSON_SORT_KEYS);
            printf ("%s %s\n", id, text ? text : "{}");
            free (text);
        }
    }
    json_decref (reply);
    return rc;
}

static int
s_cmd_rm (const char *id)
{
    if (!s_id_ok (id)) {
        s_err ("'%s' is not an id", id);
        return EXIT_USAGE;
    }
    char path [256];
    snprintf (path, sizeof path, "/v1/documents/%s", id);
    json_t *reply;
    char error [1024];
    long status = s_request ("DELETE", path, NULL, NULL, &reply, error, sizeof error);
    if (status == 404)
        snprintf (error, sizeof error, "no document %s", id);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else
        if (!s_opt.quiet)
            printf ("deleted %s\n", id);
    }
    json_decref (reply);
    return rc;
}

//  cancel JOB, retry JOB: POST /v1/jobs/JOB/<action>; the job as it is now
static int
s_cmd_job_control (const char *action, const char *id)
{
    if (!s_id_ok (id)) {
        s_err ("'%s' is not a job id", id);
        return EXIT_USAGE;
    }
    char path [256];
    snprintf (path, sizeof path, "/v1/jobs/%s/%s", id, action);
    json_t *reply = NULL;
    char error [1024];
    long status = s_request ("POST", path, NULL, NULL, &reply, error, sizeof error);
    int rc = s_finish (status, reply, error);
    json_t *job = json_object_get (reply, "job");
    if (rc == EXIT_OK && s_opt.json)
        s_print_json (reply);
    else
    if (rc == EXIT_OK && !s_opt.quiet)
        printf ("%s %s%s\n", s_str (job, "id"), s_str (job, "state"),
                json_is_true (json_object_get (job, "held")) ? " (held: the workspace is paused)" : "");
    json_decref (reply);
    return rc;
}

//  reprocess ID [chunk|embed]: POST /v1/documents/ID/reprocess
static int
s_cmd_reprocess (const char *id, const char *from)
{
    if (!s_id_ok (id)) {
        s_err ("'%s' is not a document id", id);
        return EXIT_USAGE;
    }
    if (strcmp (from, "chunk") != 0 && strcmp (from, "embed") != 0) {
        s_err ("reprocess from 'chunk' or 'embed', not '%s'", from);
        return EXIT_USAGE;
    }
    char path [256];
    snprintf (path, sizeof path, "/v1/documents/%s/reprocess", id);
    json_t *body = json_pack ("{s:s}", "from", from), *reply = NULL;
    char error [1024];
    long status = s_request ("POST", path, body, NULL, &reply, error, sizeof error);
    json_decref (body);
    int rc = s_finish (status, reply, error);
    json_t *job = json_object_get (reply, "job");
    if (rc == EXIT_OK && s_opt.json)
        s_print_json (reply);
    else
    if (rc == EXIT_OK && !s_opt.quiet)
        printf ("%s %s (document %s from %s)\n", s_str (job, "id"), s_str (job, "state"), id, from);
    json_decref (reply);
    return rc;
}

//  pause, resume: the workspace's intake
static int
s_cmd_pause (const char *action)
{
    char path [64];
    snprintf (path, sizeof path, "/v1/workspace/%s", action);
    json_t *reply = NULL;
    char error [1024];
    long status = s_request ("POST", path, NULL, NULL, &reply, error, sizeof error);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK && s_opt.json)
        s_print_json (reply);
    else
    if (rc == EXIT_OK && !s_opt.quiet) {
        long long held = (long long) json_integer_value (json_object_get (reply, "held"));
        if (json_is_true (json_object_get (reply, "paused")))
            printf ("workspace %s paused: new jobs are held (%lld held)\n", s_str (reply, "workspace"), held);
        else
            printf ("workspace %s resumed: %lld held jobs started, %lld still held%s\n",
                    s_str (reply, "workspace"),
                    (long long) json_integer_value (json_object_get (reply, "started")), held,
                    held ? " (run resume again)" : "");
    }
    json_decref (reply);
    return rc;
}

//  A hit's text shortened: on one line, a table's rows one per line; on a
//  terminal the words the ranking matched in bold (its highlights: code
//  point offsets, so counted at each character's first byte)
static void
s_print_hit_text (json_t *hit, bool table)
{
    const char *text = s_str (hit, "text");
    json_t *spans = json_object_get (hit, "highlights");
    size_t next = 0;
    long long cp = -1;
    bool bold = false;
    printf ("   ");
    int n = 0;
    for (const char *p = text; *p && n < 240; p++, n++) {
        if (((unsigned char) *p & 0xC0) != 0x80 && s_opt.tty) {
            cp++;
            json_t *span = json_array_get (spans, next);
            if (bold && cp == json_integer_value (json_array_get (span, 1))) {
                printf ("\033[0m");
                bold = false;
                span = json_array_get (spans, ++next);
            }
            if (!bold && span && cp == json_integer_value (json_array_get (span, 0))) {
                printf ("\033[1m");
                bold = true;
            }
        }
        if (*p == '\n' && table)
            printf ("\n   ");
        else
            putchar (*p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
    }
    //  Do not end inside a UTF-8 sequence
    for (const char *p = text + n; *p && ((unsigned char) *p & 0xC0) == 0x80; p++)
        putchar (*p);
    printf ("%s%s\n", bold ? "\033[0m" : "", strlen (text) > 240 ? "…" : "");
}

static int
s_cmd_search (const char *query)
{
    json_t *body = json_pack ("{s:s, s:i, s:s}", "query", query, "k", s_opt.k, "mode",
                              s_opt.mode ? s_opt.mode : "hybrid");
    if (s_opt.n_docs > 0) {
        json_t *docs = json_array ();
        for (int i = 0; i < s_opt.n_docs; i++)
            json_array_append_new (docs, json_string (s_opt.docs [i]));
        json_object_set_new (body, "documents", docs);
    }
    if (s_opt.filter)
        json_object_set (body, "filter", s_opt.filter);
    if (s_opt.source_prefix)
        json_object_set_new (body, "source_prefix", json_string (s_opt.source_prefix));
    if (s_opt.mimes)
        json_object_set (body, "mime", s_opt.mimes);
    json_t *reply;
    char error [1024];
    long status = s_request ("POST", "/v1/search", body, NULL, &reply, error, sizeof error);
    json_decref (body);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else {
            size_t i;
            json_t *hit;
            json_array_foreach (json_object_get (reply, "hits"), i, hit) {
                long long p0 = json_integer_value (json_object_get (hit, "page_start"));
                long long p1 = json_integer_value (json_object_get (hit, "page_end"));
                char pages [48] = "";
                if (p0 > 0)
                    snprintf (pages, sizeof pages, p1 > p0 ? "pp. %lld-%lld" : "p. %lld", p0, p1);
                const char *match = s_str (hit, "match");
                //  badges: a table chunk, text read by OCR (its confidence)
                char badges [64] = "";
                bool table = strcmp (s_str (hit, "kind"), "table") == 0;
                json_t *ocr = json_object_get (hit, "ocr_confidence");
                snprintf (badges, sizeof badges, "%s%s", table ? "  [table]" : "",
                          json_is_true (json_object_get (hit, "ocr")) ? "  [ocr" : "");
                if (json_is_true (json_object_get (hit, "ocr")))
                    snprintf (badges + strlen (badges), sizeof badges - strlen (badges),
                              json_is_integer (ocr) ? " %lld%%]" : "]", (long long) json_integer_value (ocr));
                printf ("%zu. %.3f  %s  %s  [%s]%s%s\n", i + 1, json_number_value (json_object_get (hit, "score")),
                        s_str (hit, "title"), pages, s_str (hit, "document_id"), badges,
                        !*match || strcmp (match, "vector") == 0 ? "" : strcmp (match, "both") == 0
                        ? "  (words + meaning)" : "  (words)");
                //  The section the text sits under, on its own line
                if (*s_str (hit, "section"))
                    printf ("   %s\n", s_str (hit, "section"));
                s_print_hit_text (hit, table);
                //  The stored document, at the hit's page for a PDF
                if (*s_str (hit, "document_url"))
                    printf ("   %s%s\n", s_opt.server, s_str (hit, "document_url"));
            }
            if (json_array_size (json_object_get (reply, "hits")) == 0)
                printf ("no matches\n");
        }
    }
    json_decref (reply);
    return rc;
}

static int
s_cmd_status (void)
{
    json_t *reply;
    char error [1024];
    long status = s_request ("GET", "/v1/status", NULL, NULL, &reply, error, sizeof error);
    int rc = s_finish (status, reply, error);
    if (rc == EXIT_OK) {
        if (s_opt.json)
            s_print_json (reply);
        else {
            printf ("server     %s\nstore      %s\nmodel      %s (%s, dim %lld)\n",
                    s_opt.server, s_str (reply, "store"), s_str (reply, "model"), s_str (reply, "provider"),
                    (long long) json_integer_value (json_object_get (reply, "dim")));
            //  A workspace key sees its own counts (scope "workspace"): the
            //  store-wide job and chunk counts are then absent
            if (*s_str (reply, "workspace"))
                printf ("workspace  %s\n", s_str (reply, "workspace"));
            printf ("documents  %lld\n", (long long) json_integer_value (json_object_get (reply, "documents")));
            if (json_is_integer (json_object_get (reply, "chunks")))
                printf ("chunks     %lld\n", (long long) json_integer_value (json_object_get (reply, "chunks")));
            if (json_is_object (json_object_get (reply, "jobs"))) {
                printf ("jobs      ");
                const char *state;
                json_t *n;
                json_object_foreach (json_object_get (reply, "jobs"), state, n)
                    printf (" %s %lld", state, (long long) json_integer_value (n));
                printf ("\n");
            }
        }
    }
    json_decref (reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Ingest

typedef struct {
    char *arg;                      //  path or URL
    char *label;                    //  what to show: the name, or the URL
    char *name;                     //  files: the document's name sent to the server
    bool is_url;
    char job [65];
    int submit_rc;                  //  exit code of the submission
    char message [512];
    //  following (--wait)
    CURL *stream;
    buf_t line;                     //  partial SSE line
    char event [64];
    buf_t data;
    char last_id [32];
    int reconnects;
    bool done;
    bool failed;
    bool printed;                   //  final line shown (terminal mode)
    char stage [32];
    int percent;
    bool ocr;                       //  the job has an ocr stage (scanned pages)
    char detail [160];
    char result [256];
    char replaced [80];             //  the document this one replaced (a new version)
    char duplicate_of [80];         //  the document already holding these bytes
} doc_t;

typedef struct {
    doc_t *docs;
    size_t count, cap;
} doclist_t;

//  name: what the server calls the document (NULL: the file's base name)
static void
s_add (doclist_t *list, const char *arg, const char *name, bool is_url)
{
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->docs = realloc (list->docs, list->cap * sizeof *list->docs);
        if (!list->docs) {
            s_err ("out of memory");
            exit (EXIT_SERVER);
        }
    }
    doc_t *doc = &list->docs [list->count++];
    memset (doc, 0, sizeof *doc);
    doc->arg = strdup (arg);
    doc->is_url = is_url;
    const char *base = strrchr (arg, '/');
    doc->name = is_url ? NULL : strdup (name ? name : base ? base + 1 : arg);
    doc->label = strdup (is_url ? arg : doc->name);
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  Every regular file under dir, recursively, in a stable (sorted) order.
//  prefix is dir's name as the server sees it: each file is named by its
//  path from the folder given, folder included ("d/a/n.txt" for
//  `sluice ingest d`), so two n.txt in different subfolders are two
//  documents and ingesting the folder again replaces them one by one.
static int
s_walk (doclist_t *list, const char *dir, const char *prefix, int depth)
{
    if (depth > 64)
        return 0;
    DIR *d = opendir (dir);
    if (!d) {
        s_err ("cannot read directory %s: %s", dir, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = realloc (names, cap * sizeof *names);
        }
        names [n++] = strdup (entry->d_name);
    }
    closedir (d);
    qsort (names, n, sizeof *names, s_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path [PATH_MAX], name [PATH_MAX];
        snprintf (path, sizeof path, "%s/%s", dir, names [i]);
        snprintf (name, sizeof name, "%s%s%s", prefix, *prefix ? "/" : "", names [i]);
        struct stat st;
        //  lstat: a symlink loop must not send us round forever
        if (lstat (path, &st) == 0) {
            if (S_ISDIR (st.st_mode))
                rc |= s_walk (list, path, name, depth + 1);
            else
            if (S_ISREG (st.st_mode))
                s_add (list, path, name, false);
        }
        free (names [i]);
    }
    free (names);
    return rc;
}

static bool
s_is_url (const char *arg)
{
    return strncasecmp (arg, "http://", 7) == 0 || strncasecmp (arg, "https://", 8) == 0;
}

//  The server says whether a document replaced an earlier one of the same
//  name ("replaced": its id, or true) or its bytes were already there
//  ("duplicate_of": that document's id), on the job or its last event.
static void
s_note_identity (doc_t *doc, json_t *object)
{
    json_t *replaced = json_object_get (object, "replaced");
    if (json_is_string (replaced) && json_string_length (replaced))
        snprintf (doc->replaced, sizeof doc->replaced, "%s", json_string_value (replaced));
    else
    if (json_is_true (replaced) && !*doc->replaced)
        snprintf (doc->replaced, sizeof doc->replaced, "an earlier version");
    const char *dup = s_str (object, "duplicate_of");
    if (*dup)
        snprintf (doc->duplicate_of, sizeof doc->duplicate_of, "%s", dup);
}

//  Big files go resumably (tus): a dropped connection costs the bytes in
//  flight, not the whole file
static bool
s_resumable (doc_t *doc)
{
    struct stat st;
    return stat (doc->arg, &st) == 0 && S_ISREG (st.st_mode) && (long long) st.st_size >= sluice_tus_threshold ();
}

//  Submit one document; fills doc->job or doc->submit_rc + message.
static void
s_submit (doc_t *doc)
{
    json_t *reply = NULL;
    char error [1024] = "";
    long status;
    if (doc->is_url) {
        json_t *body = json_pack ("{s:s}", "url", doc->arg);
        if (s_opt.meta)
            json_object_set (body, "meta", s_opt.meta);
        status = s_request ("POST", "/v1/ingest", body, NULL, &reply, error, sizeof error);
        json_decref (body);
    }
    else
    if (s_resumable (doc)) {
        sluice_tus_t tus = { s_opt.curl, s_opt.server, s_opt.key, s_opt.retries, s_opt.quiet || s_opt.json };
        char job [33];
        status = sluice_tus_upload (&tus, doc->arg, doc->name, s_opt.meta, job, error, sizeof error);
        if (status == 204) {
            snprintf (doc->job, sizeof doc->job, "%s", job);
            doc->submit_rc = EXIT_OK;
        }
        else {
            doc->submit_rc = s_exit_for (status);
            snprintf (doc->message, sizeof doc->message, "%.*s", (int) sizeof doc->message - 1, error);
        }
        return;
    }
    else {
        curl_mime *mime = curl_mime_init (s_opt.curl);
        curl_mimepart *part = curl_mime_addpart (mime);
        curl_mime_name (part, "file");
        //  Streams the file from disk while sending
        if (curl_mime_filedata (part, doc->arg) != CURLE_OK) {
            curl_mime_free (mime);
            doc->submit_rc = EXIT_USAGE;
            snprintf (doc->message, sizeof doc->message, "cannot read %s", doc->arg);
            return;
        }
        curl_mime_filename (part, doc->name);
        if (s_opt.meta) {
            char *text = json_dumps (s_opt.meta, JSON_COMPACT);
            curl_mimepart *field = curl_mime_addpart (mime);
            curl_mime_name (field, "meta");
            curl_mime_data (field, text, CURL_ZERO_TERMINATED);
            free (text);
        }
        status = s_request ("POST", "/v1/ingest", NULL, mime, &reply, error, sizeof error);
        curl_mime_free (mime);
    }
    json_t *job = json_array_get (json_object_get (reply, "jobs"), 0);
    if (status == 202 && job) {
        snprintf (doc->job, sizeof doc->job, "%s", s_str (job, "id"));
        s_note_identity (doc, job);
        doc->submit_rc = EXIT_OK;
    }
    else {
        doc->submit_rc = status == 202 ? EXIT_SERVER : s_exit_for (status);
        json_t *rejected = json_array_get (json_object_get (reply, "rejected"), 0);
        const char *why = json_string_value (json_object_get (json_object_get (rejected, "error"), "message"));
        snprintf (doc->message, sizeof doc->message, "%.*s", (int) sizeof doc->message - 1, why ? why : error);
    }
    json_decref (reply);
}

//  --- following jobs over SSE ---

//  The stages in order; ocr only for a document with scanned pages, whose
//  job then goes through it between parse and chunk
static const char *s_stages [] = { "fetch", "parse", "ocr", "chunk", "embed", "store", NULL };

//  The job's overall percent: fetch and parse take 20 each, the stages
//  after parse share the other 60 (four of 15 once ocr showed up, three
//  of 20 otherwise), so the bar never moves back when ocr starts.
static int
s_overall (doc_t *doc)
{
    if (doc->done)
        return 100;
    int start = 0;
    for (int i = 0; s_stages [i]; i++) {
        bool ocr = strcmp (s_stages [i], "ocr") == 0;
        if (ocr && !doc->ocr)
            continue;
        int width = i < 2 ? 20 : doc->ocr ? 15 : 20;
        if (strcmp (doc->stage, s_stages [i]) == 0)
            return start + doc->percent * width / 100;
        start += width;
    }
    return 0;
}

//  One SSE event has arrived for doc.
static void
s_on_event (doc_t *doc)
{
    json_t *data = doc->data.data ? json_loadb (doc->data.data, doc->data.size, 0, NULL) : NULL;
    const char *type = doc->event;
    const char *stage = s_str (data, "stage");
    if (*stage)
        snprintf (doc->stage, sizeof doc->stage, "%s", stage);
    if (strcmp (stage, "ocr") == 0)
        doc->ocr = true;
    if (strcmp (type, "stage_started") == 0) {
        doc->percent = 0;
        snprintf (doc->detail, sizeof doc->detail, "%s", stage);
    }
    else
    if (strcmp (type, "stage_progress") == 0) {
        doc->percent = (int) json_integer_value (json_object_get (data, "percent"));
        snprintf (doc->detail, sizeof doc->detail, "%s %s", stage, s_str (data, "message"));
    }
    else
    if (strcmp (type, "stage_completed") == 0) {
        doc->percent = 100;
        snprintf (doc->detail, sizeof doc->detail, "%s done in %lld ms", stage,
                  (long long) json_integer_value (json_object_get (data, "duration_ms")));
    }
    else
    if (strcmp (type, "job_completed") == 0) {
        doc->done = true;
        s_note_identity (doc, data);
        char also [200] = "";
        if (*doc->replaced)
            snprintf (also, sizeof also, ", replaces %s", doc->replaced);
        if (*doc->duplicate_of)
            snprintf (also + strlen (also), sizeof also - strlen (also), ", same bytes as %s", doc->duplicate_of);
        else
        if (json_is_true (json_object_get (data, "duplicate")))
            snprintf (also + strlen (also), sizeof also - strlen (also), ", already known");
        snprintf (doc->result, sizeof doc->result, "document %s (%lld pages, %lld chunks)%s",
                  s_str (data, "document_id"), (long long) json_integer_value (json_object_get (data, "pages")),
                  (long long) json_integer_value (json_object_get (data, "chunks")), also);
    }
    else
    if (strcmp (type, "job_failed") == 0) {
        doc->done = true;
        doc->failed = true;
        snprintf (doc->result, sizeof doc->result, "failed in %s: %s", *stage ? stage : "?",
                  s_str (data, "reason"));
    }
    if (!s_opt.tty && !s_opt.quiet && !s_opt.json && strcmp (type, "heartbeat") != 0) {
        //  Plain, grep-able lines
        if (doc->done)
            printf ("%s %s %s: %s\n", doc->job, doc->failed ? "failed" : "completed", doc->label, doc->result);
        else
            printf ("%s %s %s%s%s\n", doc->job, type, doc->label, *doc->detail ? ": " : "", doc->detail);
        fflush (stdout);
    }
    json_decref (data);
}

static void
s_sse_line (doc_t *doc, const char *line, size_t len)
{
    if (len == 0) {
        if (*doc->event || doc->data.size)
            s_on_event (doc);
        doc->event [0] = 0;
        free (doc->data.data);
        doc->data.data = NULL;
        doc->data.size = 0;
        return;
    }
    if (line [0] == ':')
        return;
    const char *colon = memchr (line, ':', len);
    size_t flen = colon ? (size_t) (colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t vlen = len - (size_t) (value - line);
    if (vlen && *value == ' ') {
        value++;
        vlen--;
    }
    if (flen == 5 && strncmp (line, "event", 5) == 0)
        snprintf (doc->event, sizeof doc->event, "%.*s", (int) vlen, value);
    else
    if (flen == 2 && strncmp (line, "id", 2) == 0)
        snprintf (doc->last_id, sizeof doc->last_id, "%.*s", (int) vlen, value);
    else
    if (flen == 4 && strncmp (line, "data", 4) == 0) {
        if (doc->data.size)
            s_collect ("\n", 1, 1, &doc->data);
        s_collect ((char *) value, 1, vlen, &doc->data);
    }
}

static size_t
s_sse_write (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    doc_t *doc = (doc_t *) userdata;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (ptr [i] == '\n') {
            size_t len = doc->line.size;
            if (len && doc->line.data [len - 1] == '\r')
                len--;
            s_sse_line (doc, doc->line.data ? doc->line.data : "", len);
            doc->line.size = 0;
        }
        else
            s_collect (ptr + i, 1, 1, &doc->line);
    }
    return n;
}

static CURL *
s_open_stream (doc_t *doc)
{
    CURL *curl = curl_easy_init ();
    char url [2048];
    snprintf (url, sizeof url, "%s/v1/jobs/%s/events", s_opt.server, doc->job);
    struct curl_slist *headers = s_auth_headers (NULL);
    headers = curl_slist_append (headers, "Accept: text/event-stream");
    if (*doc->last_id) {
        char h [64];
        snprintf (h, sizeof h, "Last-Event-ID: %s", doc->last_id);
        headers = curl_slist_append (headers, h);
    }
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_sse_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, doc);
    curl_easy_setopt (curl, CURLOPT_PRIVATE, headers);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    //  A stream silent for a minute (heartbeats come every 15 s) is dead
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, 60L);
    doc->line.size = 0;
    doc->event [0] = 0;
    doc->data.size = 0;
    return curl;
}

static void
s_close_stream (doc_t *doc, CURLM *multi)
{
    if (!doc->stream)
        return;
    struct curl_slist *headers = NULL;
    curl_easy_getinfo (doc->stream, CURLINFO_PRIVATE, (char **) &headers);
    curl_multi_remove_handle (multi, doc->stream);
    curl_easy_cleanup (doc->stream);
    curl_slist_free_all (headers);
    doc->stream = NULL;
}

static int s_drawn;                 //  bar lines on screen now

static void
s_draw (doclist_t *list, bool final)
{
    if (!s_opt.tty || s_opt.quiet || s_opt.json)
        return;
    //  Move back over the bars drawn last time, print finished jobs above,
    //  then redraw the bars of jobs still running
    if (s_drawn)
        printf ("\033[%dA", s_drawn);
    s_drawn = 0;
    for (size_t i = 0; i < list->count; i++) {
        doc_t *doc = &list->docs [i];
        if (doc->done && doc->result [0] && !doc->printed) {
            printf ("\033[2K%s %s: %s\n", doc->failed ? "\033[31m✗\033[0m" : "\033[32m✓\033[0m",
                    doc->label, doc->result);
            doc->printed = true;
        }
    }
    if (final) {
        printf ("\033[J");          //  clear bars left below the last line
        fflush (stdout);
        return;
    }
    int cols = 80;
    for (size_t i = 0; i < list->count && s_drawn < 40; i++) {
        doc_t *doc = &list->docs [i];
        if (!doc->stream || doc->done)
            continue;
        int pct = s_overall (doc);
        char bar [32];
        int fill = pct * 20 / 100;
        for (int b = 0; b < 20; b++)
            bar [b] = b < fill ? '#' : '.';
        bar [20] = 0;
        printf ("\033[2K%-24.24s [%s] %3d%%  %.*s\n", doc->label, bar, pct, cols - 56, doc->detail);
        s_drawn++;
    }
    fflush (stdout);
}

//  Follow every submitted job to its end. Returns the worst exit code.
static int
s_follow (doclist_t *list)
{
    CURLM *multi = curl_multi_init ();
    size_t next = 0;
    int active = 0;
    int rc = EXIT_OK;
    int64_t last_draw = 0;
    while (true) {
        //  Keep up to MAX_STREAMS streams open
        while (active < MAX_STREAMS && next < list->count) {
            doc_t *doc = &list->docs [next++];
            if (!*doc->job)
                continue;
            doc->stream = s_open_stream (doc);
            curl_multi_add_handle (multi, doc->stream);
            active++;
        }
        if (active == 0)
            break;
        int running = 0;
        curl_multi_perform (multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read (multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            doc_t *doc = NULL;
            for (size_t i = 0; i < list->count; i++)
                if (list->docs [i].stream == msg->easy_handle)
                    doc = &list->docs [i];
            if (!doc)
                continue;
            long status = 0;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            CURLcode result = msg->data.result;
            s_close_stream (doc, multi);
            if (doc->done || status == 204) {
                doc->done = true;
                active--;
                continue;
            }
            //  The stream dropped before the end: resume where it stopped
            if ((result != CURLE_OK || status == 200 || status >= 500 || status == 0) && doc->reconnects < 20) {
                doc->reconnects++;
                sleep (1);
                doc->stream = s_open_stream (doc);
                curl_multi_add_handle (multi, doc->stream);
                continue;
            }
            doc->done = true;
            doc->failed = true;
            snprintf (doc->result, sizeof doc->result, "cannot follow job %s (HTTP %ld: %s)", doc->job, status,
                      curl_easy_strerror (result));
            rc = s_worse (rc, s_exit_for (status ? status : 0));
            active--;
        }
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now - last_draw >= 100) {
            s_draw (list, false);
            last_draw = now;
        }
        curl_multi_poll (multi, NULL, 0, 200, NULL);
    }
    s_draw (list, true);
    curl_multi_cleanup (multi);
    for (size_t i = 0; i < list->count; i++)
        if (list->docs [i].failed && *list->docs [i].job)
            rc = s_worse (rc, EXIT_FAILED);
    return rc;
}

static int
s_cmd_ingest (int argc, char **argv)
{
    if (argc == 0) {
        s_err ("ingest wants at least one FILE, URL or DIR");
        return EXIT_USAGE;
    }
    doclist_t list = { NULL, 0, 0 };
    //  Check every argument before sending anything
    for (int i = 0; i < argc; i++) {
        if (s_is_url (argv [i])) {
            s_add (&list, argv [i], NULL, true);
            continue;
        }
        struct stat st;
        if (stat (argv [i], &st)) {
            s_err ("%s: %s", argv [i], strerror (errno));
            return EXIT_USAGE;
        }
        if (S_ISDIR (st.st_mode)) {
            char dir [PATH_MAX];
            snprintf (dir, sizeof dir, "%s", argv [i]);
            size_t len = strlen (dir);
            while (len > 1 && dir [len - 1] == '/')
                dir [--len] = 0;
            //  The folder's own name starts its files' names ("." and ".."
            //  are resolved to the real name; "/" has none)
            char real [PATH_MAX];
            const char *base = realpath (dir, real) ? real : dir;
            const char *slash = strrchr (base, '/');
            if (slash && slash [1])
                base = slash + 1;
            else
            if (slash)
                base = "";
            if (s_walk (&list, dir, base, 0))
                return EXIT_USAGE;
        }
        else
        if (S_ISREG (st.st_mode)) {
            if (access (argv [i], R_OK)) {
                s_err ("%s: %s", argv [i], strerror (errno));
                return EXIT_USAGE;
            }
            s_add (&list, argv [i], NULL, false);
        }
        else {
            s_err ("%s: not a regular file, directory or http(s) URL", argv [i]);
            return EXIT_USAGE;
        }
    }
    if (list.count == 0) {
        s_err ("nothing to ingest (empty directories?)");
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    for (size_t i = 0; i < list.count; i++) {
        doc_t *doc = &list.docs [i];
        s_submit (doc);
        if (doc->submit_rc) {
            rc = s_worse (rc, doc->submit_rc);
            if (!s_opt.json)
                s_err ("%s: %s", doc->label, doc->message);
            //  An unreachable server will not come back for the next file
            if (doc->submit_rc == EXIT_SERVER && strstr (doc->message, "cannot reach")) {
                for (size_t j = i + 1; j < list.count; j++) {
                    list.docs [j].submit_rc = EXIT_SERVER;
                    snprintf (list.docs [j].message, sizeof list.docs [j].message, "not sent: %.400s", doc->message);
                }
                break;
            }
        }
        else
        if (!s_opt.json && !s_opt.quiet && (!s_opt.wait || !s_opt.tty))
            printf ("%s accepted %s%s%s%s%s\n", doc->job, doc->label, *doc->replaced ? " (replaces " : "",
                    doc->replaced, *doc->replaced ? ")" : "",
                    *doc->duplicate_of ? " (same bytes as an existing document)" : "");
    }
    if (!s_opt.json && !s_opt.quiet && s_opt.wait && s_opt.tty) {
        size_t ok = 0;
        for (size_t i = 0; i < list.count; i++)
            ok += list.docs [i].job [0] != 0;
        printf ("%zu of %zu document%s accepted; following...\n", ok, list.count, list.count == 1 ? "" : "s");
    }
    fflush (stdout);
    if (s_opt.wait)
        rc = s_worse (rc, s_follow (&list));
    if (s_opt.json) {
        json_t *out = json_array ();
        for (size_t i = 0; i < list.count; i++) {
            doc_t *doc = &list.docs [i];
            json_t *item = json_pack ("{s:s, s:s}", doc->is_url ? "url" : "file", doc->arg,
                                      "status", doc->submit_rc ? "rejected" : !s_opt.wait ? "accepted"
                                              : doc->failed ? "failed" : "completed");
            if (*doc->job)
                json_object_set_new (item, "job", json_string (doc->job));
            if (doc->submit_rc)
                json_object_set_new (item, "error", json_string (doc->message));
            if (*doc->result)
                json_object_set_new (item, "result", json_string (doc->result));
            if (doc->name)
                json_object_set_new (item, "name", json_string (doc->name));
            if (*doc->replaced)
                json_object_set_new (item, "replaced", json_string (doc->replaced));
            if (*doc->duplicate_of)
                json_object_set_new (item, "duplicate_of", json_string (doc->duplicate_of));
            json_array_append_new (out, item);
        }
        json_t *wrapped = json_pack ("{s:o}", "documents", out);
        s_print_json (wrapped);
        json_decref (wrapped);
    }
    for (size_t i = 0; i < list.count; i++) {
        free (list.docs [i].arg);
        free (list.docs [i].label);
        free (list.docs [i].name);
        free (list.docs [i].line.data);
        free (list.docs [i].data.data);
    }
    free (list.docs);
    return rc;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    static struct option options [] = {
        { "server", required_argument, 0, 's' },
        { "key", required_argument, 0, 'K' },
        { "json", no_argument, 0, 'j' },
        { "wait", no_argument, 0, 'w' },
        { "quiet", no_argument, 0, 'q' },
        { "retries", required_argument, 0, 'r' },
        { "state", required_argument, 0, 'S' },
        { "mode", required_argument, 0, 'M' },
        { "doc", required_argument, 0, 'D' },
        { "limit", required_argument, 0, 'l' },
        { "offset", required_argument, 0, 'o' },
        { "meta", required_argument, 0, 'm' },
        { "meta-json", required_argument, 0, 'J' },
        { "filter", required_argument, 0, 'f' },
        { "filter-json", required_argument, 0, 'F' },
        { "source-prefix", required_argument, 0, 'P' },
        { "mime", required_argument, 0, 'T' },
        { "replace", no_argument, 0, 'R' },
        { "schedule", required_argument, 0, 'C' },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 }
    };
    const char *server = getenv ("SLUICE_SERVER");
    s_opt.key = getenv ("SLUICE_KEY");
    s_opt.retries = 10;
    s_opt.k = 10;
    s_opt.limit = 50;
    int opt;
    while ((opt = getopt_long (argc, argv, "k:qhjw", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
            case 's': server = optarg; break;
            case 'K': s_opt.key = optarg; break;
            case 'j': s_opt.json = true; break;
            case 'w': s_opt.wait = true; break;
            case 'q': s_opt.quiet = true; break;
            case 'S': s_opt.state = optarg; break;
            case 'M': s_opt.mode = optarg; break;
            case 'P': s_opt.source_prefix = optarg; break;
            case 'R': s_opt.replace = true; break;
            case 'C': s_opt.schedule = optarg; break;
            case 'T': {
                if (!s_opt.mimes)
                    s_opt.mimes = json_array ();
                json_t *types = sluice_arg_value (optarg, true);
                if (json_is_array (types))
                    json_array_extend (s_opt.mimes, types);
                else
                    json_array_append (s_opt.mimes, types);
                json_decref (types);
                break;
            }
            case 'm':
            case 'f': {
                json_t **into = opt == 'm' ? &s_opt.meta : &s_opt.filter;
                if (!*into)
                    *into = json_object ();
                char why [256];
                if ((opt == 'm' ? sluice_meta_add (*into, optarg, false, why, sizeof why)
                                : sluice_filter_add (*into, optarg, why, sizeof why))) {
                    s_err ("%s", why);
                    return EXIT_USAGE;
                }
                break;
            }
            case 'J':
            case 'F': {
                json_error_t jerr;
                json_t *given = json_loads (optarg, 0, &jerr);
                if (!json_is_object (given)) {
                    json_decref (given);
                    s_err ("--%s wants a JSON object, e.g. '{\"team\": \"legal\"}'",
                           opt == 'J' ? "meta-json" : "filter-json");
                    return EXIT_USAGE;
                }
                json_t **into = opt == 'J' ? &s_opt.meta : &s_opt.filter;
                if (!*into)
                    *into = json_object ();
                json_object_update (*into, given);
                json_decref (given);
                break;
            }
            case 'D':
                if (s_opt.n_docs == (int) (sizeof s_opt.docs / sizeof s_opt.docs [0])) {
                    s_err ("at most %d --doc options", s_opt.n_docs);
                    return EXIT_USAGE;
                }
                s_opt.docs [s_opt.n_docs++] = optarg;
                break;
            case 'r':
            case 'k':
            case 'l':
            case 'o': {
                long n = strtol (optarg, &end, 10);
                if (!*optarg || *end || n < 0 || n > 100000 || (opt == 'k' && n < 1) || (opt == 'l' && n < 1)) {
                    s_err ("bad number '%s' for -%c", optarg, opt == 'k' ? 'k' : opt == 'l' ? 'l' : opt == 'o' ? 'o' : 'r');
                    return EXIT_USAGE;
                }
                if (opt == 'r') s_opt.retries = (int) n;
                if (opt == 'k') s_opt.k = (int) n;
                if (opt == 'l') s_opt.limit = (int) n;
                if (opt == 'o') s_opt.offset = (int) n;
                break;
            }
            case 'h': s_usage (stdout); return EXIT_OK;
            case 'V': printf ("sluice %s\n", SLUICE_CLI_VERSION); return EXIT_OK;
            default: s_usage (stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    snprintf (s_opt.server, sizeof s_opt.server, "%s", server && *server ? server : "http://127.0.0.1:8080");
    size_t len = strlen (s_opt.server);
    while (len > 0 && s_opt.server [len - 1] == '/')
        s_opt.server [--len] = 0;
    if (strncmp (s_opt.server, "http://", 7) != 0 && strncmp (s_opt.server, "https://", 8) != 0) {
        s_err ("--server must be an http(s) URL, got '%s'", s_opt.server);
        return EXIT_USAGE;
    }
    if (s_opt.mode && strcmp (s_opt.mode, "hybrid") != 0 && strcmp (s_opt.mode, "vector") != 0
    &&  strcmp (s_opt.mode, "lexical") != 0) {
        s_err ("unknown search mode '%s' (hybrid, vector, lexical)", s_opt.mode);
        return EXIT_USAGE;
    }
    if (s_opt.state) {
        static const char *states [] = { "queued", "fetching", "parsing", "chunking", "embedding",
                                         "storing", "completed", "failed", "cancelled", NULL };
        bool known = false;
        for (int i = 0; states [i]; i++)
            known |= strcmp (states [i], s_opt.state) == 0;
        if (!known) {
            s_err ("unknown state '%s'", s_opt.state);
            return EXIT_USAGE;
        }
    }
    s_opt.tty = isatty (STDOUT_FILENO);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    s_opt.curl = curl_easy_init ();
    const char *cmd = argv [optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    int rc;
    if (strcmp (cmd, "ingest") == 0)
        rc = s_cmd_ingest (nargs, args);
    else
    if (strcmp (cmd, "jobs") == 0 && nargs == 0)
        rc = s_cmd_jobs ();
    else
    if (strcmp (cmd, "ls") == 0 && nargs == 0)
        rc = s_cmd_ls ();
    else
    if (strcmp (cmd, "show") == 0 && nargs == 1)
        rc = s_cmd_show (args [0]);
    else
    if (strcmp (cmd, "rm") == 0 && nargs == 1)
        rc = s_cmd_rm (args [0]);
    else
    if (strcmp (cmd, "tag") == 0 && nargs >= 1 && (nargs > 1 || s_opt.meta || s_opt.replace))
        rc = s_cmd_tag (args [0], nargs - 1, args + 1);
    else
    if (strcmp (cmd, "search") == 0 && nargs >= 1) {
        //  Several words without quotes are one query
        char query [4096] = "";
        for (int i = 0; i < nargs; i++) {
            size_t n = strlen (query);
            snprintf (query + n, sizeof query - n, "%s%s", i ? " " : "", args [i]);
        }
        rc = s_cmd_search (query);
    }
    else
    if (strcmp (cmd, "status") == 0 && nargs == 0)
        rc = s_cmd_status ();
    else
    if (strcmp (cmd, "chunking") == 0)
        rc = s_cmd_chunking (nargs, args);
    else
    if ((strcmp (cmd, "cancel") == 0 || strcmp (cmd, "retry") == 0) && nargs == 1)
        rc = s_cmd_job_control (cmd, args [0]);
    else
    if ((strcmp (cmd, "pause") == 0 || strcmp (cmd, "resume") == 0) && nargs == 0)
        rc = s_cmd_pause (cmd);
    else
    if (strcmp (cmd, "reprocess") == 0 && (nargs == 1 || nargs == 2))
        rc = s_cmd_reprocess (args [0], nargs == 2 ? args [1] : "chunk");
    else
    if (strcmp (cmd, "sources") == 0)
        rc = s_cmd_sources (nargs, args);
    else
    if (strcmp (cmd, "sync") == 0 && nargs == 1)
        rc = s_cmd_sync (args [0]);
    else {
        s_err ("unknown command or wrong arguments: %s (try --help)", cmd);
        rc = EXIT_USAGE;
    }
    curl_easy_cleanup (s_opt.curl);
    curl_global_cleanup ();
    json_decref (s_opt.meta);
    json_decref (s_opt.filter);
    json_decref (s_opt.mimes);
    return rc;
}
