/*  sl_janitor_test: self-test of sl_janitor.

    A real blob area and store in a temporary folder: old blobs nobody
    uses go, blobs of documents and running jobs stay, artifacts of failed and
    finished jobs go after the grace period, recently written folders stay,
    the embedding cache is trimmed oldest first, a second pass finds nothing,
    another process's lease makes a pass do nothing, and the background thread
    collects strays and gives its lease back when stopped.
*/
#include "sl_janitor.h"
#include "sl_janitor_internal.h"
#include "sl_log.h"
#include "sl_util.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
s_put (sl_blob_t *blobs, const char *text, char sha [SL_SHA256_HEX], int64_t mtime_s)
{
    sl_blob_writer_t *w = sl_blob_writer_new (blobs, 0);
    assert (w);
    assert (sl_blob_writer_write (w, text, strlen (text)) == 0);
    assert (sl_blob_writer_commit (&w, sha, NULL) == 0);
    char path [2048];
    assert (sl_blob_path (blobs, sha, path, sizeof path) == 0);
    struct timespec t [2] = { { mtime_s, 0 }, { mtime_s, 0 } };
    assert (utimensat (AT_FDCWD, path, t, 0) == 0);
}

static void
s_artifact (sl_blob_t *blobs, const char *job, size_t size)
{
    char dir [2048], path [2100];
    assert (sl_blob_job_dir (blobs, job, dir, sizeof dir) == 0);
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    FILE *f = fopen (path, "wb");
    assert (f);
    for (size_t i = 0; i < size; i++)
        fputc ('x', f);
    fclose (f);
}

static bool
s_job_dir_exists (sl_blob_t *blobs, const char *job)
{
    char path [2048];
    snprintf (path, sizeof path, "%s/jobs/%s", sl_blob_root (blobs), job);
    struct stat st;
    return stat (path, &st) == 0;
}

