/*  sl_store_test: the store's conformance suite and the SQLite self-test.

    Built only into test programs (the sl_store_tests library in
    store/CMakeLists.txt), never into the sl_store library sluiced links.

    sl_store_conformance is the oracle for the policy in sl_store.c: every
    backend runs it on an empty database (selftest_store here on a SQLite
    file in a mkdtemp directory, selftest_store_pg in sl_store_pg_test.c on
    a throwaway PostgreSQL server). Its cases run in order, each one
    behaviour of the store's contract (sl_store.h), and later cases count
    rows the earlier ones left. A failing CHECK prints file:line, the case
    and the condition, then exits: the failure says what broke.
*/
#include "sl_store_backend.h"
#include "sl_log.h"

#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_check.h"
#include "sl_highlight.h"
#include "sl_highlight_test_words.h"

#define T_DIM 8
#define T_MODEL "test-model"

//  The suite's window on the database: a backend-specific row counter
typedef struct {
    sl_store_count_fn *fn;
    void *arg;
} s_db_t;

static int64_t
s_count (const s_db_t *db, const char *sql)
{
    return db->fn (db->arg, sql);
}

static int64_t
s_countf (const s_db_t *db, const char *fmt, const char *arg)
{
    char sql [512];
    snprintf (sql, sizeof sql, fmt, arg);
    return s_count (db, sql);
}

//  Count rows with a private connection (what another process would see)
static int64_t
s_sqlite_count (void *arg, const char *sql)
{
    const char *path = arg;
    sqlite3 *db = NULL;
    CHECK (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) == SQLITE_OK);
    CHECK (sqlite3_step (st) == SQLITE_ROW);
    int64_t value = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    sqlite3_close (db);
    return value;
}

//  per thread: the concurrent workers must not share (or repeat) a sequence
static __thread uint64_t s_rng = 88172645463325252ULL;

void
sl_store_test_unit_vector (float *v, int dim)
{
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        s_rng ^= s_rng << 13;
        s_rng ^= s_rng >> 7;
        s_rng ^= s_rng << 17;
        v [i] = (float) ((double) (s_rng >> 11) / (double) (1ULL << 53)) * 2.0f - 1.0f;
        norm += (double) v [i] * v [i];
    }
    for (int i = 0; i < dim; i++)
        v [i] = (float) (v [i] / sqrt (norm));
}

//  A test document: n chunks with texts "<tag> <i>" and random vectors
typedef struct {
    sl_doc_meta_t meta;
    char sha [SL_SHA256_HEX];
    char texts [8][64];
    sl_chunk_row_t chunks [8];
    float vectors [8 * T_DIM];
    int n;
} s_doc_t;

static void
s_doc_make (s_doc_t *doc, const char *workspace, const char *source, const char *tag, int n)
{
    CHECK (n <= 8);
    memset (doc, 0, sizeof *doc);
    sl_sha256_hex (tag, strlen (tag), doc->sha);
    doc->meta = (sl_doc_meta_t) {
        .workspace = workspace, .source = source, .sha256 = doc->sha, .mime = "text/plain",
        .title = tag, .pages = 2, .bytes = 1000 + n, .job_id = NULL
    };
    for (int i = 0; i < n; i++) {
        snprintf (doc->texts [i], sizeof doc->texts [i], "%s %d", tag, i);
        doc->chunks [i] = (sl_chunk_row_t) {
            .ordinal = i, .page_start = 1 + i / 2, .page_end = 1 + i / 2,
            .char_start = i * 100, .char_end = i * 100 + 99, .tokens = 20,
            .hash = NULL, .text = doc->texts [i]
        };
        sl_store_test_unit_vector (doc->vectors + i * T_DIM, T_DIM);
    }
    doc->n = n;
}

static int
s_doc_commit (sl_store_t *store, s_doc_t *doc, char id [SL_STORE_ID])
{
    return sl_store_document_commit (store, &doc->meta, doc->chunks, doc->n, doc->vectors,
                                     T_DIM, T_MODEL, id);
}

//  A commit's reader over a test document, one batch at a time
typedef struct {
    const s_doc_t *doc;
    int next;
} s_doc_reader_t;

static int
s_doc_read (void *arg, sl_chunk_row_t *rows, float *vectors, int max, char *err, size_t errlen)
{
    s_doc_reader_t *self = arg;
    int count = 0;
    for (; count < max && self->next < self->doc->n; count++, self->next++) {
        rows [count] = self->doc->chunks [self->next];
        memcpy (vectors + (size_t) count * T_DIM, self->doc->vectors + (size_t) self->next * T_DIM,
                T_DIM * sizeof (float));
    }
    return count;
}

//  The same, with the whole outcome
static int
s_doc_commit_r (sl_store_t *store, s_doc_t *doc, sl_store_commit_t *result)
{
    s_doc_reader_t reader = { doc, 0 };
    return sl_store_document_commit_stream (store, &doc->meta, doc->n, T_DIM, T_MODEL,
                                            s_doc_read, &reader, result);
}

//  Top hit for a query; returns hit count and copies the best chunk id
static int
s_top (sl_store_t *store, const char *workspace, const float *query, sl_hit_t *best)
{
    sl_hit_t hits [5];
    int n = -1;
    int rc = sl_store_search (store, workspace, T_MODEL, query, T_DIM, 5, hits, &n);
    CHECK (rc == SL_STORE_OK);
    for (int i = 1; i < n; i++)
        CHECK (hits [i - 1].score >= hits [i].score);
    memset (best, 0, sizeof *best);
    if (n > 0) {
        *best = hits [0];           //  best owns its strings now
        memset (&hits [0], 0, sizeof hits [0]);
    }
    sl_store_hits_reset (hits, n);
    return n;
}

//  A database made before lexical search (schema 1) with chunks in it:
//  opening it applies migration 2, whose rebuild indexes the old chunks,
//  and migration 3 (leases, the cache's age index)
static void
s_test_upgrade (const char *path, const char *url)
{
    char err [256];
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    s_doc_t doc;
    s_doc_make (&doc, "wsold", "https://example.com/old", "vintage", 2);
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc, id) == 0);
    sl_store_destroy (&store);
    sqlite3 *db = NULL;
    CHECK (sqlite3_open (path, &db) == SQLITE_OK);
    CHECK (sqlite3_exec (db, "DROP INDEX jobs_unfinished; DROP INDEX jobs_held; "
                          "ALTER TABLE jobs DROP COLUMN held; CREATE INDEX jobs_unfinished ON "
                          "jobs (updated_ms) WHERE state NOT IN ('completed', 'failed'); "
                          "DROP INDEX documents_by_pages_blob; "
                          "ALTER TABLE documents DROP COLUMN pages_blob; "
                          "ALTER TABLE workspaces DROP COLUMN paused; "
                          "DROP TRIGGER chunks_fts_delete; "
                          "DROP TRIGGER chunks_fts_update; DROP TABLE chunks_fts; "
                          "DROP TABLE document_sources; ALTER TABLE jobs DROP COLUMN replaced; "
                          "ALTER TABLE jobs DROP COLUMN duplicate_of; "
                          "DROP TABLE leases; DROP INDEX embed_cache_by_age; "
                          "ALTER TABLE chunks DROP COLUMN kind; ALTER TABLE chunks DROP COLUMN section; "
                          "ALTER TABLE chunks DROP COLUMN ocr_conf; ALTER TABLE chunks DROP COLUMN context; "
                          "ALTER TABLE workspaces DROP COLUMN chunking; "
                          "ALTER TABLE documents DROP COLUMN chunking; "
                          "DROP TRIGGER pages_fts_insert; DROP TRIGGER pages_fts_delete; "
                          "DROP TABLE pages_fts; DROP TABLE pages; DROP INDEX chunks_by_page; "
                          "DROP TABLE doc_attrs; DROP INDEX documents_by_mime; "
                          "ALTER TABLE documents DROP COLUMN meta; "
                          "ALTER TABLE workspaces DROP COLUMN filters_gen; "
                          "DROP TABLE source_runs; DROP TABLE source_items; DROP TABLE sources; "
                          "ALTER TABLE jobs DROP COLUMN run; "
                          "DELETE FROM schema_version WHERE version >= 2",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close (db);

    store = sl_store_open (url, err, sizeof err);
    CHECK (store);
    sl_hit_t hits [4];
    int n = 0;
    sl_search_t how = { .text = "Vintage", .mode = SL_SEARCH_LEXICAL };
    CHECK (sl_store_search_text (store, "wsold", T_MODEL, doc.vectors, T_DIM, &how, 4, hits, &n)
            == SL_STORE_OK);
    CHECK (n == 2 && hits [0].match == SL_HIT_LEXICAL);
    sl_store_hits_reset (hits, n);
    //  migration 3 gave the old document its source: a new version there
    //  replaces it, as one committed after the upgrade would
    s_db_t counter = { s_sqlite_count, (void *) path };
    CHECK (s_count (&counter, "SELECT COUNT(*) FROM document_sources WHERE workspace = 'wsold' "
                               "AND source = 'https://example.com/old'") == 1);
    s_doc_t newer;
    s_doc_make (&newer, "wsold", "https://example.com/old", "newer", 1);
    sl_store_commit_t result;
    CHECK (s_doc_commit_r (store, &newer, &result) == 0 && strcmp (result.replaced, id) == 0);
    //  its words are indexed by the store's own insert (migration 13 took
    //  the trigger away), and the index agrees with the chunks table
    sl_search_t newer_how = { .text = "Newer", .mode = SL_SEARCH_LEXICAL };
    CHECK (sl_store_search_text (store, "wsold", T_MODEL, newer.vectors, T_DIM, &newer_how, 4, hits, &n)
            == SL_STORE_OK);
    CHECK (n == 1 && hits [0].match == SL_HIT_LEXICAL);
    sl_store_hits_reset (hits, n);
    CHECK (sqlite3_open (path, &db) == SQLITE_OK);
    CHECK (sqlite3_exec (db, "INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check');"
                          "INSERT INTO pages_fts (pages_fts) VALUES ('integrity-check')",
                          NULL, NULL, NULL) == SQLITE_OK);
    CHECK (s_count (&counter, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'chunks_fts_insert'") == 0);
    sqlite3_close (db);
    sl_store_doc_t gone;
    CHECK (sl_store_document_get (store, "wsold", id, &gone) == SL_STORE_NOT_FOUND);
    int64_t now = sl_now_ms ();
    CHECK (sl_store_lease (store, "upgraded", "me", now, now + 1) == SL_STORE_OK);
    CHECK (sl_store_lease_release (store, "upgraded", "me") == SL_STORE_OK);
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "wsold", result.document_id, sha) == SL_STORE_OK);
    sl_store_destroy (&store);
}

static void
s_test_open (const char *dir, const char *path, const char *url)
{
    s_db_t db = { s_sqlite_count, (void *) path };
    char err [256];
    //  nothing listens on port 1: a clear error, no hang
    CHECK (!sl_store_open ("postgres://sluice@127.0.0.1:1/sluice", err, sizeof err));
    CHECK (strstr (err, "cannot connect to PostgreSQL at postgres://sluice@127.0.0.1:1"));
    CHECK (!sl_store_open ("", err, sizeof err));
    CHECK (!sl_store_open ("mysql://x", err, sizeof err));
    CHECK (strstr (err, "unknown store url scheme"));

    //  a file that is not a database is refused with a message, no crash
    char garbage [512];
    snprintf (garbage, sizeof garbage, "%s/garbage.db", dir);
    FILE *file = fopen (garbage, "w");
    CHECK (file);
    for (int i = 0; i < 200; i++)
        fputs ("this is not an sqlite database\n", file);
    fclose (file);
    CHECK (!sl_store_open (garbage, err, sizeof err));
    CHECK (strstr (err, garbage));

    //  first open creates the parent directories and applies migrations
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    if (!store)
        fprintf (stderr, "open: %s\n", err);
    CHECK (store);
    CHECK (strcmp (sl_store_backend (store), "sqlite") == 0);
    CHECK (s_count (&db, "SELECT COUNT(*) FROM schema_version") == 13);
    int64_t applied = s_count (&db, "SELECT applied_ms FROM schema_version WHERE version = 1");
    CHECK (s_count (&db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                          "AND name IN ('workspaces', 'jobs', 'documents', 'chunks', "
                          "'vectors', 'embed_cache', 'events', 'document_sources')") == 8);
    sl_store_destroy (&store);
    CHECK (store == NULL);
    sl_store_destroy (&store);

    //  re-open (plain path form) is a no-op for the schema
    store = sl_store_open (path, err, sizeof err);
    CHECK (store);
    CHECK (s_count (&db, "SELECT COUNT(*) FROM schema_version") == 13);
    CHECK (s_count (&db, "SELECT applied_ms FROM schema_version WHERE version = 1") == applied);
    sl_store_destroy (&store);

    //  WAL is on: the -wal file exists while a store is open
    store = sl_store_open (url, err, sizeof err);
    CHECK (sl_store_job_create (store, "wal-probe", "probe", "upload:x", NULL, NULL, NULL) == 0);
    char wal [600];
    snprintf (wal, sizeof wal, "%s-wal", path);
    CHECK (access (wal, F_OK) == 0);
    sl_store_destroy (&store);
    s_test_upgrade (path, url);
}

static void
s_test_jobs (sl_store_t *store)
{
    sl_store_job_t job;
    CHECK (sl_store_job_create (store, "job-1", "ws1", "https://example.com/a.pdf", NULL, NULL,
                                 "{\"ocr\":false}") == 0);
    //  creating an existing id changes nothing
    CHECK (sl_store_job_create (store, "job-1", "ws1", "https://elsewhere/b", NULL, NULL,
                                 NULL) == 0);
    CHECK (sl_store_job_get (store, "job-1", &job) == 0);
    CHECK (strcmp (job.source, "https://example.com/a.pdf") == 0);
    CHECK (strcmp (job.workspace, "ws1") == 0);
    CHECK (strcmp (job.options, "{\"ocr\":false}") == 0);
    CHECK (job.state == SL_STORE_QUEUED && job.stage == SL_STORE_STAGE_NONE);
    CHECK (job.percent == 0 && job.attempts == 0 && job.sha256 [0] == 0 && !job.mime);
    CHECK (job.created_ms > 0 && job.created_ms == job.updated_ms);
    sl_store_job_reset (&job);

    //  stages: first start time kept on redelivery, state follows the stage
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_FETCH, SL_STORE_STARTED, 1000) == 0);
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_FETCH, SL_STORE_STARTED, 1500) == 0);
    char sha [SL_SHA256_HEX];
    sl_sha256_hex ("job-1 blob", 10, sha);
    CHECK (sl_store_job_set_blob (store, "job-1", sha, "application/pdf") == 0);
    CHECK (sl_store_job_set_blob (store, "job-1", "not-a-sha", NULL) == SL_STORE_ERROR);
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_FETCH, SL_STORE_FINISHED, 2000) == 0);
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_PARSE, SL_STORE_STARTED, 2100) == 0);
    CHECK (sl_store_job_progress (store, "job-1", 150) == 0);
    CHECK (sl_store_job_get (store, "job-1", &job) == 0);
    CHECK (job.state == SL_STORE_PARSING && job.stage == SL_STORE_STAGE_PARSE);
    CHECK (job.started_ms [SL_STORE_STAGE_FETCH] == 1000);
    CHECK (job.finished_ms [SL_STORE_STAGE_FETCH] == 2000);
    CHECK (job.started_ms [SL_STORE_STAGE_PARSE] == 2100);
    CHECK (job.finished_ms [SL_STORE_STAGE_PARSE] == 0);
    CHECK (job.percent == 100);            //  clamped
    CHECK (strcmp (job.sha256, sha) == 0 && strcmp (job.mime, "application/pdf") == 0);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_progress (store, "job-1", 40) == 0);

    int attempts = 0;
    CHECK (sl_store_job_attempt (store, "job-1", &attempts) == 0 && attempts == 1);
    CHECK (sl_store_job_attempt (store, "job-1", &attempts) == 0 && attempts == 2);

    //  leases: one owner at a time until expiry
    CHECK (sl_store_job_lease (store, "job-1", "worker-a", 3000, 4000) == 0);
    CHECK (sl_store_job_lease (store, "job-1", "worker-a", 3100, 4100) == 0);  //  renew
    CHECK (sl_store_job_lease (store, "job-1", "worker-b", 3500, 5000) == SL_STORE_BUSY);
    CHECK (sl_store_job_lease (store, "job-1", "worker-b", 4200, 5000) == 0);  //  expired
    CHECK (sl_store_job_lease (store, "job-1", "worker-a", 4300, 5000) == SL_STORE_BUSY);
    CHECK (sl_store_job_get (store, "job-1", &job) == 0);
    CHECK (strcmp (job.lease_owner, "worker-b") == 0 && job.lease_until_ms == 5000);
    CHECK (job.percent == 40 && job.attempts == 2);
    sl_store_job_reset (&job);

    //  completion is terminal: stale redeliveries get SL_STORE_TERMINAL
    char doc_id [SL_STORE_ID];
    sl_store_document_id ("ws1", sha, doc_id);
    CHECK (sl_store_job_complete (store, "job-1", doc_id) == 0);
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_CHUNK, SL_STORE_STARTED, 9000)
            == SL_STORE_TERMINAL);
    CHECK (strstr (sl_store_errmsg (store), "completed"));
    CHECK (sl_store_job_stage (store, "job-1", SL_STORE_STAGE_PARSE, SL_STORE_FINISHED, 9000)
            == SL_STORE_TERMINAL);
    CHECK (sl_store_job_progress (store, "job-1", 10) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_fail (store, "job-1", SL_STORE_STAGE_PARSE, "late") == SL_STORE_TERMINAL);
    CHECK (sl_store_job_complete (store, "job-1", doc_id) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_attempt (store, "job-1", NULL) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_set_blob (store, "job-1", sha, NULL) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_lease (store, "job-1", "worker-c", 9000, 9999) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_get (store, "job-1", &job) == 0);
    CHECK (job.state == SL_STORE_COMPLETED && job.percent == 100);
    CHECK (strcmp (job.document_id, doc_id) == 0);
    CHECK (job.lease_owner == NULL && job.started_ms [SL_STORE_STAGE_CHUNK] == 0);
    CHECK (job.attempts == 2);
    sl_store_job_reset (&job);

    //  failure is terminal too, and records where and why
    CHECK (sl_store_job_create (store, "job-2", "ws1", "upload:report.pdf", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_fail (store, "job-2", SL_STORE_STAGE_PARSE, "not a PDF") == 0);
    CHECK (sl_store_job_stage (store, "job-2", SL_STORE_STAGE_FETCH, SL_STORE_STARTED, 1)
            == SL_STORE_TERMINAL);
    CHECK (sl_store_job_get (store, "job-2", &job) == 0);
    CHECK (job.state == SL_STORE_FAILED && job.error_stage == SL_STORE_STAGE_PARSE);
    CHECK (strcmp (job.error, "not a PDF") == 0);
    sl_store_job_reset (&job);

    //  unknown and invalid ids
    CHECK (sl_store_job_get (store, "job-none", &job) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_job_stage (store, "job-none", SL_STORE_STAGE_FETCH, SL_STORE_STARTED, 1)
            == SL_STORE_NOT_FOUND);
    CHECK (sl_store_job_progress (store, "job-none", 1) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_job_lease (store, "job-none", "a", 1, 2) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_job_create (store, "../etc", "ws1", "x", NULL, NULL, NULL) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "invalid job id"));
    CHECK (sl_store_job_create (store, "job-x", "bad ws", "x", NULL, NULL, NULL) == SL_STORE_ERROR);
    CHECK (sl_store_job_create (store, "job-x", "ws1", "", NULL, NULL, NULL) == SL_STORE_ERROR);
    CHECK (sl_store_job_stage (store, "job-2", (sl_store_stage_t) 9, SL_STORE_STARTED, 1)
            == SL_STORE_ERROR);

    //  listing, filtering and paging
    sl_store_job_t *jobs = NULL;
    int count = -1;
    CHECK (sl_store_job_list (store, "ws1", NULL, 10, 0, &jobs, &count) == 0 && count == 2);
    sl_store_jobs_free (&jobs, count);
    CHECK (jobs == NULL);
    CHECK (sl_store_job_list (store, "ws1", "failed", 10, 0, &jobs, &count) == 0 && count == 1);
    CHECK (strcmp (jobs [0].id, "job-2") == 0);
    sl_store_jobs_free (&jobs, count);
    CHECK (sl_store_job_list (store, "ws1", NULL, 1, 1, &jobs, &count) == 0 && count == 1);
    sl_store_jobs_free (&jobs, count);
    CHECK (sl_store_job_list (store, "ws1", "nonsense", 10, 0, &jobs, &count) == SL_STORE_ERROR);
    CHECK (sl_store_job_list (store, "ws2", NULL, 10, 0, &jobs, &count) == 0 && count == 0);
    CHECK (sl_store_job_list (store, "ws1", NULL, -1, 0, &jobs, &count) == SL_STORE_ERROR);
}

