/*  sluice_tus: the CLI's resumable upload. See sluice_tus.h. */
#include "sluice_tus.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_PIECE_DEFAULT     (16LL << 20)
#define S_THRESHOLD_DEFAULT (8LL << 20)

typedef struct {
    char location [512];
    long long offset;               //  Upload-Offset, -1 if absent
    char job [33];
    int retry_after;
} answer_t;

typedef struct {
    FILE *file;
    long long left;
} body_t;

static long long
s_env_size (const char *name, long long def)
{
    const char *v = getenv (name);
    char *end = NULL;
    long long n = v ? strtoll (v, &end, 10) : 0;
    return v && end && *end == 0 && n > 0 ? n : def;
}

long long
sluice_tus_threshold (void)
{
    return s_env_size ("SLUICE_RESUMABLE_MIN", S_THRESHOLD_DEFAULT);
}

//  --------------------------------------------------------------------------
//  Requests

static void
s_trim_copy (char *out, size_t cap, const char *value, size_t n)
{
    while (n && (value [n - 1] == '\r' || value [n - 1] == '\n' || value [n - 1] == ' '))
        n--;
    while (n && *value == ' ')
        value++, n--;
    if (n >= cap)
        n = cap - 1;
    memcpy (out, value, n);
    out [n] = 0;
}

static size_t
s_on_header (char *line, size_t size, size_t nmemb, void *arg)
{
    answer_t *a = arg;
    size_t n = size * nmemb;
    char value [512];
    const char *names [] = { "Location:", "Upload-Offset:", "Sluice-Job:", "Retry-After:", NULL };
    for (int i = 0; names [i]; i++) {
        size_t len = strlen (names [i]);
        if (n <= len || strncasecmp (line, names [i], len) != 0)
            continue;
        s_trim_copy (value, sizeof value, line + len, n - len);
        if (i == 0)
            snprintf (a->location, sizeof a->location, "%s", value);
        else
        if (i == 1)
            a->offset = strtoll (value, NULL, 10);
        else
        if (i == 2)
            snprintf (a->job, sizeof a->job, "%.32s", value);
        else
            a->retry_after = atoi (value);
    }
    return n;
}

static size_t
s_on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    //  Keep the first bytes of an error body for its message
    char *buf = arg;
    size_t n = size * nmemb, have = strlen (buf);
    if (have + 1 < 1024) {
        size_t take = n < 1023 - have ? n : 1023 - have;
        memcpy (buf + have, ptr, take);
        buf [have + take] = 0;
    }
    return n;
}

static size_t
s_on_read (char *ptr, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    size_t want = size * nmemb;
    if ((long long) want > b->left)
        want = (size_t) b->left;
    size_t got = want ? fread (ptr, 1, want, b->file) : 0;
    if (got < want && ferror (b->file))
        return CURL_READFUNC_ABORT;
    b->left -= (long long) got;
    return got;
}

//  One tus request. body: the file positioned at the piece, len bytes (or
//  NULL). Returns the HTTP status, 0 when no answer came (curl's reason
//  in error).
static long
s_call (const sluice_tus_t *tus, const char *method, const char *url, struct curl_slist *extra, FILE *body,
        long long len, answer_t *a, char *error, size_t errlen)
{
    CURL *curl = tus->curl;
    curl_easy_reset (curl);
    memset (a, 0, sizeof *a);
    a->offset = -1;
    struct curl_slist *h = NULL;
    h = curl_slist_append (h, "Tus-Resumable: 1.0.0");
    if (tus->key && *tus->key) {
        char auth [600];
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", tus->key);
        h = curl_slist_append (h, auth);
    }
    for (struct curl_slist *e = extra; e; e = e->next)
        h = curl_slist_append (h, e->data);
    char text [1024] = "";
    body_t b = { body, len };
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, text);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    //  A stalled connection is a lost one: resume rather than hang
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, 60L);
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    else
    if (body) {
        curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt (curl, CURLOPT_READDATA, &b);
        curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) len);
    }
    else {
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform (curl);
    curl_slist_free_all (h);
    long status = 0;
    if (rc != CURLE_OK) {
        snprintf (error, errlen, "%s", curl_easy_strerror (rc));
        return 0;
    }
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 400) {
        json_t *v = json_loads (text, 0, NULL);
        const char *m = json_string_value (json_object_get (json_object_get (v, "error"), "message"));
        snprintf (error, errlen, "%ld: %s", status, m ? m : "request failed");
        json_decref (v);
    }
    return status;
}

