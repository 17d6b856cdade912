/*  sl_store_pg_test: the PostgreSQL backend's self-test. Built only into
    test programs (store/CMakeLists.txt).

    A throwaway PostgreSQL server (tests/pg_server.sh) on a free
//  loopback port, its files in a mkdtemp directory. The conformance suite
//  that proves the SQLite backend runs first, then what only several
//  processes sharing one database can show (each store handle stands in
//  for a process: own pool, own in-memory index). Skipped, with a line
//  saying why, if no PostgreSQL server is installed. A failing CHECK prints
    file:line, the case and the condition.
*/
#include "sl_store_backend.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <glob.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl_check.h"

#define T_DIM 8
#define T_MODEL "test-model"

typedef struct {
    char script [1024];
    char dir [64];
    int port;
} s_server_t;

static bool
s_pg_installed (void)
{
    if (getenv ("SLUICE_PG_BIN"))
        return true;
    glob_t found;
    bool any = glob ("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &found) == 0
            && found.gl_pathc > 0;
    globfree (&found);
    return any;
}

static int
s_free_port (void)
{
    int port = 0;
    int fd = sl_loopback_listen (0, &port);
    CHECK (fd >= 0);
    close (fd);
    return port;
}

//  Run pg_server.sh start|stop; returns its exit status. The server
//  watches this process and goes away with it, even after an assert.
static int
s_server_run (s_server_t *server, const char *command)
{
    char cmd [1400];
    snprintf (cmd, sizeof cmd, "sh '%s' %s '%s' %d %d >/dev/null", server->script, command,
              server->dir, server->port, (int) getpid ());
    int status = system (cmd);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  0 started, 77 not installed, -1 failed
static int
s_server_start (s_server_t *server)
{
    const char *source = getenv ("SLUICE_SOURCE_DIR");
    snprintf (server->script, sizeof server->script, "%s/tests/pg_server.sh",
              source && *source ? source : SL_SOURCE_DIR);
    snprintf (server->dir, sizeof server->dir, "/tmp/sl_store_pg_XXXXXX");
    CHECK (mkdtemp (server->dir));
    for (int attempt = 0; attempt < 3; attempt++) {
        server->port = s_free_port ();      //  taken meanwhile? try another
        int rc = s_server_run (server, "start");
        if (rc == 0 || rc == 77)
            return rc;
    }
    return -1;
}

static void
s_url (const s_server_t *server, const char *db, char *url, size_t size)
{
    snprintf (url, size, "postgres://sluice@127.0.0.1:%d/%s", server->port, db);
}

//  Run one SQL command as the superuser on database db
static void
s_admin (const s_server_t *server, const char *db, const char *sql)
{
    char url [128];
    s_url (server, db, url, sizeof url);
    PGconn *pg = PQconnectdb (url);
    CHECK (PQstatus (pg) == CONNECTION_OK);
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
        fprintf (stderr, "%s: %s", sql, PQresultErrorMessage (res));
    CHECK (PQresultStatus (res) == PGRES_COMMAND_OK || PQresultStatus (res) == PGRES_TUPLES_OK);
    PQclear (res);
    PQfinish (pg);
}

//  sl_store_count_fn: arg is the database url
static int64_t
s_pg_count (void *arg, const char *sql)
{
    PGconn *pg = PQconnectdb ((const char *) arg);
    CHECK (PQstatus (pg) == CONNECTION_OK);
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        fprintf (stderr, "%s: %s", sql, PQresultErrorMessage (res));
    CHECK (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1);
    int64_t value = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    PQfinish (pg);
    return value;
}

//  One integer from database url
static int64_t
s_value (const char *url, const char *sql)
{
    return s_pg_count ((void *) url, sql);
}

static int64_t
s_pg_countf (const char *url, const char *fmt, const char *arg)
{
    char sql [512];
    snprintf (sql, sizeof sql, fmt, arg);
    return s_value (url, sql);
}

static sl_store_t *
s_open (const char *url)
{
    char err [512];
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    if (!store)
        fprintf (stderr, "open %s: %s\n", url, err);
    CHECK (store);
    return store;
}

//  A test document: n chunks "<tag> <i>" (padded to text_len) with
//  random unit vectors of dim
typedef struct {
    sl_doc_meta_t meta;
    char sha [SL_SHA256_HEX];
    char source [128];
    char tag [64];
    char **texts;
    sl_chunk_row_t *chunks;
    float *vectors;
    int n;
    int dim;
} s_doc_t;

static void
s_doc_make (s_doc_t *doc, const char *workspace, const char *source, const char *tag, int n,
            int dim, size_t text_len)
{
    memset (doc, 0, sizeof *doc);
    snprintf (doc->source, sizeof doc->source, "%s", source);
    snprintf (doc->tag, sizeof doc->tag, "%s", tag);
    sl_sha256_hex (tag, strlen (tag), doc->sha);
    doc->meta = (sl_doc_meta_t) {
        .workspace = workspace, .source = doc->source, .sha256 = doc->sha,
        .mime = "text/plain", .title = doc->tag, .pages = 1, .bytes = 100 * n
    };
    doc->texts = calloc ((size_t) n, sizeof *doc->texts);
    doc->chunks = calloc ((size_t) n, sizeof *doc->chunks);
    doc->vectors = malloc ((size_t) n * (size_t) dim * sizeof (float));
    CHECK (doc->texts && doc->chunks && doc->vectors);
    for (int i = 0; i < n; i++) {
        doc->texts [i] = malloc (text_len + 64);
        CHECK (doc->texts [i]);
        int len = snprintf (doc->texts [i], 64, "%s %d", tag, i);
        for (; (size_t) len < text_len; len++)
            doc->texts [i][len] = "lorem ipsum dolor sit amet " [len % 27];
        doc->texts [i][len] = 0;
        doc->chunks [i] = (sl_chunk_row_t) {
            .ordinal = i, .page_start = 1, .page_end = 1, .char_start = i * 100,
            .char_end = i * 100 + 99, .tokens = 20, .text = doc->texts [i]
        };
        sl_store_test_unit_vector (doc->vectors + (size_t) i * (size_t) dim, dim);
    }
    doc->n = n;
    doc->dim = dim;
}

static void
s_doc_free (s_doc_t *doc)
{
    for (int i = 0; i < doc->n; i++)
        free (doc->texts [i]);
    free (doc->texts);
    free (doc->chunks);
    free (doc->vectors);
    memset (doc, 0, sizeof *doc);
}

static int
s_doc_commit (sl_store_t *store, const s_doc_t *doc, const char *model, char id [SL_STORE_ID])
{
    return sl_store_document_commit (store, &doc->meta, doc->chunks, doc->n, doc->vectors,
                                     doc->dim, model, id);
}

//  Search workspace for query (T_DIM, T_MODEL); copy the top hit's document
//  id and ordinal; returns the hit count
static int
s_top (sl_store_t *store, const char *workspace, const float *query, char doc_id [SL_STORE_ID],
       int *ordinal)
{
    sl_hit_t hits [5];
    int n = -1;
    int rc = sl_store_search (store, workspace, T_MODEL, query, T_DIM, 5, hits, &n);
    if (rc != 0)
        fprintf (stderr, "search %s: %s\n", workspace, sl_store_errmsg (store));
    CHECK (rc == SL_STORE_OK);
    *doc_id = 0;
    if (n > 0) {
        snprintf (doc_id, SL_STORE_ID, "%s", hits [0].document_id);
        if (ordinal)
            *ordinal = hits [0].ordinal;
    }
    sl_store_hits_reset (hits, n);
    return n;
}

//  Open, migrations, bad urls
static void *
s_opener (void *arg)
{
    char err [512];
    sl_store_t *store = sl_store_open ((const char *) arg, err, sizeof err);
    if (!store)
        fprintf (stderr, "concurrent open: %s\n", err);
    return store;
}

static void
s_test_open (const s_server_t *server)
{
    char url [128], err [512];
    //  nothing listens on port 1: a clear error naming the server, no hang
    CHECK (!sl_store_open ("postgres://sluice@127.0.0.1:1/sluice", err, sizeof err));
    CHECK (strstr (err, "cannot connect to PostgreSQL at postgres://sluice@127.0.0.1:1/sluice"));
    //  the password never reaches a message
    CHECK (!sl_store_open ("postgresql://sluice:s3cret@127.0.0.1:1/x", err, sizeof err));
    CHECK (!strstr (err, "s3cret") && strstr (err, "sluice:***@127.0.0.1"));
    CHECK (!sl_store_open ("postgres://127.0.0.1:1/x?password=s3cret&sslmode=disable",
                            err, sizeof err));
    CHECK (!strstr (err, "s3cret"));
    //  malformed url, missing database
    CHECK (!sl_store_open ("postgres://sluice@127.0.0.1:notaport/x", err, sizeof err));
    CHECK (strstr (err, "cannot connect to PostgreSQL") && strstr (err, "notaport"));
    s_url (server, "nope", url, sizeof url);
    CHECK (!sl_store_open (url, err, sizeof err));
    CHECK (strstr (err, "\"nope\" does not exist"));

    //  first open applies the migrations; re-open changes nothing
    s_admin (server, "postgres", "CREATE DATABASE t_open");
    s_url (server, "t_open", url, sizeof url);
    sl_store_t *store = s_open (url);
    CHECK (strcmp (sl_store_backend (store), "postgres") == 0);
    CHECK (s_value (url, "SELECT COUNT(*) FROM schema_version") == 13);
    int64_t applied = s_value (url, "SELECT applied_ms FROM schema_version WHERE version = 1");
    CHECK (applied > 0);
    CHECK (s_value (url, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                             "table_schema = 'public' AND table_name IN ('workspaces', 'jobs', "
                             "'documents', 'chunks', 'vectors', 'embed_cache', 'events', "
                             "'event_seqs', 'document_sources')") == 9);
    sl_store_destroy (&store);
    CHECK (store == NULL);
    sl_store_destroy (&store);
    store = s_open (url);
    CHECK (s_value (url, "SELECT COUNT(*) FROM schema_version") == 13);
    CHECK (s_value (url, "SELECT applied_ms FROM schema_version WHERE version = 1")
            == applied);
    sl_store_destroy (&store);

    //  a database migrated by a newer build is refused, not damaged
    s_admin (server, "t_open", "INSERT INTO schema_version VALUES (999, 0)");
    CHECK (!sl_store_open (url, err, sizeof err));
    CHECK (strstr (err, "schema version 999, newer than this build"));
    s_admin (server, "t_open", "DELETE FROM schema_version WHERE version = 999");

    //  four processes starting at once on a fresh database: each migration
    //  is applied exactly once and every opener succeeds
    s_admin (server, "postgres", "CREATE DATABASE t_race");
    s_url (server, "t_race", url, sizeof url);
    pthread_t threads [4];
    for (int t = 0; t < 4; t++)
        CHECK (pthread_create (&threads [t], NULL, s_opener, url) == 0);
    for (int t = 0; t < 4; t++) {
        void *opened = NULL;
        pthread_join (threads [t], &opened);
        CHECK (opened);
        sl_store_t *other = opened;
        sl_store_destroy (&other);
    }
    CHECK (s_value (url, "SELECT COUNT(*) FROM schema_version") == 13);
}

//  Racing commits: T_RACERS threads, two per handle, meet at a barrier
//  before each round's commit
#define T_RACERS 4
#define T_ROUNDS 8

typedef struct {
    sl_store_t *store;
    pthread_barrier_t *barrier;
    const s_doc_t *docs [T_ROUNDS];     //  what this thread commits each round
    char ids [T_ROUNDS][SL_STORE_ID];
    int rcs [T_ROUNDS];
} s_racer_t;

static void *
s_commit_racer (void *arg)
{
    s_racer_t *r = arg;
    for (int round = 0; round < T_ROUNDS; round++) {
        pthread_barrier_wait (r->barrier);
        r->rcs [round] = s_doc_commit (r->store, r->docs [round], T_MODEL, r->ids [round]);
        if (r->rcs [round])
            fprintf (stderr, "racing commit: %s\n", sl_store_errmsg (r->store));
    }
    return NULL;
}

static void
s_race (sl_store_t *a, sl_store_t *b, s_racer_t *racers)
{
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, T_RACERS);
    pthread_t threads [T_RACERS];
    for (int t = 0; t < T_RACERS; t++) {
        racers [t].store = t % 2 ? b : a;
        racers [t].barrier = &barrier;
        CHECK (pthread_create (&threads [t], NULL, s_commit_racer, &racers [t]) == 0);
    }
    for (int t = 0; t < T_RACERS; t++)
        pthread_join (threads [t], NULL);
    pthread_barrier_destroy (&barrier);
}

//  Two processes commit the same document at once: one document, one set
//  of chunks and vectors, the same id everywhere
static void
s_test_same_document (const char *url, sl_store_t *a, sl_store_t *b)
{
    s_doc_t docs [T_ROUNDS];
    s_racer_t racers [T_RACERS];
    memset (racers, 0, sizeof racers);
    for (int round = 0; round < T_ROUNDS; round++) {
        char source [64], tag [32];
        snprintf (source, sizeof source, "https://race.example.com/same/%d", round);
        snprintf (tag, sizeof tag, "same %d", round);
        s_doc_make (&docs [round], "race", source, tag, 6, T_DIM, 40);
        for (int t = 0; t < T_RACERS; t++)
            racers [t].docs [round] = &docs [round];
    }
    s_race (a, b, racers);
    for (int round = 0; round < T_ROUNDS; round++) {
        char expect [SL_STORE_ID];
        sl_store_document_id ("race", docs [round].sha, expect);
        for (int t = 0; t < T_RACERS; t++)
            CHECK (racers [t].rcs [round] == 0 && strcmp (racers [t].ids [round], expect) == 0);
        CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM documents WHERE source = '%s'",
                             docs [round].source) == 1);
        CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'",
                             expect) == 6);
        CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM vectors v JOIN chunks c ON "
                                  "c.rid = v.chunk_rid WHERE c.document_id = '%s'", expect) == 6);
        //  both processes' indexes find it, exactly once
        for (int h = 0; h < 2; h++) {
            sl_hit_t hits [5];
            int n = 0;
            CHECK (sl_store_search (h ? b : a, "race", T_MODEL, docs [round].vectors, T_DIM, 5,
                                     hits, &n) == 0 && n == 5);
            CHECK (strcmp (hits [0].document_id, expect) == 0 && hits [0].ordinal == 0);
            CHECK (strcmp (hits [1].chunk_id, hits [0].chunk_id) != 0);
            sl_store_hits_reset (hits, n);
        }
    }
    CHECK (s_value (url, "SELECT COUNT(*) FROM documents WHERE workspace = 'race'")
            == T_ROUNDS);
    for (int round = 0; round < T_ROUNDS; round++)
        s_doc_free (&docs [round]);
}