static void
s_test_unfinished (sl_store_t *store)
{
    //  job-3 was last touched at t=5000, job-4 now; completed/failed never
    CHECK (sl_store_job_create (store, "job-3", "ws1", "https://example.com/3", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_stage (store, "job-3", SL_STORE_STAGE_EMBED, SL_STORE_STARTED, 5000) == 0);
    CHECK (sl_store_job_create (store, "job-4", "ws1", "https://example.com/4", NULL, NULL, NULL) == 0);
    sl_store_job_t *jobs = NULL;
    int count = -1;
    CHECK (sl_store_jobs_unfinished (store, 6000, 10, &jobs, &count) == 0);
    CHECK (count == 1 && strcmp (jobs [0].id, "job-3") == 0);
    CHECK (jobs [0].state == SL_STORE_EMBEDDING);
    sl_store_jobs_free (&jobs, count);
    CHECK (sl_store_jobs_unfinished (store, 4000, 10, &jobs, &count) == 0 && count == 0);
    //  "wal-probe" (queued, created at open) is unfinished too
    CHECK (sl_store_jobs_unfinished (store, sl_now_ms () + 1000, 10, &jobs, &count) == 0);
    CHECK (count == 3 && strcmp (jobs [0].id, "job-3") == 0);
    for (int i = 0; i < count; i++)
        CHECK (strcmp (jobs [i].id, "job-1") != 0 && strcmp (jobs [i].id, "job-2") != 0);
    sl_store_jobs_free (&jobs, count);
    CHECK (sl_store_jobs_unfinished (store, sl_now_ms () + 1000, 1, &jobs, &count) == 0);
    CHECK (count == 1);
    sl_store_jobs_free (&jobs, count);
}

static void
s_test_documents (sl_store_t *store, const s_db_t *db)
{
    const char *url_a = "https://example.com/a";
    s_doc_t doc_a, doc_b, doc_bad;
    s_doc_make (&doc_a, "ws1", url_a, "alpha", 3);
    char id_a [SL_STORE_ID], id [SL_STORE_ID], expect [SL_STORE_ID];

    //  first commit
    CHECK (sl_store_document_find (store, "ws1", doc_a.sha, NULL) == SL_STORE_NOT_FOUND);
    CHECK (s_doc_commit (store, &doc_a, id_a) == 0);
    sl_store_document_id ("ws1", doc_a.sha, expect);
    CHECK (strcmp (id_a, expect) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 1);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks") == 3);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == 3);

    //  a query equal to a stored vector finds that chunk first
    sl_hit_t best;
    CHECK (s_top (store, "ws1", doc_a.vectors + 1 * T_DIM, &best) == 3);
    CHECK (strcmp (best.document_id, id_a) == 0 && best.ordinal == 1);
    CHECK (fabsf (best.score - 1.0f) < 1e-5f);
    CHECK (strcmp (best.text, "alpha 1") == 0 && strcmp (best.title, "alpha") == 0);
    CHECK (strcmp (best.source, url_a) == 0);
    sl_store_chunk_id (id_a, 1, expect);
    CHECK (strcmp (best.chunk_id, expect) == 0);
    sl_store_hits_reset (&best, 1);

    //  commit twice (redelivery) and re-ingest from another source: no-ops
    CHECK (s_doc_commit (store, &doc_a, id) == 0 && strcmp (id, id_a) == 0);
    s_doc_t mirror = doc_a;
    mirror.meta.source = "https://mirror.example.com/a";
    for (int i = 0; i < mirror.n; i++)
        mirror.chunks [i].text = mirror.texts [i];
    CHECK (s_doc_commit (store, &mirror, id) == 0 && strcmp (id, id_a) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 1);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks") == 3);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == 3);

    sl_store_doc_t doc;
    CHECK (sl_store_document_find (store, "ws1", doc_a.sha, &doc) == 0);
    CHECK (strcmp (doc.id, id_a) == 0 && strcmp (doc.source, url_a) == 0);
    sl_store_doc_reset (&doc);
    CHECK (sl_store_document_get (store, "ws1", id_a, &doc) == 0);
    CHECK (doc.chunks == 3 && doc.pages == 2 && doc.bytes == 1003);
    CHECK (strcmp (doc.model_id, T_MODEL) == 0 && strcmp (doc.state, "ready") == 0);
    CHECK (strcmp (doc.mime, "text/plain") == 0 && strcmp (doc.sha256, doc_a.sha) == 0);
    sl_store_doc_reset (&doc);
    char model [64];
    int dim = 0;
    CHECK (sl_store_workspace_model (store, "ws1", model, sizeof model, &dim) == 0);
    CHECK (strcmp (model, T_MODEL) == 0 && dim == T_DIM);

    //  chunks listing and paging; chunk hash defaults to sha256 of text
    sl_store_chunk_t *chunks = NULL;
    int count = 0;
    int64_t total = 0;
    CHECK (sl_store_chunks_list (store, "ws1", id_a, 10, 0, &chunks, &count, &total) == 0);
    CHECK (count == 3 && total == 3);
    for (int i = 0; i < 3; i++) {
        CHECK (chunks [i].ordinal == i && strcmp (chunks [i].text, doc_a.texts [i]) == 0);
        char hash [SL_SHA256_HEX];
        sl_sha256_hex (doc_a.texts [i], strlen (doc_a.texts [i]), hash);
        CHECK (strcmp (chunks [i].hash, hash) == 0);
        CHECK (chunks [i].char_start == i * 100 && chunks [i].tokens == 20);
    }
    sl_store_chunks_free (&chunks, count);
    CHECK (sl_store_chunks_list (store, "ws1", id_a, 2, 1, &chunks, &count, &total) == 0);
    CHECK (count == 2 && chunks [0].ordinal == 1 && chunks [1].ordinal == 2);
    sl_store_chunks_free (&chunks, count);

    //  same source, changed content: the source names the new document;
    //  the old one lives on while the mirror still names it
    s_doc_make (&doc_b, "ws1", url_a, "beta", 2);
    char id_b [SL_STORE_ID];
    sl_store_commit_t result;
    CHECK (s_doc_commit_r (store, &doc_b, &result) == 0);
    snprintf (id_b, sizeof id_b, "%s", result.document_id);
    CHECK (strcmp (id_b, id_a) != 0 && strcmp (result.replaced, id_a) == 0);
    CHECK (!*result.duplicate_of && !result.completed);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 2);
    CHECK (sl_store_document_get (store, "ws1", id_a, &doc) == 0);
    CHECK (strcmp (doc.source, mirror.meta.source) == 0);       //  its oldest source left
    sl_store_doc_reset (&doc);
    //  ... until the mirror changes too: the last source gone, so is it,
    //  atomically with its chunks and vectors
    s_doc_t mirror_b = doc_b;
    mirror_b.meta.source = mirror.meta.source;
    for (int i = 0; i < mirror_b.n; i++)
        mirror_b.chunks [i].text = mirror_b.texts [i];
    CHECK (s_doc_commit_r (store, &mirror_b, &result) == 0);
    CHECK (strcmp (result.document_id, id_b) == 0 && strcmp (result.replaced, id_a) == 0);
    CHECK (strcmp (result.duplicate_of, id_b) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 1);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks") == 2);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == 2);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id_a) == 0);
    CHECK (sl_store_document_get (store, "ws1", id_a, &doc) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_find (store, "ws1", doc_a.sha, NULL) == SL_STORE_NOT_FOUND);
    //  the index followed: old vectors never come back, not even as
    //  rows that would crowd a k = 1 search out
    int n = s_top (store, "ws1", doc_a.vectors + 1 * T_DIM, &best);
    CHECK (n == 2 && strcmp (best.document_id, id_b) == 0);
    sl_store_hits_reset (&best, 1);
    sl_hit_t one [1];
    CHECK (sl_store_search (store, "ws1", T_MODEL, doc_a.vectors + T_DIM, T_DIM, 1, one, &n) == 0);
    CHECK (n == 1 && strcmp (one [0].document_id, id_b) == 0);
    sl_store_hits_reset (one, n);
    CHECK (s_top (store, "ws1", doc_b.vectors, &best) == 2);
    CHECK (strcmp (best.document_id, id_b) == 0 && best.ordinal == 0);
    CHECK (fabsf (best.score - 1.0f) < 1e-5f);
    sl_store_hits_reset (&best, 1);

    //  a commit that fails half-way (duplicate ordinal) leaves nothing behind
    s_doc_make (&doc_bad, "ws1", url_a, "gamma", 2);
    doc_bad.chunks [1].ordinal = 0;
    CHECK (s_doc_commit (store, &doc_bad, id) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "UNIQUE"));
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 1);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id_b) == 2);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == 2);
    CHECK (s_top (store, "ws1", doc_b.vectors + T_DIM, &best) == 2);
    CHECK (strcmp (best.document_id, id_b) == 0 && best.ordinal == 1);
    sl_store_hits_reset (&best, 1);

    //  model and dimension are the workspace's
    s_doc_t doc_c;
    s_doc_make (&doc_c, "ws1", "https://example.com/c", "delta", 2);
    CHECK (sl_store_document_commit (store, &doc_c.meta, doc_c.chunks, 2, doc_c.vectors, T_DIM,
                                      "other-model", id) == SL_STORE_CONFLICT);
    CHECK (strstr (sl_store_errmsg (store), "other-model"));
    CHECK (sl_store_document_commit (store, &doc_c.meta, doc_c.chunks, 2, doc_c.vectors, 4,
                                      T_MODEL, id) == SL_STORE_CONFLICT);
    sl_hit_t hits [3];
    int n_hits = -1;
    CHECK (sl_store_search (store, "ws1", "other-model", doc_b.vectors, T_DIM, 3, hits, &n_hits)
            == SL_STORE_CONFLICT && n_hits == 0);
    CHECK (sl_store_search (store, "ws1", T_MODEL, doc_b.vectors, 4, 3, hits, &n_hits)
            == SL_STORE_CONFLICT);
    CHECK (sl_store_search (store, "nowhere", T_MODEL, doc_b.vectors, T_DIM, 3, hits, &n_hits)
            == SL_STORE_NOT_FOUND);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 1);

    //  invalid input is refused with a message
    s_doc_t doc_x = doc_c;
    doc_x.meta.sha256 = "zz";
    CHECK (s_doc_commit (store, &doc_x, id) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "sha256"));
}

static void
s_test_isolation (sl_store_t *store, const s_db_t *db)
{
    //  ws2 gets a document at the same URL as ws1's
    s_doc_t doc_w2;
    s_doc_make (&doc_w2, "ws2", "https://example.com/a", "epsilon", 3);
    char id_w2 [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc_w2, id_w2) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == 2);     //  ws1's survives

    sl_store_doc_t doc;
    CHECK (sl_store_document_get (store, "ws1", id_w2, &doc) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_get (store, "ws2", id_w2, &doc) == 0);
    sl_store_doc_reset (&doc);
    CHECK (sl_store_document_find (store, "ws1", doc_w2.sha, NULL) == SL_STORE_NOT_FOUND);

    sl_store_doc_t *docs = NULL;
    int count = 0;
    int64_t total = 0;
    CHECK (sl_store_document_list (store, "ws1", 10, 0, &docs, &count, &total) == 0);
    CHECK (count == 1 && total == 1 && strcmp (docs [0].id, id_w2) != 0);
    sl_store_docs_free (&docs, count);
    CHECK (sl_store_document_list (store, "ws2", 10, 0, &docs, &count, &total) == 0);
    CHECK (count == 1 && total == 1 && strcmp (docs [0].id, id_w2) == 0);
    CHECK (strcmp (docs [0].title, "epsilon") == 0 && docs [0].chunks == 3);
    sl_store_docs_free (&docs, count);

    sl_store_chunk_t *chunks = NULL;
    CHECK (sl_store_chunks_list (store, "ws1", id_w2, 10, 0, &chunks, &count, NULL)
            == SL_STORE_NOT_FOUND && chunks == NULL);

    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "ws1", id_w2, sha) == SL_STORE_NOT_FOUND);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id_w2) == 3);

    //  ws1 search never returns ws2's chunk, even for its exact vector
    sl_hit_t hits [10];
    int n = 0;
    CHECK (sl_store_search (store, "ws1", T_MODEL, doc_w2.vectors, T_DIM, 10, hits, &n) == 0);
    for (int i = 0; i < n; i++)
        CHECK (strcmp (hits [i].document_id, id_w2) != 0);
    sl_store_hits_reset (hits, n);
    sl_hit_t best;
    CHECK (s_top (store, "ws2", doc_w2.vectors + 2 * T_DIM, &best) == 3);
    CHECK (strcmp (best.document_id, id_w2) == 0 && best.ordinal == 2);
    sl_store_hits_reset (&best, 1);
}

static void
s_test_delete (sl_store_t *store, const s_db_t *db)
{
    sl_store_doc_t *docs = NULL;
    int count = 0;
    CHECK (sl_store_document_list (store, "ws1", 10, 0, &docs, &count, NULL) == 0 && count == 1);
    char id [SL_STORE_ID], sha_doc [SL_SHA256_HEX];
    snprintf (id, sizeof id, "%s", docs [0].id);
    snprintf (sha_doc, sizeof sha_doc, "%s", docs [0].sha256);
    sl_store_docs_free (&docs, count);

    CHECK (sl_store_blob_referenced (store, sha_doc) == 1);
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "ws1", id, sha) == 0);
    CHECK (strcmp (sha, sha_doc) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM documents WHERE id = '%s'", id) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors v LEFT JOIN chunks c "
                         "ON c.rid = v.chunk_rid WHERE c.rid IS NULL") == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks") == 3);       //  ws2's remain
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == 3);
    CHECK (sl_store_document_delete (store, "ws1", id, sha) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_blob_referenced (store, sha_doc) == 0);
    //  an unfinished job holding the blob keeps it referenced
    CHECK (sl_store_job_create (store, "job-blob", "ws1", "upload:b.txt", sha_doc, "text/plain",
                                 NULL) == 0);
    CHECK (sl_store_blob_referenced (store, sha_doc) == 1);
    CHECK (sl_store_job_fail (store, "job-blob", SL_STORE_STAGE_PARSE, "test") == 0);
    CHECK (sl_store_blob_referenced (store, sha_doc) == 0);
    CHECK (sl_store_blob_referenced (store, "nope") == SL_STORE_ERROR);

    //  the workspace is empty to search, but keeps its model
    sl_hit_t hits [3];
    int n = -1;
    float query [T_DIM] = { 1 };
    CHECK (sl_store_search (store, "ws1", T_MODEL, query, T_DIM, 3, hits, &n) == 0 && n == 0);
    char model [64];
    CHECK (sl_store_workspace_model (store, "ws1", model, sizeof model, NULL) == 0);
    CHECK (sl_store_workspace_model (store, "probe", model, sizeof model, NULL)
            == SL_STORE_NOT_FOUND);
}

//  Hits of a search in one mode (vector, lexical, hybrid), optionally
//  within one document; how many came from document doc_id
static int
s_hits_of (sl_store_t *store, const char *ws, const float *query, const char *text,
           sl_search_mode_t mode, const char *within, const char *doc_id, int *total)
{
    sl_hit_t hits [8];
    int n = -1;
    const char *docs [1] = { within };
    sl_search_t how = { .text = text, .mode = mode, .documents = within ? docs : NULL,
                        .n_documents = within ? 1 : 0 };
    CHECK (sl_store_search_text (store, ws, T_MODEL, query, T_DIM, &how, 8, hits, &n)
            == SL_STORE_OK);
    int of = 0;
    for (int i = 0; i < n; i++)
        of += strcmp (hits [i].document_id, doc_id) == 0;
    sl_store_hits_reset (hits, n);
    if (total)
        *total = n;
    return of;
}

