/*  sl_janitor: gives back the storage nothing needs any more.

    Without it the data folder only grows: a blob stays after its upload
    was refused or its job failed (a loop of 200 MB uploads of a type we do
    not read fills the disk), a failed job's artifacts (data/jobs/<job>/)
    stay, and the embedding cache keeps every vector ever made. Each pass:

      - blobs: a blob that no document and no unfinished job names, last
        touched before the grace period, is deleted with sl_blob_collect,
        which is safe against an upload of the same bytes or a job adopting
        the blob at the same moment (see sl_blob.h, "Collection"). The
        grace period covers the moments a blob is legitimately unnamed: an
        upload streamed in whose job intake has not recorded yet, a
        download whose job fetch has not updated yet;
      - artifacts: a job folder whose job is completed or failed (or not
        in the store at all) and quiet for the grace period is removed;
      - temp files of writers that died, older than the grace period and
        at least an hour; blobs a collector set aside and never finished
        with are put back;
      - resumable uploads (the edge's tus uploads, data/uploads/)
        untouched for uploads.expire_s (a day);
      - the embedding cache: entries older than cache_max_age (if set)
        are evicted, then the oldest until it is under cache_max_bytes.

    One process does it at a time: a pass starts by taking (or renewing)
    the store's "janitor" lease, and a process that cannot is idle until
    the next interval. Every process with the intake role runs a janitor
    (sluiced starts it), so the duty survives any one of them.

    What each pass reclaimed is logged and added to metrics
    (sluice_reclaimed_bytes_total and sluice_reclaimed_files_total by
    what="blobs|artifacts|tmp|uploads|cache"; the cache's size as gauges).

    Ownership: the janitor borrows the store, the blob area and the metrics
    registry; they must outlive it. Thread-safety: sl_janitor_run may be
    called from any one thread at a time; the background thread calls it.
*/
#ifndef SL_JANITOR_H_INCLUDED
#define SL_JANITOR_H_INCLUDED

#include "sl_blob.h"
#include "sl_config.h"
#include "sl_metrics.h"
#include "sl_store.h"

typedef struct _sl_janitor_t sl_janitor_t;

typedef struct {
    int64_t interval_ms;        //  between passes (storage.gc_interval_s, 600 s)
    int64_t grace_ms;           //  how old an unneeded thing must be (storage.gc_grace_s, 3600 s)
    int64_t cache_max_bytes;    //  embedding cache bound (embed.cache_max_mb, 1024 MiB; 0 = none)
    int64_t cache_max_age_ms;   //  embedding cache entry age bound (embed.cache_max_age_s; 0 = none)
    int64_t uploads_expire_ms;  //  resumable uploads untouched this long go (uploads.expire_s, 86400 s)
    char owner [128];           //  lease owner (default host:pid)
} sl_janitor_config_t;

//  What was reclaimed (one pass, or all passes so far).
typedef struct {
    uint64_t blobs, blob_bytes;
    uint64_t artifacts, artifact_bytes;     //  job folders, and the bytes in them
    uint64_t tmp_files, tmp_bytes;
    uint64_t uploads, upload_bytes;         //  abandoned resumable uploads
    uint64_t cache_entries, cache_bytes;
    uint64_t passes;                        //  passes this process did
} sl_janitor_stats_t;

//  The defaults above.
void sl_janitor_config_defaults (sl_janitor_config_t *cfg);

//  The defaults, overridden by the settings named above.
void sl_janitor_config_load (sl_janitor_config_t *cfg, sl_config_t *config);

//  Create a janitor (no thread yet). metrics may be NULL. Caller owns it.
sl_janitor_t *sl_janitor_new (sl_store_t *store, sl_blob_t *blobs, const sl_janitor_config_t *cfg,
                              sl_metrics_t *metrics);

//  Stop the thread (a pass in progress finishes its current item first),
//  give the lease back, free. Nulls *self_p; safe on NULL.
void sl_janitor_destroy (sl_janitor_t **self_p);

//  Start the background thread: a first pass after min (interval, 30 s),
//  then one per interval. 0, or -1 if it cannot start.
int sl_janitor_start (sl_janitor_t *self);

//  One pass now, judging age against now_ms (wall clock, ms since the
//  epoch: tests pass a later time instead of waiting). pass (may be NULL)
//  gets what it reclaimed. Returns 0, SL_STORE_BUSY if another process
//  holds the lease (nothing done), or -1 if the store failed mid-way
//  (what was done stays done; the next pass carries on).
int sl_janitor_run (sl_janitor_t *self, int64_t now_ms, sl_janitor_stats_t *pass);

//  Everything this janitor reclaimed so far.
void sl_janitor_totals (sl_janitor_t *self, sl_janitor_stats_t *totals);

void sl_janitor_test (bool verbose);

#endif