//  Two processes commit different content at the same source at once: one
//  survives, with all its chunks; the others are gone from both indexes
static void
s_test_replace_race (const char *url, sl_store_t *a, sl_store_t *b)
{
    s_doc_t docs [T_ROUNDS][T_RACERS];
    s_racer_t racers [T_RACERS];
    memset (racers, 0, sizeof racers);
    for (int round = 0; round < T_ROUNDS; round++) {
        char source [64], tag [32];
        snprintf (source, sizeof source, "https://race.example.com/replace/%d", round);
        for (int t = 0; t < T_RACERS; t++) {
            snprintf (tag, sizeof tag, "replace %d by %d", round, t);
            s_doc_make (&docs [round][t], "race", source, tag, 3 + t, T_DIM, 40);
            racers [t].docs [round] = &docs [round][t];
        }
    }
    s_race (a, b, racers);
    for (int round = 0; round < T_ROUNDS; round++) {
        const char *source = docs [round][0].source;
        CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM documents WHERE source = '%s'",
                             source) == 1);
        int winner = -1;
        for (int t = 0; t < T_RACERS; t++) {
            CHECK (racers [t].rcs [round] == 0);
            if (s_pg_countf (url, "SELECT COUNT(*) FROM documents WHERE id = '%s'",
                             racers [t].ids [round]) == 1)
                winner = t;
        }
        CHECK (winner >= 0);
        CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'",
                             racers [winner].ids [round]) == 3 + winner);
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < T_RACERS; t++) {
                char top [SL_STORE_ID];
                int ordinal = -1;
                s_top (h ? b : a, "race", docs [round][t].vectors, top, &ordinal);
                if (t == winner)
                    CHECK (strcmp (top, racers [t].ids [round]) == 0 && ordinal == 0);
                else
                    for (int l = 0; l < T_RACERS; l++)
                        CHECK (l == winner || strcmp (top, racers [l].ids [round]) != 0);
            }
    }
    CHECK (s_value (url, "SELECT COUNT(*) FROM vectors v LEFT JOIN chunks c "
                             "ON c.rid = v.chunk_rid WHERE c.rid IS NULL") == 0);
    CHECK (s_value (url, "SELECT COUNT(*) FROM chunks c LEFT JOIN vectors v "
                             "ON c.rid = v.chunk_rid WHERE v.chunk_rid IS NULL") == 0);
    for (int round = 0; round < T_ROUNDS; round++)
        for (int t = 0; t < T_RACERS; t++)
            s_doc_free (&docs [round][t]);
}