//  Deletion in two steps: the tombstone hides the document from every
//  search at once (all modes, within documents too), shows it deleting,
//  is idempotent and scoped to its workspace; the purge then removes it
//  in bounded steps, its last step the row itself, and a repeat finds
//  nothing (the delete service's redelivery)
static void
s_test_tombstone (sl_store_t *store, const s_db_t *db)
{
    s_doc_t doomed, kept;
    s_doc_make (&doomed, "wsdel", "upload:doomed.txt", "doomed", 8);
    s_doc_make (&kept, "wsdel", "upload:kept.txt", "kept", 2);
    char id [SL_STORE_ID], kept_id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doomed, id) == 0);
    CHECK (s_doc_commit (store, &kept, kept_id) == 0);
    const float *query = doomed.vectors;
    sl_search_mode_t modes [] = { SL_SEARCH_VECTOR, SL_SEARCH_LEXICAL, SL_SEARCH_HYBRID };
    for (int m = 0; m < 3; m++)
        CHECK (s_hits_of (store, "wsdel", query, "doomed", modes [m], NULL, id, NULL) > 0);

    bool already = true;
    CHECK (sl_store_document_tombstone (store, "ws2", id, &already) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_tombstone (store, "wsdel", id, &already) == SL_STORE_OK && !already);
    CHECK (sl_store_document_tombstone (store, "wsdel", id, &already) == SL_STORE_OK && already);
    for (int m = 0; m < 3; m++) {
        int total = 0;
        CHECK (s_hits_of (store, "wsdel", query, "doomed", modes [m], NULL, id, NULL) == 0);
        CHECK (s_hits_of (store, "wsdel", query, "doomed", modes [m], id, id, &total) == 0);
        CHECK (total == 0);
    }
    CHECK (s_hits_of (store, "wsdel", kept.vectors, "kept", SL_SEARCH_HYBRID, NULL, kept_id, NULL) > 0);
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    CHECK (sl_store_document_get (store, "wsdel", id, &doc) == 0);
    CHECK (strcmp (doc.state, "deleting") == 0);
    sl_store_doc_reset (&doc);
    sl_store_doc_t *docs = NULL;
    int count = 0;
    int64_t total = 0;
    CHECK (sl_store_document_list (store, "wsdel", 10, 0, &docs, &count, &total) == 0);
    CHECK (count == 1 && total == 1 && strcmp (docs [0].id, kept_id) == 0);    //  the list hides it
    sl_store_docs_free (&docs, count);
    char *json = NULL;
    CHECK (sl_store_documents_deleting (store, 10, &json) == 0 && json && strstr (json, id));
    free (json);

    //  the same bytes ingested again meanwhile: the commit waits (BUSY,
    //  retried by the store stage) rather than name a document going away
    s_doc_t again;
    s_doc_make (&again, "wsdel", "upload:again.txt", "doomed", 8);
    char again_id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &again, again_id) == SL_STORE_BUSY);

    //  8 chunks and 4 pages, 3 rows of each a step: 3 steps of rows, then the row itself
    char sha [SL_SHA256_HEX];
    bool done = false;
    int steps = 0;
    while (!done && steps < 10) {
        CHECK (sl_store_document_purge (store, "wsdel", id, 3, sha, &done) == 0);
        steps++;
        if (!done)
            CHECK (s_countf (db, "SELECT COUNT(*) FROM documents WHERE id = '%s'", id) == 1);
    }
    CHECK (done && steps == 4);
    CHECK (strcmp (sha, doomed.sha) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM documents WHERE id = '%s'", id) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM pages WHERE document_id = '%s'", id) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors v LEFT JOIN chunks c "
                         "ON c.rid = v.chunk_rid WHERE c.rid IS NULL") == 0);
    CHECK (sl_store_document_purge (store, "wsdel", id, 3, sha, &done) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_tombstone (store, "wsdel", id, &already) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_documents_deleting (store, 10, &json) == 0 && json && !strstr (json, id));
    free (json);
    CHECK (sl_store_document_purge (store, "wsdel", id, 0, sha, &done) == SL_STORE_ERROR);
    //  once it is gone, the same bytes commit as a new document of that id
    CHECK (s_doc_commit (store, &again, again_id) == 0 && strcmp (again_id, id) == 0);
    CHECK (sl_store_document_delete (store, "wsdel", again_id, sha) == 0);
    //  the other document is whole and found
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", kept_id) == 2);
    CHECK (s_hits_of (store, "wsdel", kept.vectors, "kept", SL_SEARCH_VECTOR, NULL, kept_id, NULL) > 0);
    CHECK (sl_store_document_delete (store, "wsdel", kept_id, sha) == 0);
}

static void
s_test_cache (sl_store_t *store)
{
    const char *hashes [3] = { "h-one", "h-two", "h-three" };
    float vectors [3 * 4], out [3 * 4];
    for (int i = 0; i < 3; i++)
        sl_store_test_unit_vector (vectors + i * 4, 4);
    bool found [3];
    CHECK (sl_store_cache_put (store, "m1", hashes, 2, vectors, 4) == 0);
    CHECK (sl_store_cache_get (store, "m1", hashes, 3, 4, out, found) == 2);
    CHECK (found [0] && found [1] && !found [2]);
    CHECK (memcmp (out, vectors, 2 * 4 * sizeof (float)) == 0);
    //  existing entries are kept (INSERT OR IGNORE), new ones added
    float other [3 * 4];
    for (int i = 0; i < 3; i++)
        sl_store_test_unit_vector (other + i * 4, 4);
    CHECK (sl_store_cache_put (store, "m1", hashes, 3, other, 4) == 0);
    CHECK (sl_store_cache_get (store, "m1", hashes, 3, 4, out, found) == 3);
    CHECK (memcmp (out, vectors, 2 * 4 * sizeof (float)) == 0);
    CHECK (memcmp (out + 8, other + 8, 4 * sizeof (float)) == 0);
    //  keyed by model; another dimension is a miss
    CHECK (sl_store_cache_get (store, "m2", hashes, 3, 4, out, found) == 0 && !found [0]);
    float wide [3 * 8];
    CHECK (sl_store_cache_get (store, "m1", hashes, 3, 8, wide, found) == 0);
    CHECK (sl_store_cache_get (store, "m1", hashes, 0, 4, out, found) == 0);
    CHECK (sl_store_cache_put (store, "", hashes, 1, vectors, 4) == SL_STORE_ERROR);
}

static void
s_test_events (sl_store_t *store)
{
    int64_t seq = 0;
    for (int i = 1; i <= 3; i++) {
        CHECK (sl_store_event_append (store, "job-1", "stage", "{\"stage\":\"fetch\"}",
                                       1000 + i, &seq) == 0);
        CHECK (seq == i);
    }
    CHECK (sl_store_event_append (store, "job-2", "failed", NULL, 5, &seq) == 0 && seq == 1);
    sl_store_event_t *events = NULL;
    int count = 0;
    CHECK (sl_store_events_list (store, "job-1", 0, 100, &events, &count) == 0 && count == 3);
    for (int i = 0; i < 3; i++)
        CHECK (events [i].seq == i + 1 && events [i].ts == 1001 + i
                && strcmp (events [i].type, "stage") == 0);
    CHECK (strcmp (events [0].data, "{\"stage\":\"fetch\"}") == 0);
    sl_store_events_free (&events, count);
    CHECK (sl_store_events_list (store, "job-1", 1, 100, &events, &count) == 0 && count == 2);
    CHECK (events [0].seq == 2 && events [1].seq == 3);
    sl_store_events_free (&events, count);
    CHECK (sl_store_events_list (store, "job-1", 1, 1, &events, &count) == 0 && count == 1);
    CHECK (events [0].seq == 2);
    sl_store_events_free (&events, count);
    CHECK (sl_store_events_list (store, "job-1", 3, 10, &events, &count) == 0 && count == 0);
    CHECK (sl_store_events_list (store, "job-2", 0, 10, &events, &count) == 0 && count == 1);
    CHECK (events [0].data == NULL);
    sl_store_events_free (&events, count);
    CHECK (sl_store_event_append (store, "job-1", "", NULL, 1, NULL) == SL_STORE_ERROR);
}

#define T_THREADS 4
#define T_DOCS 25

typedef struct {
    sl_store_t *store;
    int thread;
    int failures;
    float probe [T_DIM];        //  first chunk vector of this thread's last doc
    char probe_doc [SL_STORE_ID];
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    s_rng += 0x9E3779B97F4A7C15ULL * (uint64_t) (w->thread + 1);
    for (int i = 0; i < T_DOCS; i++) {
        char job_id [32], source [64], tag [32];
        snprintf (job_id, sizeof job_id, "conc-%d-%d", w->thread, i);
        snprintf (source, sizeof source, "https://conc.example.com/%d/%d", w->thread, i);
        snprintf (tag, sizeof tag, "conc %d %d", w->thread, i);
        s_doc_t doc;
        s_doc_make (&doc, "conc", source, tag, 4);
        doc.meta.job_id = job_id;
        char id [SL_STORE_ID];
        int64_t seq;
        int rc = sl_store_job_create (w->store, job_id, "conc", source, NULL, NULL, NULL);
        rc = rc ? rc : sl_store_job_stage (w->store, job_id, SL_STORE_STAGE_STORE,
                                           SL_STORE_STARTED, sl_now_ms ());
        rc = rc ? rc : s_doc_commit (w->store, &doc, id);
        rc = rc ? rc : sl_store_event_append (w->store, "conc-shared", "doc", NULL, 0, &seq);
        //  the commit completed the job, in its transaction
        if (rc == 0 && sl_store_job_complete (w->store, job_id, id) != SL_STORE_TERMINAL)
            rc = -101;
        if (rc == 0 && i % 5 == 0) {
            sl_hit_t hits [3];
            int n = 0;
            rc = sl_store_search (w->store, "conc", T_MODEL, doc.vectors, T_DIM, 3, hits, &n);
            if (rc == 0 && (n < 1 || strcmp (hits [0].document_id, id) != 0))
                rc = -100;
            sl_store_hits_reset (hits, n);
        }
        if (rc != 0) {
            fprintf (stderr, "worker %d doc %d: rc %d: %s\n", w->thread, i, rc,
                     sl_store_errmsg (w->store));
            w->failures++;
        }
        memcpy (w->probe, doc.vectors, sizeof w->probe);
        snprintf (w->probe_doc, sizeof w->probe_doc, "%s", id);
    }
    return NULL;
}

static void
s_test_concurrent (sl_store_t *store, const s_db_t *db)
{
    s_worker_t workers [T_THREADS];
    pthread_t threads [T_THREADS];
    for (int t = 0; t < T_THREADS; t++) {
        workers [t] = (s_worker_t) { .store = store, .thread = t };
        CHECK (pthread_create (&threads [t], NULL, s_worker, &workers [t]) == 0);
    }
    for (int t = 0; t < T_THREADS; t++) {
        pthread_join (threads [t], NULL);
        CHECK (workers [t].failures == 0);
    }
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'conc'")
            == T_THREADS * T_DOCS);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
                         "WHERE d.workspace = 'conc'") == T_THREADS * T_DOCS * 4);
    CHECK (s_count (db, "SELECT COUNT(*) FROM jobs WHERE workspace = 'conc' "
                         "AND state = 'completed'") == T_THREADS * T_DOCS);
    //  one event log appended from 4 threads: 1..N without gaps or repeats
    sl_store_event_t *events = NULL;
    int count = 0;
    CHECK (sl_store_events_list (store, "conc-shared", 0, 1000, &events, &count) == 0);
    CHECK (count == T_THREADS * T_DOCS);
    for (int i = 0; i < count; i++)
        CHECK (events [i].seq == i + 1);
    sl_store_events_free (&events, count);
    //  the incrementally maintained index holds every document
    for (int t = 0; t < T_THREADS; t++) {
        sl_hit_t best;
        CHECK (s_top (store, "conc", workers [t].probe, &best) > 0);
        CHECK (strcmp (best.document_id, workers [t].probe_doc) == 0 && best.ordinal == 0);
        sl_store_hits_reset (&best, 1);
    }
}

//  A second handle on the same file stands in for another process: its
//  writes must reach this handle's index through the generation check
static void
s_test_two_handles (sl_store_t *store, const char *url)
{
    char err [256];
    sl_store_t *other = sl_store_open (url, err, sizeof err);
    CHECK (other);
    s_doc_t doc;
    s_doc_make (&doc, "ws2", "https://example.com/other", "zeta", 2);
    sl_hit_t best;
    CHECK (s_top (store, "ws2", doc.vectors, &best) == 3);     //  index loaded
    sl_store_hits_reset (&best, 1);
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (other, &doc, id) == 0);
    CHECK (s_top (store, "ws2", doc.vectors, &best) == 5);
    CHECK (strcmp (best.document_id, id) == 0 && best.ordinal == 0);
    sl_store_hits_reset (&best, 1);
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (other, "ws2", id, sha) == 0);
    CHECK (s_top (store, "ws2", doc.vectors, &best) == 3);
    CHECK (strcmp (best.document_id, id) != 0);
    sl_store_hits_reset (&best, 1);
    sl_hit_t one [1];
    int n = 0;
    CHECK (sl_store_search (store, "ws2", T_MODEL, doc.vectors, T_DIM, 1, one, &n) == 0);
    CHECK (n == 1 && strcmp (one [0].document_id, id) != 0);
    sl_store_hits_reset (one, n);
    sl_store_destroy (&other);
}

//  Top hit's key for query under (model, dim); -1 if none
static int64_t
s_top_key (sl_store_t *store, const char *workspace, const char *model, const float *query,
           int dim)
{
    sl_hit_t hits [3];
    int n = 0;
    CHECK (sl_store_search (store, workspace, model, query, dim, 3, hits, &n) == 0);
    int64_t key = n > 0 ? hits [0].key : -1;
    sl_store_hits_reset (hits, n);
    return key;
}

//  Re-embedding a workspace with another model (and dimension)
#define T_DIM_B 4
#define T_MODEL_B "test-model-b"
static void
s_test_reembed (sl_store_t *store, const char *url, const s_db_t *db)
{
    s_doc_t doc_a, doc_b;
    s_doc_make (&doc_a, "wsr", "https://example.com/ra", "rho", 3);
    s_doc_make (&doc_b, "wsr", "https://example.com/rb", "sigma", 2);
    char id_a [SL_STORE_ID], id_b [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc_a, id_a) == 0);
    CHECK (s_doc_commit (store, &doc_b, id_b) == 0);
    const char *in_wsr = "SELECT COUNT(*) FROM vectors v JOIN chunks c ON c.rid = v.chunk_rid "
                         "JOIN documents d ON d.id = c.document_id WHERE d.workspace = 'wsr'";
    char sql [512];
    int64_t vectors_all = s_count (db, "SELECT COUNT(*) FROM vectors");
    int64_t chunks_all = s_count (db, "SELECT COUNT(*) FROM chunks");

    //  Page through the chunks two at a time, in key order
    int64_t keys [8], page_keys [2];
    char *texts [8], *page_texts [2];
    int n = 0, count = 0;
    int64_t after = 0;
    do {
        CHECK (sl_store_workspace_chunks (store, "wsr", after, 2, page_keys, page_texts, &count)
                == 0);
        CHECK (count <= 2 && n + count <= 5);
        for (int i = 0; i < count; i++) {
            CHECK (page_keys [i] > after);
            after = keys [n] = page_keys [i];
            texts [n++] = page_texts [i];
        }
    } while (count == 2);
    CHECK (n == 5);
    int found = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            found += strcmp (texts [i], doc_a.texts [j]) == 0
                  || (j < 2 && strcmp (texts [i], doc_b.texts [j]) == 0);
    CHECK (found == 5);
    CHECK (sl_store_workspace_chunks (store, "nope-ws", 0, 2, page_keys, page_texts, &count)
            == SL_STORE_NOT_FOUND && count == 0);
    CHECK (sl_store_workspace_chunks (store, "wsr", 0, 0, page_keys, page_texts, &count)
            == SL_STORE_ERROR);

    //  Both handles have the old index loaded
    char err [256];
    sl_store_t *other = sl_store_open (url, err, sizeof err);
    CHECK (other);
    CHECK (s_top_key (store, "wsr", T_MODEL, doc_a.vectors, T_DIM) == keys [0]);
    CHECK (s_top_key (other, "wsr", T_MODEL, doc_a.vectors, T_DIM) == keys [0]);

    //  The re-embed puts its vectors in the embedding cache, by content hash
    float vectors [8 * T_DIM_B];
    char hash_buf [8][SL_SHA256_HEX];
    const char *hashes [8];
    for (int i = 0; i < n; i++) {
        sl_store_test_unit_vector (vectors + i * T_DIM_B, T_DIM_B);
        sl_sha256_hex (texts [i], strlen (texts [i]), hash_buf [i]);
        hashes [i] = hash_buf [i];
    }
    CHECK (sl_store_cache_put (store, T_MODEL_B, hashes, n - 1, vectors, T_DIM_B) == 0);

    //  Refused, changing nothing, while a chunk has no vector of the model
    //  (as when a document is committed during the re-embed)
    int64_t missing = 0;
    CHECK (sl_store_workspace_reembed (store, "wsr", T_MODEL_B, T_DIM_B, &missing)
            == SL_STORE_CONFLICT && missing == 1);
    CHECK (strstr (sl_store_errmsg (store), "1 chunk(s) of workspace wsr have no vector"));
    //  vectors of another dimension do not count
    CHECK (sl_store_workspace_reembed (store, "wsr", T_MODEL_B, T_DIM_B + 1, &missing)
            == SL_STORE_CONFLICT && missing == 5);
    CHECK (sl_store_workspace_reembed (store, "nope-ws", T_MODEL_B, T_DIM_B, NULL)
            == SL_STORE_NOT_FOUND);
    CHECK (sl_store_workspace_reembed (store, "wsr", T_MODEL_B, 0, NULL) == SL_STORE_ERROR);
    snprintf (sql, sizeof sql, "%s AND v.model_id = '%s' AND v.dim = %d", in_wsr, T_MODEL,
              T_DIM);
    CHECK (s_count (db, sql) == 5);
    CHECK (s_top_key (store, "wsr", T_MODEL, doc_a.vectors, T_DIM) == keys [0]);
    CHECK (sl_store_cache_put (store, T_MODEL_B, hashes + n - 1, 1, vectors + (n - 1) * T_DIM_B,
                                T_DIM_B) == 0);

    //  Accepted: the old model's queries are refused, the new one's find
    //  the new vectors, in this process and in the other
    CHECK (sl_store_workspace_reembed (store, "wsr", T_MODEL_B, T_DIM_B, &missing) == 0);
    CHECK (missing == 0);
    snprintf (sql, sizeof sql, "%s AND v.model_id = '%s' AND v.dim = %d", in_wsr, T_MODEL_B,
              T_DIM_B);
    CHECK (s_count (db, sql) == 5);
    CHECK (s_count (db, in_wsr) == 5);
    CHECK (s_count (db, "SELECT COUNT(*) FROM vectors") == vectors_all);
    CHECK (s_count (db, "SELECT COUNT(*) FROM chunks") == chunks_all);
    CHECK (s_count (db, "SELECT COUNT(*) FROM workspaces WHERE name = 'wsr' "
                         "AND model_id = '" T_MODEL_B "' AND dim = 4") == 1);
    char model [64];
    int dim = 0;
    CHECK (sl_store_workspace_model (store, "wsr", model, sizeof model, &dim) == 0);
    CHECK (strcmp (model, T_MODEL_B) == 0 && dim == T_DIM_B);
    sl_hit_t hits [2];
    int hit_count = 0;
    CHECK (sl_store_search (store, "wsr", T_MODEL, doc_a.vectors, T_DIM, 2, hits, &hit_count)
            == SL_STORE_CONFLICT);
    CHECK (sl_store_search (other, "wsr", T_MODEL, doc_a.vectors, T_DIM, 2, hits, &hit_count)
            == SL_STORE_CONFLICT);
    for (int i = 0; i < n; i++) {
        CHECK (s_top_key (store, "wsr", T_MODEL_B, vectors + i * T_DIM_B, T_DIM_B) == keys [i]);
        CHECK (s_top_key (other, "wsr", T_MODEL_B, vectors + i * T_DIM_B, T_DIM_B) == keys [i]);
    }

    //  Commits now take the new model only
    s_doc_t doc_c;
    s_doc_make (&doc_c, "wsr", "https://example.com/rc", "tau", 2);
    char id_c [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc_c, id_c) == SL_STORE_CONFLICT);
    float vectors_c [2 * T_DIM_B];
    sl_store_test_unit_vector (vectors_c, T_DIM_B);
    sl_store_test_unit_vector (vectors_c + T_DIM_B, T_DIM_B);
    CHECK (sl_store_document_commit (store, &doc_c.meta, doc_c.chunks, 2, vectors_c, T_DIM_B,
                                      T_MODEL_B, id_c) == 0);
    CHECK (s_count (db, in_wsr) == 7);
    CHECK (s_top_key (other, "wsr", T_MODEL_B, vectors_c + T_DIM_B, T_DIM_B) > keys [4]);

    //  A workspace with no chunks just changes model
    CHECK (sl_store_workspace_reembed (store, "probe", T_MODEL_B, T_DIM_B, NULL) == 0);
    CHECK (sl_store_workspace_model (store, "probe", model, sizeof model, &dim) == 0);
    CHECK (strcmp (model, T_MODEL_B) == 0 && dim == T_DIM_B);

    sl_store_texts_free (texts, n);
    sl_store_destroy (&other);
}

