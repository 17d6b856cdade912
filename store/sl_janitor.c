/*  sl_janitor: the storage collector. See sl_janitor.h.

    A pass is a walk over the blob area with one store question per
    candidate. Cheap tests come first (a young blob or folder is skipped
    without asking the store), and a store failure ends the pass at once:
    with the store down nothing can be known to be unneeded, and the next
    pass starts over. Everything a pass does is idempotent and safe to
    interrupt (a crash between a blob's rename and its delete leaves a file
    that sl_blob_collect_recover puts back), so two overlapping passes (a
    lease that expired during a very long pass) cost time, not data.
*/
#include "sl_janitor.h"
#include "sl_upload.h"
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

#define S_LEASE_MIN_MS      60000       //  a lease outlives a slow pass
#define S_FIRST_PASS_MAX_MS 30000
#define S_TMP_AGE_MIN_MS    3600000     //  temp files: at least an hour
#define S_ASIDE_AGE_S       60          //  a blob set aside this long was abandoned
#define S_RENEW_EVERY       1000        //  items between lease renewals

struct _sl_janitor_t {
    sl_store_t *store;
    sl_blob_t *blobs;
    sl_metrics_t *metrics;
    sl_janitor_config_t cfg;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;       //  totals, stopping
    pthread_cond_t wake;
    bool stopping;
    sl_janitor_stats_t totals;
};

//  State of one pass, handed to the blob area's walkers
typedef struct {
    sl_janitor_t *self;
    int64_t now_ms;
    int64_t cutoff_ms;
    int64_t lease_ms;
    int items;
    bool store_failed;
    sl_janitor_stats_t *stats;
} s_pass_t;

void
sl_janitor_config_defaults (sl_janitor_config_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->interval_ms = 600 * 1000;
    cfg->grace_ms = 3600 * 1000;
    cfg->cache_max_bytes = (int64_t) 1024 << 20;
    cfg->cache_max_age_ms = 0;
    cfg->uploads_expire_ms = 86400 * 1000;
    char host [64] = "host";
    gethostname (host, sizeof host);
    host [sizeof host - 1] = 0;
    snprintf (cfg->owner, sizeof cfg->owner, "%s:%d", host, (int) getpid ());
}

void
sl_janitor_config_load (sl_janitor_config_t *cfg, sl_config_t *config)
{
    sl_janitor_config_defaults (cfg);
    int64_t interval_s = sl_config_int (config, "storage.gc_interval_s", cfg->interval_ms / 1000);
    int64_t grace_s = sl_config_int (config, "storage.gc_grace_s", cfg->grace_ms / 1000);
    int64_t cache_mb = sl_config_int (config, "embed.cache_max_mb", cfg->cache_max_bytes >> 20);
    int64_t cache_age_s = sl_config_int (config, "embed.cache_max_age_s", 0);
    //  A grace of 0 would let a blob go between its upload and its job:
    //  a second is the least that still means something
    cfg->interval_ms = (interval_s > 0 ? interval_s : 1) * 1000;
    cfg->grace_ms = (grace_s > 0 ? grace_s : 1) * 1000;
    cfg->cache_max_bytes = cache_mb > 0 ? cache_mb << 20 : 0;
    cfg->cache_max_age_ms = cache_age_s > 0 ? cache_age_s * 1000 : 0;
    int64_t expire_s = sl_config_int (config, "uploads.expire_s", cfg->uploads_expire_ms / 1000);
    cfg->uploads_expire_ms = (expire_s > 0 ? expire_s : 1) * 1000;
}

sl_janitor_t *
sl_janitor_new (sl_store_t *store, sl_blob_t *blobs, const sl_janitor_config_t *cfg,
                sl_metrics_t *metrics)
{
    assert (store && blobs && cfg);
    assert (cfg->interval_ms > 0 && cfg->grace_ms > 0 && cfg->owner [0]);
    sl_janitor_t *self = calloc (1, sizeof *self);
    assert (self);
    self->store = store;
    self->blobs = blobs;
    self->metrics = metrics;
    self->cfg = *cfg;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (metrics) {
        sl_metrics_declare (metrics, "sluice_reclaimed_bytes_total", SL_COUNTER,
                            "Bytes of storage the collector gave back, by what (blobs, artifacts, tmp, cache)");
        sl_metrics_declare (metrics, "sluice_reclaimed_files_total", SL_COUNTER,
                            "Files (cache: entries) the collector removed, by what");
        sl_metrics_declare (metrics, "sluice_embed_cache_bytes", SL_GAUGE,
                            "Embedding cache size after the last collection (vectors and keys)");
        sl_metrics_declare (metrics, "sluice_embed_cache_entries", SL_GAUGE,
                            "Embedding cache entries after the last collection");
    }
    return self;
}