//  Four threads in each of two processes append to one job's log
#define T_APPENDERS 8
#define T_APPENDS 25

typedef struct {
    sl_store_t *store;
    const char *job_id;
    int64_t seqs [T_APPENDS];
    int failures;
} s_appender_t;

static void *
s_appender (void *arg)
{
    s_appender_t *w = arg;
    for (int i = 0; i < T_APPENDS; i++)
        if (sl_store_event_append (w->store, w->job_id, "progress", "{\"n\":1}", i,
                                   &w->seqs [i])) {
            fprintf (stderr, "append: %s\n", sl_store_errmsg (w->store));
            w->failures++;
        }
    return NULL;
}

static void
s_append_race (sl_store_t *a, sl_store_t *b, const char *job_id)
{
    s_appender_t workers [T_APPENDERS];
    pthread_t threads [T_APPENDERS];
    for (int t = 0; t < T_APPENDERS; t++) {
        workers [t] = (s_appender_t) { .store = t % 2 ? b : a, .job_id = job_id };
        CHECK (pthread_create (&threads [t], NULL, s_appender, &workers [t]) == 0);
    }
    bool seen [T_APPENDERS * T_APPENDS + 1] = { false };
    for (int t = 0; t < T_APPENDERS; t++) {
        pthread_join (threads [t], NULL);
        CHECK (workers [t].failures == 0);
        for (int i = 0; i < T_APPENDS; i++) {
            int64_t seq = workers [t].seqs [i];
            CHECK (seq >= 1 && seq <= T_APPENDERS * T_APPENDS && !seen [seq]);
            seen [seq] = true;
            CHECK (i == 0 || seq > workers [t].seqs [i - 1]);    //  a thread's own order
        }
    }
    sl_store_event_t *events = NULL;
    int count = 0;
    CHECK (sl_store_events_list (a, job_id, 0, 1000, &events, &count) == 0);
    CHECK (count == T_APPENDERS * T_APPENDS);
    for (int i = 0; i < count; i++)
        CHECK (events [i].seq == i + 1 && strcmp (events [i].type, "progress") == 0);
    sl_store_events_free (&events, count);
}