static void
s_test_stats (sl_store_t *store, const s_db_t *db)
{
    sl_store_stats_t stats;
    CHECK (sl_store_stats (store, &stats) == 0);
    CHECK (stats.documents == s_count (db, "SELECT COUNT(*) FROM documents"));
    CHECK (stats.chunks == s_count (db, "SELECT COUNT(*) FROM chunks"));
    CHECK (stats.vectors == s_count (db, "SELECT COUNT(*) FROM vectors"));
    CHECK (stats.cache_entries == 3 + 5);         //  + the re-embed's five
    CHECK (stats.jobs [SL_STORE_COMPLETED] == 1 + T_THREADS * T_DOCS);
    CHECK (stats.jobs [SL_STORE_FAILED] == 2);
    CHECK (stats.jobs [SL_STORE_EMBEDDING] == 1);
    CHECK (stats.jobs [SL_STORE_QUEUED] == 2);         //  job-4, wal-probe
    CHECK (stats.workspaces == s_count (db, "SELECT COUNT(*) FROM workspaces"));
}

#define streq(a, b) (strcmp ((a), (b)) == 0)

//  Query terms: what the lexical side of a search looks for
static void
s_test_terms (void)
{
    char t [SL_STORE_TERMS][SL_STORE_TERM_MAX];
    CHECK (sl_store_query_terms ("Figure 28: Example of envelope", t) == 4);
    CHECK (streq (t [0], "figure") && streq (t [1], "28") && streq (t [3], "envelope"));
    //  punctuation splits, one ASCII letter and duplicates go, UTF-8 stays
    CHECK (sl_store_query_terms ("XK-4471-qz, x CAFÉ—crème xk", t) == 5);
    CHECK (streq (t [2], "qz") && streq (t [3], "café") && streq (t [4], "crème"));
    //  only function words: they are the query; nothing at all: no terms
    CHECK (sl_store_query_terms ("The of", t) == 2 && streq (t [0], "the"));
    CHECK (sl_store_query_terms ("  ?! «» € → ≤ 😀 ", t) == 0);
    CHECK (sl_store_query_terms ("50€ or 3×40", t) == 2 && streq (t [0], "50") && streq (t [1], "40"));
    CHECK (sl_store_query_terms (NULL, t) == 0);
    //  hostile: query syntax of either backend is just words; a long word
    //  is dropped; a truncated UTF-8 sequence ends the text, no over-read
    CHECK (sl_store_query_terms ("\"quartz\" OR NEAR(x* 'y' & !z)", t) == 2);
    char longword [200];
    memset (longword, 'w', sizeof longword - 1);
    longword [sizeof longword - 1] = 0;
    CHECK (sl_store_query_terms (longword, t) == 0);
    CHECK (sl_store_query_terms ("ok \xe2", t) == 2);
    int many = sl_store_query_terms ("a1 a2 a3 a4 a5 a6 a7 a8 a9 b1 b2 b3 b4 b5 b6 b7 b8 b9 c1", t);
    CHECK (many == SL_STORE_TERMS);
    CHECK (sl_search_mode_parse ("lexical") == SL_SEARCH_LEXICAL);
    CHECK (sl_search_mode_parse ("hybrid") == SL_SEARCH_HYBRID);
    CHECK (sl_search_mode_parse ("Vector") == -1 && sl_search_mode_parse (NULL) == -1);
}

//  Search one query text; copies the hits' ordinals (by rank) into ords.
static int
s_lex_search (sl_store_t *store, const char *ws, const float *query, const char *text,
              sl_search_mode_t mode, int ords [8], int matches [8], float scores [8])
{
    sl_hit_t hits [8];
    int n = -1;
    sl_search_t how = { .text = text, .mode = mode };
    CHECK (sl_store_search_text (store, ws, T_MODEL, query, T_DIM, &how, 8, hits, &n)
            == SL_STORE_OK);
    for (int i = 0; i < n; i++) {
        ords [i] = hits [i].ordinal;
        matches [i] = hits [i].match;
        scores [i] = hits [i].score;
    }
    sl_store_hits_reset (hits, n);
    return n;
}

//  Pages: each document's pages are indexed from its chunks, and a chunk
//  whose page holds the rest of the query outranks an equal chunk whose
//  page does not; pages go with their document
static void
s_test_pages (sl_store_t *store, const s_db_t *db)
{
    //  chunks 0, 1 on page 1 and 2, 3 on page 2 (s_doc_make); chunks 0 and 2
    //  are the same words, but only page 2 also holds "glacier"
    static const char *texts [4] = {
        "copper lantern notes", "orchard saddle tulip",
        "copper lantern notes", "meadow violin glacier"
    };
    s_doc_t doc;
    s_doc_make (&doc, "wspages", "https://example.com/pages", "pages", 4);
    for (int i = 0; i < 4; i++)
        doc.chunks [i].text = texts [i];
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc, id) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM pages WHERE document_id = '%s'", id) == 2);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM pages WHERE document_id = '%s' AND page = 2 "
                         "AND text LIKE 'copper%%glacier'", id) == 1);
    int ords [8], matches [8];
    float scores [8];
    for (int q = 0; q < 4; q++) {
        //  whatever the query vector (the cosine breaks ties), page 2 wins
        int n = s_lex_search (store, "wspages", doc.vectors + q * T_DIM, "copper glacier",
                              SL_SEARCH_LEXICAL, ords, matches, scores);
        CHECK (n == 3);
        int rank0 = -1, rank2 = -1;
        for (int i = 0; i < n; i++) {
            rank0 = ords [i] == 0 ? i : rank0;
            rank2 = ords [i] == 2 ? i : rank2;
        }
        CHECK (rank0 >= 0 && rank2 >= 0 && rank2 < rank0);
    }
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "wspages", id, sha) == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM pages WHERE document_id = '%s'", id) == 0);
}

//  Structure: kind, section path, OCR confidence and embedding context
//  travel from commit to chunk list, hits and re-embedding; a section's
//  words find its chunks lexically though their text never says them
static void
s_test_structure (sl_store_t *store)
{
    s_doc_t doc;
    s_doc_make (&doc, "wsstruct", "https://example.com/manual", "manual", 3);
    doc.chunks [0].text = "| Interface | Address |\n| eth0 | 192.0.2.7 |";
    doc.chunks [0].kind = "table";
    doc.chunks [0].section = "Setup \xE2\x80\xBA Network configuration";
    doc.chunks [0].context = "Manual \xE2\x80\xBA Setup \xE2\x80\xBA Network configuration";
    doc.chunks [0].ocr = true;
    doc.chunks [0].ocr_confidence = 87;
    doc.chunks [1].text = "plain words, no section";
    doc.chunks [2].text = "Start the daemon and watch the log.";
    doc.chunks [2].section = "Usage";
    doc.chunks [2].ocr = true;
    doc.chunks [2].ocr_confidence = 0;              //  0 is a confidence, not "none"
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc, id) == 0);

    sl_store_chunk_t *chunks = NULL;
    int count = 0;
    CHECK (sl_store_chunks_list (store, "wsstruct", id, 10, 0, &chunks, &count, NULL) == SL_STORE_OK);
    CHECK (count == 3);
    CHECK (streq (chunks [0].kind, "table") && streq (chunks [0].section, doc.chunks [0].section));
    CHECK (chunks [0].ocr && chunks [0].ocr_confidence == 87);
    CHECK (streq (chunks [1].kind, "text") && streq (chunks [1].section, "") && !chunks [1].ocr);
    CHECK (streq (chunks [2].section, "Usage") && chunks [2].ocr && chunks [2].ocr_confidence == 0);
    sl_store_chunks_free (&chunks, count);

    //  "network configuration" is only in chunk 0's section path
    sl_hit_t hits [8];
    int n = -1;
    sl_search_t how = { .text = "network configuration", .mode = SL_SEARCH_LEXICAL };
    CHECK (sl_store_search_text (store, "wsstruct", T_MODEL, doc.vectors, T_DIM, &how, 8, hits, &n)
           == SL_STORE_OK);
    CHECK (n == 1 && hits [0].ordinal == 0);
    CHECK (streq (hits [0].kind, "table") && streq (hits [0].section, doc.chunks [0].section));
    CHECK (hits [0].ocr && hits [0].ocr_confidence == 87);
    CHECK (streq (hits [0].text, doc.chunks [0].text));     //  the text, not the context
    sl_store_hits_reset (hits, n);
    how = (sl_search_t) { .text = "plain", .mode = SL_SEARCH_LEXICAL };
    CHECK (sl_store_search_text (store, "wsstruct", T_MODEL, doc.vectors, T_DIM, &how, 8, hits, &n)
           == SL_STORE_OK);
    CHECK (n == 1 && streq (hits [0].kind, "text") && streq (hits [0].section, "") && !hits [0].ocr);
    sl_store_hits_reset (hits, n);

    //  re-embedding gets what was embedded: context, blank line, text
    int64_t keys [8];
    char *texts [8];
    CHECK (sl_store_workspace_chunks (store, "wsstruct", 0, 8, keys, texts, &count) == SL_STORE_OK);
    CHECK (count == 3);
    CHECK (streq (texts [0], "Manual \xE2\x80\xBA Setup \xE2\x80\xBA Network configuration\n\n"
                             "| Interface | Address |\n| eth0 | 192.0.2.7 |"));
    CHECK (streq (texts [1], "plain words, no section"));
    sl_store_texts_free (texts, count);
}

//  Chunking settings: a workspace's own, and what each document was cut
//  with, recorded beside its model
static void
s_test_chunking (sl_store_t *store)
{
    char json [1100] = "x";
    CHECK (sl_store_workspace_chunking (store, "wschunk", json, sizeof json) == SL_STORE_NOT_FOUND);
    //  setting them creates the workspace; none of its own reads as ""
    const char *mine = "{\"embed_context\":true,\"overlap_tokens\":10,\"target_tokens\":64}";
    CHECK (sl_store_workspace_set_chunking (store, "wschunk", mine) == SL_STORE_OK);
    CHECK (sl_store_workspace_chunking (store, "wschunk", json, sizeof json) == SL_STORE_OK);
    CHECK (strcmp (json, mine) == 0);
    CHECK (sl_store_workspace_chunking (store, "wschunk2", json, sizeof json) == SL_STORE_NOT_FOUND);
    //  a document records what it was cut with; another workspace's
    //  settings are its own
    s_doc_t doc;
    s_doc_make (&doc, "wschunk", "https://example.com/chunked", "chunked", 2);
    doc.meta.chunking = mine;
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc, id) == 0);
    sl_store_doc_t row;
    CHECK (sl_store_document_get (store, "wschunk", id, &row) == SL_STORE_OK);
    CHECK (row.chunking && strcmp (row.chunking, mine) == 0);
    CHECK (strcmp (row.model_id, T_MODEL) == 0);
    sl_store_doc_reset (&row);
    //  the workspace goes back to the server's settings; the document keeps its record
    CHECK (sl_store_workspace_set_chunking (store, "wschunk", NULL) == SL_STORE_OK);
    CHECK (sl_store_workspace_chunking (store, "wschunk", json, sizeof json) == SL_STORE_OK);
    CHECK (*json == 0);
    CHECK (sl_store_document_get (store, "wschunk", id, &row) == SL_STORE_OK);
    CHECK (row.chunking && strcmp (row.chunking, mine) == 0);
    sl_store_doc_reset (&row);
    //  a document committed without a record has none
    s_doc_t plain;
    s_doc_make (&plain, "wschunk", "https://example.com/plain", "plain", 1);
    CHECK (s_doc_commit (store, &plain, id) == 0);
    CHECK (sl_store_document_get (store, "wschunk", id, &row) == SL_STORE_OK);
    CHECK (row.chunking == NULL);
    sl_store_doc_reset (&row);
    //  refused: too long, bad workspace
    char big [1200];
    memset (big, 'a', sizeof big - 1);
    big [sizeof big - 1] = 0;
    CHECK (sl_store_workspace_set_chunking (store, "wschunk", big) == SL_STORE_ERROR);
    CHECK (sl_store_workspace_set_chunking (store, "bad workspace", mine) == SL_STORE_ERROR);
}

