/*  sl_quota: storage admission for intake. See sl_quota.h. */
#include "sl_quota.h"
#include "sl_quota_internal.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define S_WORKSPACES_MAX 10000      //  remembered workspaces before starting over

typedef struct {
    int64_t bytes;              //  stored, plus what was accepted since read
    int64_t read_at;            //  mono ms of the last read
} s_usage_t;

struct _sl_quota_t {
    sl_config_t *config;
    char *data_dir;
    pthread_mutex_t lock;
    zhashx_t *usage;            //  workspace -> s_usage_t
};

sl_quota_t *
sl_quota_new (sl_config_t *config, const char *data_dir)
{
    assert (config && data_dir);
    sl_quota_t *self = calloc (1, sizeof *self);
    assert (self);
    self->config = config;
    self->data_dir = strdup (data_dir);
    assert (self->data_dir);
    pthread_mutex_init (&self->lock, NULL);
    self->usage = zhashx_new ();
    zhashx_set_destructor (self->usage, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
sl_quota_destroy (sl_quota_t **self_p)
{
    assert (self_p);
    sl_quota_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->usage);
    pthread_mutex_destroy (&self->lock);
    free (self->data_dir);
    free (self);
    *self_p = NULL;
}

int64_t
sl_quota_limit (sl_quota_t *self, const char *workspace)
{
    assert (self);
    int64_t mb = sl_config_int (self->config, "storage.quota_mb", 0);
    char key [128];
    snprintf (key, sizeof key, "storage.quota.%s", workspace);
    mb = sl_config_int (self->config, key, mb);
    return mb > 0 ? mb << 20 : 0;
}

static void
s_mib (int64_t bytes, char *buf, size_t cap)
{
    snprintf (buf, cap, "%.1f MiB", (double) bytes / (1 << 20));
}

//  The workspace's stored bytes plus what was accepted since they were
//  read; incoming is counted in if it fits. Returns 0 (fits), 413, or -1
//  if the store cannot tell.
static int
s_quota (sl_quota_t *self, sl_store_t *store, const char *workspace, int64_t incoming,
         int64_t limit, char *err, size_t errlen)
{
    int64_t now = sl_mono_ms ();
    pthread_mutex_lock (&self->lock);
    s_usage_t *usage = (s_usage_t *) zhashx_lookup (self->usage, workspace);
    if (!usage || now - usage->read_at >= SL_QUOTA_REFRESH_MS) {
        //  Read under the lock: one read per workspace per second, however
        //  many intake threads ask, and none of them races past it
        int64_t bytes = 0;
        if (sl_store_workspace_bytes (store, workspace, &bytes) != SL_STORE_OK) {
            pthread_mutex_unlock (&self->lock);
            return -1;
        }
        if (!usage) {
            if (zhashx_size (self->usage) >= S_WORKSPACES_MAX)
                zhashx_purge (self->usage);
            usage = (s_usage_t *) calloc (1, sizeof *usage);
            assert (usage);
            zhashx_insert (self->usage, workspace, usage);
        }
        usage->bytes = bytes;
        usage->read_at = now;
    }
    int rc = 0;
    if (usage->bytes + incoming > limit) {
        char used [32], adding [32], quota [32];
        s_mib (usage->bytes, used, sizeof used);
        s_mib (incoming, adding, sizeof adding);
        s_mib (limit, quota, sizeof quota);
        snprintf (err, errlen, "workspace %s is over its storage quota: %s stored%s%s%s, quota %s",
                  workspace, used, incoming ? " + " : "", incoming ? adding : "",
                  incoming ? " in this upload" : "", quota);
        rc = 413;
    }
    else
        usage->bytes += incoming;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sl_quota_check (sl_quota_t *self, sl_store_t *store, const char *workspace, int64_t incoming,
                char *err, size_t errlen)
{
    assert (self && store && workspace && err);
    if (incoming < 0)
        incoming = 0;
    int64_t min_free = sl_config_int (self->config, "storage.min_free_mb", 0);
    if (min_free > 0) {
        struct statvfs vfs;
        if (statvfs (self->data_dir, &vfs) == 0) {
            int64_t free_bytes = (int64_t) vfs.f_bavail * (int64_t) vfs.f_frsize;
            if (free_bytes < (min_free << 20)) {
                char have [32];
                s_mib (free_bytes, have, sizeof have);
                snprintf (err, errlen, "disk full: %s free in %s, below storage.min_free_mb "
                          "(%lld MiB); retry once space is freed", have, self->data_dir,
                          (long long) min_free);
                return 507;
            }
        }
    }
    int64_t limit = sl_quota_limit (self, workspace);
    if (limit == 0)
        return 0;
    int rc = s_quota (self, store, workspace, incoming, limit, err, errlen);
    if (rc < 0) {
        sl_warn (NULL, "quota of workspace %s not checked: %s", workspace, sl_store_errmsg (store));
        return 0;
    }
    return rc;
}