//  Re-drivers in two processes lease the same stale jobs at once
#define T_LEASE_JOBS 20

typedef struct {
    sl_store_t *store;
    pthread_barrier_t *barrier;
    char owner [32];
    int *wins;                  //  per job, shared (atomic)
    int failures;
} s_leaser_t;

static void *
s_leaser (void *arg)
{
    s_leaser_t *w = arg;
    int64_t now = sl_now_ms ();
    for (int j = 0; j < T_LEASE_JOBS; j++) {
        char job_id [32];
        snprintf (job_id, sizeof job_id, "lease-%d", j);
        pthread_barrier_wait (w->barrier);
        int rc = sl_store_job_lease (w->store, job_id, w->owner, now, now + 60000);
        if (rc == 0)
            __atomic_add_fetch (&w->wins [j], 1, __ATOMIC_RELAXED);
        else
        if (rc != SL_STORE_BUSY)
            w->failures++;
    }
    return NULL;
}

static void
s_test_leases (const s_server_t *server, const char *url, sl_store_t *a, sl_store_t *b)
{
    //  Jobs last touched long ago: every re-driver sees them all
    for (int j = 0; j < T_LEASE_JOBS; j++) {
        char job_id [32];
        snprintf (job_id, sizeof job_id, "lease-%d", j);
        CHECK (sl_store_job_create (a, job_id, "lease", "https://lease.example.com/", NULL,
                                     NULL, NULL) == 0);
        CHECK (sl_store_job_stage (a, job_id, SL_STORE_STAGE_PARSE, SL_STORE_STARTED, 1000)
                == 0);
    }
    sl_store_job_t *jobs = NULL;
    int count = 0;
    CHECK (sl_store_jobs_unfinished (b, 2000, 100, &jobs, &count) == 0);
    CHECK (count == T_LEASE_JOBS);
    sl_store_jobs_free (&jobs, count);

    int wins [T_LEASE_JOBS] = { 0 };
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, 4);
    s_leaser_t workers [4];
    pthread_t threads [4];
    for (int t = 0; t < 4; t++) {
        workers [t] = (s_leaser_t) { .store = t % 2 ? b : a, .barrier = &barrier, .wins = wins };
        snprintf (workers [t].owner, sizeof workers [t].owner, "redriver-%d", t);
        CHECK (pthread_create (&threads [t], NULL, s_leaser, &workers [t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join (threads [t], NULL);
        CHECK (workers [t].failures == 0);
    }
    pthread_barrier_destroy (&barrier);
    for (int j = 0; j < T_LEASE_JOBS; j++)
        CHECK (wins [j] == 1);
    CHECK (s_value (url, "SELECT COUNT(DISTINCT id) FROM jobs WHERE workspace = 'lease' "
                             "AND lease_owner LIKE 'redriver-%'") == T_LEASE_JOBS);

    //  A listing skips a job whose row another transaction holds locked
    //  (being leased right now) instead of waiting for it. The lister has
    //  a lock timeout (url options reach the server), so waiting would fail
    char admin_url [128], lister_url [192];
    s_url (server, "scale", admin_url, sizeof admin_url);
    snprintf (lister_url, sizeof lister_url, "%s?options=-c%%20lock_timeout%%3D3000", admin_url);
    sl_store_t *lister = s_open (lister_url);
    PGconn *admin = PQconnectdb (admin_url);
    CHECK (PQstatus (admin) == CONNECTION_OK);
    PQclear (PQexec (admin, "BEGIN"));
    PGresult *res = PQexec (admin, "SELECT id FROM jobs WHERE id = 'lease-0' FOR UPDATE");
    CHECK (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1);
    PQclear (res);
    int64_t start = sl_mono_ms ();
    int rc = sl_store_jobs_unfinished (lister, 2000, 100, &jobs, &count);
    if (rc)
        fprintf (stderr, "list while locked: %s\n", sl_store_errmsg (lister));
    CHECK (rc == 0 && sl_mono_ms () - start < 2000);
    CHECK (count == T_LEASE_JOBS - 1);
    for (int i = 0; i < count; i++)
        CHECK (strcmp (jobs [i].id, "lease-0") != 0);
    sl_store_jobs_free (&jobs, count);
    PQclear (PQexec (admin, "COMMIT"));
    PQfinish (admin);
    sl_store_destroy (&lister);
    CHECK (sl_store_jobs_unfinished (a, 2000, 100, &jobs, &count) == 0);
    CHECK (count == T_LEASE_JOBS);
    sl_store_jobs_free (&jobs, count);
}

//  Process A writes, process B's very next search sees it
static void
s_test_freshness (const char *url, sl_store_t *a, sl_store_t *b)
{
    s_doc_t docs [10];
    char ids [10][SL_STORE_ID], top [SL_STORE_ID];
    int ordinal = -1;
    for (int k = 0; k < 10; k++) {
        char source [64], tag [32];
        snprintf (source, sizeof source, "https://fresh.example.com/%d", k);
        snprintf (tag, sizeof tag, "fresh %d", k);
        s_doc_make (&docs [k], "fresh", source, tag, 3, T_DIM, 40);
        CHECK (s_doc_commit (a, &docs [k], T_MODEL, ids [k]) == 0);
        //  every commit and delete so far bumped the generation once
        CHECK (s_value (url, "SELECT generation FROM workspaces WHERE name = 'fresh'")
                == (k == 0 ? 1 : 2 * k));
        //  B's index (loaded on the first round) follows every write
        CHECK (s_top (b, "fresh", docs [k].vectors + 2 * T_DIM, top, &ordinal) > 0);
        CHECK (strcmp (top, ids [k]) == 0 && ordinal == 2);
        if (k > 0) {
            char sha [SL_SHA256_HEX];
            CHECK (sl_store_document_delete (a, "fresh", ids [k - 1], sha) == 0);
            CHECK (s_top (b, "fresh", docs [k - 1].vectors, top, &ordinal) > 0);
            CHECK (strcmp (top, ids [k - 1]) != 0);
        }
    }
    //  and A's own index, updated in place, agrees
    CHECK (s_top (a, "fresh", docs [9].vectors, top, &ordinal) == 3);
    CHECK (strcmp (top, ids [9]) == 0 && ordinal == 0);
    for (int k = 0; k < 10; k++)
        s_doc_free (&docs [k]);
}

//  A large commit goes through COPY in one transaction; report the time
static void
s_test_big_commit (const char *url, sl_store_t *a, bool verbose)
{
    const int n = 3000, dim = 384;
    s_doc_t doc;
    s_doc_make (&doc, "big", "https://big.example.com/book.pdf", "big book", n, dim, 600);
    char id [SL_STORE_ID], again [SL_STORE_ID];
    int64_t start = sl_mono_ms ();
    int rc = s_doc_commit (a, &doc, "big-model", id);
    int64_t commit_ms = sl_mono_ms () - start;
    if (rc)
        fprintf (stderr, "big commit: %s\n", sl_store_errmsg (a));
    CHECK (rc == 0);
    start = sl_mono_ms ();
    CHECK (s_doc_commit (a, &doc, "big-model", again) == 0 && strcmp (again, id) == 0);
    int64_t redo_ms = sl_mono_ms () - start;
    CHECK (s_pg_countf (url, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id) == n);
    CHECK (s_value (url, "SELECT COUNT(*) FROM vectors WHERE model_id = 'big-model' "
                             "AND dim = 384 AND octet_length (vec) = 1536") == n);
    //  bytes are float32 little-endian: the first float of chunk 7
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT get_byte (vec, 0) + 256 * get_byte (vec, 1) + "
              "65536 * get_byte (vec, 2) + 16777216::bigint * get_byte (vec, 3) FROM vectors v "
              "JOIN chunks c ON c.rid = v.chunk_rid WHERE c.document_id = '%s' AND c.ordinal = 7",
              id);
    uint32_t bits;
    memcpy (&bits, &doc.vectors [7 * dim], 4);
    CHECK (s_value (url, sql) == (int64_t) bits);
    //  text survives COPY byte for byte
    sl_store_chunk_t *chunks = NULL;
    int count = 0;
    CHECK (sl_store_chunks_list (a, "big", id, 10, 2999, &chunks, &count, NULL) == 0);
    CHECK (count == 1 && strcmp (chunks [0].text, doc.texts [2999]) == 0);
    sl_store_chunks_free (&chunks, count);

    //  a fresh process loads the whole workspace for its first search
    sl_store_t *other = s_open (url);
    sl_hit_t hits [3];
    int n_hits = 0;
    start = sl_mono_ms ();
    CHECK (sl_store_search (other, "big", "big-model", doc.vectors + (size_t) 1234 * dim, dim,
                             3, hits, &n_hits) == 0);
    int64_t load_ms = sl_mono_ms () - start;
    CHECK (n_hits == 3 && hits [0].ordinal == 1234 && fabsf (hits [0].score - 1.0f) < 1e-5f);
    sl_store_hits_reset (hits, n_hits);
    sl_store_destroy (&other);

    char sha [SL_SHA256_HEX];
    start = sl_mono_ms ();
    CHECK (sl_store_document_delete (a, "big", id, sha) == 0);
    int64_t delete_ms = sl_mono_ms () - start;
    CHECK (s_value (url, "SELECT COUNT(*) FROM vectors WHERE model_id = 'big-model'") == 0);
    printf ("%d-chunk commit (dim %d) %lld ms, redelivered %lld ms, cold search %lld ms, "
            "delete %lld ms; ", n, dim, (long long) commit_ms, (long long) redo_ms,
            (long long) load_ms, (long long) delete_ms);
    fflush (stdout);
    s_doc_free (&doc);
}

//  The server goes away and comes back: calls fail with a message naming
//  it, then every pooled connection recovers, writers included
static void
s_test_reconnect (s_server_t *server, sl_store_t *a, sl_store_t *b)
{
    CHECK (sl_store_job_create (a, "rc-job", "rc", "https://rc.example.com/", NULL, NULL,
                                 NULL) == 0);
    s_append_race (a, b, "rc-before");      //  several pooled connections in each
    CHECK (s_server_run (server, "stop") == 0);

    char expect [128];
    snprintf (expect, sizeof expect, "PostgreSQL at postgres://sluice@127.0.0.1:%d/scale",
              server->port);
    sl_store_job_t job;
    int64_t start = sl_mono_ms ();
    CHECK (sl_store_job_get (a, "rc-job", &job) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (a), expect));
    CHECK (sl_store_job_progress (a, "rc-job", 10) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (a), "is the server down?"));
    CHECK (sl_store_event_append (b, "rc-job", "x", NULL, 1, NULL) == SL_STORE_ERROR);
    CHECK (sl_mono_ms () - start < 5000);

    CHECK (s_server_run (server, "start") == 0);
    //  writes first: no connection that predates the restart is used
    s_append_race (a, b, "rc-after");
    CHECK (sl_store_job_progress (a, "rc-job", 10) == 0);
    CHECK (sl_store_job_get (b, "rc-job", &job) == 0 && job.percent == 10);
    sl_store_job_reset (&job);
}