//  Hybrid search: exact words find what vectors miss, the fusion ranks a
//  chunk found by both first, every score stays the cosine
static void
s_test_lexical (sl_store_t *store, const s_db_t *db)
{
    s_test_terms ();
    static const char *texts [5] = {
        "The quartz harmonica sings at dawn",
        "Otters juggle pebbles; part number XK-4471-QZ",
        "Café crème brûlée, a recipe",
        "nothing to see here",
        "harmonica lessons for otters",
    };
    s_doc_t doc;
    s_doc_make (&doc, "wslex", "https://example.com/lex", "lexical", 5);
    for (int i = 0; i < 5; i++)
        doc.chunks [i].text = texts [i];
    char id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &doc, id) == 0);
    //  the same words in another workspace never show up here
    s_doc_t other;
    s_doc_make (&other, "wslex2", "https://example.com/lex", "lexical-2", 1);
    other.chunks [0].text = texts [0];
    char other_id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &other, other_id) == 0);

    const float *near3 = doc.vectors + 3 * T_DIM;      //  the vector side's favourite
    int ords [8], matches [8];
    float scores [8];
    //  vector: chunk 3 first, found by vectors only
    int n = s_lex_search (store, "wslex", near3, "quartz harmonica", SL_SEARCH_VECTOR,
                          ords, matches, scores);
    CHECK (n == 5 && ords [0] == 3 && matches [0] == SL_HIT_VECTOR);
    //  lexical: any of the words finds a chunk, the one holding both
    //  first; its score is its cosine
    n = s_lex_search (store, "wslex", near3, "Quartz HARMONICA", SL_SEARCH_LEXICAL,
                      ords, matches, scores);
    CHECK (n == 2 && ords [0] == 0 && ords [1] == 4 && matches [0] == SL_HIT_LEXICAL);
    float dot = 0;
    for (int i = 0; i < T_DIM; i++)
        dot += near3 [i] * doc.vectors [i];
    CHECK (fabsf (scores [0] - dot) < 1e-5f);
    //  hybrid: the chunk holding the whole query comes first; a chunk
    //  holding part of it ranks above every chunk holding none whose
    //  cosine is lower: word share and cosine add up
    n = s_lex_search (store, "wslex", near3, "quartz harmonica", SL_SEARCH_HYBRID,
                      ords, matches, scores);
    CHECK (n == 5 && ords [0] == 0 && matches [0] == (SL_HIT_VECTOR | SL_HIT_LEXICAL));
    int rank4 = 0;
    while (rank4 < n && ords [rank4] != 4)
        rank4++;
    CHECK (rank4 < n && matches [rank4] == (SL_HIT_VECTOR | SL_HIT_LEXICAL));
    for (int i = 1; i < n; i++)
        if (ords [i] != 4 && scores [i] < scores [rank4])
            CHECK (i > rank4 && matches [i] == SL_HIT_VECTOR);
    //  codes, accents, case
    CHECK (s_lex_search (store, "wslex", near3, "xk-4471-qz", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 1 && ords [0] == 1);
    CHECK (s_lex_search (store, "wslex", near3, "CRÈME brûlée",
                          SL_SEARCH_LEXICAL, ords, matches, scores) == 1 && ords [0] == 2);
    //  the chunk with every significant word first; function words do not
    //  count (else "the" would find chunk 0); "otters" stems to "otter"
    n = s_lex_search (store, "wslex", near3, "the harmonica of the otter",
                      SL_SEARCH_LEXICAL, ords, matches, scores);
    CHECK (n == 3 && ords [0] == 4);
    //  a word the document does not use still finds the chunk by the others
    n = s_lex_search (store, "wslex", near3, "harmonica lessons for beavers",
                      SL_SEARCH_LEXICAL, ords, matches, scores);
    CHECK (n == 2 && ords [0] == 4 && ords [1] == 0);
    //  stemming is the same at indexing and query: "juggling" finds "juggle"
    CHECK (s_lex_search (store, "wslex", near3, "juggling pebble",
                          SL_SEARCH_LEXICAL, ords, matches, scores) == 1 && ords [0] == 1);
    //  ranking: chunks of one length, so only the words decide. More of
    //  the query's words rank higher; of two words, the chunk holding the
    //  rarer ("moss", one chunk) beats those holding the common ("fern")
    {
        static const char *woods [4] = {
            "fern stone bark pine", "fern stone pine oak", "fern pine oak elm", "moss pine oak elm"
        };
        s_doc_t wood;
        s_doc_make (&wood, "wsrank", "https://example.com/wood", "wood", 4);
        for (int i = 0; i < 4; i++)
            wood.chunks [i].text = woods [i];
        char wood_id [SL_STORE_ID];
        CHECK (s_doc_commit (store, &wood, wood_id) == 0);
        n = s_lex_search (store, "wsrank", wood.vectors, "fern stone bark", SL_SEARCH_LEXICAL,
                          ords, matches, scores);
        CHECK (n == 3 && ords [0] == 0 && ords [1] == 1 && ords [2] == 2);
        n = s_lex_search (store, "wsrank", wood.vectors, "fern moss", SL_SEARCH_LEXICAL,
                          ords, matches, scores);
        CHECK (n == 4 && ords [0] == 3);
        char wood_sha [SL_SHA256_HEX];
        CHECK (sl_store_document_delete (store, "wsrank", wood_id, wood_sha) == 0);
    }
    //  proximity: of two chunks with the same words, the one where they
    //  stand together ranks first, whichever comes first in the query;
    //  section: a word of the text counts more than one of the section
    //  path alone (each chunk on a page of its own, so pages do not tell)
    {
        static const char *near [4] = {
            "amber kettle lamp moss oak pine reed sage", "amber lamp moss oak pine reed sage kettle",
            "drum flute", "drum flute"
        };
        s_doc_t prox;
        s_doc_make (&prox, "wsnear", "https://example.com/near", "near", 4);
        for (int i = 0; i < 4; i++) {
            prox.chunks [i].text = near [i];
            prox.chunks [i].page_start = prox.chunks [i].page_end = i + 1;
        }
        prox.chunks [2].section = "Harpsichord";
        prox.chunks [3].text = "drum flute harpsichord";
        prox.chunks [3].section = "Tuning";
        char prox_id [SL_STORE_ID];
        CHECK (s_doc_commit (store, &prox, prox_id) == 0);
        for (int q = 0; q < 4; q++) {
            n = s_lex_search (store, "wsnear", prox.vectors + q * T_DIM, "amber kettle",
                              SL_SEARCH_LEXICAL, ords, matches, scores);
            CHECK (n == 2 && ords [0] == 0);
            n = s_lex_search (store, "wsnear", prox.vectors + q * T_DIM, "kettle amber",
                              SL_SEARCH_LEXICAL, ords, matches, scores);
            CHECK (n == 2 && ords [0] == 0);
            n = s_lex_search (store, "wsnear", prox.vectors + q * T_DIM, "harpsichord",
                              SL_SEARCH_LEXICAL, ords, matches, scores);
            CHECK (n == 2 && ords [0] == 3 && ords [1] == 2);
        }
        char prox_sha [SL_SHA256_HEX];
        CHECK (sl_store_document_delete (store, "wsnear", prox_id, prox_sha) == 0);
    }
    //  exact forms: the stem finds "declaration" for "declarative", and
    //  BM25 prefers the chunk saying it twice; the
    //  chunk holding the word as asked comes first all the same (each
    //  chunk on a page of its own, so pages do not tell)
    {
        static const char *forms [3] = {
            "the declaration of a type goes in the declaration part of the unit",
            "a declarative style of writing rules for the parser and the unit",
            "nothing of interest here at all"
        };
        s_doc_t ex;
        s_doc_make (&ex, "wsexact", "https://example.com/exact", "exact", 3);
        for (int i = 0; i < 3; i++) {
            ex.chunks [i].text = forms [i];
            ex.chunks [i].page_start = ex.chunks [i].page_end = i + 1;
        }
        char ex_id [SL_STORE_ID];
        CHECK (s_doc_commit (store, &ex, ex_id) == 0);
        n = s_lex_search (store, "wsexact", ex.vectors, "Declarative", SL_SEARCH_LEXICAL, ords, matches, scores);
        CHECK (n == 2 && ords [0] == 1 && ords [1] == 0);
        n = s_lex_search (store, "wsexact", ex.vectors, "declaration", SL_SEARCH_LEXICAL, ords, matches, scores);
        CHECK (n == 2 && ords [0] == 0);
        char ex_sha [SL_SHA256_HEX];
        CHECK (sl_store_document_delete (store, "wsexact", ex_id, ex_sha) == 0);
    }
    //  case: a capital the text has finds the small letter a query has, and
    //  the other way round, in ASCII and Latin-1 on both backends
    {
        s_doc_t fold;
        s_doc_make (&fold, "wsfold", "https://example.com/fold", "fold", 2);
        fold.chunks [0].text = "\xC3\x89" "COLE \xC3\x9C" "BER Zebra";
        fold.chunks [1].text = "\xC3\xA9" "cole \xC3\xBC" "ber zebra";
        char fold_id [SL_STORE_ID];
        CHECK (s_doc_commit (store, &fold, fold_id) == 0);
        CHECK (s_lex_search (store, "wsfold", fold.vectors, "\xC3\xA9" "cole", SL_SEARCH_LEXICAL,
                             ords, matches, scores) == 2);
        CHECK (s_lex_search (store, "wsfold", fold.vectors, "\xC3\x9C" "BER", SL_SEARCH_LEXICAL,
                             ords, matches, scores) == 2);
        CHECK (s_lex_search (store, "wsfold", fold.vectors, "ZEBRA", SL_SEARCH_LEXICAL,
                             ords, matches, scores) == 2);
        char fold_sha [SL_SHA256_HEX];
        CHECK (sl_store_document_delete (store, "wsfold", fold_id, fold_sha) == 0);
    }
    CHECK (s_lex_search (store, "wslex", near3, "harmonica", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 2);
    //  function words alone: lexical mode looks them up, hybrid leaves
    //  them to the vectors
    CHECK (s_lex_search (store, "wslex", near3, "The", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 1 && ords [0] == 0);
    n = s_lex_search (store, "wslex", near3, "the", SL_SEARCH_HYBRID, ords, matches, scores);
    CHECK (n == 5 && matches [0] == SL_HIT_VECTOR && matches [4] == SL_HIT_VECTOR);
    //  query syntax is words, not operators: no error; "near" matches
    //  nothing, "quartz" and "dawn" find chunk 0 as words
    CHECK (s_lex_search (store, "wslex", near3, "\"quartz\" OR NEAR(dawn* & !x)",
                          SL_SEARCH_LEXICAL, ords, matches, scores) == 1 && ords [0] == 0);
    CHECK (s_lex_search (store, "wslex", near3, "NEAR AND",
                          SL_SEARCH_LEXICAL, ords, matches, scores) == 0);
    CHECK (s_lex_search (store, "wslex", near3, "?!", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 0);
    //  within documents: a second document holding the same words, and
    //  each mode kept to the documents asked for
    s_doc_t twin;
    s_doc_make (&twin, "wslex", "https://example.com/twin", "twin", 2);
    twin.chunks [0].text = "another quartz harmonica, far away";
    twin.chunks [1].text = "plain words";
    char twin_id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &twin, twin_id) == 0);
    CHECK (s_lex_search (store, "wslex", near3, "quartz harmonica", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 3);
    const char *only_twin [1] = { twin_id };
    const char *both_docs [2] = { id, twin_id };
    const char *foreign [2] = { other_id, "no-such-doc" };
    for (int mode = SL_SEARCH_HYBRID; mode <= SL_SEARCH_LEXICAL; mode++) {
        sl_hit_t hits [8];
        int got = 0;
        sl_search_t how = { .text = "quartz harmonica", .mode = (sl_search_mode_t) mode,
                            .documents = only_twin, .n_documents = 1 };
        CHECK (sl_store_search_text (store, "wslex", T_MODEL, near3, T_DIM, &how, 8, hits, &got)
                == SL_STORE_OK);
        CHECK (got == (mode == SL_SEARCH_LEXICAL ? 1 : 2));
        for (int i = 0; i < got; i++)
            CHECK (streq (hits [i].document_id, twin_id));
        CHECK (mode == SL_SEARCH_VECTOR || (hits [0].ordinal == 0 && (hits [0].match & SL_HIT_LEXICAL)));
        sl_store_hits_reset (hits, got);
        //  both documents: all seven chunks; another workspace's or no
        //  document: nothing (ids are looked up in this workspace only)
        how.documents = both_docs;
        how.n_documents = 2;
        CHECK (sl_store_search_text (store, "wslex", T_MODEL, near3, T_DIM, &how, 8, hits, &got)
                == SL_STORE_OK && got == (mode == SL_SEARCH_LEXICAL ? 3 : 7));
        sl_store_hits_reset (hits, got);
        how.documents = foreign;
        CHECK (sl_store_search_text (store, "wslex", T_MODEL, near3, T_DIM, &how, 8, hits, &got)
                == SL_STORE_OK && got == 0);
        //  refused: a bad id, too many
        const char *bad [1] = { "bad id!" };
        how.documents = bad;
        how.n_documents = 1;
        CHECK (sl_store_search_text (store, "wslex", T_MODEL, near3, T_DIM, &how, 8, hits, &got)
                == SL_STORE_ERROR);
        how.n_documents = SL_STORE_SEARCH_DOCS + 1;
        CHECK (sl_store_search_text (store, "wslex", T_MODEL, near3, T_DIM, &how, 8, hits, &got)
                == SL_STORE_ERROR);
    }
    char twin_sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "wslex", twin_id, twin_sha) == 0);

    //  a deleted document's words go with it
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "wslex", id, sha) == 0);
    CHECK (s_lex_search (store, "wslex", near3, "harmonica", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 0);
    CHECK (s_lex_search (store, "wslex2", other.vectors, "harmonica", SL_SEARCH_LEXICAL,
                          ords, matches, scores) == 1);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", id) == 0);
}

//  A document of n generated chunks ("<tag> <i>"), read in batches: how a
//  big document reaches the store. fail_at >= 0: the read of that chunk
//  fails, as a truncated artifact would
typedef struct {
    const char *tag;
    int n;
    int next;
    int fail_at;
    int calls;
    int max_asked;
    char texts [SL_STORE_BATCH][48];
    float first [T_DIM];        //  chunk 0's vector
    float last [T_DIM];         //  chunk n - 1's
} s_gen_t;

static int
s_gen_read (void *arg, sl_chunk_row_t *rows, float *vectors, int max, char *err, size_t errlen)
{
    s_gen_t *g = arg;
    g->calls++;
    g->max_asked = max > g->max_asked ? max : g->max_asked;
    int count = 0;
    for (; count < max && g->next < g->n; count++, g->next++) {
        if (g->next == g->fail_at) {
            snprintf (err, errlen, "chunk %d is unreadable", g->next);
            return -1;
        }
        snprintf (g->texts [count], sizeof g->texts [count], "%s %d", g->tag, g->next);
        rows [count] = (sl_chunk_row_t) { .ordinal = g->next, .page_start = 1, .page_end = 1,
                                          .tokens = 3, .text = g->texts [count] };
        float *v = vectors + (size_t) count * T_DIM;
        sl_store_test_unit_vector (v, T_DIM);
        if (g->next == 0)
            memcpy (g->first, v, sizeof g->first);
        if (g->next == g->n - 1)
            memcpy (g->last, v, sizeof g->last);
    }
    return count;
}