void
sl_janitor_destroy (sl_janitor_t **self_p)
{
    assert (self_p);
    sl_janitor_t *self = *self_p;
    if (!self)
        return;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
        //  Another process may take the duty over at once
        sl_store_lease_release (self->store, SL_JANITOR_LEASE_NAME, self->cfg.owner);
    }
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static bool
s_stopping (sl_janitor_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool stopping = self->stopping;
    pthread_mutex_unlock (&self->lock);
    return stopping;
}

//  Keep the lease through a long pass. false: stop (lost it, or stopping).
static bool
s_keep_lease (s_pass_t *pass)
{
    if (++pass->items % S_RENEW_EVERY)
        return !s_stopping (pass->self);
    int64_t now = sl_now_ms ();
    int rc = sl_store_lease (pass->self->store, SL_JANITOR_LEASE_NAME, pass->self->cfg.owner, now,
                             now + pass->lease_ms);
    if (rc != SL_STORE_OK)
        pass->store_failed = rc != SL_STORE_BUSY;
    return rc == SL_STORE_OK && !s_stopping (pass->self);
}

//  --------------------------------------------------------------------------
//  Blobs

static int
s_blob_unused (void *arg, const char *sha256)
{
    s_pass_t *pass = (s_pass_t *) arg;
    int rc = sl_store_blob_referenced (pass->self->store, sha256);
    if (rc < 0) {
        pass->store_failed = true;
        return -1;
    }
    return rc == 0 ? 1 : 0;
}