static int
s_rm (const char *file, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove (file);
}

void
sl_store_pg_test (bool verbose)
{
    printf (" * sl_store_pg: ");
    fflush (stdout);
    if (!verbose)
        sl_log_set_level (SL_LOG_WARN);
    if (!s_pg_installed ()) {
        printf ("skipped: no PostgreSQL server in /usr/lib/postgresql/*/bin "
                "(apt-get install postgresql)\n");
        return;
    }
    s_server_t server;
    int rc = s_server_start (&server);
    if (rc == 77) {
        printf ("skipped: tests/pg_server.sh found no PostgreSQL server\n");
        nftw (server.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
        return;
    }
    if (rc != 0)
        fprintf (stderr, "cannot start PostgreSQL with %s (log in %s)\n", server.script,
                 server.dir);
    CHECK (rc == 0);
    int64_t started = sl_mono_ms ();

    s_case = "open: migrations, url forms, errors";
    s_test_open (&server);

    //  The suite the SQLite backend passes, on an empty database
    char url [128];
    s_admin (&server, "postgres", "CREATE DATABASE conformance");
    s_url (&server, "conformance", url, sizeof url);
    sl_store_t *store = s_open (url);
    s_case = "conformance";
    sl_store_conformance (store, url, s_pg_count, url, verbose);
    sl_store_destroy (&store);

    //  Two handles = two processes on one database
    s_admin (&server, "postgres", "CREATE DATABASE scale");
    s_url (&server, "scale", url, sizeof url);
    sl_store_t *a = s_open (url);
    sl_store_t *b = s_open (url);
    CASE ("two processes commit the same document", s_test_same_document (url, a, b));
    CASE ("two processes replace one source", s_test_replace_race (url, a, b));
    CASE ("two processes append events to one job", s_append_race (a, b, "race-job"));
    CASE ("leases across processes", s_test_leases (&server, url, a, b));
    CASE ("another process's commit is seen", s_test_freshness (url, a, b));
    CASE ("a big commit", s_test_big_commit (url, a, verbose));
    CASE ("reconnect after a server restart", s_test_reconnect (&server, a, b));
#undef CASE
    s_case = "teardown";
    sl_store_destroy (&a);
    sl_store_destroy (&b);

    CHECK (s_server_run (&server, "stop") == 0);
    nftw (server.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    if (verbose)
        printf ("(%lld ms with the server) ", (long long) (sl_mono_ms () - started));
    printf ("OK\n");
}