//  --------------------------------------------------------------------------
//  State: where an upload of this file stands

static char *
s_b64 (const char *in)
{
    static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen (in);
    char *out = malloc (4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *) in;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) p [i] << 16 | (i + 1 < n ? (uint32_t) p [i + 1] << 8 : 0)
                   | (i + 2 < n ? p [i + 2] : 0);
        *o++ = t [v >> 18 & 63];
        *o++ = t [v >> 12 & 63];
        *o++ = i + 1 < n ? t [v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? t [v & 63] : '=';
    }
    *o = 0;
    return out;
}

//  The state file of (server, file, size, mtime): FNV-1a of the key. Not a
//  secret and not a security boundary, only a name; the file holds the key
//  too, so a collision is recognised.
static int
s_state_path (const sluice_tus_t *tus, const char *path, const struct stat *st, char *key, size_t kcap,
              char *out, size_t cap)
{
    char abs [PATH_MAX];
    if (!realpath (path, abs))
        return -1;
    snprintf (key, kcap, "%s|%s|%lld|%lld", tus->server, abs, (long long) st->st_size,
              (long long) st->st_mtime);
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    char dir [PATH_MAX];
    const char *env = getenv ("SLUICE_STATE_DIR"), *xdg = getenv ("XDG_STATE_HOME"), *home = getenv ("HOME");
    if (env && *env)
        snprintf (dir, sizeof dir, "%s", env);
    else
    if (xdg && *xdg)
        snprintf (dir, sizeof dir, "%s/sluice", xdg);
    else
    if (home && *home)
        snprintf (dir, sizeof dir, "%s/.local/state/sluice", home);
    else
        return -1;
    //  mkdir -p, quietly: without a state folder uploads still work, they
    //  only cannot resume across runs
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir (dir, 0700);
            *p = '/';
        }
    mkdir (dir, 0700);
    snprintf (out, cap, "%s/upload-%016llx.json", dir, (unsigned long long) h);
    return 0;
}

static void
s_state_save (const char *file, const char *key, const char *location)
{
    if (!*file)
        return;
    json_t *v = json_pack ("{s:s, s:s}", "key", key, "location", location);
    char tmp [PATH_MAX + 8];
    snprintf (tmp, sizeof tmp, "%s.tmp", file);
    if (json_dump_file (v, tmp, JSON_COMPACT) == 0)
        rename (tmp, file);
    json_decref (v);
}

static void
s_state_load (const char *file, const char *key, char *location, size_t cap)
{
    *location = 0;
    json_t *v = *file ? json_load_file (file, 0, NULL) : NULL;
    const char *k = json_string_value (json_object_get (v, "key"));
    const char *l = json_string_value (json_object_get (v, "location"));
    if (k && l && strcmp (k, key) == 0 && strncmp (l, "/v1/uploads/", 12) == 0)
        snprintf (location, cap, "%s", l);
    json_decref (v);
}

//  --------------------------------------------------------------------------
//  Upload

static long
s_create (const sluice_tus_t *tus, const char *name, json_t *meta, long long size, answer_t *a,
          char *error, size_t errlen)
{
    char *bname = s_b64 (name);
    char *meta_text = meta ? json_dumps (meta, JSON_COMPACT) : NULL;
    char *bmeta = meta_text ? s_b64 (meta_text) : NULL;
    size_t cap = strlen (bname ? bname : "") + strlen (bmeta ? bmeta : "") + 64;
    char *md = malloc (cap);
    snprintf (md, cap, "Upload-Metadata: filename %s%s%s", bname ? bname : "", bmeta ? ",meta " : "",
              bmeta ? bmeta : "");
    char length [64];
    snprintf (length, sizeof length, "Upload-Length: %lld", size);
    struct curl_slist *h = curl_slist_append (NULL, md);
    h = curl_slist_append (h, length);
    char url [2048];
    snprintf (url, sizeof url, "%s/v1/uploads", tus->server);
    long status = s_call (tus, "POST", url, h, NULL, 0, a, error, errlen);
    curl_slist_free_all (h);
    free (md);
    free (bname);
    free (bmeta);
    free (meta_text);
    return status;
}