//  Document identity (sl_store.c): sources, replacement, duplicates, and
//  the job completed in the commit's transaction
static void
s_test_identity (sl_store_t *store, const s_db_t *db)
{
    const char *ws = "wsid";
    char source_a [SL_STORE_SOURCE], source_b [SL_STORE_SOURCE], err [256];
    CHECK (sl_store_source_name (NULL, "d/a/n.txt", 9, "job-x", source_a, sizeof source_a,
                                  err, sizeof err) == 0);
    CHECK (sl_store_source_name (NULL, "./d//b/n.txt", 12, "job-x", source_b, sizeof source_b,
                                  err, sizeof err) == 0);
    CHECK (strcmp (source_a, "upload:d/a/n.txt") == 0);
    CHECK (strcmp (source_b, "upload:d/b/n.txt") == 0);

    //  Different sources, same file name in two folders: two documents
    s_doc_t a, b;
    s_doc_make (&a, ws, source_a, "alpha", 2);
    s_doc_make (&b, ws, source_b, "beta", 2);
    sl_store_commit_t ra, rb, result;
    CHECK (s_doc_commit_r (store, &a, &ra) == 0 && !*ra.replaced && !*ra.duplicate_of);
    CHECK (s_doc_commit_r (store, &b, &rb) == 0 && !*rb.replaced && !*rb.duplicate_of);
    CHECK (strcmp (ra.document_id, rb.document_id) != 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'wsid'") == 2);

    //  A re-sync with a/n.txt changed, as job id-1: exactly that one is
    //  replaced, reported in the result and on the job row; b untouched
    CHECK (sl_store_job_create (store, "id-1", ws, source_a, NULL, NULL, NULL) == 0);
    s_doc_t a2;
    s_doc_make (&a2, ws, source_a, "alpha two", 3);
    a2.meta.job_id = "id-1";
    CHECK (s_doc_commit_r (store, &a2, &result) == 0);
    CHECK (strcmp (result.replaced, ra.document_id) == 0 && !*result.duplicate_of);
    CHECK (result.completed);
    sl_store_job_t job;
    CHECK (sl_store_job_get (store, "id-1", &job) == 0);
    CHECK (job.state == SL_STORE_COMPLETED && job.percent == 100);
    CHECK (strcmp (job.document_id, result.document_id) == 0);
    CHECK (strcmp (job.replaced, ra.document_id) == 0 && !*job.duplicate_of);
    CHECK (job.finished_ms [SL_STORE_STAGE_STORE] > 0);
    sl_store_job_reset (&job);
    sl_store_doc_t doc;
    CHECK (sl_store_document_get (store, ws, ra.document_id, &doc) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_get (store, ws, rb.document_id, &doc) == 0);
    CHECK (strcmp (doc.source, source_b) == 0);
    sl_store_doc_reset (&doc);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'wsid'") == 2);
    //  its redelivery is TERMINAL, writes nothing, and names the document
    char a2_id [SL_STORE_ID];
    snprintf (a2_id, sizeof a2_id, "%s", result.document_id);
    CHECK (s_doc_commit_r (store, &a2, &result) == SL_STORE_TERMINAL);
    CHECK (strcmp (result.document_id, a2_id) == 0 && !result.completed);

    //  Unnamed uploads: a source of their own each, never a named one's
    char unnamed_1 [SL_STORE_SOURCE], unnamed_2 [SL_STORE_SOURCE], named [SL_STORE_SOURCE];
    CHECK (sl_store_source_name (NULL, NULL, 0, "up-1", unnamed_1, sizeof unnamed_1, err,
                                  sizeof err) == 0);
    CHECK (sl_store_source_name ("", "", 0, "up-2", unnamed_2, sizeof unnamed_2, err,
                                  sizeof err) == 0);
    CHECK (sl_store_source_name (NULL, "up-1", 4, "up-3", named, sizeof named, err,
                                  sizeof err) == 0);
    CHECK (strcmp (unnamed_1, "upload:/up-1") == 0 && strcmp (unnamed_2, "upload:/up-2") == 0);
    CHECK (strcmp (named, "upload:up-1") == 0);
    s_doc_t u1, u2, u3;
    s_doc_make (&u1, ws, unnamed_1, "first paste", 1);
    s_doc_make (&u2, ws, unnamed_2, "second paste", 1);
    s_doc_make (&u3, ws, named, "a file called up-1", 1);
    CHECK (s_doc_commit_r (store, &u1, &result) == 0 && !*result.replaced);
    CHECK (s_doc_commit_r (store, &u2, &result) == 0 && !*result.replaced);
    CHECK (s_doc_commit_r (store, &u3, &result) == 0 && !*result.replaced);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'wsid'") == 5);
    //  the same bytes uploaded unnamed again: one document, both sources
    //  name it, and the outcome says so
    char unnamed_4 [SL_STORE_SOURCE];
    CHECK (sl_store_source_name (NULL, NULL, 0, "up-4", unnamed_4, sizeof unnamed_4, err,
                                  sizeof err) == 0);
    s_doc_t u4 = u1;
    u4.meta.source = unnamed_4;
    for (int i = 0; i < u4.n; i++)
        u4.chunks [i].text = u4.texts [i];
    char u1_id [SL_STORE_ID];
    sl_store_document_id (ws, u1.sha, u1_id);
    CHECK (s_doc_commit_r (store, &u4, &result) == 0);
    CHECK (strcmp (result.document_id, u1_id) == 0 && strcmp (result.duplicate_of, u1_id) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'wsid'") == 5);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM document_sources WHERE document_id = '%s'",
                      u1_id) == 2);
    //  the fetch stage's short-cut links without chunks: same outcome
    s_doc_t link = u1;
    link.meta.source = "https://example.com/same-paste";
    CHECK (sl_store_document_link (store, &link.meta, &result) == 0);
    CHECK (strcmp (result.duplicate_of, u1_id) == 0 && !*result.replaced);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM document_sources WHERE document_id = '%s'",
                      u1_id) == 3);
    s_doc_t gone;
    s_doc_make (&gone, ws, "https://example.com/gone", "never stored", 1);
    CHECK (sl_store_document_link (store, &gone.meta, &result) == SL_STORE_NOT_FOUND);

    //  Failed, then the original copy commits after all: completed, with
    //  its document; a stale failure cannot move it back
    CHECK (sl_store_job_create (store, "id-late", ws, "upload:late.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_fail (store, "id-late", SL_STORE_STAGE_EMBED, "abandoned") == 0);
    s_doc_t late;
    s_doc_make (&late, ws, "upload:late.txt", "late but fine", 2);
    late.meta.job_id = "id-late";
    CHECK (s_doc_commit_r (store, &late, &result) == 0 && result.completed);
    CHECK (sl_store_job_get (store, "id-late", &job) == 0);
    CHECK (job.state == SL_STORE_COMPLETED && strcmp (job.document_id, result.document_id) == 0);
    CHECK (!job.error && job.error_stage == SL_STORE_STAGE_NONE);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_fail (store, "id-late", SL_STORE_STAGE_EMBED, "dead letter")
            == SL_STORE_TERMINAL);
    CHECK (s_doc_commit_r (store, &late, &result) == SL_STORE_TERMINAL);

    //  An older version never overwrites a newer one: job id-old was
    //  accepted first, id-new's commit came first
    CHECK (sl_store_job_create (store, "id-old", ws, source_b, NULL, NULL, NULL) == 0);
    usleep (3000);
    CHECK (sl_store_job_create (store, "id-new", ws, source_b, NULL, NULL, NULL) == 0);
    s_doc_t b_new, b_old;
    s_doc_make (&b_new, ws, source_b, "beta newest", 2);
    s_doc_make (&b_old, ws, source_b, "beta older", 2);
    b_new.meta.job_id = "id-new";
    b_old.meta.job_id = "id-old";
    CHECK (s_doc_commit_r (store, &b_new, &result) == 0);
    CHECK (strcmp (result.replaced, rb.document_id) == 0);
    char b_new_id [SL_STORE_ID];
    snprintf (b_new_id, sizeof b_new_id, "%s", result.document_id);
    int64_t docs_before = s_count (db, "SELECT COUNT(*) FROM documents");
    CHECK (s_doc_commit_r (store, &b_old, &result) == SL_STORE_SUPERSEDED);
    CHECK (strcmp (result.superseded_by, "id-new") == 0 && !*result.document_id);
    CHECK (strstr (sl_store_errmsg (store), "superseded"));
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents") == docs_before);
    CHECK (sl_store_document_get (store, ws, b_new_id, &doc) == 0);
    sl_store_doc_reset (&doc);
    CHECK (sl_store_job_get (store, "id-old", &job) == 0 && job.state == SL_STORE_QUEUED);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_fail (store, "id-old", SL_STORE_STAGE_STORE, "superseded") == 0);

    //  A big document goes in batches, one transaction: all or nothing
    s_gen_t *gen = calloc (1, sizeof *gen);
    CHECK (gen);
    *gen = (s_gen_t) { .tag = "bulk", .n = 2 * SL_STORE_BATCH + 88, .fail_at = -1 };
    char bulk_sha [SL_SHA256_HEX];
    sl_sha256_hex ("bulk", 4, bulk_sha);
    sl_doc_meta_t bulk = { .workspace = ws, .source = source_a, .sha256 = bulk_sha, .pages = 1 };
    gen->fail_at = SL_STORE_BATCH + 5;
    CHECK (sl_store_document_commit_stream (store, &bulk, gen->n, T_DIM, T_MODEL, s_gen_read,
                                             gen, &result) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "unreadable") && !*result.document_id);
    char bulk_id [SL_STORE_ID];
    sl_store_document_id (ws, bulk_sha, bulk_id);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", bulk_id) == 0);
    CHECK (sl_store_document_get (store, ws, a2_id, &doc) == 0);    //  still what a names
    sl_store_doc_reset (&doc);
    //  the reader ends early: refused, nothing written
    gen->next = 0;
    gen->fail_at = -1;
    CHECK (sl_store_document_commit_stream (store, &bulk, gen->n + 1, T_DIM, T_MODEL,
                                             s_gen_read, gen, &result) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "expected"));
    gen->next = gen->calls = gen->max_asked = 0;
    sl_hit_t best;
    CHECK (s_top (store, ws, a.vectors, &best) > 0);       //  the index is loaded
    sl_store_hits_reset (&best, 1);
    CHECK (sl_store_document_commit_stream (store, &bulk, gen->n, T_DIM, T_MODEL, s_gen_read,
                                             gen, &result) == 0);
    CHECK (strcmp (result.document_id, bulk_id) == 0 && strcmp (result.replaced, a2_id) == 0);
    CHECK (gen->calls == 3 && gen->max_asked == SL_STORE_BATCH);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", bulk_id)
            == gen->n);
    //  the loaded index followed, first batch to last
    CHECK (s_top (store, ws, gen->first, &best) > 0);
    CHECK (strcmp (best.document_id, bulk_id) == 0 && best.ordinal == 0);
    sl_store_hits_reset (&best, 1);
    CHECK (s_top (store, ws, gen->last, &best) > 0);
    CHECK (strcmp (best.document_id, bulk_id) == 0 && best.ordinal == gen->n - 1);
    sl_store_hits_reset (&best, 1);
    free (gen);

    //  What a filename may be
    const char *refused [] = { "../x", "a/../../b", "a/..", "", "./", "/", "a\x01" "b",
                               "bad\xff" "utf8", "\xc0\xaf", "\xed\xa0\x80", "tab\tname",
                               "c1\xc2\x85" "name", NULL };
    for (int i = 0; refused [i]; i++) {
        size_t len = strlen (refused [i]);
        int rc = sl_store_source_name (NULL, refused [i], len ? len : 2, "job-z", named,
                                       sizeof named, err, sizeof err);
        CHECK (rc == -1 && *err && *named == 0);
    }
    CHECK (sl_store_source_name (NULL, "a\0b", 3, "job-z", named, sizeof named, err,
                                  sizeof err) == -1);
    char long_name [SL_STORE_FILENAME_MAX + 2];
    memset (long_name, 'x', sizeof long_name);
    CHECK (sl_store_source_name (NULL, long_name, SL_STORE_FILENAME_MAX + 1, "job-z", named,
                                  sizeof named, err, sizeof err) == -1);
    CHECK (strstr (err, "too long"));
    CHECK (sl_store_source_name (NULL, long_name, SL_STORE_FILENAME_MAX, "job-z", named,
                                  sizeof named, err, sizeof err) == 0);
    const char *unicode = "/Ünïcödé/ 日本語.txt/";
    CHECK (sl_store_source_name (NULL, unicode, strlen (unicode), "job-z", named, sizeof named,
                                  err, sizeof err) == 0);
    CHECK (strcmp (named, "upload:Ünïcödé/ 日本語.txt") == 0);
    CHECK (sl_store_source_name (NULL, "..a/b..", 7, "job-z", named, sizeof named, err,
                                  sizeof err) == 0 && strcmp (named, "upload:..a/b..") == 0);
    CHECK (sl_store_source_name ("https://example.com/x", "ignored", 7, "job-z", named,
                                  sizeof named, err, sizeof err) == 0);
    CHECK (strcmp (named, "https://example.com/x") == 0);
    CHECK (sl_store_source_name (NULL, NULL, 0, "bad id", named, sizeof named, err,
                                  sizeof err) == -1);
}

//  Housekeeping: leases, a workspace's bytes, the cache's size and bounds.
//  Runs last: it evicts the whole embedding cache.
static void
s_test_housekeeping (sl_store_t *store, const s_db_t *db)
{
    //  Leases: one holder at a time, renewable, taken over once expired
    int64_t now = sl_now_ms ();
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now, now + 1000) == SL_STORE_OK);
    CHECK (sl_store_lease (store, "janitor", "host-b:2", now, now + 1000) == SL_STORE_BUSY);
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now + 500, now + 1500) == SL_STORE_OK);
    CHECK (sl_store_lease (store, "janitor", "host-b:2", now + 1400, now + 2400) == SL_STORE_BUSY);
    CHECK (sl_store_lease (store, "janitor", "host-b:2", now + 1501, now + 2500) == SL_STORE_OK);
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now + 1600, now + 2600) == SL_STORE_BUSY);
    CHECK (sl_store_lease (store, "other-duty", "host-a:1", now, now + 1000) == SL_STORE_OK);
    //  only the holder can give it back
    CHECK (sl_store_lease_release (store, "janitor", "host-a:1") == SL_STORE_OK);
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now + 1600, now + 2600) == SL_STORE_BUSY);
    CHECK (sl_store_lease_release (store, "janitor", "host-b:2") == SL_STORE_OK);
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now + 1600, now + 2600) == SL_STORE_OK);
    CHECK (sl_store_lease (store, "../x", "host-a:1", now, now + 1) == SL_STORE_ERROR);
    CHECK (sl_store_lease (store, "janitor", "", now, now + 1) == SL_STORE_ERROR);
    CHECK (sl_store_lease (store, "janitor", "host-a:1", now, 0) == SL_STORE_ERROR);
    CHECK (s_count (db, "SELECT COUNT(*) FROM leases") == 2);

    //  A workspace's bytes are its documents' bytes
    int64_t bytes = -1;
    CHECK (sl_store_workspace_bytes (store, "ws2", &bytes) == SL_STORE_OK);
    CHECK (bytes > 0 && bytes == s_count (db, "SELECT SUM (bytes) FROM documents WHERE workspace = 'ws2'"));
    CHECK (sl_store_workspace_bytes (store, "no-such-ws", &bytes) == SL_STORE_OK && bytes == 0);
    CHECK (sl_store_workspace_bytes (store, "bad ws", &bytes) == SL_STORE_ERROR);

    //  The cache's size: vectors and keys
    int64_t entries = -1, size = -1;
    CHECK (sl_store_cache_usage (store, &entries, &size) == SL_STORE_OK);
    CHECK (entries == s_count (db, "SELECT COUNT(*) FROM embed_cache") && entries > 0);
    CHECK (size == s_count (db, "SELECT SUM (dim * 4 + length (model_id) + length (hash)) FROM embed_cache"));
    //  By age: everything created before the cutoff goes, nothing after
    const char *hashes [6] = { "age-a", "age-b", "age-c", "age-d", "age-e", "age-f" };
    float vectors [6 * 4];
    for (int i = 0; i < 6; i++)
        sl_store_test_unit_vector (vectors + i * 4, 4);
    CHECK (sl_store_cache_put (store, "m-old", hashes, 2, vectors, 4) == 0);
    usleep (5000);
    int64_t cutoff = sl_now_ms ();
    usleep (5000);
    CHECK (sl_store_cache_put (store, "m-new", hashes + 2, 4, vectors + 8, 4) == 0);
    int64_t gone = 0, gone_bytes = 0;
    CHECK (sl_store_cache_trim (store, 0, cutoff, &gone, &gone_bytes) == SL_STORE_OK);
    CHECK (gone == entries + 2 && gone_bytes == size + 2 * (16 + 5 + 5));
    CHECK (s_count (db, "SELECT COUNT(*) FROM embed_cache") == 4);
    CHECK (s_count (db, "SELECT COUNT(*) FROM embed_cache WHERE model_id = 'm-new'") == 4);
    //  nothing to do: nothing goes
    CHECK (sl_store_cache_trim (store, 0, 0, &gone, &gone_bytes) == SL_STORE_OK && gone == 0);
    CHECK (sl_store_cache_trim (store, 1 << 20, cutoff, &gone, NULL) == SL_STORE_OK && gone == 0);
    //  By size: the oldest go until it fits (each entry is 16 + 5 + 5 bytes)
    usleep (5000);
    CHECK (sl_store_cache_put (store, "m-newer", hashes, 1, vectors, 4) == 0);
    CHECK (sl_store_cache_usage (store, &entries, &size) == SL_STORE_OK);
    CHECK (entries == 5 && size == 4 * 26 + 28);
    CHECK (sl_store_cache_trim (store, 28 + 26, 0, &gone, &gone_bytes) == SL_STORE_OK);
    CHECK (gone == 3 && gone_bytes == 3 * 26);
    CHECK (s_count (db, "SELECT COUNT(*) FROM embed_cache WHERE model_id = 'm-newer'") == 1);
    CHECK (sl_store_cache_usage (store, &entries, &size) == SL_STORE_OK);
    CHECK (entries == 2 && size <= 28 + 26);
    //  more than one batch by age
    enum { MANY = 2500 };
    char (*names) [16] = malloc (MANY * 16);
    const char **many = malloc (MANY * sizeof *many);
    float *mv = malloc ((size_t) MANY * 4 * sizeof (float));
    for (int i = 0; i < MANY; i++) {
        snprintf (names [i], 16, "many-%d", i);
        many [i] = names [i];
        sl_store_test_unit_vector (mv + i * 4, 4);
    }
    CHECK (sl_store_cache_put (store, "m-many", many, MANY, mv, 4) == 0);
    usleep (5000);
    CHECK (sl_store_cache_trim (store, 0, sl_now_ms (), &gone, NULL) == SL_STORE_OK);
    CHECK (gone == MANY + 2 && s_count (db, "SELECT COUNT(*) FROM embed_cache") == 0);
    CHECK (sl_store_cache_trim (store, -1, 0, &gone, NULL) == SL_STORE_ERROR);
    free (names);
    free (many);
    free (mv);
}

//  Highlights are the words the ranking used. Every tricky word is a
//  chunk; with each word as the query, a chunk carries highlights exactly
//  when lexical search finds it (vector mode returns every chunk, with the
//  highlights the store computes for them all); PostgreSQL's generated
//  tsvector holds the very lexeme sl_highlight stems each word to (for
//  SQLite's FTS5 index, sl_highlight_test.c reads it back)
static void
s_test_highlights (sl_store_t *store, const s_db_t *db)
{
    int n = SL_HIGHLIGHT_TEST_WORDS;
    sl_chunk_row_t *rows = calloc ((size_t) n, sizeof *rows);
    float *vectors = calloc ((size_t) n * T_DIM, sizeof *vectors);
    sl_hit_t *hits = calloc ((size_t) n, sizeof *hits);
    bool *found = calloc ((size_t) n, sizeof *found);
    CHECK (rows && vectors && hits && found);
    for (int i = 0; i < n; i++) {
        rows [i] = (sl_chunk_row_t) { .ordinal = i, .page_start = 1 + i / 10,
                                      .page_end = 1 + i / 10, .text = sl_highlight_test_words [i] };
        sl_store_test_unit_vector (vectors + i * T_DIM, T_DIM);
    }
    char sha [SL_SHA256_HEX], id [SL_STORE_ID];
    sl_sha256_hex ("tricky words", 12, sha);
    sl_doc_meta_t meta = { .workspace = "wshl", .source = "upload:words.pdf", .sha256 = sha,
                           .mime = "application/pdf", .pages = 10, .bytes = 100 };
    CHECK (sl_store_document_commit (store, &meta, rows, n, vectors, T_DIM, T_MODEL, id) == 0);
    for (int q = 0; q < n; q++) {
        const char *word = sl_highlight_test_words [q];
        memset (found, 0, (size_t) n * sizeof *found);
        sl_search_t how = { .text = word, .mode = SL_SEARCH_LEXICAL };
        int count = -1;
        CHECK (sl_store_search_text (store, "wshl", T_MODEL, vectors, T_DIM, &how, n, hits, &count)
               == SL_STORE_OK);
        for (int i = 0; i < count; i++) {
            found [hits [i].ordinal] = true;
            if (hits [i].n_highlights == 0)
                fprintf (stderr, "%s: query \"%s\" finds \"%s\" but marks nothing\n",
                         sl_store_backend (store), word, hits [i].text);
            CHECK (hits [i].n_highlights > 0 && hits [i].highlights);
            CHECK (hits [i].mime && streq (hits [i].mime, "application/pdf"));
        }
        sl_store_hits_reset (hits, count);
        how.mode = SL_SEARCH_VECTOR;
        CHECK (sl_store_search_text (store, "wshl", T_MODEL, vectors, T_DIM, &how, n, hits, &count)
               == SL_STORE_OK);
        CHECK (count == n);
        for (int i = 0; i < count; i++) {
            if (found [hits [i].ordinal] != (hits [i].n_highlights > 0))
                fprintf (stderr, "%s: query \"%s\" on \"%s\": lexical %s it, %d highlights\n",
                         sl_store_backend (store), word, hits [i].text,
                         found [hits [i].ordinal] ? "finds" : "misses", hits [i].n_highlights);
            CHECK (found [hits [i].ordinal] == (hits [i].n_highlights > 0));
            for (int s = 0; s < hits [i].n_highlights; s++) {
                CHECK (hits [i].highlights [2 * s] < hits [i].highlights [2 * s + 1]);
                CHECK (s == 0 || hits [i].highlights [2 * s - 1] <= hits [i].highlights [2 * s]);
            }
        }
        sl_store_hits_reset (hits, count);
    }
    if (streq (sl_store_backend (store), "postgres")) {
        sl_highlight_t *h = sl_highlight_new ("", "english");
        CHECK (h);
        for (int i = 0; i < n; i++) {
            char stem [SL_HIGHLIGHT_TOKEN_MAX + 1], sql [1024];
            CHECK (sl_highlight_stem (h, sl_highlight_test_words [i], stem, sizeof stem));
            CHECK (!strchr (stem, '\'') && !strchr (stem, '\\'));
            snprintf (sql, sizeof sql, "SELECT COUNT(*) FROM chunks c JOIN documents d ON "
                      "d.id = c.document_id WHERE d.workspace = 'wshl' AND c.ordinal = %d "
                      "AND c.tsv @@ quote_literal ('%s')::tsquery", i, stem);
            if (s_count (db, sql) != 1)
                fprintf (stderr, "PostgreSQL does not keep \"%s\" as \"%s\"\n",
                         sl_highlight_test_words [i], stem);
            CHECK (s_count (db, sql) == 1);
        }
        sl_highlight_destroy (&h);
    }
    //  a hybrid query of function words alone ranks no words: no marks
    sl_search_t how = { .text = "is as", .mode = SL_SEARCH_HYBRID };
    int count = -1;
    CHECK (sl_store_search_text (store, "wshl", T_MODEL, vectors, T_DIM, &how, n, hits, &count)
           == SL_STORE_OK);
    for (int i = 0; i < count; i++)
        CHECK (hits [i].n_highlights == 0 && !hits [i].highlights);
    sl_store_hits_reset (hits, count);
    free (rows);
    free (vectors);
    free (hits);
    free (found);
}

