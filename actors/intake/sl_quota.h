/*  sl_quota: whether there is room for one more job, asked by intake
    before it accepts one, so new work is refused with a reason instead of
    failing half-way or filling the disk.

    Two limits:
      - a storage quota per workspace: storage.quota_mb (0 = unlimited),
        overridden for one workspace by storage.quota.<workspace> (MiB, 0 =
        unlimited). What counts is the bytes of the workspace's documents
        (the files as ingested, sl_store_workspace_bytes) plus the new
        job's upload. Over it: 413, "workspace ... is over its storage
        quota". The stored bytes are read from the store at most once a
        second per workspace and the jobs accepted in between are added,
        so a burst cannot slip past; jobs still in the pipeline count once
        stored, so a workspace can pass its quota by what is in flight
        (jobs.max_pending bounds that).
      - free space on the data folder's file system: storage.min_free_mb
        (0 = no check). Below it: 507, "disk full: ... free". Checked on
        every call (statvfs is cheap).

    A store that cannot answer does not block intake (the job would fail
    on its own write anyway); the check is skipped with a warning.

    Ownership: borrows the config, which must outlive it; the store is
    passed to each check (so a checker can be made where the store cannot
    be opened yet, as in a node's shared registry).
    Thread-safety: sl_quota_check may be called from any thread.
*/
#ifndef SL_QUOTA_H_INCLUDED
#define SL_QUOTA_H_INCLUDED

#include "sl_config.h"
#include "sl_store.h"

typedef struct _sl_quota_t sl_quota_t;

//  Create the checker for the data folder data_dir (copied).
sl_quota_t *sl_quota_new (sl_config_t *config, const char *data_dir);

//  Destroy; nulls *self_p; safe on NULL.
void sl_quota_destroy (sl_quota_t **self_p);

//  May workspace take a new job bringing incoming bytes (0 if not known
//  yet, like a URL not yet downloaded)? Returns 0 if so, and counts
//  incoming against the workspace until the next refresh; else an HTTP
//  status (413 over quota, 507 disk full) with the reason in err.
//  store answers how much the workspace holds.
int sl_quota_check (sl_quota_t *self, sl_store_t *store, const char *workspace, int64_t incoming,
                    char *err, size_t errlen);

//  The quota of workspace in bytes (0 = unlimited), as configured.
int64_t sl_quota_limit (sl_quota_t *self, const char *workspace);

void sl_quota_test (bool verbose);

#endif