//  Worth another try after this answer?
static bool
s_transient (long status)
{
    return status == 0 || status == 423 || status == 429 || status == 409 || status >= 500;
}

long
sluice_tus_upload (const sluice_tus_t *tus, const char *path, const char *name, json_t *meta,
                   char job [33], char *error, size_t errlen)
{
    *job = 0;
    struct stat st;
    FILE *file = fopen (path, "rb");
    if (!file || fstat (fileno (file), &st) != 0) {
        snprintf (error, errlen, "cannot read %s: %s", path, strerror (errno));
        if (file)
            fclose (file);
        return 400;
    }
    long long size = (long long) st.st_size, piece = s_env_size ("SLUICE_UPLOAD_PIECE", S_PIECE_DEFAULT);
    char key [PATH_MAX + 1200], state [PATH_MAX + 64] = "", location [512];
    if (s_state_path (tus, path, &st, key, sizeof key, state, sizeof state))
        *state = 0;
    s_state_load (state, key, location, sizeof location);
    char url [2048];
    answer_t a;
    long status = 0;
    long long offset = -1;
    int failures = 0;
    while (true) {
        if (!*location) {
            status = s_create (tus, name, meta, size, &a, error, errlen);
            if (status != 201) {
                if (s_transient (status) && status != 409 && failures++ < tus->retries)
                    goto pause;
                break;
            }
            snprintf (location, sizeof location, "%s", a.location);
            s_state_save (state, key, location);
            offset = 0;
        }
        snprintf (url, sizeof url, "%s%s", tus->server, location);
        if (offset < 0) {
            //  Where does the server stand? (after a failure, or a restart)
            status = s_call (tus, "HEAD", url, NULL, NULL, 0, &a, error, errlen);
            if (status == 404 || status == 410) {
                *location = 0;          //  expired or collected: start over
                continue;
            }
            if (status != 200 || a.offset < 0) {
                if (s_transient (status) && failures++ < tus->retries)
                    goto pause;
                break;
            }
            offset = a.offset;
            if (!tus->quiet && offset > 0)
                fprintf (stderr, "sluice: %s: resuming the upload at %lld of %lld bytes\n", name, offset, size);
            if (*a.job) {
                snprintf (job, 33, "%s", a.job);
                status = 204;
                break;
            }
        }
        long long len = size - offset < piece ? size - offset : piece;
        if (fseeko (file, (off_t) offset, SEEK_SET) != 0) {
            snprintf (error, errlen, "cannot read %s: %s", path, strerror (errno));
            status = 400;
            break;
        }
        char off [64];
        snprintf (off, sizeof off, "Upload-Offset: %lld", offset);
        struct curl_slist *h = curl_slist_append (NULL, off);
        h = curl_slist_append (h, "Content-Type: application/offset+octet-stream");
        status = s_call (tus, "PATCH", url, h, file, len, &a, error, errlen);
        curl_slist_free_all (h);
        if (status == 204 && a.offset >= 0) {
            failures = 0;
            offset = a.offset;
            if (*a.job) {
                snprintf (job, 33, "%s", a.job);
                break;
            }
            if (offset >= size)
                offset = -1;            //  whole but not ingested: ask again below
            continue;
        }
        if (!(s_transient (status) && failures++ < tus->retries))
            break;
        if (!tus->quiet)
            fprintf (stderr, "sluice: %s: upload interrupted at about %lld of %lld bytes (%s); resuming\n",
                     name, offset, size, *error ? error : "no answer");
        offset = -1;
    pause:
        {
            //  A growing pause, or the server's Retry-After
            int ms = a.retry_after > 0 ? a.retry_after * 1000 : 250 << (failures < 6 ? failures : 6);
            struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
            nanosleep (&ts, NULL);
        }
    }
    fclose (file);
    if (*job) {
        if (*state)
            unlink (state);
        return 204;
    }
    if (status == 204)
        snprintf (error, errlen, "the upload ended without a job");
    return status == 204 ? 502 : status;
}