//  Filters: which of the test documents (bit i = docs [i]) a search with
//  this filter returns, the same in every mode (each chunk holds "alpha")
typedef struct {
    const char *filter;         //  JSON or NULL
    const char *prefix;         //  source_prefix or NULL
    const char *mimes [2];      //  NULL-terminated
    const char *documents [2];  //  NULL-terminated
} s_fq_t;

static int
s_filtered (sl_store_t *store, const char *ws, char ids [][SL_STORE_ID], int n_ids,
            const float *query, const s_fq_t *q)
{
    char err [256];
    sl_filter_t *filter = NULL;
    int n_mimes = q->mimes [0] ? (q->mimes [1] ? 2 : 1) : 0;
    int n_docs = q->documents [0] ? (q->documents [1] ? 2 : 1) : 0;
    CHECK (sl_filter_parse (q->filter, q->prefix, q->mimes, n_mimes, &filter, err,
                            sizeof err) == 0);
    int found [3] = { 0 };
    for (int mode = SL_SEARCH_HYBRID; mode <= SL_SEARCH_LEXICAL; mode++) {
        sl_hit_t hits [20];
        int n = -1;
        sl_search_t how = { .text = "alpha", .mode = (sl_search_mode_t) mode,
                            .filter = filter, .documents = q->documents,
                            .n_documents = n_docs };
        CHECK (sl_store_search_text (store, ws, T_MODEL, query, T_DIM, &how, 20, hits, &n)
               == SL_STORE_OK);
        for (int h = 0; h < n; h++) {
            int which = -1;
            for (int i = 0; i < n_ids; i++)
                if (strcmp (hits [h].document_id, ids [i]) == 0)
                    which = i;
            CHECK (which >= 0);     //  never a document of another workspace
            found [mode] |= 1 << which;
        }
        sl_store_hits_reset (hits, n);
    }
    sl_filter_destroy (&filter);
    CHECK (found [0] == found [1] && found [1] == found [2]);
    return found [0];
}

static void
s_test_filters (sl_store_t *store, const char *url, const s_db_t *db)
{
    static const char *attrs [4] = {
        "{\"team\": \"legal\", \"year\": 2024, \"tags\": [\"contract\", \"nda\"], "
        "\"signed\": \"2024-03-01\", \"draft\": false}",
        "{\"team\": \"eng\", \"year\": 2019, \"tags\": [\"spec\"], "
        "\"signed\": \"2023-12-31T23:00:00Z\", \"draft\": true}",
        "{\"team\": \"legal\", \"year\": 2021, \"tags\": [\"nda\"], "
        "\"signed\": \"2024-07-01T00:00:00+02:00\"}",
        NULL,
    };
    static const char *sources [4] = {
        "https://docs.x/a", "https://docs.x/b", "upload:reports/c.pdf", "upload:reports/d.txt"
    };
    static const char *mimes [4] = { "text/plain", "text/html", "application/pdf", "text/plain" };
    s_doc_t docs [4];
    char ids [5][SL_STORE_ID];
    for (int i = 0; i < 4; i++) {
        char tag [16];
        snprintf (tag, sizeof tag, "filtered-%d", i);
        s_doc_make (&docs [i], "wsf", sources [i], tag, 2);
        docs [i].meta.mime = mimes [i];
        docs [i].meta.attrs = attrs [i];
        docs [i].chunks [0].text = "alpha one";
        docs [i].chunks [1].text = "alpha two";
        CHECK (s_doc_commit (store, &docs [i], ids [i]) == 0);
    }
    //  the same attribute in another workspace never matches here
    s_doc_t other;
    s_doc_make (&other, "wsf2", "https://docs.x/a", "filtered-other", 2);
    other.meta.attrs = "{\"team\": \"legal\"}";
    other.chunks [0].text = other.chunks [1].text = "alpha";
    CHECK (s_doc_commit (store, &other, ids [4]) == 0);
    const float *q = docs [0].vectors;
    enum { A = 1, B = 2, C = 4, D = 8 };
#define F(...) s_filtered (store, "wsf", ids, 4, q, &(s_fq_t) { __VA_ARGS__ })
    CHECK (F (.filter = NULL) == (A | B | C | D));
    //  equality: strings, on a list the list holds it, booleans, numbers
    CHECK (F (.filter = "{\"team\": \"legal\"}") == (A | C));
    CHECK (F (.filter = "{\"tags\": \"nda\"}") == (A | C));
    CHECK (F (.filter = "{\"tags\": \"contract\"}") == A);
    CHECK (F (.filter = "{\"draft\": false}") == A);
    CHECK (F (.filter = "{\"draft\": true}") == B);
    CHECK (F (.filter = "{\"year\": 2024}") == A);
    CHECK (F (.filter = "{\"year\": \"2024\"}") == 0);     //  typed: a string is not 2024
    //  any of
    CHECK (F (.filter = "{\"tags\": {\"any\": [\"spec\", \"contract\"]}}") == (A | B));
    //  numeric range
    CHECK (F (.filter = "{\"year\": {\"gte\": 2020, \"lt\": 2024}}") == C);
    CHECK (F (.filter = "{\"year\": {\"gt\": 2019}}") == (A | C));
    CHECK (F (.filter = "{\"year\": {\"lte\": 2019}}") == B);
    //  date range: instants, a date is that day at 00:00 UTC
    CHECK (F (.filter = "{\"signed\": {\"gte\": \"2024-01-01\", \"lte\": \"2024-06-30\"}}") == A);
    CHECK (F (.filter = "{\"signed\": {\"gte\": \"2024-06-30\"}}") == C);
    CHECK (F (.filter = "{\"signed\": {\"lte\": \"2024-01-01T00:00:00+01:00\"}}") == B);
    CHECK (F (.filter = "{\"signed\": {\"lt\": \"2024-01-01T00:00:00+01:00\"}}") == 0);
    //  source prefix, mime
    CHECK (F (.prefix = "https://docs.x/") == (A | B));
    CHECK (F (.prefix = "upload:reports/") == (C | D));
    CHECK (F (.prefix = "upload:reports/c") == C);
    CHECK (F (.prefix = "https://docs.x/a/") == 0);
    CHECK (F (.mimes = { "text/plain" }) == (A | D));
    CHECK (F (.mimes = { "application/pdf", "text/html" }) == (B | C));
    //  all together, ANDed, and with documents
    CHECK (F (.filter = "{\"team\": \"legal\"}", .prefix = "upload:") == C);
    CHECK (F (.filter = "{\"team\": \"legal\"}", .documents = { ids [0], ids [1] }) == A);
    CHECK (F (.filter = "{\"team\": \"legal\"}", .documents = { ids [1] }) == 0);
    CHECK (F (.filter = "{\"team\": \"legal\", \"year\": {\"lt\": 2022}}",
              .mimes = { "application/pdf" }) == C);
    //  matching nothing returns nothing, in every mode
    CHECK (F (.filter = "{\"team\": \"nobody\"}") == 0);
    CHECK (F (.filter = "{\"nokey\": {\"gte\": 0}}") == 0);
    //  isolation: the other workspace sees only its own
    CHECK (s_filtered (store, "wsf2", ids + 4, 1, q, &(s_fq_t) { .filter = "{\"team\": \"legal\"}" })
           == 1);

    //  the vector side's two ways: few matching chunks are scored by key,
    //  many by their documents' tags in one pass; both give the same
    {
        s_doc_t small, big;
        s_doc_make (&small, "wsf3", "https://docs.x/small", "filtered-small", 1);
        small.meta.attrs = "{\"k\": 1}";
        s_doc_make (&big, "wsf3", "https://docs.x/big", "filtered-big", 8);
        char both [2][SL_STORE_ID];
        small.chunks [0].text = "alpha";
        for (int i = 0; i < 8; i++)
            big.chunks [i].text = "alpha";
        CHECK (s_doc_commit (store, &small, both [0]) == 0);
        CHECK (s_doc_commit (store, &big, both [1]) == 0);
        CHECK (s_filtered (store, "wsf3", both, 2, q, &(s_fq_t) { .filter = "{\"k\": 1}" }) == 1);
        CHECK (s_filtered (store, "wsf3", both, 2, q, &(s_fq_t) { .filter = "{\"k\": 2}" }) == 0);
        CHECK (s_filtered (store, "wsf3", both, 2, q, &(s_fq_t) { .prefix = "https://docs.x/b" })
               == 2);
    }

    //  re-tag: PATCH merges (null removes), PUT replaces; searches follow at once
    char *now = NULL;
    CHECK (sl_store_document_meta (store, "wsf", ids [1], "{\"team\": \"legal\"}", true, &now)
           == SL_STORE_OK);
    CHECK (strstr (now, "\"team\":\"legal\"") && strstr (now, "\"year\":2019"));
    free (now);
    CHECK (F (.filter = "{\"team\": \"legal\"}") == (A | B | C));
    CHECK (sl_store_document_meta (store, "wsf", ids [1], "{\"team\": null}", true, NULL)
           == SL_STORE_OK);
    CHECK (F (.filter = "{\"team\": \"legal\"}") == (A | C));
    CHECK (F (.filter = "{\"year\": 2019}") == B);
    CHECK (sl_store_document_meta (store, "wsf", ids [3], "{\"year\": 2019}", false, NULL)
           == SL_STORE_OK);
    CHECK (F (.filter = "{\"year\": 2019}") == (B | D));
    CHECK (sl_store_document_meta (store, "wsf", ids [1], "{}", false, NULL) == SL_STORE_OK);
    CHECK (F (.filter = "{\"year\": 2019}") == D);
    sl_store_doc_t doc;
    CHECK (sl_store_document_get (store, "wsf", ids [3], &doc) == SL_STORE_OK);
    CHECK (strcmp (doc.meta, "{\"year\":2019}") == 0);
    sl_store_doc_reset (&doc);
    CHECK (sl_store_document_get (store, "wsf", ids [1], &doc) == SL_STORE_OK);
    CHECK (strcmp (doc.meta, "{}") == 0);
    sl_store_doc_reset (&doc);
    //  a re-tag by another process (another handle: its own index and
    //  resolved filters) is followed at once here, though this handle
    //  resolved the same filter a moment ago
    {
        char err [256];
        sl_store_t *other_handle = sl_store_open (url, err, sizeof err);
        CHECK (other_handle);
        CHECK (F (.filter = "{\"year\": 2019}") == D);
        CHECK (sl_store_document_meta (other_handle, "wsf", ids [0], "{\"year\": 2019}", true, NULL)
               == SL_STORE_OK);
        CHECK (F (.filter = "{\"year\": 2019}") == (A | D));
        CHECK (sl_store_document_meta (other_handle, "wsf", ids [0], "{\"year\": 2024}", true, NULL)
               == SL_STORE_OK);
        CHECK (F (.filter = "{\"year\": 2019}") == D);
        sl_store_destroy (&other_handle);
    }
    //  refusals: bad attributes, another workspace's document
    CHECK (sl_store_document_meta (store, "wsf", ids [1], "{\"a\": {}}", false, NULL)
           == SL_STORE_ERROR && strstr (sl_store_errmsg (store), "is an object"));
    CHECK (sl_store_document_meta (store, "wsf2", ids [1], "{}", false, NULL)
           == SL_STORE_NOT_FOUND);
    CHECK (sl_store_document_meta (store, "wsf", ids [4], "{}", true, NULL)
           == SL_STORE_NOT_FOUND);
    s_doc_t bad;
    s_doc_make (&bad, "wsf", "https://docs.x/bad", "filtered-bad", 1);
    bad.meta.attrs = "{\"a\": null}";
    char bad_id [SL_STORE_ID];
    CHECK (s_doc_commit (store, &bad, bad_id) == SL_STORE_ERROR);
    CHECK (strstr (sl_store_errmsg (store), "is null"));

    //  ingest again: without attributes keeps the document's, with them
    //  replaces them
    docs [0].meta.attrs = NULL;
    char again [SL_STORE_ID];
    CHECK (s_doc_commit (store, &docs [0], again) == 0 && strcmp (again, ids [0]) == 0);
    CHECK (F (.filter = "{\"team\": \"legal\"}") == (A | C));
    docs [0].meta.attrs = "{\"team\": \"ops\"}";
    CHECK (s_doc_commit (store, &docs [0], again) == 0);
    CHECK (F (.filter = "{\"team\": \"legal\"}") == C);
    CHECK (F (.filter = "{\"team\": \"ops\"}") == A);

    //  delete: its attributes go with it
    char sha [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, "wsf", ids [2], sha) == SL_STORE_OK);
    CHECK (F (.filter = "{\"team\": \"legal\"}") == 0);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM doc_attrs WHERE document_id = '%s'", ids [2]) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM doc_attrs WHERE workspace = 'wsf2'") == 1);
#undef F
}