void
sl_janitor_test (bool verbose)
{
    printf (" * sl_janitor: ");
    fflush (stdout);
    if (!verbose)
        sl_log_set_level (SL_LOG_WARN);
    char dir [] = "/tmp/sl_janitor_test_XXXXXX";
    assert (mkdtemp (dir));
    char url [256], root [256], err [256];
    snprintf (url, sizeof url, "sqlite:%s/sluice.db", dir);
    snprintf (root, sizeof root, "%s/data", dir);
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    assert (store);
    sl_blob_t *blobs = sl_blob_new (root);
    assert (blobs);
    sl_metrics_t *metrics = sl_metrics_new ();
    int64_t now_s = time (NULL);
    int64_t old_s = now_s - 7200;

    //  A blob of a document, of a running job, of a failed job, of nothing
    //  (old and young), and one shared by a failed and a running job
    char doc_sha [SL_SHA256_HEX], running_sha [SL_SHA256_HEX], failed_sha [SL_SHA256_HEX];
    char stray_sha [SL_SHA256_HEX], young_sha [SL_SHA256_HEX], shared_sha [SL_SHA256_HEX];
    s_put (blobs, "the bytes of a stored document", doc_sha, old_s);
    s_put (blobs, "the bytes of a job still running", running_sha, old_s);
    s_put (blobs, "random bytes nobody could read", failed_sha, old_s);
    s_put (blobs, "an upload whose intake was refused", stray_sha, old_s);
    s_put (blobs, "an upload a moment ago", young_sha, now_s);
    s_put (blobs, "bytes a failed and a running job share", shared_sha, old_s);
    sl_doc_meta_t meta = { .workspace = "ws", .source = "upload:doc.txt", .sha256 = doc_sha,
                           .mime = "text/plain", .pages = 1, .bytes = 30 };
    char doc_id [SL_STORE_ID];
    assert (sl_store_document_commit (store, &meta, NULL, 0, NULL, 0, NULL, doc_id) == SL_STORE_OK);
    assert (sl_store_job_create (store, "job-running", "ws", "upload:r", running_sha, NULL, NULL) == 0);
    assert (sl_store_job_create (store, "job-failed", "ws", "upload:f", failed_sha, NULL, NULL) == 0);
    assert (sl_store_job_fail (store, "job-failed", SL_STORE_STAGE_FETCH, "unsupported type") == 0);
    assert (sl_store_job_create (store, "job-done", "ws", "upload:d", doc_sha, NULL, NULL) == 0);
    assert (sl_store_job_complete (store, "job-done", doc_id) == 0);
    assert (sl_store_job_create (store, "job-shared-f", "ws", "upload:sf", shared_sha, NULL, NULL) == 0);
    assert (sl_store_job_fail (store, "job-shared-f", SL_STORE_STAGE_PARSE, "bad") == 0);
    assert (sl_store_job_create (store, "job-shared-r", "ws", "upload:sr", shared_sha, NULL, NULL) == 0);
    //  Artifacts: of the failed job, the running one, the completed one
    //  (the store stage failed to remove them), and of no job at all
    s_artifact (blobs, "job-failed", 1000);
    s_artifact (blobs, "job-running", 2000);
    s_artifact (blobs, "job-done", 300);
    s_artifact (blobs, "no-such-job", 40);
    s_artifact (blobs, "fresh-folder", 5);
    //  A writer that died long ago
    char tmp [512];
    snprintf (tmp, sizeof tmp, "%s/tmp/dead.part", root);
    FILE *f = fopen (tmp, "wb");
    fputs ("half", f);
    fclose (f);
    struct timespec t [2] = { { old_s - 7200, 0 }, { old_s - 7200, 0 } };
    assert (utimensat (AT_FDCWD, tmp, t, 0) == 0);
    //  The cache: 40 entries of 64 floats, created a moment apart
    float vec [64];
    for (int i = 0; i < 64; i++)
        vec [i] = (float) i;
    for (int i = 0; i < 40; i++) {
        char hash [16];
        snprintf (hash, sizeof hash, "h%02d", i);
        const char *hashes [1] = { hash };
        assert (sl_store_cache_put (store, "model-x", hashes, 1, vec, 64) == 0);
        if (i == 9)
            usleep (5000);
    }
    int64_t entry = 64 * 4 + 7 + 3;             //  vector + model id + hash

    sl_janitor_config_t cfg;
    sl_janitor_config_defaults (&cfg);
    cfg.grace_ms = 3600 * 1000;
    cfg.cache_max_bytes = 30 * entry;
    sl_janitor_t *janitor = sl_janitor_new (store, blobs, &cfg, metrics);
    //  Artifacts are judged by the job's last update too: run an hour and a
    //  bit ahead, so the failed job counts as failed for longer than grace
    sl_janitor_stats_t pass;
    int64_t ahead = sl_now_ms () + cfg.grace_ms + 60000;
    //  A young blob must be young at that time too
    char path [2048];
    assert (sl_blob_path (blobs, young_sha, path, sizeof path) == 0);
    struct timespec future [2] = { { now_s + 7200, 0 }, { now_s + 7200, 0 } };
    assert (utimensat (AT_FDCWD, path, future, 0) == 0);
    //  Folders written to lately are left alone, whatever their job
    snprintf (path, sizeof path, "%s/jobs/fresh-folder", root);
    assert (utimensat (AT_FDCWD, path, future, 0) == 0);
    assert (sl_janitor_run (janitor, ahead, &pass) == 0);
    assert (pass.passes == 1);
    assert (pass.blobs == 2);                   //  failed_sha, stray_sha
    assert (pass.blob_bytes == strlen ("random bytes nobody could read")
                             + strlen ("an upload whose intake was refused"));
    assert (!sl_blob_exists (blobs, failed_sha) && !sl_blob_exists (blobs, stray_sha));
    assert (sl_blob_exists (blobs, doc_sha) && sl_blob_exists (blobs, running_sha));
    assert (sl_blob_exists (blobs, young_sha) && sl_blob_exists (blobs, shared_sha));
    assert (pass.artifacts == 3 && pass.artifact_bytes == 1340);
    assert (!s_job_dir_exists (blobs, "job-failed") && !s_job_dir_exists (blobs, "no-such-job"));
    assert (!s_job_dir_exists (blobs, "job-done"));
    assert (s_job_dir_exists (blobs, "job-running") && s_job_dir_exists (blobs, "fresh-folder"));
    assert (pass.tmp_files == 1 && pass.tmp_bytes == 4);
    assert (pass.cache_entries == 10 && pass.cache_bytes == (uint64_t) (10 * entry));
    int64_t entries = 0, bytes = 0;
    assert (sl_store_cache_usage (store, &entries, &bytes) == 0 && entries == 30);
    //  The first ten (the oldest) went
    const char *first [1] = { "h00" }, *last [1] = { "h39" };
    bool found [1];
    float out [64];
    assert (sl_store_cache_get (store, "model-x", first, 1, 64, out, found) == 0);
    assert (sl_store_cache_get (store, "model-x", last, 1, 64, out, found) == 1);

    //  A second pass finds nothing more; the totals add up
    assert (sl_janitor_run (janitor, ahead, &pass) == 0);
    assert (pass.blobs == 0 && pass.artifacts == 0 && pass.tmp_files == 0 && pass.cache_entries == 0);
    sl_janitor_stats_t totals;
    sl_janitor_totals (janitor, &totals);
    assert (totals.passes == 2 && totals.blobs == 2 && totals.artifacts == 3 && totals.cache_entries == 10);
    char *text = sl_metrics_render (metrics);
    assert (strstr (text, "sluice_reclaimed_files_total{what=\"blobs\"} 2"));
    assert (strstr (text, "sluice_reclaimed_bytes_total{what=\"artifacts\"} 1340"));
    assert (strstr (text, "sluice_embed_cache_entries 30"));
    free (text);

    //  The running job ends: its blob (uploaded long ago) goes at once, its
    //  folder once the job has been failed for longer than the grace period
    assert (sl_store_job_fail (store, "job-running", SL_STORE_STAGE_EMBED, "disk full") == 0);
    assert (sl_janitor_run (janitor, sl_now_ms (), &pass) == 0);
    assert (pass.blobs == 1 && !sl_blob_exists (blobs, running_sha));
    assert (pass.artifacts == 0 && s_job_dir_exists (blobs, "job-running"));
    assert (sl_janitor_run (janitor, ahead, &pass) == 0);
    assert (pass.blobs == 0 && pass.artifacts == 1 && !s_job_dir_exists (blobs, "job-running"));

    //  Another process holds the lease: this one does nothing
    sl_janitor_config_t other_cfg = cfg;
    snprintf (other_cfg.owner, sizeof other_cfg.owner, "elsewhere:1");
    sl_janitor_t *other = sl_janitor_new (store, blobs, &other_cfg, NULL);
    s_put (blobs, "another stray upload", stray_sha, old_s);
    assert (sl_janitor_run (other, ahead, &pass) == SL_STORE_BUSY && pass.blobs == 0);
    assert (sl_blob_exists (blobs, stray_sha));
    sl_janitor_destroy (&other);

    //  In the background: the stray goes within a few intervals, and a
    //  stopped janitor gives its lease back
    cfg.interval_ms = 100;
    cfg.grace_ms = 1000;
    sl_janitor_destroy (&janitor);
    janitor = sl_janitor_new (store, blobs, &cfg, NULL);
    assert (sl_janitor_start (janitor) == 0);
    for (int i = 0; i < 100 && sl_blob_exists (blobs, stray_sha); i++)
        usleep (50000);
    assert (!sl_blob_exists (blobs, stray_sha));
    assert (sl_blob_exists (blobs, doc_sha) && sl_blob_exists (blobs, shared_sha));
    sl_janitor_destroy (&janitor);
    assert (janitor == NULL);
    sl_janitor_destroy (&janitor);
    int64_t now = sl_now_ms ();
    assert (sl_store_lease (store, SL_JANITOR_LEASE_NAME, "elsewhere:1", now, now + 1000) == SL_STORE_OK);

    //  Settings
    sl_config_t *config = sl_config_new ();
    sl_config_set (config, "storage.gc_interval_s", "5");
    sl_config_set (config, "storage.gc_grace_s", "0");
    sl_config_set (config, "embed.cache_max_mb", "0");
    sl_config_set (config, "embed.cache_max_age_s", "86400");
    sl_janitor_config_load (&cfg, config);
    assert (cfg.interval_ms == 5000 && cfg.grace_ms == 1000);
    assert (cfg.cache_max_bytes == 0 && cfg.cache_max_age_ms == 86400000);
    sl_config_destroy (&config);

    sl_metrics_destroy (&metrics);
    sl_blob_destroy (&blobs);
    sl_store_destroy (&store);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert (system (cmd) == 0);
    printf ("OK\n");
}