static int
s_on_blob (void *arg, const char *sha256, uint64_t size, int64_t mtime_ms)
{
    s_pass_t *pass = (s_pass_t *) arg;
    if (mtime_ms >= pass->cutoff_ms)
        return 0;               //  young: not even a question for the store
    if (!s_keep_lease (pass))
        return -1;
    uint64_t bytes = 0;
    int rc = sl_blob_collect (pass->self->blobs, sha256, pass->cutoff_ms, s_blob_unused, pass, &bytes);
    if (rc == 1) {
        pass->stats->blobs++;
        pass->stats->blob_bytes += bytes;
        sl_debug (NULL, "collected blob %.16s… (%llu bytes)", sha256, (unsigned long long) bytes);
    }
    else
    if (rc < 0 && !pass->store_failed)
        sl_warn (NULL, "cannot collect blob %.16s…: %s", sha256, strerror (errno));
    return pass->store_failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Job artifacts

static int
s_on_job (void *arg, const char *job_id, int64_t mtime_ms)
{
    s_pass_t *pass = (s_pass_t *) arg;
    if (mtime_ms >= pass->cutoff_ms)
        return 0;               //  written to lately: whatever the job's state
    if (!s_keep_lease (pass))
        return -1;
    sl_store_job_t job;
    memset (&job, 0, sizeof job);
    int rc = sl_store_job_get (pass->self->store, job_id, &job);
    bool collect = false;
    if (rc == SL_STORE_NOT_FOUND)
        collect = true;         //  no such job (deleted store, stray folder)
    else
    if (rc == SL_STORE_OK)
        collect = sl_store_state_terminal ((int) job.state)
               && job.updated_ms < pass->cutoff_ms;
    else
        pass->store_failed = true;
    sl_store_job_reset (&job);
    if (collect) {
        uint64_t bytes = 0;
        if (sl_blob_job_reclaim (pass->self->blobs, job_id, &bytes, NULL) == 0) {
            pass->stats->artifacts++;
            pass->stats->artifact_bytes += bytes;
        }
        else
            sl_warn (job_id, "cannot remove the job's artifacts: %s", strerror (errno));
    }
    return pass->store_failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  A pass

static void
s_stats_add (sl_janitor_stats_t *to, const sl_janitor_stats_t *from)
{
    to->blobs += from->blobs;
    to->blob_bytes += from->blob_bytes;
    to->artifacts += from->artifacts;
    to->artifact_bytes += from->artifact_bytes;
    to->tmp_files += from->tmp_files;
    to->tmp_bytes += from->tmp_bytes;
    to->uploads += from->uploads;
    to->upload_bytes += from->upload_bytes;
    to->cache_entries += from->cache_entries;
    to->cache_bytes += from->cache_bytes;
    to->passes += from->passes;
}

static const char *
s_size (uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= (1u << 20))
        snprintf (buf, cap, "%.1f MiB", (double) bytes / (1 << 20));
    else
    if (bytes >= 1024)
        snprintf (buf, cap, "%.1f KiB", (double) bytes / 1024);
    else
        snprintf (buf, cap, "%llu bytes", (unsigned long long) bytes);
    return buf;
}

static void
s_report (sl_janitor_t *self, const sl_janitor_stats_t *pass, int64_t took_ms)
{
    if (self->metrics) {
        static const char *what [] = { "what=\"blobs\"", "what=\"artifacts\"", "what=\"tmp\"",
                                       "what=\"cache\"", "what=\"uploads\"" };
        uint64_t files [] = { pass->blobs, pass->artifacts, pass->tmp_files, pass->cache_entries, pass->uploads };
        uint64_t bytes [] = { pass->blob_bytes, pass->artifact_bytes, pass->tmp_bytes, pass->cache_bytes,
                              pass->upload_bytes };
        for (int i = 0; i < 5; i++) {
            sl_metrics_add (self->metrics, "sluice_reclaimed_files_total", what [i], (double) files [i]);
            sl_metrics_add (self->metrics, "sluice_reclaimed_bytes_total", what [i], (double) bytes [i]);
        }
    }
    if (pass->blobs + pass->artifacts + pass->tmp_files + pass->cache_entries + pass->uploads == 0)
        return;
    char a [32], b [32], c [32], d [32], e [32];
    sl_info (NULL, "reclaimed %llu blob(s) (%s), %llu job folder(s) (%s), %llu temp file(s) (%s), "
             "%llu abandoned upload(s) (%s), %llu cache entries (%s) in %lld ms",
             (unsigned long long) pass->blobs, s_size (pass->blob_bytes, a, sizeof a),
             (unsigned long long) pass->artifacts, s_size (pass->artifact_bytes, b, sizeof b),
             (unsigned long long) pass->tmp_files, s_size (pass->tmp_bytes, c, sizeof c),
             (unsigned long long) pass->uploads, s_size (pass->upload_bytes, e, sizeof e),
             (unsigned long long) pass->cache_entries, s_size (pass->cache_bytes, d, sizeof d),
             (long long) took_ms);
}

int
sl_janitor_run (sl_janitor_t *self, int64_t now_ms, sl_janitor_stats_t *out)
{
    assert (self);
    sl_janitor_stats_t stats;
    memset (&stats, 0, sizeof stats);
    int64_t started = sl_mono_ms ();
    s_pass_t pass = {
        .self = self, .now_ms = now_ms, .cutoff_ms = now_ms - self->cfg.grace_ms,
        .lease_ms = 2 * self->cfg.interval_ms > S_LEASE_MIN_MS ? 2 * self->cfg.interval_ms : S_LEASE_MIN_MS,
        .stats = &stats
    };
    //  The lease runs on the real clock: other processes compare with theirs
    int64_t now = sl_now_ms ();
    int rc = sl_store_lease (self->store, SL_JANITOR_LEASE_NAME, self->cfg.owner, now, now + pass.lease_ms);
    if (rc != SL_STORE_OK) {
        if (rc != SL_STORE_BUSY)
            sl_warn (NULL, "collector: cannot take the lease: %s", sl_store_errmsg (self->store));
        if (out)
            memset (out, 0, sizeof *out);
        return rc == SL_STORE_BUSY ? SL_STORE_BUSY : -1;
    }
    stats.passes = 1;
    int restored = sl_blob_collect_recover (self->blobs, S_ASIDE_AGE_S);
    if (restored)
        sl_warn (NULL, "collector: put back %d blob(s) a collector left aside", restored);
    int64_t tmp_age_ms = self->cfg.grace_ms > S_TMP_AGE_MIN_MS ? self->cfg.grace_ms : S_TMP_AGE_MIN_MS;
    stats.tmp_files = (uint64_t) sl_blob_tmp_reclaim (self->blobs, tmp_age_ms / 1000, &stats.tmp_bytes);
    //  The edge's resumable uploads: their own clock (a person's upload
    //  may wait a night), and sl_upload's own locking against a writer
    sl_upload_t *uploads = sl_upload_new (self->blobs, "uploads", 0, self->cfg.uploads_expire_ms / 1000, 0);
    if (uploads)
        stats.uploads = (uint64_t) sl_upload_sweep (uploads, &stats.upload_bytes);
    sl_upload_destroy (&uploads);

    sl_blob_job_each (self->blobs, s_on_job, &pass);
    if (!pass.store_failed && !s_stopping (self))
        sl_blob_each (self->blobs, s_on_blob, &pass);
    if (!pass.store_failed && !s_stopping (self)
    &&  (self->cfg.cache_max_bytes > 0 || self->cfg.cache_max_age_ms > 0)) {
        int64_t entries = 0, bytes = 0;
        int64_t before = self->cfg.cache_max_age_ms > 0 ? now_ms - self->cfg.cache_max_age_ms : 0;
        if (sl_store_cache_trim (self->store, self->cfg.cache_max_bytes, before > 0 ? before : 0,
                                 &entries, &bytes) != SL_STORE_OK)
            pass.store_failed = true;
        stats.cache_entries = (uint64_t) entries;
        stats.cache_bytes = (uint64_t) bytes;
    }
    if (!pass.store_failed && self->metrics) {
        int64_t entries = 0, bytes = 0;
        if (sl_store_cache_usage (self->store, &entries, &bytes) == SL_STORE_OK) {
            sl_metrics_set (self->metrics, "sluice_embed_cache_bytes", NULL, (double) bytes);
            sl_metrics_set (self->metrics, "sluice_embed_cache_entries", NULL, (double) entries);
        }
    }
    if (pass.store_failed)
        sl_warn (NULL, "collector: pass stopped, the store failed: %s", sl_store_errmsg (self->store));
    s_report (self, &stats, sl_mono_ms () - started);
    pthread_mutex_lock (&self->lock);
    s_stats_add (&self->totals, &stats);
    pthread_mutex_unlock (&self->lock);
    if (out)
        *out = stats;
    return pass.store_failed ? -1 : 0;
}

void
sl_janitor_totals (sl_janitor_t *self, sl_janitor_stats_t *totals)
{
    assert (self && totals);
    pthread_mutex_lock (&self->lock);
    *totals = self->totals;
    pthread_mutex_unlock (&self->lock);
}

//  Sleep until ms from now or until stopped. false: stopping.
static bool
s_wait (sl_janitor_t *self, int64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->lock);
    while (!self->stopping)
        if (pthread_cond_timedwait (&self->wake, &self->lock, &until) == ETIMEDOUT)
            break;
    bool go_on = !self->stopping;
    pthread_mutex_unlock (&self->lock);
    return go_on;
}

static void *
s_thread (void *arg)
{
    sl_janitor_t *self = (sl_janitor_t *) arg;
    sl_log_set_role ("janitor");
    int64_t first = self->cfg.interval_ms < S_FIRST_PASS_MAX_MS ? self->cfg.interval_ms : S_FIRST_PASS_MAX_MS;
    if (!s_wait (self, first))
        return NULL;
    do
        sl_janitor_run (self, sl_now_ms (), NULL);
    while (s_wait (self, self->cfg.interval_ms));
    return NULL;
}

int
sl_janitor_start (sl_janitor_t *self)
{
    assert (self);
    assert (!self->started);
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0)
        return -1;
    self->started = true;
    return 0;
}