//  Job control (sl_store_job_control): cancel wins over a later commit,
//  a commit first makes the cancel find a completed job; held jobs and
//  cancelled ones are never offered to the re-driver; a restart forgets
//  the last run; another workspace's job is not found
static void
s_test_control (sl_store_t *store, s_db_t *db)
{
    const char *ws = "wsctl";
    sl_store_job_t job;
    //  cancel a running job: a commit that comes later writes nothing
    CHECK (sl_store_job_create (store, "ctl-1", ws, "upload:c1.txt", NULL, NULL, "{\"blob\":\"x\"}") == 0);
    CHECK (sl_store_job_stage (store, "ctl-1", SL_STORE_STAGE_PARSE, SL_STORE_STARTED, 100) == 0);
    CHECK (sl_store_job_control (store, "ctl-1", "wsother", SL_STORE_CANCEL, &job) == SL_STORE_NOT_FOUND);
    CHECK (strstr (sl_store_errmsg (store), "no job ctl-1"));
    sl_store_job_reset (&job);
    CHECK (sl_store_job_control (store, "ctl-1", ws, SL_STORE_CANCEL, &job) == SL_STORE_OK);
    CHECK (job.state == SL_STORE_CANCELLED && job.stage == SL_STORE_STAGE_PARSE);
    CHECK (sl_store_state_terminal (job.state) && !job.held);
    sl_store_job_reset (&job);
    CHECK (strcmp (sl_store_state_name (SL_STORE_CANCELLED), "cancelled") == 0);
    CHECK (sl_store_state_parse ("cancelled") == SL_STORE_CANCELLED);
    s_doc_t d;
    s_doc_make (&d, ws, "upload:c1.txt", "cancelled text", 2);
    d.meta.job_id = "ctl-1";
    sl_store_commit_t result;
    CHECK (s_doc_commit_r (store, &d, &result) == SL_STORE_TERMINAL);
    CHECK (strstr (sl_store_errmsg (store), "cancelled"));
    CHECK (s_count (db, "SELECT COUNT(*) FROM documents WHERE workspace = 'wsctl'") == 0);
    CHECK (sl_store_job_stage (store, "ctl-1", SL_STORE_STAGE_CHUNK, SL_STORE_STARTED, 200)
            == SL_STORE_TERMINAL);
    CHECK (sl_store_job_lease (store, "ctl-1", "redriver", 1, 2) == SL_STORE_TERMINAL);
    CHECK (sl_store_job_fail (store, "ctl-1", SL_STORE_STAGE_PARSE, "late") == SL_STORE_TERMINAL);
    CHECK (sl_store_job_control (store, "ctl-1", ws, SL_STORE_CANCEL, NULL) == SL_STORE_TERMINAL);
    CHECK (strstr (sl_store_errmsg (store), "already cancelled"));

    //  a commit first: the cancel finds the job completed
    CHECK (sl_store_job_create (store, "ctl-2", ws, "upload:c2.txt", NULL, NULL, NULL) == 0);
    s_doc_t d2;
    s_doc_make (&d2, ws, "upload:c2.txt", "completed text", 2);
    d2.meta.job_id = "ctl-2";
    CHECK (s_doc_commit_r (store, &d2, &result) == SL_STORE_OK && result.completed);
    CHECK (sl_store_job_control (store, "ctl-2", ws, SL_STORE_CANCEL, &job) == SL_STORE_TERMINAL);
    CHECK (strstr (sl_store_errmsg (store), "already completed"));
    CHECK (job.state == SL_STORE_COMPLETED);
    sl_store_job_reset (&job);
    //  a completed job is not retried
    CHECK (sl_store_job_control (store, "ctl-2", ws, SL_STORE_RESTART, NULL) == SL_STORE_CONFLICT);
    CHECK (strstr (sl_store_errmsg (store), "only a failed or cancelled job"));

    //  retry: a cancelled job starts again from nothing, then completes
    CHECK (sl_store_job_control (store, "ctl-1", ws, SL_STORE_RESTART, &job) == SL_STORE_OK);
    CHECK (job.state == SL_STORE_QUEUED && job.stage == SL_STORE_STAGE_NONE && !job.held);
    CHECK (job.started_ms [SL_STORE_STAGE_PARSE] == 0 && job.attempts == 0 && !job.error);
    CHECK (strcmp (job.options, "{\"blob\":\"x\"}") == 0);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_control (store, "ctl-1", ws, SL_STORE_RESTART, NULL) == SL_STORE_CONFLICT);
    CHECK (strstr (sl_store_errmsg (store), "is queued"));
    CHECK (s_doc_commit_r (store, &d, &result) == SL_STORE_OK && result.completed);
    //  and a failed one too
    CHECK (sl_store_job_create (store, "ctl-3", ws, "upload:c3.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_fail (store, "ctl-3", SL_STORE_STAGE_FETCH, "HTTP 404") == 0);
    CHECK (sl_store_job_control (store, "ctl-3", ws, SL_STORE_CANCEL, NULL) == SL_STORE_TERMINAL);
    CHECK (strstr (sl_store_errmsg (store), "retry it instead"));
    CHECK (sl_store_job_control (store, "ctl-3", ws, SL_STORE_RESTART_HELD, &job) == SL_STORE_OK);
    CHECK (job.state == SL_STORE_QUEUED && job.held && !job.error && job.error_stage == SL_STORE_STAGE_NONE);
    sl_store_job_reset (&job);

    //  held: never offered to the re-driver, nor is a cancelled job
    CHECK (sl_store_job_create (store, "ctl-4", ws, "upload:c4.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_control (store, "ctl-4", ws, SL_STORE_HOLD, NULL) == SL_STORE_OK);
    CHECK (sl_store_job_control (store, "ctl-4", ws, SL_STORE_HOLD, NULL) == SL_STORE_CONFLICT);
    CHECK (sl_store_job_create (store, "ctl-5", ws, "upload:c5.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_control (store, "ctl-5", ws, SL_STORE_CANCEL, NULL) == SL_STORE_OK);
    sl_store_job_t *jobs = NULL;
    int count = 0;
    CHECK (sl_store_jobs_unfinished (store, INT64_MAX, 1000, &jobs, &count) == 0);
    for (int i = 0; i < count; i++)
        CHECK (strncmp (jobs [i].id, "ctl-", 4) != 0);
    sl_store_jobs_free (&jobs, count);
    CHECK (sl_store_job_control (store, "ctl-4", ws, SL_STORE_RELEASE, &job) == SL_STORE_OK);
    CHECK (!job.held && job.state == SL_STORE_QUEUED);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_control (store, "ctl-4", ws, SL_STORE_RELEASE, NULL) == SL_STORE_CONFLICT);
    CHECK (sl_store_jobs_unfinished (store, INT64_MAX, 1000, &jobs, &count) == 0);
    int seen = 0;
    for (int i = 0; i < count; i++)
        seen += strcmp (jobs [i].id, "ctl-4") == 0;
    CHECK (seen == 1);
    sl_store_jobs_free (&jobs, count);
    //  a held job can be cancelled: it is not held any more
    CHECK (sl_store_job_control (store, "ctl-3", ws, SL_STORE_CANCEL, &job) == SL_STORE_OK);
    CHECK (job.state == SL_STORE_CANCELLED && !job.held);
    sl_store_job_reset (&job);
    CHECK (sl_store_job_list (store, ws, "cancelled", 10, 0, &jobs, &count) == 0 && count == 2);
    sl_store_jobs_free (&jobs, count);

    //  reprocess: a document keeps its parse output (pages_blob); a recut
    //  by a job replaces its chunks, vectors and pages in one transaction
    char pages [SL_SHA256_HEX];
    sl_sha256_hex ("pages of recut", 14, pages);
    s_doc_t r1;
    s_doc_make (&r1, ws, "upload:recut.txt", "recut first", 4);
    r1.meta.pages_blob = pages;
    CHECK (s_doc_commit_r (store, &r1, &result) == SL_STORE_OK && !*result.duplicate_of);
    char recut_id [SL_STORE_ID];
    snprintf (recut_id, sizeof recut_id, "%s", result.document_id);
    sl_store_doc_t doc;
    CHECK (sl_store_document_get (store, ws, recut_id, &doc) == 0);
    CHECK (strcmp (doc.pages_blob, pages) == 0 && doc.chunks == 4);
    sl_store_doc_reset (&doc);
    CHECK (sl_store_blob_referenced (store, pages) == 1);
    CHECK (sl_store_job_create (store, "ctl-6", ws, "upload:recut.txt", r1.sha, NULL, NULL) == 0);
    s_doc_t r2;
    s_doc_make (&r2, ws, "upload:recut.txt", "recut first", 2);    //  same content, cut in 2
    snprintf (r2.texts [0], sizeof r2.texts [0], "recut zebra");
    snprintf (r2.texts [1], sizeof r2.texts [1], "recut yak");
    r2.meta.job_id = "ctl-6";
    r2.meta.recut = true;
    r2.meta.chunking = "{\"target_tokens\":64}";
    CHECK (s_doc_commit_r (store, &r2, &result) == SL_STORE_OK && result.completed);
    CHECK (strcmp (result.document_id, recut_id) == 0 && !*result.duplicate_of);
    CHECK (sl_store_document_get (store, ws, recut_id, &doc) == 0);
    CHECK (doc.chunks == 2 && strcmp (doc.pages_blob, pages) == 0);
    CHECK (doc.chunking && strstr (doc.chunking, "64"));
    sl_store_doc_reset (&doc);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", recut_id) == 2);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM vectors v JOIN chunks c ON c.rid = v.chunk_rid "
                         "WHERE c.document_id = '%s'", recut_id) == 2);
    sl_hit_t hits [4];
    int nhits = 0;
    sl_search_t how = { .text = "zebra", .mode = SL_SEARCH_LEXICAL };
    CHECK (sl_store_search_text (store, ws, T_MODEL, r2.vectors, T_DIM, &how, 4, hits, &nhits) == 0);
    CHECK (nhits == 1 && strcmp (hits [0].document_id, recut_id) == 0);
    sl_store_hits_reset (hits, nhits);
    how.text = "first";
    CHECK (sl_store_search_text (store, ws, T_MODEL, r2.vectors, T_DIM, &how, 4, hits, &nhits) == 0);
    CHECK (nhits == 0);         //  the old chunks' words are gone with them
    sl_store_hits_reset (hits, nhits);
    //  a plain re-ingest of the same content is still a duplicate
    s_doc_t r3;
    s_doc_make (&r3, ws, "upload:recut.txt", "recut first", 3);
    CHECK (s_doc_commit_r (store, &r3, &result) == SL_STORE_OK && *result.duplicate_of);
    CHECK (s_countf (db, "SELECT COUNT(*) FROM chunks WHERE document_id = '%s'", recut_id) == 2);
    char gone [SL_SHA256_HEX];
    CHECK (sl_store_document_delete (store, ws, recut_id, gone) == SL_STORE_OK);
    CHECK (sl_store_blob_referenced (store, pages) == 0);

    //  the workspace's intake flag, in the store
    bool paused = true;
    CHECK (sl_store_workspace_paused (store, "wsnew", &paused) == 0 && !paused);
    CHECK (sl_store_workspace_set_paused (store, "wsnew", true) == 0);
    CHECK (sl_store_workspace_paused (store, "wsnew", &paused) == 0 && paused);
    //  a job made while paused is held from its first moment
    CHECK (sl_store_job_create (store, "ctl-7", "wsnew", "upload:c7.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_get (store, "ctl-7", &job) == 0 && job.held && job.state == SL_STORE_QUEUED);
    sl_store_job_reset (&job);
    CHECK (sl_store_workspace_set_paused (store, "wsnew", false) == 0);
    CHECK (sl_store_workspace_paused (store, "wsnew", &paused) == 0 && !paused);
    CHECK (sl_store_job_create (store, "ctl-8", "wsnew", "upload:c8.txt", NULL, NULL, NULL) == 0);
    CHECK (sl_store_job_get (store, "ctl-8", &job) == 0 && !job.held);
    sl_store_job_reset (&job);
    CHECK (sl_store_workspace_paused (store, "bad ws", &paused) == SL_STORE_ERROR);
    CHECK (sl_store_job_control (store, "ctl-1", ws, SL_STORE_CONTROL_COUNT, NULL) == SL_STORE_ERROR);
    CHECK (sl_store_job_control (store, "../x", ws, SL_STORE_CANCEL, NULL) == SL_STORE_ERROR);
}

//  Sources: rows kept per workspace, one per key, due listing, items and
//  runs, cascade on delete; a vanished item's document goes unless
//  another source still names it (a renamed file)
static void
s_test_sources (sl_store_t *store, const s_db_t *db)
{
    const char *ws = "wssrc";
    CHECK (sl_store_source_put (store, ws, "src1", "folder:/a", "{\"id\":\"src1\"}", 100, true) == 0);
    CHECK (sl_store_source_put (store, ws, "src2", "folder:/a", "{\"id\":\"src2\"}", 100, true)
           == SL_STORE_CONFLICT);
    CHECK (sl_store_source_put (store, "other", "src3", "folder:/a", "{\"id\":\"src3\"}", 5000,
                                true) == 0);
    CHECK (sl_store_source_put (store, ws, "src4", "folder:/b", "not json", 1, true)
           == SL_STORE_ERROR);
    CHECK (sl_store_source_put (store, ws, "src9", "folder:/z", "{}", 1, false)
           == SL_STORE_NOT_FOUND);
    char *json = NULL;
    int64_t next = 0;
    CHECK (sl_store_source_get (store, ws, "src1", &json, &next) == 0);
    CHECK (strcmp (json, "{\"id\":\"src1\"}") == 0 && next == 100);
    free (json);
    CHECK (sl_store_source_get (store, ws, "src3", &json, NULL) == SL_STORE_NOT_FOUND);
    CHECK (sl_store_source_put (store, ws, "src1", "folder:/a", "{\"id\":\"src1\",\"v\":2}", 200,
                                false) == 0);
    CHECK (sl_store_source_list (store, ws, 0, &json) == 0);
    json_t *list = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_array_size (list) == 1);
    CHECK (json_integer_value (json_object_get (json_array_get (list, 0), "v")) == 2);
    CHECK (json_integer_value (json_object_get (json_array_get (list, 0), "next_ms")) == 200);
    json_decref (list);
    //  due: every workspace's, at or before the time
    CHECK (sl_store_source_list (store, NULL, 1000, &json) == 0);
    list = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_array_size (list) == 1);
    json_decref (list);
    CHECK (sl_store_source_set_next (store, "src3", 900) == 0);
    CHECK (sl_store_source_list (store, NULL, 1000, &json) == 0);
    list = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_array_size (list) == 2);
    json_decref (list);

    //  Items: evidence by key, replaced, forgotten
    CHECK (sl_store_source_items (store, "src1", &json) == 0 && strcmp (json, "{}") == 0);
    free (json);
    CHECK (sl_store_source_item_put (store, "src1", "a.txt", "{\"m\":1,\"s\":2}") == 0);
    CHECK (sl_store_source_item_put (store, "src1", "b.txt", "{\"m\":3,\"s\":4}") == 0);
    CHECK (sl_store_source_item_put (store, "src1", "a.txt", "{\"m\":5,\"s\":6}") == 0);
    CHECK (sl_store_source_item_put (store, "src1", "b.txt", NULL) == 0);
    CHECK (sl_store_source_items (store, "src1", &json) == 0);
    json_t *items = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_object_size (items) == 1);
    CHECK (json_integer_value (json_object_get (json_object_get (items, "a.txt"), "m")) == 5);
    json_decref (items);

    //  Runs: newest first, replaced in place
    CHECK (sl_store_source_run_put (store, "src1", "run1", "{\"state\":\"completed\"}", 10) == 0);
    CHECK (sl_store_source_run_put (store, "src1", "run2", "{\"state\":\"running\"}", 20) == 0);
    CHECK (sl_store_source_run_put (store, "src1", "run2", "{\"state\":\"completed\",\"new\":3}",
                                    20) == 0);
    CHECK (sl_store_source_runs (store, "src1", 10, &json) == 0);
    json_t *runs = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_array_size (runs) == 2);
    CHECK (json_integer_value (json_object_get (json_array_get (runs, 0), "new")) == 3);
    json_decref (runs);
    CHECK (sl_store_source_runs (store, "src1", 1, &json) == 0);
    runs = json_loads (json, 0, NULL);
    free (json);
    CHECK (json_array_size (runs) == 1);
    json_decref (runs);
    //  Trimmed to the newest
    CHECK (sl_store_source_runs_trim (store, "src1", 1) == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM source_runs WHERE source_id = 'src1'") == 1);
    CHECK (s_count (db, "SELECT COUNT(*) FROM source_runs WHERE id = 'run2'") == 1);
    CHECK (sl_store_source_runs_trim (store, "src1", 0) == SL_STORE_ERROR);

    //  Another workspace cannot delete it; deleting takes items and runs
    CHECK (sl_store_source_delete (store, "other", "src1") == SL_STORE_NOT_FOUND);
    CHECK (sl_store_source_delete (store, ws, "src1") == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM source_items WHERE source_id = 'src1'") == 0);
    CHECK (s_count (db, "SELECT COUNT(*) FROM source_runs WHERE source_id = 'src1'") == 0);
    CHECK (sl_store_source_delete (store, "other", "src3") == 0);

    //  Forget: a file renamed (its copy stored under the new name) keeps
    //  the document; the last name forgotten deletes it
    s_doc_t a, b;
    s_doc_make (&a, ws, "file:///r/old.txt", "renamed content", 2);
    s_doc_make (&b, ws, "file:///r/new.txt", "renamed content", 2);
    sl_store_commit_t ra, rb;
    CHECK (s_doc_commit_r (store, &a, &ra) == 0);
    CHECK (s_doc_commit_r (store, &b, &rb) == 0 && strcmp (rb.duplicate_of, ra.document_id) == 0);
    char doc [SL_STORE_ID];
    CHECK (sl_store_source_forget (store, ws, "file:///r/old.txt", doc) == 0);
    CHECK (strcmp (doc, ra.document_id) == 0);
    sl_store_doc_t row;
    CHECK (sl_store_document_get (store, ws, ra.document_id, &row) == 0);
    CHECK (strcmp (row.source, "file:///r/new.txt") == 0);
    sl_store_doc_reset (&row);
    CHECK (sl_store_source_forget (store, ws, "file:///r/new.txt", doc) == 0);
    //  the last name forgotten: deleting (for the delete service), then purged
    CHECK (sl_store_document_get (store, ws, ra.document_id, &row) == 0);
    CHECK (strcmp (row.state, "deleting") == 0);
    sl_store_doc_reset (&row);
    char sha [SL_SHA256_HEX];
    bool done = false;
    while (!done)
        CHECK (sl_store_document_purge (store, ws, ra.document_id, 500, sha, &done) == 0);
    CHECK (sl_store_document_get (store, ws, ra.document_id, &row) == SL_STORE_NOT_FOUND);
    //  a name that names nothing: nothing to do
    CHECK (sl_store_source_forget (store, ws, "file:///r/none.txt", doc) == 0 && !*doc);
    CHECK (sl_store_source_forget (store, "nows", "file:///r/none.txt", doc) == 0 && !*doc);
}

void
sl_store_conformance (sl_store_t *store, const char *url, sl_store_count_fn *count, void *arg,
                      bool verbose)
{
    CHECK (store && url && count);
    s_db_t db = { count, arg };
    //  The suite counts on one queued job besides its own, in workspace
    //  "probe" (the SQLite test's open already made it: a no-op there)
    CHECK (sl_store_job_create (store, "wal-probe", "probe", "upload:x", NULL, NULL, NULL) == 0);
    CASE ("jobs: state machine, terminal jobs, leases", s_test_jobs (store));
    CASE ("unfinished jobs for the re-driver", s_test_unfinished (store));
    CASE ("documents: commit, list, chunks, search", s_test_documents (store, &db));
    CASE ("workspace isolation", s_test_isolation (store, &db));
    CASE ("delete", s_test_delete (store, &db));
    CASE ("embedding cache", s_test_cache (store));
    CASE ("event log", s_test_events (store));
    CASE ("concurrent commits", s_test_concurrent (store, &db));
    CASE ("two handles on one database", s_test_two_handles (store, url));
    CASE ("re-embed switch", s_test_reembed (store, url, &db));
    CASE ("lexical and hybrid search", s_test_lexical (store, &db));
    CASE ("pages: indexed from chunks, their evidence ranks chunks", s_test_pages (store, &db));
    CASE ("structure: kind, section, OCR confidence, context", s_test_structure (store));
    CASE ("chunking settings: workspace's own, each document's record", s_test_chunking (store));
    CASE ("stats", s_test_stats (store, &db));
    CASE ("document identity", s_test_identity (store, &db));
    CASE ("housekeeping: leases, quota bytes, cache trim", s_test_housekeeping (store, &db));
    CASE ("highlights: the words lexical search matched, on both backends",
          s_test_highlights (store, &db));
    CASE ("filters: attributes, ranges, prefix, mime, re-tag, delete, isolation",
          s_test_filters (store, url, &db));
    CASE ("job control: cancel, retry, hold, pause", s_test_control (store, &db));
    CASE ("sources: rows, items, runs, forget", s_test_sources (store, &db));
    CASE ("deletion: tombstone hides at once, purge in bounded steps", s_test_tombstone (store, &db));
#undef CASE
    if (verbose)
        printf ("\n");
    s_case = "teardown";
}

static int
s_rm (const char *file, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove (file);
}

void
sl_store_test (bool verbose)
{
    printf (" * sl_store: ");
    fflush (stdout);
    //  the store logs migrations at INFO; keep test output readable
    if (!verbose)
        sl_log_set_level (SL_LOG_WARN);
    char dir [] = "/tmp/sl_store_test_XXXXXX";
    CHECK (mkdtemp (dir));
    char path [256], url [300];
    snprintf (path, sizeof path, "%s/data/store/sluice.db", dir);
    snprintf (url, sizeof url, "sqlite:%s", path);

    s_test_open (dir, path, url);
    char err [256];
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    CHECK (store);
    sl_store_conformance (store, url, s_sqlite_count, path, verbose);
    sl_store_destroy (&store);

    nftw (dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    printf ("OK\n");
}
